"""The emulator's agent profiles and spend limit, on the routes pcc 1.4.0 calls (its api.py):
what they answer, what they refuse, and that they survive a restart.
tests/engine/test_organization_objects.py drives them with pcc itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_contract import Client
from conftest import API_KEY

from pcc_provider.emulator import Emulator

ORG = "/organizations/acme"
PROFILES = f"{ORG}/agent-profiles"
LIMIT = f"{ORG}/spend-limit"

pytestmark = pytest.mark.emulator(agent_ready_seconds=0)


def call(api: Client, method: str, path: str, status: int, **kw: Any) -> Any:
    """A call of a route pcc calls, which the public spec does not hold."""
    response = api.raw(method, path, **kw)
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def create(name: str, cpu: str = "2", memory: str = "4Gi", **more: Any) -> dict[str, Any]:
    return {
        "apiName": name,
        "displayName": name,
        "resources": {"cpu": cpu, "memory": memory},
        **more,
    }


def listed(api: Client, name: str) -> dict[str, Any]:
    profiles = call(api, "GET", PROFILES, 200)["agentProfiles"]
    return next(p for p in profiles if p["api_name"] == name)


def test_a_profile_is_created_listed_changed_disabled_and_made_again(api: Client) -> None:
    names = [p["api_name"] for p in call(api, "GET", PROFILES, 200)["agentProfiles"]]
    assert names == ["agent-1x", "agent-2x", "agent-3x"]
    call(api, "POST", PROFILES, 201, json=create("big"))
    assert listed(api, "big") == {
        "api_name": "big",
        "display_name": "big",
        "resources": {"cpu": "2", "memory": "4Gi"},
        "custom": True,
        "enabled": True,
    }
    call(api, "PATCH", f"{PROFILES}/big", 200, json={"resources": {"cpu": "4", "memory": "8Gi"}})
    assert listed(api, "big")["resources"] == {"cpu": "4", "memory": "8Gi"}
    call(api, "PATCH", f"{PROFILES}/big", 200, json={"enabled": False})
    assert listed(api, "big")["enabled"] is False
    # Disabled is removed: the name can be created again, enabled, with the new sizing.
    call(api, "POST", PROFILES, 201, json=create("big", "1", "1Gi"))
    assert listed(api, "big")["enabled"] is True
    assert listed(api, "big")["resources"] == {"cpu": "1", "memory": "1Gi"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", PROFILES, create("Big"), 400, "Invalid profile name 'Big'"),
        ("POST", PROFILES, create("big", cpu="2 cores"), 400, "Invalid cpu quantity '2 cores'"),
        ("POST", PROFILES, create("big", memory="lots"), 400, "Invalid memory quantity 'lots'"),
        ("POST", PROFILES, {"apiName": "big"}, 400, "'resources' with 'cpu' and 'memory'"),
        ("POST", PROFILES, create("agent-2x"), 409, "Agent profile 'agent-2x' already exists"),
        ("PATCH", f"{PROFILES}/nope", {"enabled": False}, 404, "Agent profile 'nope' not found"),
        ("PATCH", f"{PROFILES}/nope", {}, 400, "Nothing to update"),
        ("PATCH", f"{PROFILES}/nope", {"enabled": "no"}, 400, "'enabled' must be a boolean"),
        ("PUT", LIMIT, {}, 400, "'limitCents' is required"),
        ("PUT", LIMIT, {"limitCents": -1}, 400, "'limitCents' must be a whole number"),
        ("PUT", LIMIT, {"limitCents": "12"}, 400, "'limitCents' must be a whole number"),
        ("PUT", LIMIT, {"limitCents": 1.5}, 400, "'limitCents' must be a whole number"),
    ],
)
def test_bad_requests_are_refused_in_one_line(
    api: Client, method: str, path: str, body: Any, status: int, message: str
) -> None:
    refused = call(api, method, path, status, json=body)
    assert refused["error"].startswith(message), refused


def test_an_enabled_profile_of_the_organization_sizes_an_agent(api: Client) -> None:
    call(api, "POST", PROFILES, 201, json=create("big", "2", "4Gi"))
    body = {"serviceName": "bot", "image": "x:1", "agentProfile": "big"}
    agent = api.call("POST", "/agents", 200, json=body)
    assert agent["agentProfile"] == "big"
    held = api.call("GET", "/agents/bot", 200)["deployment"]["manifest"]["spec"]["resources"]
    assert held == {"cpu": "2", "memory": "4Gi"}
    # A change of the profile applies to the next deployment only.
    call(api, "PATCH", f"{PROFILES}/big", 200, json={"resources": {"cpu": "8", "memory": "16Gi"}})
    held = api.call("GET", "/agents/bot", 200)["deployment"]["manifest"]["spec"]["resources"]
    assert held == {"cpu": "2", "memory": "4Gi"}

    call(api, "PATCH", f"{PROFILES}/big", 200, json={"enabled": False})
    for name in ("big", "never-made"):
        body = {"serviceName": f"bot-{name}", "image": "x:1", "agentProfile": name}
        refused = api.call("POST", "/agents", 400, json=body)["error"]
        assert refused == (
            "'agentProfile' must be one of agent-1x, agent-2x, agent-3x, or an enabled profile "
            f"of the organization: '{name}' is neither"
        )


def test_the_spend_limit_is_set_blocks_at_zero_and_clears(api: Client) -> None:
    shown = call(api, "GET", LIMIT, 200)
    assert (shown["limitCents"], shown["currentSpendCents"], shown["blocked"]) == (None, 0, False)
    assert shown["periodStart"] < shown["periodEnd"]
    assert call(api, "PUT", LIMIT, 200, json={"limitCents": 1234})["limitCents"] == 1234
    assert call(api, "GET", LIMIT, 200)["limitCents"] == 1234
    zero = call(api, "PUT", LIMIT, 200, json={"limitCents": 0})
    assert zero["blocked"] is True and zero["blockedAt"]
    cleared = call(api, "PUT", LIMIT, 200, json={"limitCents": None})
    assert (cleared["limitCents"], cleared["blocked"], cleared["blockedAt"]) == (None, False, None)


def test_profiles_and_the_limit_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(state, api_key=API_KEY) as emu:
        api = Client(emu)
        call(api, "POST", PROFILES, 201, json=create("big"))
        call(api, "PATCH", f"{PROFILES}/big", 200, json={"displayName": "Big one"})
        call(api, "PUT", LIMIT, 200, json={"limitCents": 5000})
    with Emulator(state, api_key=API_KEY) as emu:
        api = Client(emu)
        assert listed(api, "big")["display_name"] == "Big one"
        assert call(api, "GET", LIMIT, 200)["limitCents"] == 5000
