"""Claims that travel with the stack: the claim a check puts in a create's inputs (which the
engine keeps in a pending create), and what `pcc-provider recover` makes of the pending
creates of a state (recovery.review). tests/engine/test_ownership.py and test_native_yaml.py
run the whole story under the real engine, on a fresh machine."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import CheckRequest, ConfigureRequest
from pulumi.runtime.rpc import UNKNOWN

from pcc_provider import ownership, recovery
from pcc_provider.agent import AgentProvider
from pcc_provider.config import ProviderConfig
from pcc_provider.native.server import PipecatProvider, engine_values, plain
from pcc_provider.secrets import SecretSetProvider

pytestmark = pytest.mark.usefixtures("cache")

AGENT_URN = "urn:pulumi:dev::proj::pipecat:index:Agent::bot"
SET_URN = "urn:pulumi:dev::proj::pulumi-python:dynamic/pipecat:SecretSet::creds"


def agent_inputs(**more: Any) -> dict[str, Any]:
    return {"serviceName": "bot", "region": "us-west", "image": "example/agent:1", **more}


def set_inputs(**more: Any) -> dict[str, Any]:
    return {"setName": "bot-secrets", "region": "us-west", "secrets": {"B": "b", "A": "a"}} | more


# -- what a check adds -------------------------------------------------------------------------


def test_a_check_that_may_create_carries_the_claim_else_none() -> None:
    provider = AgentProvider()
    before = time.time()
    stamped = provider.check({}, agent_inputs()).inputs[ownership.STAMP]
    assert stamped["kind"] == "agent" and stamped["name"] == "bot"
    assert stamped["region"] == "us-west" and before <= stamped["started"] <= time.time()
    # An update in place creates nothing: no claim (nor the old one).
    olds = {**agent_inputs(), ownership.STAMP: stamped}
    assert ownership.STAMP not in provider.check(olds, agent_inputs(maxAgents=3)).inputs
    # A replacement creates: a claim of its own time.
    renamed = provider.check(olds, agent_inputs(serviceName="bot-2")).inputs[ownership.STAMP]
    assert renamed["name"] == "bot-2" and renamed["started"] >= stamped["started"]
    # Bad input, or a name not known yet: nothing to claim.
    assert ownership.STAMP not in provider.check({}, agent_inputs(serviceName="Bad!")).inputs
    assert ownership.STAMP not in provider.check({}, agent_inputs(serviceName=UNKNOWN)).inputs


def test_a_sets_claim_says_whether_its_name_was_free(emulator: EmulatorHandle) -> None:
    provider = SecretSetProvider()
    # Not configured by an engine: no one to ask, no claim.
    assert ownership.STAMP not in provider.check({}, set_inputs()).inputs
    provider.config = ProviderConfig(api_key=API_KEY, api_url=emulator.api_url)
    stamped = provider.check({}, set_inputs()).inputs[ownership.STAMP]
    assert stamped["free"] is True and stamped["keys"] == ["A", "B"]
    body = {"secrets": [{"secretKey": "A", "secretValue": "theirs"}]}
    assert emulator.api("PUT", "/secrets/bot-secrets", json=body).status_code == 202
    assert provider.check({}, set_inputs()).inputs[ownership.STAMP]["free"] is False


def test_the_native_check_keeps_the_claim_in_the_inputs(emulator: EmulatorHandle) -> None:
    provider = PipecatProvider()
    args = {
        "apiKey": PropertyValue(API_KEY, is_secret=True),
        "apiUrl": PropertyValue(emulator.api_url),
    }
    asyncio.run(provider.configure(ConfigureRequest({}, args, True, False)))
    news = engine_values(agent_inputs())
    checked = asyncio.run(provider.check(CheckRequest(AGENT_URN, {}, news, b"")))
    assert checked.inputs is not None
    stamped = plain(checked.inputs)[0][ownership.STAMP]
    assert ownership.from_stamp(AGENT_URN, stamped) is not None


# -- what `recover` makes of a state -----------------------------------------------------------


def pending(urn: str, type_: str, stamped: dict[str, Any] | None) -> dict[str, Any]:
    inputs = {"x": 1, **({ownership.STAMP: stamped} if stamped is not None else {})}
    return {"type": "creating", "resource": {"urn": urn, "type": type_, "inputs": inputs}}


def test_review_claims_what_proves_something_and_nothing_else() -> None:
    now = time.time()
    agent = ownership.stamp("agent", "bot", "us-west")
    taken = ownership.stamp("secretSet", "taken", "us-west", ["A"], free=False)
    free = ownership.stamp("secretSet", "free", "us-west", ["A"], free=True)
    done = ownership.stamp("agent", "done", "us-west")
    build_urn = "urn:pulumi:dev::proj::pipecat:index:Build::image"
    deployment = {
        "resources": [{"urn": "urn:pulumi:dev::proj::pipecat:index:Agent::done", "id": "done"}],
        "pending_operations": [
            pending(AGENT_URN, "pipecat:index:Agent", agent),
            pending(SET_URN.replace("creds", "taken"), "pulumi-python:dynamic/pipecat:X", taken),
            pending(SET_URN, "pulumi-python:dynamic/pipecat:SecretSet", free),
            pending("urn:pulumi:dev::proj::pipecat:index:Agent::done", "pipecat:index:Agent", done),
            pending(build_urn, "pipecat:index:Build", None),  # not in the state: reattached to
            pending("urn:pulumi:dev::proj::aws:s3:Bucket::b", "aws:s3:Bucket", agent),
            {"type": "deleting", "resource": {"urn": AGENT_URN, "type": "pipecat:index:Agent"}},
        ],
    }
    found = {f.urn: f for f in recovery.review(deployment, succeeded=[now - 3600])}
    assert sorted(found) == sorted(
        [
            AGENT_URN,
            SET_URN,
            SET_URN.replace("creds", "taken"),
            "urn:pulumi:dev::proj::pipecat:index:Agent::done",
        ]
    )
    assert found[AGENT_URN].verdict == "claimed"
    assert found[AGENT_URN].claim == ownership.from_stamp(AGENT_URN, agent)
    assert found[SET_URN].verdict == "claimed"
    assert found[SET_URN.replace("creds", "taken")].verdict == "unproven"
    assert found["urn:pulumi:dev::proj::pipecat:index:Agent::done"].verdict == "done"
    # An `up` or `destroy` that succeeded since: what it made may be gone, its name taken.
    later = recovery.review(deployment, succeeded=[now + 1])
    assert {f.verdict for f in later if f.urn in (AGENT_URN, SET_URN)} == {"later"}


def test_an_interrupted_replacement_is_claimed_though_its_urn_is_in_the_state() -> None:
    """Renaming an agent replaces it, and the replacement's create has the URN of the agent it
    replaces, whose old name is in the state (chaos seed 103, step 36: the create was killed,
    and the next `up` on a fresh machine refused the new agent as someone else's)."""
    renamed = ownership.stamp("agent", "bot-renamed", "us-west")
    deployment = {
        "resources": [{"urn": AGENT_URN, "id": "bot"}],
        "pending_operations": [pending(AGENT_URN, "pipecat:index:Agent", renamed)],
    }
    (found,) = recovery.review(deployment, succeeded=[])
    assert found.verdict == "claimed"
    assert found.claim == ownership.from_stamp(AGENT_URN, renamed)
    # Once the replacement is in the state (beside the old agent, still to be deleted), it
    # is done with.
    deployment["resources"].append({"urn": AGENT_URN, "id": "bot-renamed", "delete": False})
    (found,) = recovery.review(deployment, succeeded=[])
    assert found.verdict == "done"


def test_a_restored_claim_is_the_one_the_next_create_finds() -> None:
    stamped = ownership.stamp("agent", "bot", "us-west")
    claim = ownership.from_stamp(AGENT_URN, stamped)
    assert claim is not None
    assert ownership.restore(claim) is True
    assert ownership.claimed(AGENT_URN, "agent", "bot") == claim
    # A claim of this machine stands: it is not replaced.
    later = ownership.from_stamp(AGENT_URN, {**stamped, "started": stamped["started"] + 60})
    assert later is not None and ownership.restore(later) is False
    assert ownership.claimed(AGENT_URN, "agent", "bot") == claim


@pytest.mark.parametrize(
    "broken",
    [
        {"kind": "agent", "name": "bot", "region": "us-west"},  # no time
        {"kind": "agent", "name": "", "region": "us-west", "started": 1.0},
        {"kind": "agent", "name": "bot", "region": "us-west", "started": True},
        {"kind": "secretSet", "name": "s", "region": "us-west", "started": 1.0},  # free unsaid
        {"kind": "agent", "name": "bot", "region": "us-west", "started": 1.0, "keys": "AB"},
        "not a claim",
    ],
)
def test_a_claim_that_proves_nothing_is_none(broken: Any) -> None:
    assert ownership.from_stamp(AGENT_URN, broken) is None


def test_the_refusal_names_the_command_and_the_stack() -> None:
    advice = recovery.advice("urn:pulumi:prod-eu::proj::pipecat:index:Agent::bot")
    assert "recover --stack prod-eu` in the project's folder, then `pulumi up`" in advice
