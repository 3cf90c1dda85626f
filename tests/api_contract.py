"""The emulator's API as its contract says: responses checked against the official OpenAPI.

`Client` calls the public API of an in-process emulator and validates every JSON response
against the spec (vendored beside the emulator), with its $refs inlined, OpenAPI's `nullable`
honoured and, stricter than the spec, no undeclared properties, so a misspelt field in the
emulator fails. Helpers build and upload contexts as a client would.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import requests
from conftest import API_KEY, EmulatorHandle

from pcc_provider.emulator import Emulator

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "pcc_provider/emulator/openapi.json").read_text()
)
# Beyond the spec, as the service answers pcc 1.4.0 (docs/emulator.md, "Clients the emulator
# serves"): a session carries its derived `endState`, in the list and on its own; and a
# session still running has no `endedAt` (null) in the list too, as getSession documents it.
_END_STATE = {"type": "string", "description": "How the session ended; `active` while it runs"}
SPEC["components"]["schemas"]["SessionResponse"]["properties"]["endState"] = _END_STATE
_LISTED = SPEC["paths"]["/agents/{agentName}/sessions"]["get"]["responses"]["200"]
_ITEM = _LISTED["content"]["application/json"]["schema"]["properties"]["sessions"]["items"]
_ITEM["properties"]["endState"] = _END_STATE
_ITEM["properties"]["endedAt"]["nullable"] = True

# -- the contract ----------------------------------------------------------------------------

_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"not RFC 3339: {value}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_FORMATS.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if isinstance(value, str):
        parts = urlsplit(value)
        if not (parts.scheme and parts.netloc):
            raise ValueError(f"not an absolute URI: {value}")
    return True


def _ref(ref: str) -> Any:
    node: Any = SPEC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: $refs inlined, nullable honoured, closed objects."""
    if "$ref" in node:
        return to_json_schema(_ref(node["$ref"]))
    out = dict(node)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [to_json_schema(s) for s in out[key]]
    if "items" in out:
        out["items"] = to_json_schema(out["items"])
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(out["additionalProperties"])
    if "properties" in out:
        out["properties"] = {k: to_json_schema(v) for k, v in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if out.pop("nullable", False):
        return {"anyOf": [{"type": "null"}, out]}
    return out


def served_at(template: str) -> str:
    """Where a path template is served under /v1: below its own server's path if it names
    one (startService: `https://api.pipecat.daily.co/v1/public`)."""
    servers = SPEC["paths"][template].get("servers")
    if not servers:
        return template
    return urlsplit(servers[0]["url"]).path.removeprefix("/v1") + template


def _template(path: str) -> str:
    """The spec's path template a concrete /v1 path belongs to (static segments win)."""
    for template in sorted(SPEC["paths"], key=lambda t: t.count("{")):
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(served_at(template)))
        if re.fullmatch(pattern, path):
            return str(template)
    raise AssertionError(f"{path} is not in the spec")


def conforms(response: requests.Response, method: str, path: str) -> Any:
    """Assert the response is what the spec documents for it; return its JSON body."""
    template = _template(urlsplit(path).path)
    documented = SPEC["paths"][template][method.lower()]["responses"]
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    status = str(response.status_code)
    if status in documented:
        answer = documented[status]
        answer = _ref(answer["$ref"]) if "$ref" in answer else answer  # a shared response
        schema = answer["content"]["application/json"]["schema"]
    else:
        # Statuses the spec leaves out for this operation (401, 405, 413, 429, 503 and the
        # 400 of GET /builds) still carry the documented error body.
        assert response.status_code >= 400, f"undocumented {status} for {method} {template}"
        schema = SPEC["components"]["schemas"]["ErrorResponse"]
    jsonschema.validate(body, to_json_schema(schema), format_checker=_FORMATS)
    return body


# -- helpers ---------------------------------------------------------------------------------


def make_archive(files: dict[str, str | bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def context(dockerfile: str = "FROM python:3.12\nRUN echo ok\n", **extra: str) -> bytes:
    """A fresh context every call (a random file), unless `extra` pins the contents."""
    files: dict[str, str | bytes] = {"Dockerfile": dockerfile, **extra}
    if not extra:
        files["salt.txt"] = uuid.uuid4().hex
    return make_archive(files)


class Client:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {API_KEY}"

    def call(self, method: str, path: str, expect: int | None = None, **kw: Any) -> Any:
        response = self.session.request(method, self.emu.api_url + path, timeout=30, **kw)
        body = conforms(response, method, path)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, body)
        return body

    def raw(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.emu.api_url + path, timeout=30, **kw)

    def upload(self, data: bytes, region: str = "us-west") -> str:
        grant = self.call("POST", "/builds/upload-url", 200, json={"region": region})
        response = post_upload(grant["uploadUrl"], grant["uploadFields"], data)
        assert response.status_code == 204, response.text
        return str(grant["uploadId"])

    def create(self, data: bytes, region: str = "us-west", **kw: Any) -> tuple[int, Any]:
        upload_id = self.upload(data, region)
        response = self.raw("POST", "/builds", json={"uploadId": upload_id, "region": region, **kw})
        return response.status_code, conforms(response, "POST", "/builds")

    def wait(self, build_id: str) -> dict[str, Any]:
        """The build once it has ended: the clock moved on by the time a build takes (as now
        configured: wait for a build made under another `buildSeconds` by other means)."""
        self.advance(self.control("GET", "/config").json()["buildSeconds"])
        build: dict[str, Any] = self.call("GET", f"/builds/{build_id}", 200)["build"]
        assert build["status"] in ("success", "failed", "timeout"), build
        return build

    def control(self, method: str, path: str, **kw: Any) -> requests.Response:
        return EmulatorHandle(self.emu.url).control(method, path, **kw)

    def advance(self, seconds: float) -> None:
        EmulatorHandle(self.emu.url).advance(seconds)

    def stats(self) -> dict[str, Any]:
        return EmulatorHandle(self.emu.url).stats()


def post_upload(url: str, fields: dict[str, str], data: bytes, **kw: Any) -> requests.Response:
    form: list[tuple[str, Any]] = [(k, (None, v)) for k, v in fields.items()]
    form.append(("file", ("context.tar.gz", data, "application/gzip")))
    return requests.post(url, files=form, timeout=30, **kw)
