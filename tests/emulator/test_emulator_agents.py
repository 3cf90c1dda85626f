"""The emulator's agents when things go wrong: deployments that crash-loop or cannot pull their
image, deletions that take a while, answers lost after the service acted, and request limits
read from the spec it ships. Every body is checked against the spec (api_contract.conforms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from api_contract import SPEC, Client, context

pytestmark = pytest.mark.emulator(build_seconds=0.5, agent_ready_seconds=0.4)


def _deployed(api: Client, name: str, holds: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """The agent once the time a deployment takes has passed on the emulator's clock, which
    `holds` for by then."""
    api.advance(api.control("GET", "/config").json()["agentReadySeconds"])
    agent: dict[str, Any] = api.call("GET", f"/agents/{name}", 200)
    assert holds(agent), agent
    return agent


def _health(agent: dict[str, Any]) -> dict[str, Any]:
    return dict((agent.get("currentRevision") or {}).get("health") or {})


def test_an_image_named_crashloop_crash_loops_and_never_gets_ready(api: Client) -> None:
    created = api.call(
        "POST", "/agents", 200, json={"serviceName": "crashy", "image": "example/crashloop:1"}
    )
    assert created["currentRevision"]["phase"] == "Creating"
    agent = _deployed(api, "crashy", lambda a: _health(a).get("reason"))
    revision = agent["currentRevision"]
    assert revision["phase"] == "Validating" and revision["readyReplicas"] == 0
    assert revision["deploymentID"] == agent["desiredDeploymentId"]
    health = revision["health"]
    assert health["reason"] == "CrashLoopBackOff" and health["state"] == "waiting"
    assert health["lastExitCode"] == 1 and health["lastTerminationReason"] == "Error"
    assert "Traceback" in health["message"] and health["ready"] is False
    api.advance(0.5)  # past the time a healthy deployment would be ready
    agent = api.call("GET", "/agents/crashy", 200)
    assert agent["ready"] is False and agent["available"] is False
    assert "reconciledDeploymentId" not in agent
    assert agent["currentRevision"]["health"]["reason"] == "CrashLoopBackOff"


def test_a_build_whose_command_exits_crash_loops_with_that_exit_code(api: Client) -> None:
    data = context('FROM python:3.12\nCMD ["sh", "-c", "exit 3"]\n')
    build = api.wait(api.create(data)[1]["build"]["id"])
    assert build["status"] == "success"  # it builds; it is the running agent that fails
    api.call("POST", "/agents", 200, json={"serviceName": "exits", "buildId": build["id"]})
    agent = _deployed(api, "exits", lambda a: _health(a).get("reason"))
    assert _health(agent)["reason"] == "CrashLoopBackOff" and _health(agent)["lastExitCode"] == 3


def test_an_image_that_does_not_exist_ends_in_phase_failed(api: Client) -> None:
    api.call("POST", "/agents", 200, json={"serviceName": "pull", "image": "x/does-not-exist:1"})
    agent = _deployed(api, "pull", lambda a: a["currentRevision"]["phase"] == "Failed")
    assert _health(agent)["reason"] == "ImagePullBackOff" and agent["ready"] is False


def test_a_failing_update_leaves_the_previous_deployment_serving(api: Client) -> None:
    first = api.call("POST", "/agents", 200, json={"serviceName": "svc", "image": "x/good:1"})
    _deployed(api, "svc", lambda a: a["ready"])
    api.call("POST", "/agents/svc", 200, json={"image": "x/crashloop:2"})
    agent = _deployed(api, "svc", lambda a: _health(a).get("reason") == "CrashLoopBackOff")
    api.advance(0.5)  # past the time a healthy deployment would be ready
    agent = api.call("GET", "/agents/svc", 200)
    assert agent["ready"] is False and agent["available"] is True
    assert agent["reconciledDeploymentId"] == first["desiredDeploymentId"]
    assert agent["previousRevision"]["deploymentID"] == first["desiredDeploymentId"]
    api.call("POST", "/agents/svc", 200, json={"image": "x/good:3"})
    assert _deployed(api, "svc", lambda a: a["ready"])["currentRevision"]["phase"] == "Active"


def test_a_slow_deletion_keeps_the_agent_and_its_name_for_a_while(api: Client) -> None:
    api.control("POST", "/config", json={"agentDeleteSeconds": 60})
    api.call("POST", "/agents", 200, json={"serviceName": "slow", "image": "x:1"})
    assert api.call("DELETE", "/agents/slow", 200) == {"status": "OK"}
    assert api.call("GET", "/agents/slow", 200)["name"] == "slow"
    assert api.call("DELETE", "/agents/slow", 200) == {"status": "OK"}  # still there
    refused = api.call("POST", "/agents", 400, json={"serviceName": "slow", "image": "x:1"})
    assert "already exists" in refused["error"]
    api.advance(30)
    assert api.call("GET", "/agents/slow", 200)["name"] == "slow"  # half the time to go
    api.advance(30)
    api.call("GET", "/agents/slow", 404)
    assert api.call("GET", "/agents", 200)["services"] == []
    api.call("POST", "/agents", 200, json={"serviceName": "slow", "image": "x:1"})


def test_a_fault_can_act_and_then_drop_the_answer(api: Client) -> None:
    api.control("POST", "/faults", json={"route": "POST /v1/agents", "actThenDrop": True})
    assert api.control("GET", "/faults").json() == {
        "faults": [{"route": "POST /v1/agents", "times": 1, "actThenDrop": True}]
    }
    with pytest.raises(requests.exceptions.ConnectionError):
        api.raw("POST", "/agents", json={"serviceName": "acted", "image": "x:1"})
    assert api.call("GET", "/agents/acted", 200)["name"] == "acted"  # it was created
    for bad in [
        {"route": "GET /v1/regions", "actThenDrop": True, "status": 500},
        {"route": "GET /v1/regions", "actThenDrop": True, "drop": True},
        {"route": "GET /v1/regions", "actThenDrop": "yes"},
    ]:
        assert api.control("POST", "/faults", json=bad).status_code == 400, bad


def _create_spec(*path: str) -> dict[str, Any]:
    node: dict[str, Any] = SPEC["components"]["schemas"]["CreateServiceRequest"]
    for name in path:
        node = node["properties"][name]
    return node


def test_request_limits_are_the_specs(api: Client) -> None:
    """The limits the emulator enforces are exactly those of its openapi.json, read here on
    their own: one past each bound is refused, the bound itself accepted."""
    longest = int(_create_spec("serviceName")["maxLength"])
    duration = _create_spec("maxSessionDuration")
    low, high = int(duration["minimum"]), int(duration["maximum"])
    profiles = _create_spec("agentProfile")["enum"]
    filters = _create_spec("krispViva", "audioFilter")["enum"]
    accepted: list[dict[str, Any]] = [
        {"serviceName": "a" * longest},
        {"serviceName": "b1", "maxSessionDuration": low},
        {"serviceName": "b2", "maxSessionDuration": high},
        *({"serviceName": f"p{i}", "agentProfile": p} for i, p in enumerate(profiles)),
        *({"serviceName": f"k{i}", "krispViva": {"audioFilter": f}} for i, f in enumerate(filters)),
    ]
    refused: list[dict[str, Any]] = [
        {"serviceName": "a" * (longest + 1)},
        {"serviceName": "c1", "maxSessionDuration": low - 1},
        {"serviceName": "c2", "maxSessionDuration": high + 1},
        {"serviceName": "c3", "agentProfile": "agent-0x"},
        {"serviceName": "c4", "krispViva": {"audioFilter": "studio"}},
    ]
    for body in accepted:
        api.call("POST", "/agents", 200, json={**body, "image": "x:1"})
    for body in refused:
        api.call("POST", "/agents", 400, json={**body, "image": "x:1"})
