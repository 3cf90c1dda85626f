"""The AgentProfile, SpendLimit and OrganizationDefaults providers called directly against the
emulator (no engine): what a stack may take over (ownership.py) — what the program adopts on
purpose, what this resource's interrupted `up` provably left — and what it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY

from pcc_provider import api, ownership
from pcc_provider.agent_profile import AgentProfileError, AgentProfileProvider
from pcc_provider.config import ProviderConfig
from pcc_provider.emulator import Emulator
from pcc_provider.organization_defaults import (
    OrganizationDefaultsError,
    OrganizationDefaultsProvider,
)
from pcc_provider.resource import ApiProvider
from pcc_provider.spend_limit import SpendLimitError, SpendLimitProvider

URN = "urn:pulumi:dev::proj::pipecat:index:{}::it"


def configured(kind: type[ApiProvider], emu: Emulator) -> Any:
    return kind(ProviderConfig(api_key=API_KEY, api_url=emu.api_url))


def client(emu: Emulator) -> api.Client:
    return api.Client(API_KEY, emu.api_url)


def test_a_profile_pcc_made_is_refused_adopted_on_purpose_or_recovered(
    emu: Emulator, cache: Path
) -> None:
    provider = configured(AgentProfileProvider, emu)
    urn = URN.format("AgentProfile")
    given = {"name": "big", "cpu": "2", "memory": "4Gi", "__urn": urn}
    with client(emu) as pcc:
        pcc.create_agent_profile("big", "big", "1", "1Gi")
        with pytest.raises(AgentProfileError) as refused:
            provider.create(given)
        assert str(refused.value).startswith(
            "agent profile big: it already exists in Pipecat Cloud (cpu 1, memory 1Gi) and this "
            "stack did not create it: pass adopt_existing=True to take it over (its sizing is "
            "set to the declared one and `pulumi destroy` disables it), choose another name, "
            "or disable it (`pcc agent profiles disable big`); if an interrupted `pulumi up` "
            "of this stack made it on another machine"
        )
        provider.create({**given, "adoptExisting": True})
        found = provider._find(pcc, "big")
        assert found is not None and found["resources"] == {"cpu": "2", "memory": "4Gi"}

        # This resource's create claimed the name, then was interrupted after the POST: the
        # next create recovers the profile; another resource's create does not.
        pcc.update_agent_profile("big", {"enabled": False})
        ownership.claim(urn, "agentProfile", "big", pcc.organization(), ["2", "4Gi"])
        pcc.create_agent_profile("big", "big", "2", "4Gi")
        with pytest.raises(AgentProfileError):
            provider.create({**given, "__urn": URN.format("AgentProfile") + "2"})
        assert provider.create(given).id == "big"
        provider.delete("big", given)
        assert provider._find(pcc, "big") is None  # disabled


def test_a_limit_already_set_is_refused_unless_adopted(emu: Emulator, cache: Path) -> None:
    provider = configured(SpendLimitProvider, emu)
    given = {"amount": 50, "__urn": URN.format("SpendLimit")}
    with client(emu) as pcc:
        pcc.put_spend_limit(1234)
        organization = pcc.organization()
        with pytest.raises(SpendLimitError) as refused:
            provider.create(given)
        assert str(refused.value).startswith(
            f"spend limit {organization}: the organization already has a limit of $12.34, "
            "which this stack did not set: pass adopt_existing=True to take it over"
        )
        assert pcc.get_spend_limit()["limitCents"] == 1234  # left as it was
        created = provider.create({**given, "adoptExisting": True})
        assert created.id == organization and created.outs["limitCents"] == 5000
        provider.delete(organization, created.outs)
        assert pcc.get_spend_limit()["limitCents"] is None


def test_the_defaults_are_held_by_one_resource_and_put_back_as_they_were(
    emu: Emulator, cache: Path
) -> None:
    provider = configured(OrganizationDefaultsProvider, emu)
    first = {"defaultRegion": "eu-central", "__urn": URN.format("OrganizationDefaults")}
    with client(emu) as pcc:
        created = provider.create(first)
        assert created.outs["previous"] == {"defaultRegion": "us-west"}
        second = {"defaultRegion": "us-east", "__urn": "urn:pulumi:prod::other::x::defaults"}
        with pytest.raises(OrganizationDefaultsError) as refused:
            provider.create(second)
        assert "already declared by 'it' of stack proj/dev" in str(refused.value)
        assert pcc.get_properties()["defaultRegion"] == "eu-central"
        # Changed since by someone else: destroy leaves it.
        pcc.update_properties({"defaultRegion": "ap-south"})
        provider.delete(created.id, created.outs)
        assert pcc.get_properties()["defaultRegion"] == "ap-south"
        # Released: another resource may hold them now, and puts back what it found.
        again = provider.create(second)
        assert again.outs["previous"] == {"defaultRegion": "ap-south"}
        provider.delete(again.id, again.outs)
        assert pcc.get_properties()["defaultRegion"] == "ap-south"


def test_a_create_carries_its_claim_to_another_machine(
    emu: Emulator, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of a create stamps its claim into the inputs (what a pending create keeps in
    the stack's state); `recover` writes it on another machine, whose next create then takes
    up what the interrupted one made."""
    provider = configured(AgentProfileProvider, emu)
    urn = URN.format("AgentProfile")
    given = {"name": "big", "cpu": "2", "memory": "4Gi", "__urn": urn}
    stamped = provider.check({}, given).inputs[ownership.STAMP]
    # Nothing stamped for what the state holds already: an unchanged preview asks nothing.
    assert ownership.STAMP not in provider.check(given, given).inputs
    with client(emu) as pcc:
        pcc.create_agent_profile("big", "big", "2", "4Gi")  # ... and the `up` was killed
        monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(tmp_path / "other-machine"))
        with pytest.raises(AgentProfileError, match="this stack did not create it"):
            provider.create(given)
        claim = ownership.from_stamp(urn, stamped)
        assert claim is not None and ownership.restore(claim)
        assert provider.create(given).id == "big"

    limits = configured(SpendLimitProvider, emu)
    given = {"amount": 20, "__urn": URN.format("SpendLimit")}
    stamped = limits.check({}, given).inputs[ownership.STAMP]
    assert stamped["keys"] == ["2000"] and stamped["free"] is True
    with client(emu) as pcc:
        pcc.put_spend_limit(2000)
        claim = ownership.from_stamp(given["__urn"], stamped)
        assert claim is not None and ownership.restore(claim)
        assert limits.create(given).outs["limitCents"] == 2000
