"""Property-based fuzzing of the emulator: schemathesis against the official OpenAPI, and
hypothesis throwing arbitrary JSON and multipart bodies at it. No 5xx, ever; every error is
`{error, code}` (or S3's XML on the upload target)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from api_contract import SPEC, Client, context, post_upload
from conftest import API_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcc_provider.emulator import Emulator

# The operations the emulator implements.
OPERATIONS = [
    "getBuildUploadUrl",
    "createBuild",
    "listBuilds",
    "getBuild",
    "getBuildLogs",
    "createService",
    "listServices",
    "getService",
    "updateService",
    "deleteService",
    "listRegions",
    "upsertSecretSet",
    "listSecretSets",
    "getSecretSet",
    "deleteSecretSet",
    "deleteSecretFromSet",
    "getSessions",
    "getSession",
    "stopSession",
    "getLogs",
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, dict[str, str]]]:
    """A running emulator with a successful build, a failed one and an uploaded context, so
    the fuzzers reach past 'not found' into real responses."""
    state = tmp_path_factory.mktemp("fuzz") / "state"
    with Emulator(state, api_key=API_KEY, build_seconds=0.2, agent_ready_seconds=0.2) as emu:
        api = Client(emu)
        ok = api.wait(api.create(context())[1]["build"]["id"])
        failed = api.wait(api.create(context("RUN exit 1\n"))[1]["build"]["id"])
        upload_id = api.upload(context(salt="fuzz"))
        api.call("POST", "/agents", 200, json={"serviceName": "my-agent", "buildId": ok["id"]})
        # The sets the spec's deploy examples bind, so those examples can succeed.
        secret = [{"secretKey": "API_KEY", "secretValue": "v"}]
        api.call("PUT", "/secrets/voice-starter-secrets", 202, json={"secrets": secret})
        pull = {"isImagePullSecret": True, "host": "https://index.docker.io/v1/"}
        api.call("PUT", "/secrets/dockerhub-credentials", 202, json={**pull, "secretValue": "x"})
        api.advance(0.5)  # provisioned (secret_ready_seconds)
        # A session of the agent, so that the session and log operations reach one.
        key = api.raw("POST", "/organizations/o/apiKeys", json={"name": "k", "type": "public"})
        started = api.call(
            "POST",
            "/public/my-agent/start",
            200,
            json={},
            headers={"Authorization": f"Bearer {key.json()['key']}"},
        )
        yield (
            emu,
            {
                "build": ok["id"],
                "failed": failed["id"],
                "upload": upload_id,
                "session": started["sessionId"],
            },
        )


def session_call(emu: Emulator, method: str, path: str, **kw: Any) -> Any:
    # One request, one connection, closed: a fuzz loop must not pile up idle sessions.
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = requests.request(method, emu.api_url + path, headers=headers, timeout=10, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def _patched_spec(ids: dict[str, str]) -> dict[str, Any]:
    """The official spec with two gaps filled (and the examples pointed at real objects):
    it requires a bearer key on every operation but documents 401 on few of them, and the
    emulator answers 400 to list parameters out of their documented ranges."""
    spec = copy.deepcopy(SPEC)
    error = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    }
    for methods in spec["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") in OPERATIONS:
                operation["responses"].setdefault("401", {"description": "Unauthorized", **error})
    # The PUT /secrets/{setName} text says a deploy binding a set that is not ready gets
    # 409; the deploy operations do not list it (they list 404 for a missing one).
    for path, method in (("/agents", "post"), ("/agents/{agentName}", "post")):
        spec["paths"][path][method]["responses"].setdefault(
            "409", {"description": "Conflict", **error}
        )
    # "Cannot be used with image pull secrets", says deleteSecretFromSet, listing no 400.
    spec["paths"]["/secrets/{setName}/{secretKey}"]["delete"]["responses"].setdefault(
        "400", {"description": "Bad", **error}
    )
    for op in ("listBuilds", "listServices"):
        path = "/builds" if op == "listBuilds" else "/agents"
        spec["paths"][path]["get"]["responses"].setdefault("400", {"description": "Bad", **error})
    for path in ("/builds/{buildId}", "/builds/{buildId}/logs"):
        for parameter in spec["paths"][path]["get"]["parameters"]:
            if parameter["name"] == "buildId":
                parameter["example"] = ids["build"]
    # Beyond the spec, as the real service (docs/emulator.md, "Clients the emulator serves"): no
    # region means the organization's default, and listBuilds filters on dockerfilePath.
    spec["paths"]["/builds/upload-url"]["post"]["requestBody"]["required"] = False
    for schema in ("UploadUrlRequest", "CreateBuildRequest"):
        spec["components"]["schemas"][schema]["required"].remove("region")
    spec["paths"]["/builds"]["get"]["parameters"].append(
        {"name": "dockerfilePath", "in": "query", "schema": {"type": "string"}}
    )
    request = spec["components"]["schemas"]["CreateBuildRequest"]["properties"]
    request["uploadId"]["example"] = ids["upload"]
    for path in ("/agents/{agentName}/sessions/{sessionId}", "/agents/{agentName}/logs"):
        for operation in spec["paths"][path].values():
            for parameter in operation["parameters"]:
                parameter["example"] = {"agentName": "my-agent", "sessionId": ids["session"]}.get(
                    parameter["name"], parameter.get("example")
                )
    return spec


def test_schemathesis_finds_no_server_errors_or_contract_breaks(
    seeded: tuple[Emulator, dict[str, str]], tmp_path: Path
) -> None:
    emu, ids = seeded
    spec_file = tmp_path / "openapi.json"
    spec_file.write_text(json.dumps(_patched_spec(ids)))
    args = [
        *(sys.executable, "-m", "schemathesis.cli", "run", str(spec_file)),
        *("--url", emu.api_url, "--header", f"Authorization: Bearer {API_KEY}"),
        "--include-operation-id-regex",
        "^(" + "|".join(OPERATIONS) + ")$",
        # All checks but positive_data_acceptance: schema-valid data such as an unknown
        # uploadId is rightly refused by the real service too.
        *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),
        *("--phases", "examples,coverage,fuzzing"),
        *("--max-examples", "100", "--seed", "20261124", "--generation-database", "none"),
        # One worker: concurrent ast.parse calls inside hypothesis trip a CPython 3.11 bug
        # ("AST constructor recursion depth mismatch") that has nothing to do with the API.
        *("--request-timeout", "20", "--max-failures", "20", "--no-color", "--workers", "1"),
    ]
    result = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert f"Tested: {len(OPERATIONS)}" in result.stdout, result.stdout[-3000:]
    # The run reached real objects, not only refusals.
    stats = requests.get(emu.url + "/_emulator/stats", timeout=10).json()["requests"]
    assert stats["GET /v1/builds/{buildId}"] > 10
    assert stats["POST /v1/builds"] > 10


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "uploadId",
    "region",
    "dockerfilePath",
    "serviceName",
    "image",
    "buildId",
    "autoScaling",
    "krispViva",
    "agentProfile",
    "maxSessionDuration",
    "nodeType",
    "secretSet",
    "forceRedeploy",
]
bodies = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
)
ROUTES = [
    ("POST", "/builds/upload-url"),
    ("POST", "/builds"),
    ("POST", "/agents"),
    ("POST", "/agents/my-agent"),
    ("GET", "/builds"),
    ("GET", "/agents"),
]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    route=st.sampled_from(ROUTES),
    body=bodies,
    query=st.dictionaries(
        st.sampled_from(
            [
                *("limit", "offset", "status", "region", "contextHash", "dockerfilePath"),
                "includeActiveDeployment",
            ]
        ),
        st.text(max_size=8),
        max_size=3,
    ),
)
def test_arbitrary_json_never_breaks_the_api(
    seeded: tuple[Emulator, dict[str, str]],
    route: tuple[str, str],
    body: Any,
    query: dict[str, str],
) -> None:
    emu, _ = seeded
    method, path = route
    response = requests.request(
        method,
        emu.api_url + path,
        data=json.dumps(body),
        params=query,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code < 500, response.text
    payload = response.json()
    if response.status_code >= 400:
        assert set(payload) == {"error", "code"}
        assert isinstance(payload["error"], str) and isinstance(payload["code"], str)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    drop=st.sets(st.sampled_from(["key", "Policy", "X-Amz-Signature", "bucket", "file"])),
    junk=st.lists(st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=20)), max_size=3),
    data=st.binary(max_size=2048),
    raw=st.none() | st.binary(max_size=512),
    content_type=st.sampled_from(
        ["multipart/form-data; boundary=xyz", "multipart/form-data", "text/plain", None]
    ),
)
def test_arbitrary_uploads_never_break_the_upload_target(
    seeded: tuple[Emulator, dict[str, str]],
    drop: set[str],
    junk: list[tuple[str, str]],
    data: bytes,
    raw: bytes | None,
    content_type: str | None,
) -> None:
    emu, _ = seeded
    grant = session_call(emu, "POST", "/builds/upload-url", json={"region": "us-west"})
    url = grant["uploadUrl"]
    if raw is not None:
        headers = {"Content-Type": content_type} if content_type else {}
        response = requests.post(url, data=raw, headers=headers, timeout=10)
    else:
        fields = {k: v for k, v in grant["uploadFields"].items() if k not in drop}
        if "file" in drop:
            form: list[tuple[str, Any]] = [(k, (None, v)) for k, v in fields.items()]
            form += [(k, (None, v)) for k, v in junk]
            response = requests.post(url, files=form, timeout=10)
        else:
            response = post_upload(url, {**fields, **dict(junk)}, data)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        root = ET.fromstring(response.content)
        assert root.tag == "Error" and root.findtext("Code")
    else:
        # Accepted only when complete and nothing foreign preceded the file (a junk field
        # named "file" is itself taken as the file, as S3 would).
        assert response.status_code == 204
        assert not drop
        assert all(k == "file" or k.lower().startswith("x-ignore-") for k, _ in junk)
