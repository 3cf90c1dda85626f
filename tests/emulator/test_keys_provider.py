"""The key providers called directly against the emulator (no engine): what the acceptance
tests (tests/engine/test_org_keys.py) cannot make the service answer."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle

from pcc_provider import api
from pcc_provider.api_key import ApiKeyProvider
from pcc_provider.config import ProviderConfig
from pcc_provider.emulator import Emulator
from pcc_provider.keys import OrganizationKeyError
from pcc_provider.registry_key import RegistryKeyProvider


def configured(emu: Emulator) -> ApiKeyProvider:
    return ApiKeyProvider(ProviderConfig(api_key=API_KEY, api_url=emu.api_url))


def test_an_api_key_made_without_its_id_in_the_answer_is_found_in_the_list(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pcc reads only `key` from the create's answer: an answer without the id still gives
    the state the key's id, from the list, which shows the key in full."""
    create = api.Client.create_api_key

    def without_id(self: api.Client, name: str, key_type: str) -> dict[str, Any]:
        return {"key": create(self, name, key_type)["key"]}

    monkeypatch.setattr(api.Client, "create_api_key", without_id)
    made = configured(emu).create({"name": "web", "type": "public"})
    with api.Client(API_KEY, emu.api_url) as client:
        (listed,) = client.list_api_keys()
    assert made.id == listed["id"] and made.outs["key"] == listed["key"]
    assert made.outs["createdAt"] == listed["createdAt"]


def test_an_answer_without_a_key_fails_in_one_line_naming_it(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.Client, "create_api_key", lambda *_: {"name": "web"})
    with pytest.raises(OrganizationKeyError) as failed:
        configured(emu).create({"name": "web", "type": "public"})
    assert str(failed.value) == "API key web: Pipecat Cloud's answer carries no key and its id"


def test_a_refusal_that_quotes_the_key_is_withheld(emu: Emulator, emulator: EmulatorHandle) -> None:
    provider = RegistryKeyProvider(ProviderConfig(api_key=API_KEY, api_url=emu.api_url))
    made = provider.create({"name": "ws"})
    key = made.outs["key"]
    emulator.fault(
        "DELETE /v1/organizations/{org}/registry-keys/{keyId}",
        status=409,
        message=f"key {key} is a live region's pull credential",
    )
    with pytest.raises(OrganizationKeyError) as failed:
        provider.delete(made.id, made.outs)
    said = str(failed.value)
    assert key not in said and key[4:20] not in said, said
    assert said.startswith(f"registry key {made.id}: DELETE ") and "not shown" in said, said
