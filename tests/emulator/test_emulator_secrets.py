"""The emulator's /v1/secrets, as a client sees it over HTTP, and what a deploy gets for a
secret set that is missing (404) or not ready (409). Responses are checked against the
official spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_contract import Client
from conftest import API_KEY

from pcc_provider.emulator import Emulator

pytestmark = pytest.mark.emulator(agent_ready_seconds=0.2)


def put(api: Client, name: str, expect: int = 202, **body: Any) -> Any:
    return api.call("PUT", f"/secrets/{name}", expect, json=body)


def regular(**values: str) -> list[dict[str, str]]:
    return [{"secretKey": k, "secretValue": v} for k, v in values.items()]


def provisioned(api: Client, name: str) -> dict[str, Any]:
    """The set as listed once the time its provisioning takes has passed (on the clock)."""
    api.advance(api.control("GET", "/config").json()["secretReadySeconds"])
    listed = {s["name"]: s for s in api.call("GET", "/secrets", 200)["sets"]}
    found: dict[str, Any] = listed[name]
    assert found["status"] != "pending", found
    return found


def test_secret_set_lifecycle(api: Client) -> None:
    assert api.call("GET", "/secrets", 200) == {"sets": []}
    body = put(api, "bot-secrets", secrets=regular(OPENAI_API_KEY="sk-1", GREETING="hello"))
    assert body == {"status": "OK", "region": "us-west"}
    got = api.call("GET", "/secrets/bot-secrets", 200)
    assert got["status"] == "pending"
    assert provisioned(api, "bot-secrets")["status"] == "ready"
    got = api.call("GET", "/secrets/bot-secrets", 200)
    assert got == {
        "region": "us-west",
        "status": "ready",
        "secrets": [{"fieldName": "GREETING"}, {"fieldName": "OPENAI_API_KEY"}],
    }
    # Values are stored but never returned, by any route.
    listed = api.raw("GET", "/secrets").text + api.raw("GET", "/secrets/bot-secrets").text
    assert "sk-1" not in listed and "hello" not in listed

    # A PUT merges keys and provisions again; a key delete removes one.
    put(api, "bot-secrets", secrets=regular(EXTRA="x"))
    assert api.call("GET", "/secrets/bot-secrets", 200)["status"] == "pending"
    provisioned(api, "bot-secrets")
    assert api.call("DELETE", "/secrets/bot-secrets/GREETING", 200) == {"status": "OK"}
    api.call("DELETE", "/secrets/bot-secrets/GREETING", 404)
    provisioned(api, "bot-secrets")
    keys = [s["fieldName"] for s in api.call("GET", "/secrets/bot-secrets", 200)["secrets"]]
    assert keys == ["EXTRA", "OPENAI_API_KEY"]

    # The region is fixed at creation; the type too.
    assert (
        "Cannot change region"
        in put(api, "bot-secrets", 400, secrets=regular(A="1"), region="us-east")["error"]
    )
    error = put(
        api, "bot-secrets", 400, isImagePullSecret=True, host="https://ghcr.io", secretValue="x"
    )["error"]
    assert error == "Cannot update existing regular secrets to image pull secrets"

    assert api.call("DELETE", "/secrets/bot-secrets", 200) == {"status": "OK"}
    assert api.call("GET", "/secrets/bot-secrets", 404)["error"] == "Set not found"
    api.call("DELETE", "/secrets/bot-secrets", 404)


def test_image_pull_secret(api: Client) -> None:
    body = put(
        api,
        "ghcr",
        isImagePullSecret=True,
        host="https://ghcr.io",
        secretValue="Ym90OnRva2Vu",
        region="eu-central",
    )
    assert body == {"status": "OK", "region": "eu-central"}
    assert (
        api.call("GET", "/secrets/ghcr", 400)["error"]
        == "Cannot retrieve image pull secrets by name"
    )
    listed = provisioned(api, "ghcr")
    assert listed == {
        "name": "ghcr",
        "type": "imagePullSecret",
        "region": "eu-central",
        "status": "ready",
    }
    api.call("DELETE", "/secrets/ghcr/secretValue", 400)
    put(api, "ghcr", 400, isImagePullSecret=True, host="https://ghcr.io")
    api.call("DELETE", "/secrets/ghcr", 200)


@pytest.mark.parametrize(
    "name, body, words",
    [
        ("ab", {"secrets": regular(A="1")}, "Invalid secret set name"),
        ("Bad_Name", {"secrets": regular(A="1")}, "Invalid secret set name"),
        ("x" * 64, {"secrets": regular(A="1")}, "Invalid secret set name"),
        ("good", {"secrets": []}, "non-empty array"),
        ("good", {}, "non-empty array"),
        ("good", {"secrets": regular(**{"BAD KEY": "1"})}, "Invalid secret key"),
        ("good", {"secrets": [{"secretKey": "A"}]}, "'secretValue' is required"),
        ("good", {"secrets": regular(A="1"), "region": "mars"}, "Invalid region"),
        ("good", {"isImagePullSecret": "yes"}, "must be a boolean"),
    ],
)
def test_bad_secret_requests(api: Client, name: str, body: dict[str, Any], words: str) -> None:
    assert words in api.call("PUT", f"/secrets/{name}", 400, json=body)["error"]
    assert api.call("GET", "/secrets", 200) == {"sets": []}


def test_deploy_binding_a_missing_or_pending_set_is_refused(api: Client) -> None:
    agent = {"serviceName": "bot", "image": "x:1", "secretSet": "bot-secrets"}
    missing = api.call("POST", "/agents", 404, json=agent)
    assert (missing["code"], missing["error"]) == (
        "NOT_FOUND",
        "Secret set 'bot-secrets' not found",
    )
    api.control("POST", "/config", json={"secretReadySeconds": 30})
    put(api, "bot-secrets", secrets=regular(A="1"))
    assert "not ready (status: pending)" in api.call("POST", "/agents", 409, json=agent)["error"]
    api.control("POST", "/config", json={"secretReadySeconds": 0})
    put(api, "bot-secrets", secrets=regular(A="2"))
    created = api.call("POST", "/agents", 200, json=agent)
    assert created["deployment"]["manifest"]["spec"]["envFromSecretNames"] == ["bot-secrets"]

    # Each deployment records the version of the set it bound: a forced redeploy after a
    # change binds the new one.
    deployments = api.control("GET", "/agents/bot").json()["deployments"]
    assert deployments[-1]["boundSets"] == {"secretSet": {"name": "bot-secrets", "version": 2}}
    put(api, "bot-secrets", secrets=regular(A="3"))
    api.call("POST", "/agents/bot", 200, json={"forceRedeploy": True})
    deployments = api.control("GET", "/agents/bot").json()["deployments"]
    assert deployments[-1]["boundSets"]["secretSet"]["version"] == 3

    # Other region, or an image pull secret named as a secret set.
    put(api, "eu-secrets", secrets=regular(A="1"), region="eu-central")
    api.call("POST", "/agents/bot", 400, json={"secretSet": "eu-secrets"})
    put(api, "pull", isImagePullSecret=True, host="https://ghcr.io", secretValue="x")
    # No secret set of that name: 404, as for a missing one.
    api.call("POST", "/agents/bot", 404, json={"secretSet": "pull"})
    api.call("POST", "/agents/bot", 404, json={"imagePullSecretSet": "no-such-pull"})
    api.call("POST", "/agents/bot", 200, json={"imagePullSecretSet": "pull"})


def test_a_set_can_be_made_to_fail(api: Client) -> None:
    response = api.control("POST", "/secrets/doomed/fail", json={"errorMessage": "quota exceeded"})
    assert response.status_code == 200
    put(api, "doomed", secrets=regular(A="1"))
    assert provisioned(api, "doomed") == {
        "name": "doomed",
        "type": "secret",
        "region": "us-west",
        "status": "failed",
        "errorMessage": "quota exceeded",
    }
    got = api.call("GET", "/secrets/doomed", 200)
    assert got["status"] == "failed" and got["errorMessage"] == "quota exceeded"
    api.call(
        "POST", "/agents", 409, json={"serviceName": "bot", "image": "x", "secretSet": "doomed"}
    )
    # Only the next provisioning fails.
    put(api, "doomed", secrets=regular(A="2"))
    assert provisioned(api, "doomed")["status"] == "ready"


def test_secret_sets_survive_a_restart(tmp_path: Any) -> None:
    state = tmp_path / "state"
    with Emulator(state, api_key=API_KEY) as first:
        put(Client(first), "kept", secrets=regular(A="1"))
    stored = json.loads((state / "secrets" / "kept.json").read_text())
    assert stored["values"] == {"A": "1"}
    with Emulator(state, api_key=API_KEY) as second:
        keys = Client(second).call("GET", "/secrets/kept", 200)["secrets"]
    assert keys == [{"fieldName": "A"}]


def test_a_set_named_without_region_goes_to_the_default_region(api: Client) -> None:
    # The spec: "If not specified, defaults to the organization's default region."
    api.call("PATCH", "/properties", 200, json={"defaultRegion": "eu-central"})
    assert put(api, "eu-secrets", secrets=regular(A="1"))["region"] == "eu-central"
    assert put(api, "eu-pull", isImagePullSecret=True, host="https://ghcr.io", secretValue="x") == {
        "status": "OK",
        "region": "eu-central",
    }
    # An existing set keeps its region when a later PUT names none.
    api.call("PATCH", "/properties", 200, json={"defaultRegion": "us-east"})
    assert put(api, "eu-secrets", secrets=regular(B="2"))["region"] == "eu-central"
