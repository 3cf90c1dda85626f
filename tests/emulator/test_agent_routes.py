"""Which route each call of the Agent's provider takes (issue 31): an agent that sets nothing
only pcc's organization route carries never calls it; one that does is created, updated and
refreshed there, and costs one look-up of the organization per client."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle

from pcc_provider.agent import AgentProvider
from pcc_provider.resource import Timings

ORG_ROUTES = "/v1/organizations"


@pytest.fixture
def provider(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> AgentProvider:
    monkeypatch.setenv("PIPECAT_API_KEY", API_KEY)
    monkeypatch.setenv("PIPECAT_API_URL", emulator.api_url)
    emulator.configure(agentReadySeconds=0)
    return AgentProvider(timings=Timings(poll_interval=0.1))


def props(**settings: Any) -> dict[str, Any]:
    base = {"serviceName": "bot", "region": "us-west", "image": "example/agent:1"}
    return {**base, "deployTimeout": 30, **settings}


def organization_calls(emulator: EmulatorHandle) -> dict[str, int]:
    return {k: v for k, v in emulator.stats()["requests"].items() if ORG_ROUTES in k}


def test_an_agent_without_such_a_setting_never_calls_the_organization_route(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    created = provider.create(props(maxAgents=3))
    provider.update("bot", created.outs, props(maxAgents=4))
    provider.read("bot", created.outs)
    assert organization_calls(emulator) == {}


def test_an_agent_with_one_is_created_updated_and_read_there(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    created = provider.create(props(architecture="arm64"))
    assert organization_calls(emulator) == {
        "GET /v1/organizations": 1,  # the organization, found from the key
        "POST /v1/organizations/{org}/services": 1,
    }
    assert emulator.calls("POST /v1/agents") == 0
    emulator.reset_stats()
    updated = provider.update("bot", created.outs, props(architecture="amd64"))
    assert organization_calls(emulator) == {
        "GET /v1/organizations": 1,
        "PUT /v1/organizations/{org}/services": 1,
    }
    emulator.reset_stats()
    read = provider.read("bot", updated.outs)
    assert read.inputs["architecture"] == "amd64"
    assert organization_calls(emulator) == {
        "GET /v1/organizations": 1,
        "GET /v1/organizations/{org}/services/{agentName}": 1,
    }
