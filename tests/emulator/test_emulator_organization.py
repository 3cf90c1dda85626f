"""The emulator's organization properties (public `/v1/properties`, against the spec) and the
organization-scoped route table the official CLI calls, at the HTTP level.

tests/engine/test_official_cli.py drives the CLI itself; this module pins the contract details."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from api_contract import SPEC, Client, context, post_upload
from conftest import API_KEY

from pcc_provider.emulator import Emulator

ORG = "/organizations/acme"


pytestmark = pytest.mark.emulator(build_seconds=0.2, agent_ready_seconds=0.2)


# -- public /v1/properties -------------------------------------------------------------------


def test_properties_start_with_the_default_region_and_patch_answers_the_schema(
    api: Client,
) -> None:
    assert api.call("GET", "/properties", 200) == {"properties": {"defaultRegion": "us-west"}}
    schema = api.call("GET", "/properties/schema", 200)["properties"]["defaultRegion"]
    assert schema["currentValue"] == "us-west" and schema["default"] == "us-west"
    assert schema["availableValues"] == ["us-west", "us-east", "eu-central", "ap-south"]

    patched = api.call("PATCH", "/properties", 200, json={"defaultRegion": "eu-central"})
    assert patched["properties"]["defaultRegion"]["currentValue"] == "eu-central"
    assert patched["properties"]["defaultRegion"]["readOnly"] is False
    assert api.call("GET", "/properties", 200) == {"properties": {"defaultRegion": "eu-central"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "No properties provided"),
        ({"invalidProp": 1}, "Property 'invalidProp' is not a valid property"),
        (
            {"defaultRegion": "mars"},
            "Region 'mars' is not available. "
            "Available regions: us-west, us-east, eu-central, ap-south",
        ),
        ({"defaultRegion": 7}, "Region '7' is not available."),
        ([], "Request body must be a JSON object"),
    ],
)
def test_bad_property_updates_are_refused_in_one_line(api: Client, body: Any, message: str) -> None:
    refused = api.call("PATCH", "/properties", 400, json=body)
    assert refused["error"].startswith(message) and refused["code"] == "GENERIC_BAD_REQUEST"
    assert api.call("GET", "/properties", 200) == {"properties": {"defaultRegion": "us-west"}}


def test_properties_need_the_key_and_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(state, api_key=API_KEY) as emu:
        for method in ("GET", "PATCH"):
            response = requests.request(method, emu.api_url + "/properties", timeout=10)
            assert response.status_code == 401
        Client(emu).call("PATCH", "/properties", 200, json={"defaultRegion": "ap-south"})
    with Emulator(state, api_key=API_KEY) as emu:
        assert Client(emu).call("GET", "/properties", 200)["properties"] == {
            "defaultRegion": "ap-south"
        }


def test_schemathesis_finds_no_contract_breaks_in_properties(emu: Emulator, tmp_path: Path) -> None:
    spec_file = tmp_path / "openapi.json"
    spec_file.write_text(json.dumps(SPEC))
    args = [
        *(sys.executable, "-m", "schemathesis.cli", "run", str(spec_file)),
        *("--url", emu.api_url, "--header", f"Authorization: Bearer {API_KEY}"),
        *("--include-operation-id-regex", "^(getProperties|updateProperties|getPropertiesSchema)$"),
        # positive_data_acceptance: `{}` fits the schema but the API refuses it, as documented.
        *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),
        *("--phases", "examples,coverage,fuzzing"),
        *("--max-examples", "50", "--seed", "20261124", "--generation-database", "none"),
        *("--request-timeout", "20", "--no-color", "--workers", "1"),
    ]
    result = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "Tested: 3" in result.stdout, result.stdout[-3000:]


# -- the organization-scoped routes ------------------------------------------------------------


def test_organization_routes_need_the_key(emu: Emulator) -> None:
    for method, path in [
        ("GET", "/users"),
        ("GET", "/organizations"),
        ("GET", f"{ORG}/regions"),
        ("GET", f"{ORG}/properties"),
        ("POST", f"{ORG}/builds/upload-url"),
        ("GET", f"{ORG}/builds"),
        ("GET", f"{ORG}/services"),
        ("PUT", f"{ORG}/services"),
        ("DELETE", f"{ORG}/services/some-agent"),
    ]:
        response = requests.request(method, emu.api_url + path, timeout=10)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"error": "Unauthorized", "code": "UNAUTHORIZED"}


def test_organization_routes_fill_in_the_default_region_and_share_the_models(
    api: Client,
) -> None:
    api.call("PATCH", "/properties", 200, json={"defaultRegion": "eu-central"})
    # Upload URL and build without a region, as the CLI may send them.
    grant = api.raw("POST", f"{ORG}/builds/upload-url", json={}).json()
    assert "eu-central-1" in grant["uploadUrl"]
    data = context()
    assert post_upload(grant["uploadUrl"], grant["uploadFields"], data).status_code == 204
    created = api.raw("POST", f"{ORG}/builds", json={"uploadId": grant["uploadId"]})
    assert created.status_code == 201, created.text
    build = api.wait(created.json()["build"]["id"])  # through the public route
    assert build["region"] == "eu-central" and build["status"] == "success"

    # A service without a region lands in the default one; the public API sees it.
    response = api.raw(
        "POST", f"{ORG}/services", json={"serviceName": "cli-agent", "buildId": build["id"]}
    )
    assert response.status_code == 200, response.text
    assert api.call("GET", "/agents/cli-agent", 200)["region"] == "eu-central"

    wrapped = api.raw("GET", f"{ORG}/services/cli-agent").json()
    assert wrapped["body"]["name"] == "cli-agent"
    assert wrapped["body"]["deployment"]["buildId"] == build["id"]
    assert "image" not in wrapped["body"]["deployment"]["manifest"]["spec"]
    assert api.raw("GET", f"{ORG}/services/nobody").status_code == 404


def test_service_updates_name_the_agent_in_the_body(api: Client) -> None:
    api.call("POST", "/agents", 200, json={"serviceName": "svc", "image": "example/bot:1"})
    missing = api.raw("PUT", f"{ORG}/services", json={"image": "example/bot:2"})
    assert missing.status_code == 400 and missing.json()["error"] == "'serviceName' is required"
    unknown = api.raw("PUT", f"{ORG}/services", json={"serviceName": "nope"})
    assert unknown.status_code == 404

    same = api.raw("PUT", f"{ORG}/services", json={"serviceName": "svc", "image": "example/bot:1"})
    assert same.status_code == 200 and "unchanged" in same.json()["warning"]
    changed = api.raw(
        "PUT", f"{ORG}/services", json={"serviceName": "svc", "image": "example/bot:2"}
    ).json()
    assert "warning" not in changed
    spec = api.call("GET", "/agents/svc", 200)["deployment"]["manifest"]["spec"]
    assert spec["image"] == "example/bot:2"


def test_faults_and_stats_cover_the_organization_routes(api: Client) -> None:
    route = "GET /v1/organizations/{org}/regions"
    assert api.control("POST", "/faults", json={"route": route, "status": 503}).ok
    assert api.raw("GET", f"{ORG}/regions").status_code == 503
    regions = api.raw("GET", f"{ORG}/regions").json()["regions"]
    assert regions[0] == {
        "code": "us-west",
        "display_name": "US West (Oregon)",
        "supported_architectures": ["arm64", "amd64"],
        "default_architecture": "arm64",
    }
    assert api.stats()["requests"][route] == 2


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes"),
        ('["eu-central"]', "a list, not an object"),
        ('{"defaultRegion": "mars"}', "defaultRegion 'mars' is not one of us-west, us-east"),
        ('{"defaultRegion": "us-east", "colour": 1}', "an unknown property colour"),
    ],
)
def test_an_unreadable_properties_file_means_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stored: str, why: str
) -> None:
    state = tmp_path / "state"
    with Emulator(state, api_key=API_KEY):
        pass
    (state / "properties.json").write_text(stored)
    with Emulator(state, api_key=API_KEY) as emu:
        api = Client(emu)
        assert api.call("GET", "/properties", 200)["properties"] == {"defaultRegion": "us-west"}
        api.call("PATCH", "/properties", 200, json={"defaultRegion": "us-east"})
        assert api.call("GET", "/properties", 200)["properties"] == {"defaultRegion": "us-east"}
    # Not dropped unseen: set aside, in one line, before the PATCH wrote a new one.
    aside = state / "unreadable" / "properties.json"
    assert aside.read_text() == stored
    line = capsys.readouterr().err
    assert line.startswith(f"warning: cannot read {state / 'properties.json'} ({why}"), line
    assert line.endswith(f": moved it to {aside}; the emulator starts without it\n"), line


# -- what only the organization's services carry (issue 31) ----------------------------------


def test_services_carry_websocket_auth_architecture_and_resources(api: Client) -> None:
    sent = {
        "serviceName": "pinned",
        "region": "us-west",
        "image": "example/bot:1",
        "websocketAuth": "token",
        "architecture": "amd64",
        "resources": {"cpu": "2", "memory": "4Gi"},
    }
    assert api.raw("POST", f"{ORG}/services", json=sent).status_code == 200
    body = api.raw("GET", f"{ORG}/services/pinned").json()["body"]
    # Where pcc 1.4.0's `agent status` reads them (cli/commands/agent.py).
    assert body["deployment"]["manifest"]["spec"]["arch"] == "amd64"
    assert body["resources"] == {"cpu": "2", "memory": "4Gi"}
    assert body["websocketAuth"] == "token"
    assert body["agentProfile"] is None  # sized by its resources: no profile
    # The public read (checked against the spec) has the sizing where the spec puts it.
    public = api.call("GET", "/agents/pinned", 200)
    assert public["deployment"]["manifest"]["spec"]["resources"] == {"cpu": "2", "memory": "4Gi"}
    assert public["agentProfile"] is None
    assert "arch" not in public["deployment"]["manifest"]["spec"]
    record = api.control("GET", "/agents/pinned").json()
    assert record["lastRequest"] == sent  # as sent, before the emulator fills anything in

    # An update changes one; the same values again make no new deployment.
    moved = api.raw(
        "PUT", f"{ORG}/services", json={"serviceName": "pinned", "architecture": "arm64"}
    )
    assert "warning" not in moved.json()
    again = api.raw(
        "PUT", f"{ORG}/services", json={"serviceName": "pinned", "architecture": "arm64"}
    )
    assert "unchanged" in again.json()["warning"]
    # A profile given replaces the resources; null drops the pin (the region's default).
    api.raw(
        "PUT",
        f"{ORG}/services",
        json={"serviceName": "pinned", "agentProfile": "agent-2x", "architecture": None},
    )
    body = api.raw("GET", f"{ORG}/services/pinned").json()["body"]
    assert body["agentProfile"] == "agent-2x"
    assert body["resources"] == {"cpu": "1000m", "memory": "2Gi"}
    assert "arch" not in body["deployment"]["manifest"]["spec"]


def test_the_public_routes_drop_what_they_do_not_know(api: Client) -> None:
    # As the API does ("silently drops unknown keys", pcc 1.4.0 api.py `_deploy`).
    body = {"serviceName": "plain", "image": "example/bot:1", "architecture": "amd64"}
    api.call("POST", "/agents", 200, json=body)
    found = api.raw("GET", f"{ORG}/services/plain").json()["body"]
    assert "arch" not in found["deployment"]["manifest"]["spec"]
    assert found["websocketAuth"] == "none"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"architecture": "x86"}, "Invalid architecture 'x86'. Valid values are: amd64, arm64"),
        (
            {"region": "eu-central", "architecture": "amd64"},
            "Architecture 'amd64' is not supported in region 'eu-central' (supported: arm64)",
        ),
        ({"websocketAuth": "hmac"}, "'websocketAuth' must be one of none, token"),
        ({"resources": {"cpu": "2"}}, "'resources' must be an object with exactly 'cpu' and"),
        ({"resources": {"cpu": "2", "memory": "4 GB"}}, "Invalid memory quantity '4 GB'"),
        (
            {"agentProfile": "agent-1x", "resources": {"cpu": "2", "memory": "4Gi"}},
            "Cannot specify both 'agentProfile' and 'resources'",
        ),
    ],
)
def test_bad_service_fields_are_refused(api: Client, extra: dict[str, Any], message: str) -> None:
    body = {"serviceName": "bad", "image": "example/bot:1", **extra}
    refused = api.raw("POST", f"{ORG}/services", json=body)
    assert refused.status_code == 400 and refused.json()["error"].startswith(message), refused.text


def test_a_service_from_a_github_source_builds_it_then_runs_its_image(api: Client) -> None:
    git = {"repoFullName": "acme/bot", "branch": "main", "subdirectory": "agent"}
    sent = {"serviceName": "from-git", "region": "us-west", "git": git}
    assert api.raw("POST", f"{ORG}/services", json=sent).status_code == 200
    first = api.raw("GET", f"{ORG}/services/from-git").json()["body"]
    assert first["latestDeploy"]["status"] in ("pending", "building")
    assert first["git"] == {**git, "dockerfilePath": "Dockerfile", "autoDeploy": True}
    assert "deployedCommit" not in first

    api.advance(5)
    body = api.raw("GET", f"{ORG}/services/from-git").json()["body"]
    latest = body["latestDeploy"]
    assert latest["status"] == "succeeded" and latest["ref"] == "refs/heads/main"
    assert body["deployedCommit"]["sha"] == latest["commitSha"]
    build_id = body["deployment"]["buildId"]
    assert api.call("GET", f"/builds/{build_id}", 200)["build"]["status"] == "success"
    build = api.raw("GET", f"{ORG}/builds/{build_id}").json()["build"]
    assert build["commitSha"] == latest["commitSha"]
    public = api.call("GET", "/agents/from-git", 200)
    assert public["ready"] is True
    record = api.control("GET", "/agents/from-git").json()
    assert record["deployments"][0]["buildId"] == build["id"]


@pytest.mark.parametrize(
    ("git", "extra", "message"),
    [
        ({"repoFullName": "acme"}, {}, "A GitHub source requires both"),
        ({"repoFullName": "acme", "branch": "main"}, {}, "Invalid repo 'acme'"),
        (
            {"repoFullName": "acme/bot", "branch": "main"},
            {"image": "example/bot:1"},
            "Cannot deploy from a GitHub repository and an image or build",
        ),
        (
            {"repoFullName": "acme/bot", "branch": "main"},
            {"resources": {"cpu": "2", "memory": "4Gi"}},
            "Explicit resources are not yet supported for GitHub-sourced agents",
        ),
    ],
)
def test_a_bad_github_source_is_refused(
    api: Client, git: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    body = {"serviceName": "bad-git", "git": git, **extra}
    refused = api.raw("POST", f"{ORG}/services", json=body)
    assert refused.status_code == 400 and refused.json()["error"].startswith(message), refused.text
