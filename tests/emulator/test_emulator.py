"""The Pipecat Cloud emulator's API, as a client sees it over HTTP.

Every JSON response is validated against the official OpenAPI (vendored beside the emulator),
with its $refs inlined, OpenAPI's `nullable` honoured and, stricter than the spec, no
undeclared properties, so a misspelt field in the emulator fails here.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from api_contract import SPEC, Client, conforms, context, make_archive, post_upload, served_at
from conftest import API_KEY
from waiting import eventually

from pcc_provider.emulator import Emulator
from pcc_provider.emulator.backend import Clock
from pcc_provider.emulator.traffic import ENCODINGS

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
IMAGE_RE = re.compile(
    r"^\d{12}\.dkr\.ecr\.us-west-2\.amazonaws\.com/pipecat-cloud/(?P<org>[^:]+):(?P<tag>[0-9a-f]{16})$"
)

pytestmark = pytest.mark.emulator(build_seconds=0.5, agent_ready_seconds=0.4)

RUN_EXIT_1_ERROR = (
    'failed to solve: process "/bin/sh -c exit 1" did not complete successfully: exit code: 1'
)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# -- auth and routing ------------------------------------------------------------------------


def api_routes(emu: Emulator) -> list[tuple[str, str, str]]:
    """(method, path template, a path to it) for every operation of the spec and every /v1
    route the emulator serves: the official CLI's organization routes, and /v1/users, too."""
    documented = {
        (method.upper(), "/v1" + served_at(template))
        for template, operations in SPEC["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    served = {
        (method, template)
        for method, template in (key.split(" ", 1) for key in emu.app.faultable)
        if template.startswith("/v1/")
    }
    samples = {"buildId": str(uuid.uuid4())}
    return [
        (method, template, re.sub(r"\{(\w+)\}", lambda m: samples.get(m[1], "some-name"), template))
        for method, template in sorted(documented | served)
    ]


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-key", f"Basic {API_KEY}", API_KEY, "Bearer"]
)
def test_every_api_route_refuses_a_missing_or_wrong_key(emu: Emulator, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    routes = api_routes(emu)
    templates = {template for _, template, _ in routes}
    # The spec's and the CLI's: secrets, properties, organizations among them.
    assert {"/v1/secrets/{setName}/{secretKey}", "/v1/properties/schema"} <= templates
    assert "/v1/organizations/{org}/secrets/{setName}" in templates
    for method, template, path in routes:
        response = requests.request(
            method, emu.url + path, headers=headers, json={"region": "us-west"}, timeout=10
        )
        assert response.status_code == 401, (method, template)
        unauthorized = {"error": "Unauthorized", "code": "UNAUTHORIZED"}
        assert response.json() == unauthorized, (method, template)
        if template.removeprefix("/v1") in map(served_at, SPEC["paths"]):
            assert conforms(response, method, path.removeprefix("/v1")) == unauthorized


def test_every_route_but_the_public_ones_refuses_a_public_key(emu: Emulator) -> None:
    # A public key (pcc organizations keys create) opens /v1/public/... only: starting a
    # session. Everything else is the private key's, as on the real service.
    made = requests.post(
        f"{emu.api_url}/organizations/acme/apiKeys",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={"name": "web", "type": "public"},
        timeout=10,
    )
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    opened = []
    for method, template, path in api_routes(emu):
        response = requests.request(method, emu.url + path, headers=headers, json={}, timeout=10)
        if response.status_code != 401:
            opened.append((method, template, response.status_code))
    # Past the key, not found: the start of an agent that does not exist, and the spec's
    # session proxy (not served).
    assert {template for _, template, _ in opened} == {
        "/v1/public/{agentName}/start",
        "/v1/public/{serviceName}/sessions/{sessionId}/{path}",
    }
    assert {status for _, _, status in opened} == {404}


def test_unknown_routes_and_methods_get_json_errors(api: Client) -> None:
    response = api.raw("GET", "/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "code": "NOT_FOUND"}
    response = api.raw("PUT", "/builds")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert conforms(response, "GET", "/builds")["code"] == "METHOD_NOT_ALLOWED"
    # Unknown routes under /v1 still need the key: the API does not reveal its routes.
    assert requests.get(api.emu.api_url + "/nope", timeout=10).status_code == 401


def test_regions(api: Client) -> None:
    body = api.call("GET", "/regions", 200)
    codes = [r["code"] for r in body["regions"]]
    assert codes == ["us-west", "us-east", "eu-central", "ap-south"]


def test_bodies_that_are_not_json_objects_or_too_big_are_refused(api: Client) -> None:
    for data in [b"{", b"[1, 2]", b'"region"', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000]:
        response = api.raw("POST", "/builds/upload-url", data=data)
        assert response.status_code == 400, data[:10]
        assert conforms(response, "POST", "/builds/upload-url")["code"] == "GENERIC_BAD_REQUEST"
    huge = b'{"region": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = api.raw("POST", "/builds", data=huge)
    assert response.status_code == 413
    assert conforms(response, "POST", "/builds")["code"] == "PAYLOAD_TOO_LARGE"


# -- upload URL ------------------------------------------------------------------------------


def test_upload_url_is_a_presigned_post_that_expires_in_15_minutes(api: Client) -> None:
    body = api.call("POST", "/builds/upload-url", 200, json={"region": "us-west"})
    assert UUID_RE.match(body["uploadId"])
    assert body["uploadUrl"].startswith(api.emu.url + "/_storage/")
    assert "/v1" not in body["uploadUrl"]
    fields = body["uploadFields"]
    assert list(fields) == [
        "key",
        "bucket",
        "Content-Type",
        "Policy",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ]
    assert fields["key"].endswith(f"/{body['uploadId']}.tar.gz")
    assert fields["Content-Type"] == "application/gzip"
    assert fields["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert re.fullmatch(r"ASIA\w{16}/\d{8}/us-west-2/s3/aws4_request", fields["X-Amz-Credential"])
    assert re.fullmatch(r"[0-9a-f]{64}", fields["X-Amz-Signature"])
    assert body["uploadUrl"].endswith("/" + fields["bucket"])
    assert abs(_ts(body["expiresAt"]) - (time.time() + 900)) < 10


@pytest.mark.parametrize(
    "payload",
    [{"region": None}, {"region": 5}, {"region": ""}, {"region": "mars-north"}],
)
def test_upload_url_needs_a_known_region(api: Client, payload: dict[str, Any]) -> None:
    body = api.call("POST", "/builds/upload-url", 400, json=payload)
    assert body["code"] == "GENERIC_BAD_REQUEST"


@pytest.mark.parametrize("payload", [{}, {"dummy": 1}])
def test_upload_url_without_a_region_uses_the_organizations_default(
    api: Client, payload: dict[str, Any]
) -> None:
    # Beyond the spec, which marks it required: the real service fills it in.
    body = api.call("POST", "/builds/upload-url", 200, json=payload)
    assert body["uploadUrl"].endswith("-us-west-2")
    api.call("PATCH", "/properties", 200, json={"defaultRegion": "eu-central"})
    body = api.call("POST", "/builds/upload-url", 200, json=payload)
    assert body["uploadUrl"].endswith("-eu-central-1")


# -- builds ----------------------------------------------------------------------------------


def test_build_goes_pending_building_success_with_growing_logs(api: Client) -> None:
    # Long, and aged by the clock: each look below sees the build at a known point of it.
    api.control("POST", "/config", json={"buildSeconds": 25})
    data = context("FROM python:3.12\nRUN pip install pipecat-ai\nCOPY . /app\n")
    status, created = api.create(data)
    assert status == 201
    assert created["cached"] is False
    build = created["build"]
    expected_hash = hashlib.md5(data).hexdigest()[:16]
    assert created["contextHash"] == build["contextHash"] == expected_hash
    assert build["status"] == "pending"
    assert build["contextSizeBytes"] == len(data)
    assert build["dockerfilePath"] == "Dockerfile"
    assert "imageUri" not in build and "completedAt" not in build

    seen: list[str] = []
    log_counts: list[int] = []
    for seconds in (1, 12, 12):  # queued for 1 s of its 25, then building, then done
        api.advance(seconds)
        current = api.call("GET", f"/builds/{build['id']}", 200)["build"]
        seen.append(current["status"])
        if current["status"] == "building":
            assert "startedAt" in current and "imageUri" not in current
            log_counts.append(len(api.call("GET", f"/builds/{build['id']}/logs", 200)["logs"]))
    assert seen == ["building", "building", "success"]
    final_logs = api.call("GET", f"/builds/{build['id']}/logs", 200)["logs"]
    assert 0 < log_counts[0] < len(final_logs)
    assert log_counts[0] < log_counts[1]
    assert any("RUN pip install pipecat-ai" in line for line in final_logs)
    assert "State: SUCCEEDED" in final_logs[-1]

    done = api.call("GET", f"/builds/{build['id']}", 200)["build"]
    match = IMAGE_RE.match(done["imageUri"])
    assert match and match["tag"] == expected_hash and match["org"] == done["organizationId"]
    assert done["imageSizeBytes"] > len(data)
    assert done["buildDurationSeconds"] == 24  # its 25 s, less the 1 s it was queued
    assert _ts(done["createdAt"]) <= _ts(done["startedAt"]) < _ts(done["completedAt"])
    assert done["updatedAt"] == done["completedAt"]
    assert done["logsUrl"] == f"{api.emu.api_url}/builds/{done['id']}/logs"
    assert "errorMessage" not in done


def test_second_identical_create_is_cached(api: Client) -> None:
    data = context(salt="pinned")
    status, first = api.create(data)
    assert status == 201
    # Not cached while the first build is still running: only successes are reused.
    status, second = api.create(data)
    assert (status, second["cached"]) == (201, False)
    done = api.wait(first["build"]["id"])
    api.wait(second["build"]["id"])
    status, third = api.create(data)
    assert (status, third["cached"]) == (200, True)
    assert third["build"]["id"] in (first["build"]["id"], second["build"]["id"])
    assert third["build"]["status"] == "success"
    assert third["contextHash"] == done["contextHash"]
    # The cache key is hash + region + Dockerfile path: another region builds afresh.
    status, eu = api.create(data, region="eu-central")
    assert (status, eu["cached"]) == (201, False)
    assert eu["build"]["contextHash"] == done["contextHash"]


def test_dockerfile_path_cache_key_and_dot_slash_members(api: Client) -> None:
    data = make_archive({"./Dockerfile": "FROM a\n", "./docker/Dockerfile.prod": "FROM b\n"})
    status, first = api.create(data)
    assert status == 201
    status, other = api.create(data, dockerfilePath="docker/Dockerfile.prod")
    assert (status, other["cached"]) == (201, False)
    assert api.wait(first["build"]["id"])["status"] == "success"
    assert api.wait(other["build"]["id"])["status"] == "success"
    status, again = api.create(data, dockerfilePath="docker/Dockerfile.prod")
    assert (status, again["build"]["id"]) == (200, other["build"]["id"])


def test_run_exit_1_fails_the_build(api: Client) -> None:
    status, created = api.create(context("FROM python:3.12\nRUN echo hi\nRUN exit 1\nRUN never\n"))
    assert status == 201
    build = api.wait(created["build"]["id"])
    assert build["status"] == "failed"
    assert build["errorMessage"] == RUN_EXIT_1_ERROR
    assert "imageUri" not in build and "imageSizeBytes" not in build
    assert "completedAt" in build and "buildDurationSeconds" in build
    logs = api.call("GET", f"/builds/{build['id']}/logs", 200)["logs"]
    assert any("ERROR" in line and "exit code: 1" in line for line in logs)
    assert not any("RUN never" in line for line in logs)
    # A failed build is not a cache hit: the same context builds again.
    status, again = api.create(context("FROM python:3.12\nRUN echo hi\nRUN exit 1\nRUN never\n"))
    assert (status, again["cached"]) == (201, False)


def test_missing_dockerfile_fails_the_build(api: Client) -> None:
    status, created = api.create(make_archive({"app.py": "print(1)\n"}))
    assert status == 201
    build = api.wait(created["build"]["id"])
    assert build["status"] == "failed"
    assert build["errorMessage"] == (
        "failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory"
    )
    status, created = api.create(context(), dockerfilePath="build/Dockerfile")
    build = api.wait(created["build"]["id"])
    assert (build["status"], build["dockerfilePath"]) == ("failed", "build/Dockerfile")
    assert "open build/Dockerfile" in build["errorMessage"]


def test_symlinked_dockerfile_is_followed(api: Client) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in [("docker/real.Dockerfile", b"FROM a\nRUN exit 1\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("Dockerfile")
        link.type, link.linkname = tarfile.SYMTYPE, "docker/real.Dockerfile"
        tar.addfile(link)
        escape = tarfile.TarInfo("outside/Dockerfile")
        escape.type, escape.linkname = tarfile.SYMTYPE, "../../etc/Dockerfile"
        tar.addfile(escape)
    data = gzip.compress(raw.getvalue())
    build = api.wait(api.create(data)[1]["build"]["id"])
    assert (build["status"], build["errorMessage"]) == ("failed", RUN_EXIT_1_ERROR)
    build = api.wait(api.create(data, dockerfilePath="outside/Dockerfile")[1]["build"]["id"])
    assert "no such file" in build["errorMessage"]


def test_run_sleep_infinity_times_out(api: Client) -> None:
    _, created = api.create(context("FROM python:3.12\nRUN sleep infinity\n"))
    build = api.wait(created["build"]["id"])
    assert build["status"] == "timeout"
    assert build["errorMessage"] == "Build timed out"


def test_create_build_refusals(api: Client) -> None:
    good = api.upload(context())
    unfinished = api.call("POST", "/builds/upload-url", 200, json={"region": "us-west"})
    not_gzip = api.upload(b"plain bytes, not gzip")
    gzip_not_tar = api.upload(gzip.compress(b"just text " * 100))
    truncated = api.upload(context()[:-20])
    cases: list[tuple[Any, str]] = [
        ({"region": "us-west"}, "'uploadId' is required"),
        ({"uploadId": good, "region": ""}, "'region' must not be empty"),
        ({"uploadId": "not-a-uuid", "region": "us-west"}, "must be a UUID"),
        ({"uploadId": 12, "region": "us-west"}, "must be a string"),
        ({"uploadId": good, "region": ["us-west"]}, "must be a string"),
        ({"uploadId": str(uuid.uuid4()), "region": "us-west"}, "Upload not found"),
        ({"uploadId": unfinished["uploadId"], "region": "us-west"}, "upload it first"),
        ({"uploadId": good, "region": "us-east"}, "does not match"),
        ({"uploadId": good, "region": "us-west", "dockerfilePath": 3}, "must be a string"),
        ({"uploadId": good, "region": "us-west", "dockerfilePath": "/etc/x"}, "relative path"),
        ({"uploadId": good, "region": "us-west", "dockerfilePath": "../x"}, "relative path"),
        ({"uploadId": not_gzip, "region": "us-west"}, "not gzip-compressed"),
        ({"uploadId": gzip_not_tar, "region": "us-west"}, "not a valid tar.gz"),
        ({"uploadId": truncated, "region": "us-west"}, "not a valid tar.gz"),
    ]
    for payload, message in cases:
        body = api.call("POST", "/builds", 400, json=payload)
        assert message in body["error"], (payload, body)
        assert body["code"] == "GENERIC_BAD_REQUEST"
    for data in [b"", b"{bad", b"[]", b"null"]:
        api.call("POST", "/builds", 400, data=data)
    assert api.call("GET", "/builds", 200)["total"] == 0


def test_list_builds_filters_orders_and_pages(api: Client) -> None:
    ids = []
    for region in ["us-west", "us-west", "eu-central", "us-west"]:
        _, created = api.create(context(), region=region)
        ids.append(created["build"]["id"])
        api.advance(0.01)  # distinct creation times
    failing = api.create(context("RUN exit 1\n"))[1]["build"]["id"]
    for build_id in [*ids, failing]:
        api.wait(build_id)

    everything = api.call("GET", "/builds", 200)
    assert (everything["total"], everything["limit"], everything["offset"]) == (5, 20, 0)
    assert [b["id"] for b in everything["builds"]] == [failing, *reversed(ids)]

    west = api.call("GET", "/builds", 200, params={"region": "us-west", "status": "success"})
    assert [b["id"] for b in west["builds"]] == [ids[3], ids[1], ids[0]]
    assert api.call("GET", "/builds", 200, params={"status": "failed"})["total"] == 1
    assert api.call("GET", "/builds", 200, params={"status": "pending"})["total"] == 0

    target = everything["builds"][2]
    by_hash = api.call("GET", "/builds", 200, params={"contextHash": target["contextHash"]})
    assert [b["id"] for b in by_hash["builds"]] == [target["id"]]

    page = api.call("GET", "/builds", 200, params={"limit": 2, "offset": 2})
    assert [b["id"] for b in page["builds"]] == [ids[2], ids[1]]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    assert api.call("GET", "/builds", 200, params={"offset": 50})["builds"] == []

    bad = [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"limit": ""},
        {"offset": -1},
        {"offset": "x"},
        {"limit": "9" * 5000},
        {"status": "done"},
        {"status": "SUCCESS"},
    ]
    for params in bad:
        body = api.call("GET", "/builds", 400, params=params)
        assert body["code"] == "GENERIC_BAD_REQUEST", params


def test_get_build_and_logs_errors(api: Client) -> None:
    for path in ["/builds/not-a-uuid", "/builds/123", "/builds/not-a-uuid/logs"]:
        assert api.call("GET", path, 400)["error"] == "Invalid build ID format"
    unknown = uuid.uuid4()
    assert api.call("GET", f"/builds/{unknown}", 404) == {
        "error": "Build not found",
        "code": "NOT_FOUND",
    }
    api.call("GET", f"/builds/{unknown}/logs", 404)
    build_id = api.create(context())[1]["build"]["id"]
    api.wait(build_id)
    upper = api.call("GET", f"/builds/{build_id.upper()}", 200)["build"]
    assert upper["id"] == build_id
    for limit in [0, 10001, "x"]:
        api.call("GET", f"/builds/{build_id}/logs", 400, params={"limit": limit})
    all_logs = api.call("GET", f"/builds/{build_id}/logs", 200)["logs"]
    first = api.call("GET", f"/builds/{build_id}/logs", 200, params={"limit": 3})
    assert first["logs"] == all_logs[:3]
    rest = api.call(
        "GET",
        f"/builds/{build_id}/logs",
        200,
        params={"limit": 1000, "nextToken": first["nextToken"]},
    )
    assert rest["logs"] == all_logs[3:] and "nextToken" not in rest


# -- agents ----------------------------------------------------------------------------------


def _successful_build(api: Client, region: str = "us-west") -> dict[str, Any]:
    build = api.wait(api.create(context(), region=region)[1]["build"]["id"])
    assert build["status"] == "success"
    return build


def _wait_ready(api: Client, name: str) -> dict[str, Any]:
    """The agent once the time a deployment takes has passed on the emulator's clock."""
    api.advance(api.control("GET", "/config").json()["agentReadySeconds"])
    agent: dict[str, Any] = api.call("GET", f"/agents/{name}", 200)
    assert agent["ready"], agent
    return agent


def test_agent_lifecycle(api: Client) -> None:
    api.call(
        "PUT",
        "/secrets/voice-secrets",
        202,
        json={"secrets": [{"secretKey": "K", "secretValue": "v"}]},
    )
    api.advance(api.control("GET", "/config").json()["secretReadySeconds"])
    assert api.call("GET", "/secrets/voice-secrets", 200)["status"] == "ready"
    created = api.call(
        "POST",
        "/agents",
        200,
        json={
            "serviceName": "voice-starter",
            "image": "example/voice-starter:0.1",
            "secretSet": "voice-secrets",
            "autoScaling": {"minAgents": 1, "maxAgents": 5},
            "krispViva": {"audioFilter": "tel"},
            "agentProfile": "agent-2x",
            "maxSessionDuration": 3600,
            "someFieldTheApiDrops": True,
        },
    )
    assert (created["name"], created["region"]) == ("voice-starter", "us-west")
    assert created["ready"] is False and created["available"] is False
    assert "reconciledDeploymentId" not in created
    first = created["desiredDeploymentId"]
    spec = created["deployment"]["manifest"]["spec"]
    assert spec["image"] == "example/voice-starter:0.1"
    assert spec["envFromSecretNames"] == ["voice-secrets"]
    assert spec["resources"] == {"cpu": "1000m", "memory": "2Gi"}
    assert spec["maxSessionDurationSeconds"] == 3600
    assert created["autoScaling"] == {"minReplicas": 1, "maxReplicas": 5}
    assert created["krispViva"] == {"audioFilter": "tel"}

    ready = _wait_ready(api, "voice-starter")
    assert ready["reconciledDeploymentId"] == ready["desiredDeploymentId"] == first
    assert ready["available"] and ready["currentRevision"]["phase"] == "Active"

    # Deploying a build: a new deployment, the old one serves until the new is ready.
    build = _successful_build(api)
    updated = api.call("POST", "/agents/voice-starter", 200, json={"buildId": build["id"]})
    second = updated["desiredDeploymentId"]
    assert second != first
    assert updated["ready"] is False and updated["available"] is True
    assert updated["reconciledDeploymentId"] == first
    assert updated["previousRevision"]["deploymentID"] == first
    assert updated["deployment"]["manifest"]["spec"]["image"] == "[redacted]"
    assert updated["agentProfile"] == "agent-2x"  # untouched settings are kept
    ready = _wait_ready(api, "voice-starter")
    assert ready["reconciledDeploymentId"] == second and ready["previousRevision"] is None

    # Nothing changed: no new deployment, unless forced.
    same = api.call("POST", "/agents/voice-starter", 200, json={"buildId": build["id"]})
    assert same["desiredDeploymentId"] == second
    forced = api.call("POST", "/agents/voice-starter", 200, json={"forceRedeploy": True})
    assert forced["desiredDeploymentId"] not in (first, second)

    listed = api.call("GET", "/agents", 200)["services"]
    assert [(s["name"], s["desiredDeploymentId"]) for s in listed] == [
        ("voice-starter", forced["desiredDeploymentId"])
    ]
    assert "deployment" not in listed[0]
    with_dep = api.call("GET", "/agents", 200, params={"includeActiveDeployment": "true"})
    assert with_dep["services"][0]["deployment"]["id"] == forced["desiredDeploymentId"]
    assert api.call("GET", "/agents", 200, params={"region": "eu-central"})["services"] == []
    api.call("GET", "/agents", 400, params={"includeActiveDeployment": "maybe"})

    assert api.call("DELETE", "/agents/voice-starter", 200) == {"status": "OK"}
    assert api.call("GET", "/agents/voice-starter", 404)["code"] == "NOT_FOUND"
    api.call("DELETE", "/agents/voice-starter", 404)
    api.call("POST", "/agents/voice-starter", 404, json={"image": "x"})
    assert api.call("GET", "/agents", 200)["services"] == []


def test_agent_refusals(api: Client) -> None:
    west_build = _successful_build(api)
    eu_build = _successful_build(api, "eu-central")
    api.control("POST", "/config", json={"buildSeconds": 30})
    running = api.create(context())[1]["build"]["id"]
    failed_id = str(uuid.uuid4())
    api.call("POST", "/agents", 200, json={"serviceName": "taken", "image": "x:1"})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"image": "x:1"}, "'serviceName' is required"),
        ({"serviceName": "Upper", "image": "x:1"}, "serviceName"),
        ({"serviceName": "trailing-", "image": "x:1"}, "serviceName"),
        ({"serviceName": "a", "image": "x:1"}, "serviceName"),
        ({"serviceName": "a" * 55, "image": "x:1"}, "serviceName"),
        ({"serviceName": "under_score", "image": "x:1"}, "serviceName"),
        ({"serviceName": 7, "image": "x:1"}, "must be a string"),
        ({"serviceName": "taken", "image": "x:1"}, "Service already exists"),
        ({"serviceName": "ok-name"}, "Either image or buildId is required"),
        (
            {"serviceName": "ok-name", "image": "x:1", "buildId": west_build["id"]},
            "Cannot specify both image and buildId",
        ),
        ({"serviceName": "ok-name", "buildId": failed_id}, "Build not found"),
        ({"serviceName": "ok-name", "buildId": "nope"}, "must be a UUID"),
        ({"serviceName": "ok-name", "buildId": eu_build["id"]}, "Build is in region 'eu-central'"),
        ({"serviceName": "ok-name", "buildId": running}, "Build is not ready (status: pending)"),
        ({"serviceName": "ok-name", "image": "x", "region": "mars"}, "Invalid region"),
        ({"serviceName": "ok-name", "image": "x", "nodeType": "x86"}, "nodeType"),
        ({"serviceName": "ok-name", "image": "x", "agentProfile": "agent-9x"}, "agentProfile"),
        ({"serviceName": "ok-name", "image": "x", "maxSessionDuration": 59}, "between 60"),
        ({"serviceName": "ok-name", "image": "x", "maxSessionDuration": "1h"}, "integer"),
        ({"serviceName": "ok-name", "image": "x", "autoScaling": []}, "must be an object"),
        ({"serviceName": "ok-name", "image": "x", "autoScaling": {"minAgents": -1}}, "min"),
        (
            {
                "serviceName": "ok-name",
                "image": "x",
                "autoScaling": {"minAgents": 3, "maxAgents": 2},
            },
            "must not exceed",
        ),
        ({"serviceName": "ok-name", "image": "x", "krispViva": {"audioFilter": "x"}}, "krisp"),
    ]
    for payload, message in cases:
        body = api.call("POST", "/agents", 400, json=payload)
        assert message in body["error"], (payload, body)
    api.call("POST", "/agents/taken", 400, json={"buildId": eu_build["id"]})
    api.call("POST", "/agents/taken", 400, json={"image": "y", "buildId": west_build["id"]})
    api.call("POST", "/agents/taken", 400, json={"forceRedeploy": "yes"})
    assert [s["name"] for s in api.call("GET", "/agents", 200)["services"]] == ["taken"]


# -- control endpoints -----------------------------------------------------------------------


def test_stats_count_every_request_by_route_template(api: Client) -> None:
    assert api.stats() == {
        "requests": {},
        "uploadedBytes": 0,
        "uploadAuthorizationHeaders": 0,
        "faultsFired": 0,
        "sessionsCut": 0,
        "sessionsCutByAgent": {},
    }
    data = context()
    build_id = api.create(data)[1]["build"]["id"]
    api.call("GET", f"/builds/{build_id}", 200)
    api.call("GET", f"/builds/{uuid.uuid4()}", 404)
    requests.get(f"{api.emu.api_url}/builds/{build_id}", timeout=10)  # 401, still counted
    api.raw("GET", "/nowhere")
    stats = api.stats()
    assert stats["requests"] == {
        "GET (unmatched)": 1,
        "GET /v1/builds/{buildId}": 3,
        "POST /_storage/{bucket}": 1,
        "POST /v1/builds": 1,
        "POST /v1/builds/upload-url": 1,
    }
    assert stats["uploadedBytes"] == len(data)
    assert api.control("DELETE", "/stats").json()["requests"] == {}


def test_faults_503_twice_then_success(api: Client) -> None:
    response = api.control(
        "POST", "/faults", json={"route": "GET /v1/regions", "status": 503, "times": 2}
    )
    assert response.status_code == 201
    assert response.json() == {"faults": [{"route": "GET /v1/regions", "times": 2, "status": 503}]}
    for _ in range(2):
        body = api.call("GET", "/regions", 503)
        assert body["code"] == "SERVICE_UNAVAILABLE"
    api.call("GET", "/regions", 200)
    assert api.stats()["requests"]["GET /v1/regions"] == 3
    assert api.control("GET", "/faults").json() == {"faults": []}


def test_fault_429_has_retry_after_and_faults_apply_before_auth(api: Client) -> None:
    api.control("POST", "/faults", json={"route": "POST /v1/builds", "status": 429})
    response = requests.post(api.emu.api_url + "/builds", json={}, timeout=10)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert conforms(response, "POST", "/builds")["code"] == "TOO_MANY_REQUESTS"
    api.control(
        "POST", "/faults", json={"route": "POST /v1/builds", "status": 429, "retryAfter": 7}
    )
    assert api.raw("POST", "/builds", json={}).headers["Retry-After"] == "7"


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("value", ["-5", "soon", "1e9", "Wed, 21 Oct 2015 07:28:00 GMT", 3600])
def test_fault_retry_after_is_sent_as_given(api: Client, status: int, value: Any) -> None:
    # Invalid values too: a client is to ignore them (RFC 9110), which is what they rehearse.
    fault = {"route": "GET /v1/builds", "status": status, "retryAfter": value}
    listed = api.control("POST", "/faults", json=fault).json()["faults"]
    assert listed == [{**fault, "times": 1}]
    response = api.raw("GET", "/builds")
    assert response.status_code == status and response.headers["Retry-After"] == str(value)
    # A 503 has none unless given; a 429 has one second.
    api.control("POST", "/faults", json={"route": "GET /v1/builds", "status": 503})
    assert "Retry-After" not in api.raw("GET", "/builds").headers
    for spec in [
        {"route": "GET /v1/builds", "status": 503, "retryAfter": "two\nlines"},
        {"route": "GET /v1/builds", "status": 503, "retryAfter": 1.5},
        {"route": "GET /v1/builds", "status": 503, "retryAfter": 3601},
        {"route": "GET /v1/builds", "drop": True, "retryAfter": "1"},
    ]:
        assert api.control("POST", "/faults", json=spec).status_code == 400, spec


def test_fault_endless_list_ignores_the_offset_and_says_its_total(api: Client) -> None:
    for salt in ("endless-1", "endless-2"):
        api.create(context(salt=salt))
    [first] = [b["id"] for b in api.call("GET", "/builds?limit=1", 200)["builds"]]
    assert [b["id"] for b in api.call("GET", "/builds?limit=1&offset=1", 200)["builds"]] != [first]
    fault = {"route": "GET /v1/builds", "body": "endless", "total": "abc", "times": 2}
    listed = api.control("POST", "/faults", json=fault).json()["faults"]
    assert listed == [{**fault, "status": 200}]
    for offset in (1, 5):
        page = api.raw("GET", f"/builds?limit=1&offset={offset}").json()
        assert page["total"] == "abc" and page["offset"] == offset
        assert [b["id"] for b in page["builds"]] == [first]  # the first page, again
    assert api.call("GET", "/builds?limit=1&offset=5", 200)["builds"] == []  # as usual again
    # Without a total: one larger than any list.
    api.control("POST", "/faults", json={"route": "GET /v1/builds", "body": "endless"})
    assert api.raw("GET", "/builds?offset=2").json()["total"] == 1_000_000_000
    for spec in [
        {"route": "GET /v1/regions", "body": "endless"},
        {"route": "GET /v1/builds", "body": "endless", "status": 503},
        {"route": "GET /v1/builds", "body": "endless", "total": [1]},
        {"route": "GET /v1/builds", "status": 503, "total": 5},
    ]:
        assert api.control("POST", "/faults", json=spec).status_code == 400, spec


def test_fault_drop_closes_the_connection_without_a_response(api: Client) -> None:
    api.control("POST", "/faults", json={"route": "GET /v1/builds", "drop": True, "times": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.raw("GET", "/builds")
    api.call("GET", "/builds", 200)  # the same session recovers on a new connection
    assert api.stats()["requests"]["GET /v1/builds"] == 2


def test_faults_can_be_cleared_and_bad_specs_are_refused(api: Client) -> None:
    api.control("POST", "/faults", json={"route": "GET /v1/regions", "status": 500, "times": 5})
    assert api.control("DELETE", "/faults").json() == {"faults": []}
    api.call("GET", "/regions", 200)
    for spec in [
        {"route": "GET /v1/build", "status": 503},
        {"route": "GET /v1/regions"},
        {"route": "GET /v1/regions", "status": 200},
        {"route": "GET /v1/regions", "status": 503, "drop": True},
        {"route": "GET /v1/regions", "status": 503, "times": 0},
        {"route": "GET /v1/regions", "status": 503, "bogus": 1},
    ]:
        response = api.control("POST", "/faults", json=spec)
        assert response.status_code == 400, spec
        assert set(response.json()) == {"error", "code"}


def test_the_stats_count_the_requests_a_fault_changed(api: Client) -> None:
    # A fault queued for a route nobody calls did nothing: only what it changed counts.
    api.control("POST", "/faults", json={"route": "GET /v1/agents", "status": 503, "times": 5})
    api.control("POST", "/faults", json={"route": "GET /v1/regions", "status": 502, "times": 2})
    for _ in range(3):
        api.raw("GET", "/regions")
    assert api.stats()["faultsFired"] == 2
    api.control("DELETE", "/faults")
    api.call("GET", "/agents", 200)
    assert api.stats()["faultsFired"] == 2


def test_faults_answer_html_malformed_echo_delayed_or_not_at_all(api: Client) -> None:
    route = "GET /v1/regions"
    api.control("POST", "/faults", json={"route": route, "status": 502, "body": "html"})
    page = api.raw("GET", "/regions")
    assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
    assert page.text.startswith("<html>")
    api.control("POST", "/faults", json={"route": route, "status": 200, "body": "malformed"})
    malformed = api.raw("GET", "/regions")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    api.control(
        "POST",
        "/faults",
        json={"route": "PUT /v1/secrets/{setName}", "status": 400, "body": "echo"},
    )
    sent = {"secrets": [{"secretKey": "K", "secretValue": "two\nlines"}], "region": "us-west"}
    echoed = api.raw("PUT", "/secrets/echoed", json=sent)
    assert echoed.status_code == 400 and "two\\nlines" in echoed.json()["error"]
    api.control("POST", "/faults", json={"route": route, "delay": 0.3})
    started = time.monotonic()
    api.call("GET", "/regions", 200)  # delayed, then answered as usual
    assert time.monotonic() - started >= 0.3
    api.control("POST", "/faults", json={"route": route, "hold": 60})
    with pytest.raises(requests.exceptions.Timeout):
        api.session.get(api.emu.api_url + "/regions", timeout=0.5)
    api.control("DELETE", "/faults")  # releases the held request
    api.call("GET", "/regions", 200)
    for spec in [
        {"route": route, "body": "html"},
        {"route": route, "status": 502, "body": "xml"},
        {"route": route, "hold": 1, "status": 502},
    ]:
        assert api.control("POST", "/faults", json=spec).status_code == 400, spec


def test_an_echo_fault_quotes_the_values_or_the_key_in_each_encoding(api: Client) -> None:
    route, value = "PUT /v1/secrets/{setName}", 'aB3d"eF5h<iJ7l&kL8m'
    sent = {"secrets": [{"secretKey": "K", "secretValue": value}], "region": "us-west"}
    for encoding, encode in ENCODINGS.items():
        for echoes, expected in [
            ("values", [encode("K"), encode(value)]),
            ("key", [encode(API_KEY)]),
        ]:
            fault = {"route": route, "status": 400, "body": "echo", "echoes": echoes}
            fault["encoding"] = encoding
            listed = api.control("POST", "/faults", json={**fault, "message": "refused"}).json()
            assert listed["faults"] == [{**fault, "times": 1}]
            said = api.raw("PUT", "/secrets/echoed", json=sent).json()["error"]
            assert said.startswith("refused: ") and all(e in said for e in expected), said
    api.control("POST", "/faults", json={"route": route, "status": 400, "body": "echo"})
    body = api.raw("PUT", "/secrets/echoed", json=sent).json()["error"]
    assert body == "Fault injected by the emulator: " + json.dumps(sent)  # the default
    for spec in [
        {"route": route, "status": 400, "body": "echo", "encoding": "rot13"},
        {"route": route, "status": 400, "body": "echo", "echoes": "headers"},
        {"route": route, "status": 400, "encoding": "html"},
    ]:
        assert api.control("POST", "/faults", json=spec).status_code == 400, spec


def test_config_changes_apply_to_new_builds(api: Client) -> None:
    assert api.control("GET", "/config").json() == {
        "buildSeconds": 0.5,
        "uploadTtlSeconds": 900.0,
        "maxUploadBytes": 500 * 1024 * 1024,
        "agentReadySeconds": 0.4,
        "replicaWarmSeconds": 0.5,
        "secretReadySeconds": 0.5,
        "agentDeleteSeconds": 0.0,
    }
    response = api.control("POST", "/config", json={"buildSeconds": 0, "agentReadySeconds": 0})
    assert response.json()["buildSeconds"] == 0
    build = api.create(context())[1]["build"]
    assert build["status"] == "success"  # a zero-second build is done when created
    agent = api.call("POST", "/agents", 200, json={"serviceName": "instant", "image": "x:1"})
    assert agent["ready"] is True
    for bad in [{"buildSeconds": -1}, {"buildSeconds": "1"}, {"maxUploadBytes": 1.5}, {"x": 1}]:
        assert api.control("POST", "/config", json=bad).status_code == 400, bad


def test_advancing_the_clock_ages_everything_at_once(api: Client) -> None:
    slow = ("buildSeconds", "agentReadySeconds", "secretReadySeconds", "uploadTtlSeconds")
    api.control("POST", "/config", json=dict.fromkeys(slow, 100)).raise_for_status()
    start = api.control("GET", "/clock").json()
    assert start["advanced"] == 0 and abs(_ts(start["now"]) - time.time()) < 2
    build_id = api.create(context())[1]["build"]["id"]
    api.call("POST", "/agents", 200, json={"serviceName": "slow", "image": "x:1"})
    secrets = {"secrets": [{"secretKey": "K", "secretValue": "v"}]}
    api.call("PUT", "/secrets/slow-secrets", 202, json=secrets)
    upload = api.call("POST", "/builds/upload-url", 200, json={"region": "us-west"})

    # Halfway (what real time passes meanwhile is far less than the half left).
    moved = api.control("POST", "/clock", json={"advance": 50})
    assert moved.status_code == 200 and moved.json()["advanced"] == 50
    assert abs(_ts(moved.json()["now"]) - (time.time() + 50)) < 2
    assert api.call("GET", f"/builds/{build_id}", 200)["build"]["status"] == "building"
    assert api.call("GET", "/agents/slow", 200)["ready"] is False
    assert api.call("GET", "/secrets/slow-secrets", 200)["status"] == "pending"

    assert api.control("POST", "/clock", json={"advance": 50.5}).json()["advanced"] == 100.5
    assert api.call("GET", f"/builds/{build_id}", 200)["build"]["status"] == "success"
    assert api.call("GET", "/agents/slow", 200)["ready"] is True
    assert api.call("GET", "/secrets/slow-secrets", 200)["status"] == "ready"
    expired = post_upload(upload["uploadUrl"], upload["uploadFields"], context())
    assert expired.status_code == 403 and "Policy expired" in expired.text
    # Times the API writes are the service's: an agent made now was made 100.5 s from here.
    made = api.call("POST", "/agents", 200, json={"serviceName": "later", "image": "x:1"})
    assert abs(_ts(made["createdAt"]) - (time.time() + 100.5)) < 2

    for bad, error in [
        ({"advance": -1}, "'advance' must be between 0 and 1e9"),
        ({"advance": "1"}, "'advance' must be a number"),
        ({}, "'advance' is required: the seconds to move the clock on"),
        ({"advance": 1, "to": 5}, "Unknown clock keys: to"),
    ]:
        refused = api.control("POST", "/clock", json=bad)
        assert (refused.status_code, refused.json()["error"]) == (400, error), bad
    assert api.control("GET", "/clock").json()["advanced"] == 100.5  # refusals change nothing


def test_a_build_can_be_made_to_vanish(api: Client) -> None:
    build_id = api.create(context())[1]["build"]["id"]
    assert api.control("DELETE", f"/builds/{build_id}").json() == {"deleted": build_id}
    api.call("GET", f"/builds/{build_id}", 404)
    assert api.call("GET", "/builds", 200)["total"] == 0
    assert api.control("DELETE", f"/builds/{build_id}").status_code == 404
    assert api.control("DELETE", "/builds/nope").status_code == 400


# -- persistence, concurrency, the command line ----------------------------------------------


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state, clock = tmp_path / "state", Clock()
    data = context(salt="restart")
    settings: dict[str, Any] = {"build_seconds": 60, "agent_ready_seconds": 60}
    with Emulator(state, api_key=API_KEY, clock=clock, **settings) as first:
        api = Client(first)
        build = api.create(data)[1]["build"]
        early = api.call("POST", "/builds/upload-url", 200, json={"region": "us-west"})
        kept = api.call("POST", "/agents", 200, json={"serviceName": "kept", "image": "x:1"})
        assert (build["status"], kept["ready"]) == ("pending", False)
        first_url = first.url
    clock.advance(60)  # the build ends, and the agent gets ready, while the emulator is down
    with Emulator(state, api_key=API_KEY, clock=clock, **settings) as second:
        api = Client(second)
        again = api.call("GET", f"/builds/{build['id']}", 200)["build"]
        assert again["status"] == "success"
        assert again["createdAt"] == build["createdAt"]
        assert again["organizationId"] == build["organizationId"]
        assert api.call("GET", "/builds", 200)["total"] == 1
        agent = api.call("GET", "/agents/kept", 200)
        assert agent["ready"] is True
        # An upload URL granted before the restart still works: the signing secret persists.
        url = early["uploadUrl"].replace(first_url, second.url)
        assert post_upload(url, early["uploadFields"], data).status_code == 204
        response = api.raw(
            "POST", "/builds", json={"uploadId": early["uploadId"], "region": "us-west"}
        )
        cached = conforms(response, "POST", "/builds")
        assert (response.status_code, cached["build"]["id"]) == (200, build["id"])


def test_parallel_uploads_and_creates(api: Client) -> None:
    def one(i: int) -> tuple[int, str, str]:
        client = Client(api.emu)
        data = context(salt=f"parallel-{i}")
        status, body = client.create(data)
        return status, body["build"]["id"], body["contextHash"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(16)))
    assert {status for status, _, _ in results} == {201}
    assert len({build_id for _, build_id, _ in results}) == 16
    assert len({h for _, _, h in results}) == 16
    assert api.stats()["requests"]["POST /_storage/{bucket}"] == 16

    shared = api.upload(context(salt="shared"))

    def create_shared(_: int) -> int:
        response = Client(api.emu).raw(
            "POST", "/builds", json={"uploadId": shared, "region": "us-west"}
        )
        conforms(response, "POST", "/builds")
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(create_shared, range(8))) == {201}
    assert api.call("GET", "/builds", 200, params={"limit": 100})["total"] == 24

    def create_agent(i: int) -> int:
        response = Client(api.emu).raw(
            "POST", "/agents", json={"serviceName": "racer", "image": f"x:{i}"}
        )
        conforms(response, "POST", "/agents")
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(create_agent, range(8)))
    assert sorted(statuses) == [200] + [400] * 7


def _spawn(state: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "pcc_provider", "emulator"),
            *("--host", "127.0.0.1", "--port", "0", "--state-dir", str(state)),
            *("--api-key", API_KEY, "--build-seconds", "0.3"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.fullmatch(
        r"Pipecat Cloud emulator listening on (http://127\.0\.0\.1:(\d+)) \(API: \1/v1\)\n", line
    )
    if not match:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"unexpected first line {line!r}: {err}")
    return process, match[1]


def test_command_line_emulator_prints_its_url_and_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "cli-state"
    process, url = _spawn(state)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        regions = requests.get(f"{url}/v1/regions", headers=headers, timeout=10)
        assert regions.status_code == 200
        grant = requests.post(
            f"{url}/v1/builds/upload-url", json={"region": "us-west"}, headers=headers, timeout=10
        ).json()
        assert post_upload(grant["uploadUrl"], grant["uploadFields"], context()).status_code == 204
        created = requests.post(
            f"{url}/v1/builds",
            json={"uploadId": grant["uploadId"], "region": "us-west"},
            headers=headers,
            timeout=10,
        ).json()
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

    process, url = _spawn(state)  # a new port, the same state
    try:
        build = eventually(
            lambda: requests.get(
                f"{url}/v1/builds/{created['build']['id']}", headers=headers, timeout=10
            ).json()["build"],
            until=lambda build: build["status"] not in ("pending", "building"),
            what="the build to end",
        )
        assert build["status"] == "success"
        assert build["createdAt"] == created["build"]["createdAt"]
        process.send_signal(signal.SIGINT)  # as Ctrl-C
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_line_emulator_stops_at_once_with_requests_in_flight(
    tmp_path: Path, signum: int
) -> None:
    process, url = _spawn(tmp_path / "state")
    headers = {"Authorization": f"Bearer {API_KEY}"}
    stop = threading.Event()

    def loop() -> None:  # a client paging on and on, as a list that never ends has one do
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    session.get(f"{url}/v1/builds?offset=1", headers=headers, timeout=30)
                except requests.RequestException:
                    time.sleep(0.01)

    try:
        # Two requests held unanswered, and four clients asking on and on.
        fault = {"route": "GET /v1/regions", "hold": 60, "times": 2}
        requests.post(f"{url}/_emulator/faults", json=fault, timeout=10).raise_for_status()
        for _ in range(4):
            threading.Thread(target=loop, daemon=True).start()

        def held() -> None:
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{url}/v1/regions", headers=headers, timeout=30)

        for _ in range(2):
            threading.Thread(target=held, daemon=True).start()
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 2.0
        _, err = process.communicate()
        assert "Traceback" not in err, err
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()


def test_emulator_start_stop_is_repeatable(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path / "s", api_key=API_KEY)
    with pytest.raises(RuntimeError):
        _ = emulator.url
    for _ in range(2):
        emulator.start()
        assert requests.get(emulator.url + "/_emulator/stats", timeout=5).status_code == 200
        emulator.stop()
    emulator.stop()  # stopping a stopped emulator is harmless


def test_stop_does_not_hang_on_idle_keep_alive_connections(tmp_path: Path) -> None:
    with Emulator(tmp_path / "s", api_key=API_KEY) as emulator:
        session = requests.Session()
        session.get(emulator.url + "/_emulator/stats", timeout=5)
        started = time.monotonic()
        stopper = threading.Thread(target=emulator.stop)
        stopper.start()
        stopper.join(timeout=5)
        assert not stopper.is_alive() and time.monotonic() - started < 3


def test_command_line_emulator_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pcc_provider", "emulator", "--api-key", API_KEY),
                *("--port", str(port), "--state-dir", str(tmp_path / "state")),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"error: port {port} on 127.0.0.1 is in use: pass another --port (--port 0 picks a "
        "free one), or stop what listens there\n"
    )
