"""The Agent provider's smoke check and drain, called directly against the emulator (no Pulumi
engine): each verdict a session can reach, in the words the `up` shows; tests/engine/test_smoke.py
keeps the rollback story under the real engine in the three doors."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle

from pcc_provider.agent import AgentError, AgentProvider
from pcc_provider.resource import Timings


@pytest.fixture
def public_key(emulator: EmulatorHandle) -> str:
    org = emulator.api("GET", "/organizations").json()["organizations"][0]["name"]
    made = emulator.api("POST", f"/organizations/{org}/apiKeys", json={"name": "p"})
    key: str = made.json()["key"]
    return key


@pytest.fixture
def provider(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> AgentProvider:
    monkeypatch.setenv("PIPECAT_API_KEY", API_KEY)
    monkeypatch.setenv("PIPECAT_API_URL", emulator.api_url)
    emulator.configure(agentReadySeconds=0)
    return AgentProvider(timings=Timings(poll_interval=0.1, poll_interval_max=0.2))


def props(image: str, key: str, **check: Any) -> dict[str, Any]:
    smoke = {"runSeconds": 1, "startTimeout": 5, "publicApiKey": key, **check}
    return {
        "serviceName": "bot",
        "region": "us-west",
        "image": image,
        "deployTimeout": 30,
        "smoke": smoke,
    }


def gone(emulator: EmulatorHandle) -> bool:
    return emulator.api("GET", "/agents/bot").status_code == 404


def test_a_bot_that_never_starts_fails_at_its_start_timeout(
    provider: AgentProvider, emulator: EmulatorHandle, public_key: str
) -> None:
    with pytest.raises(AgentError) as failed:
        provider.create(props("acme/bot-hang:1", public_key, startTimeout=1.5))
    said = str(failed.value)
    assert "the bot did not start within 1.5 s (smoke.start_timeout)" in said, said
    assert "the agent was deleted again" in said and gone(emulator)
    # Stopped, so it costs nothing more: no session of the agent is left running.
    assert emulator.stats()["sessionsCut"] == 0


def test_a_bot_that_ends_cleanly_before_run_seconds_passes(
    provider: AgentProvider, emulator: EmulatorHandle, public_key: str
) -> None:
    made = provider.create(props("acme/bot-ends-1:1", public_key, runSeconds=30))
    assert made.outs is not None and made.outs["ready"] is True
    assert not gone(emulator)


def test_a_passed_check_stops_its_session(
    provider: AgentProvider, emulator: EmulatorHandle, public_key: str
) -> None:
    provider.create(props("acme/bot:1", public_key))
    listed = emulator.api("GET", "/agents/bot/sessions", params={"status": "all"}).json()
    (session,) = listed["sessions"]
    assert session["endState"] == "terminated" and session["botStartSeconds"] is not None


def test_a_refused_public_key_fails_naming_where_the_key_comes_from(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    with pytest.raises(AgentError) as failed:
        provider.create(props("acme/bot:1", API_KEY))  # the private key: refused
    said = str(failed.value)
    assert "the public API key was refused" in said and "smoke.public_api_key" in said, said
    assert API_KEY not in said
    assert gone(emulator)


def test_a_check_without_a_key_fails_the_preview(provider: AgentProvider) -> None:
    checked = provider.check({}, {**props("acme/bot:1", ""), "smoke": {"runSeconds": 1}})
    (failure,) = checked.failures or []
    assert failure.property == "smoke"
    assert "smoke.public_api_key" in failure.reason and "pipecat:publicApiKey" in failure.reason


def test_a_refusing_agent_is_not_deleted_while_sessions_are_active(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    made = provider.create({**props("acme/bot:1", ""), "smoke": None})
    assert made.outs is not None
    emulator.control("POST", "/agents/bot/sessions", json={}).raise_for_status()
    with pytest.raises(AgentError) as refused:
        provider.delete("bot", {**made.outs, "onActiveSessions": "refuse"})
    assert "has 1 active session: not deleted" in str(refused.value)
    assert not gone(emulator)
