"""The emulator's WSGI application: routing, auth, request validation and JSON responses.

Three areas:
- `/v1/...`: the Pipecat Cloud API (builds, agents, secrets, regions, properties), bearer-key
  auth, and the official CLI's organization-scoped routes (organization.py registers them);
- `/_storage/<bucket>`: the presigned-POST upload target (storage.py);
- `/_emulator/...`: control endpoints for tests and demos (stats, config, faults), no auth.

Any request that is not understood gets a 4xx with `{error, code}`; an unexpected exception
becomes a 500 with the same shape, never a dead server.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from waitress.channel import ClientDisconnected
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator import spec
from pcc_provider.emulator.models import (
    REGIONS,
    SECRET_KEY_RE,
    SECRET_SET_NAME_RE,
    ModelError,
    Store,
    iso,
    valid_dockerfile_path,
)
from pcc_provider.emulator.storage import UploadTarget, s3_error_response

log = logging.getLogger("pcc_provider.emulator")

MAX_JSON_BYTES = 1024 * 1024
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
INT_RE = re.compile(r"^[+-]?[0-9]{1,18}$")

# (path, methods, endpoint); the stats and faults name a route "<METHOD> <path template>".
ROUTES: list[tuple[str, list[str], str]] = [
    ("/v1/builds/upload-url", ["POST"], "upload_url"),
    ("/v1/builds", ["GET"], "list_builds"),
    ("/v1/builds", ["POST"], "create_build"),
    ("/v1/builds/<build:buildId>", ["GET"], "get_build"),
    ("/v1/builds/<build:buildId>/logs", ["GET"], "build_logs"),
    ("/v1/agents", ["GET"], "list_agents"),
    ("/v1/agents", ["POST"], "create_agent"),
    ("/v1/agents/<agentName>", ["GET"], "get_agent"),
    ("/v1/agents/<agentName>", ["POST"], "update_agent"),
    ("/v1/agents/<agentName>", ["DELETE"], "delete_agent"),
    ("/v1/regions", ["GET"], "regions"),
    ("/v1/properties", ["GET"], "properties_get"),
    ("/v1/properties", ["PATCH"], "properties_update"),
    ("/v1/properties/schema", ["GET"], "properties_schema"),
    ("/v1/secrets", ["GET"], "list_secret_sets"),
    ("/v1/secrets/<setName>", ["PUT"], "put_secret_set"),
    ("/v1/secrets/<setName>", ["GET"], "get_secret_set"),
    ("/v1/secrets/<setName>", ["DELETE"], "delete_secret_set"),
    ("/v1/secrets/<setName>/<secretKey>", ["DELETE"], "delete_secret"),
    ("/_storage/<bucket>", ["POST"], "storage_post"),
    ("/_emulator/stats", ["GET"], "stats_get"),
    ("/_emulator/stats", ["DELETE"], "stats_reset"),
    ("/_emulator/config", ["GET"], "config_get"),
    ("/_emulator/config", ["POST"], "config_set"),
    ("/_emulator/faults", ["GET"], "faults_get"),
    ("/_emulator/faults", ["POST"], "faults_add"),
    ("/_emulator/faults", ["DELETE"], "faults_clear"),
    ("/_emulator/builds/<build:buildId>", ["DELETE"], "vanish_build"),
    ("/_emulator/secrets/<setName>/fail", ["POST"], "fail_secret_set"),
    ("/_emulator/agents/<agentName>", ["GET"], "agent_deployments"),
    ("/_emulator/builds/<build:buildId>/finish", ["POST"], "finish_build"),
]


def route_key(method: str, path: str) -> str:
    template = re.sub(r"<(?:[a-z]+:)?([A-Za-z]+)>", r"{\1}", path)
    return f"{method} {template}"


# The routes a fault may target: everything but the control endpoints.
FAULTABLE = {
    route_key(method, path): endpoint
    for path, methods, endpoint in ROUTES
    if not path.startswith("/_emulator")
    for method in methods
}


class BuildIdConverter(BaseConverter):
    """Any segment but `upload-url`, so that `GET /v1/builds/upload-url` is a 405 (that path
    only takes POST), while other malformed ids still reach the handler for their 400."""

    regex = r"(?!upload-url$)[^/]+"


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}


def bad_request(message: str) -> NoReturn:
    raise ApiError(400, message, "GENERIC_BAD_REQUEST")


CODES = {
    400: "GENERIC_BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    code = code or CODES.get(status, str(status))
    return json_response({"error": message, "code": code}, status, headers)


class DropConnection(ClientDisconnected):  # type: ignore[misc]
    """Raised to make waitress close the socket without writing any response."""


@dataclass
class Fault:
    route: str
    status: int
    drop: bool
    remaining: int
    retry_after: int
    acted: bool = False  # the request is handled, then its answer is dropped
    body: str = "json"  # json (the API's error shape), html, malformed or echo
    message: str = "Fault injected by the emulator"
    delay: float = 0.0  # seconds before answering (or, with hold, before dropping)
    hold: bool = False  # no answer at all: held for `delay` seconds or until released

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"route": self.route, "times": self.remaining}
        if self.acted:
            body["actThenDrop"] = True
        elif self.drop:
            body["drop"] = True
        elif self.hold:
            body["hold"] = self.delay
        elif self.status:
            body["status"] = self.status
            if self.status == 429:
                body["retryAfter"] = self.retry_after
            if self.body != "json":
                body["body"] = self.body
        if self.delay and not self.hold:
            body["delay"] = self.delay
        return body


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.uploaded_bytes = 0
        self.upload_authorization_headers = 0

    def count(self, key: str, *, upload_authorization: bool = False) -> None:
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            if upload_authorization:
                self.upload_authorization_headers += 1

    def stored(self, size: int) -> None:
        with self.lock:
            self.uploaded_bytes += size

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(sorted(self.requests.items())),
                "uploadedBytes": self.uploaded_bytes,
                "uploadAuthorizationHeaders": self.upload_authorization_headers,
            }

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.uploaded_bytes = 0
            self.upload_authorization_headers = 0


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: deque[Fault] = deque()
        self.released = threading.Event()  # set by clearing the faults: held requests end

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.queue.append(fault)

    def take(self, route: str) -> Fault | None:
        """The fault the next request to `route` suffers, if any; queued faults run in order."""
        with self.lock:
            for fault in self.queue:
                if fault.route == route:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.queue.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self.lock:
            self.queue.clear()
            self.released.set()
            self.released = threading.Event()

    def wait(self, fault: Fault) -> None:
        """Sleep `fault.delay` seconds, or less if the faults are cleared meanwhile."""
        self.released.wait(fault.delay)

    def to_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.to_json() for f in self.queue]


# -- request helpers -------------------------------------------------------------------------


def read_json(request: Request) -> dict[str, Any]:
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise ApiError(413, f"Request body exceeds {MAX_JSON_BYTES} bytes", "PAYLOAD_TOO_LARGE")
    raw = request.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, f"Request body exceeds {MAX_JSON_BYTES} bytes", "PAYLOAD_TOO_LARGE")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        bad_request("Invalid JSON in request body")
    if not isinstance(data, dict):
        bad_request("Request body must be a JSON object")
    return data


def opt_str(body: dict[str, Any], name: str, *, nonempty: bool = True) -> str | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str):
        bad_request(f"'{name}' must be a string")
    if nonempty and not value.strip():
        bad_request(f"'{name}' must not be empty")
    return value


def req_str(body: dict[str, Any], name: str) -> str:
    value = opt_str(body, name)
    if value is None:
        bad_request(f"'{name}' is required")
    return value


def opt_uuid(body: dict[str, Any], name: str) -> str | None:
    value = opt_str(body, name)
    if value is not None and not UUID_RE.fullmatch(value):
        bad_request(f"'{name}' must be a UUID")
    return value.lower() if value is not None else None


def opt_int(body: dict[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        bad_request(f"'{name}' must be an integer")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        bad_request(f"'{name}' must be {bound}")
    return value


def opt_number(body: dict[str, Any], name: str, low: float) -> float | None:
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        bad_request(f"'{name}' must be a number")
    if value < low or value > 1e9:
        bad_request(f"'{name}' must be between {low} and 1e9")
    return float(value)


def query_int(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not INT_RE.fullmatch(raw):
        bad_request(f"'{name}' must be an integer")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        bad_request(f"'{name}' must be {bound}")
    return value


def query_str(request: Request, name: str) -> str | None:
    raw = request.args.get(name)
    if raw is not None and "\x00" in raw:
        bad_request(f"'{name}' is invalid")
    return raw


def check_build_id(build_id: str) -> str:
    if not UUID_RE.fullmatch(build_id):
        bad_request("Invalid build ID format")
    return build_id.lower()


def check_set_name(name: str) -> str:
    low, high = spec.SECRET_SET_NAME_LENGTH
    if not low <= len(name) <= high or not SECRET_SET_NAME_RE.fullmatch(name):
        bad_request(
            "Invalid secret set name: use 3 to 63 lowercase letters, digits, hyphens and dots, "
            "starting and ending with a letter or digit"
        )
    return name


def secret_set_request(body: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """(values, host) of a PUT /secrets body; host is None for regular secrets."""
    pull = body.get("isImagePullSecret", False)
    if not isinstance(pull, bool):
        bad_request("'isImagePullSecret' must be a boolean")
    if pull:
        host, value = opt_str(body, "host"), opt_str(body, "secretValue")
        if host is None or value is None:
            bad_request(
                "Must provide isImagePullSecret, host, and secretValue to update an image "
                "pull secret"
            )
        return {"secretValue": value}, host if host.endswith("/") else host + "/"
    raw = body.get("secrets")
    if not isinstance(raw, list) or not raw:
        bad_request("'secrets' must be a non-empty array of {secretKey, secretValue}")
    values: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, dict):
            bad_request("'secrets' must be a non-empty array of {secretKey, secretValue}")
        key, value = req_str(item, "secretKey"), req_str(item, "secretValue")
        if not SECRET_KEY_RE.fullmatch(key):
            bad_request(
                "Invalid secret key: use at most 64 letters, digits, underscores and hyphens"
            )
        values[key] = value
    return values, None


def agent_settings(body: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    """The deployment settings in `body`: every field for a create (`base` None), only the
    given ones for an update."""
    settings: dict[str, Any] = {}
    node_type = opt_str(body, "nodeType")
    if node_type is not None and node_type != spec.DEFAULT_NODE_TYPE:
        bad_request(f"Invalid nodeType '{node_type}': only '{spec.DEFAULT_NODE_TYPE}' is supported")
    if node_type is not None or base is None:
        settings["nodeType"] = spec.DEFAULT_NODE_TYPE
    for name in ("imagePullSecretSet", "secretSet"):
        # The official CLI sends `null` to drop a pull secret; accept it.
        if name in body and body[name] is None:
            settings[name] = None
        elif name in body or base is None:
            settings[name] = opt_str(body, name)
    if "autoScaling" in body or base is None:
        raw = body.get("autoScaling", {})
        if not isinstance(raw, dict):
            bad_request("'autoScaling' must be an object")
        previous = (base or {}).get("autoScaling", {"minAgents": 0, "maxAgents": 50})
        low = opt_int(raw, "minAgents", 0, 1000)
        high = opt_int(raw, "maxAgents", 1, 1000)
        scaling = {
            "minAgents": previous["minAgents"] if low is None else low,
            "maxAgents": previous["maxAgents"] if high is None else high,
        }
        if scaling["minAgents"] > scaling["maxAgents"]:
            bad_request("'autoScaling.minAgents' must not exceed 'autoScaling.maxAgents'")
        settings["autoScaling"] = scaling
    if "krispViva" in body or base is None:
        raw = body.get("krispViva", {})
        if not isinstance(raw, dict):
            bad_request("'krispViva' must be an object")
        audio_filter = raw.get("audioFilter")
        if audio_filter not in spec.AUDIO_FILTERS:
            allowed = ", ".join("null" if f is None else repr(f) for f in spec.AUDIO_FILTERS)
            bad_request(f"'krispViva.audioFilter' must be one of {allowed}")
        settings["krispViva"] = {"audioFilter": audio_filter}
    profile = opt_str(body, "agentProfile")
    if profile is not None and profile not in spec.AGENT_PROFILES:
        bad_request(f"'agentProfile' must be one of {', '.join(spec.AGENT_PROFILES)}")
    if profile is not None or base is None:
        settings["agentProfile"] = profile or spec.DEFAULT_AGENT_PROFILE
    if "maxSessionDuration" in body or base is None:
        settings["maxSessionDuration"] = opt_int(body, "maxSessionDuration", *spec.SESSION_DURATION)
    return settings


# -- the application -------------------------------------------------------------------------


class EmulatorApp:
    """The WSGI callable. `base_url` is the emulator's own address, used in uploadUrl and
    logsUrl; the server sets it once the port is bound."""

    def __init__(self, store: Store, api_key: str, base_url: str = "http://127.0.0.1") -> None:
        if not api_key:
            raise ValueError("the emulator needs a non-empty API key")
        self.store = store
        self.api_key = api_key
        self.base_url = base_url
        # Called after the control API changes a setting (the server follows the upload limit).
        self.on_config: Callable[[], None] = lambda: None
        self.stats = Stats()
        self.faults = Faults()
        self.storage = UploadTarget(store, self.stats.stored)
        self.url_map = Map(
            [Rule(path, methods=methods, endpoint=endpoint) for path, methods, endpoint in ROUTES],
            strict_slashes=False,
            merge_slashes=False,
            redirect_defaults=False,
            converters={"build": BuildIdConverter},
        )
        self.handlers: dict[str, Callable[..., Response]] = {
            endpoint: getattr(self, f"on_{endpoint}") for _, _, endpoint in ROUTES
        }
        self.faultable = dict(FAULTABLE)
        # The second route table: the official CLI's organization-scoped API, over the same
        # store and handlers. Imported here because organization.py builds on this module.
        from pcc_provider.emulator.organization import OrganizationApi

        OrganizationApi(self).register()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        is_api = request.path == "/v1" or request.path.startswith("/v1/")
        is_storage = request.path.startswith("/_storage/")
        try:
            adapter = self.url_map.bind_to_environ(request.environ)
            try:
                rule, args = adapter.match(return_rule=True)
            except MethodNotAllowed as exc:
                self._count(request, f"{request.method} (unmatched)", is_storage)
                if is_storage:
                    return s3_error_response(
                        405,
                        "MethodNotAllowed",
                        "The specified method is not allowed against this resource.",
                        Method=request.method,
                        ResourceType="OBJECT",
                    )
                if is_api:
                    self._authorize(request)
                allow = ", ".join(sorted(exc.valid_methods or []))
                return error_response(405, "Method not allowed", headers={"Allow": allow})
            except (NotFound, RequestRedirect):
                self._count(request, f"{request.method} (unmatched)", is_storage)
                if is_storage:
                    return s3_error_response(404, "NoSuchKey", "The specified key does not exist.")
                if is_api:
                    self._authorize(request)
                return error_response(404, "Not found")
            route = route_key(request.method, rule.rule)
            fault = None
            if not route.split(" ", 1)[1].startswith("/_emulator"):
                self._count(request, route, is_storage)
                fault = self.faults.take(route)
                if fault is not None and fault.delay:
                    self.faults.wait(fault)
                if fault is not None and not fault.acted:
                    if fault.delay and not fault.hold and not fault.status:
                        fault = None  # only delayed: answered as usual
                    else:
                        return self._fault_response(fault, is_storage, request)
            if is_api:
                self._authorize(request)
            response = self.handlers[str(rule.endpoint)](request, **args)
            if fault is not None:
                # The service has acted on the request; its answer never reaches the client.
                raise DropConnection("fault injected: answer dropped after acting")
            return response
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.code, exc.headers)
        except ModelError as exc:
            status = {"not_found": 404, "conflict": 409}.get(exc.kind, 400)
            return error_response(status, exc.message)
        except DropConnection:
            raise
        except HTTPException as exc:
            status = exc.code or 400
            return error_response(status, exc.description or exc.name)
        except Exception:
            log.exception("emulator bug while serving %s %s", request.method, request.path)
            return error_response(500, "Internal server error", "INTERNAL_SERVER_ERROR")

    def _count(self, request: Request, key: str, is_storage: bool) -> None:
        self.stats.count(
            key, upload_authorization=is_storage and "Authorization" in request.headers
        )

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode("utf-8", "replace"), self.api_key.encode()
        )
        if not ok:
            raise ApiError(
                401, "Unauthorized", "UNAUTHORIZED", {"WWW-Authenticate": 'Bearer realm="api"'}
            )

    def _fault_response(self, fault: Fault, is_storage: bool, request: Request) -> Response:
        if fault.drop or fault.hold:
            raise DropConnection("fault injected: connection dropped")
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
        if fault.body == "html":  # a proxy's or gateway's own page
            title = f"<head><title>{fault.status}</title></head>"
            page = f"<html>{title}<body>{fault.message}</body></html>"
            return Response(page, fault.status, headers, content_type="text/html")
        if fault.body == "malformed":
            return Response('{"build": {"id": ', fault.status, headers, mimetype="application/json")
        if fault.body == "echo":  # a service that quotes the request it refuses
            said = request.get_data(as_text=True)
            return error_response(fault.status, f"{fault.message}: {said}", headers=headers)
        if is_storage:
            code = "SlowDown" if fault.status in (429, 503) else "InternalError"
            response = s3_error_response(fault.status, code, "Fault injected by the emulator")
            response.headers.update(headers)
            return response
        return error_response(fault.status, fault.message, headers=headers)

    # -- builds ------------------------------------------------------------------------------

    def on_upload_url(self, request: Request) -> Response:
        body = read_json(request)
        # Beyond the spec (which marks it required): like the real service, a request without
        # a region uses the organization's default; the GitHub deploy action relies on it.
        region = opt_str(body, "region") or self.store.default_region()
        upload = self.store.create_upload(region)
        return json_response(
            {
                "uploadId": upload.id,
                "uploadUrl": f"{self.base_url}/_storage/{upload.bucket}",
                "uploadFields": self.storage.presign(upload),
                "expiresAt": iso(upload.expires_at),
            }
        )

    def on_create_build(self, request: Request) -> Response:
        body = read_json(request)
        upload_id = opt_uuid(body, "uploadId")
        if upload_id is None:
            bad_request("'uploadId' is required")
        # Beyond the spec, as for upload-url: no region means the organization's default.
        region = opt_str(body, "region") or self.store.default_region()
        dockerfile_path = opt_str(body, "dockerfilePath")
        if dockerfile_path is None:
            dockerfile_path = "Dockerfile"
        if not valid_dockerfile_path(dockerfile_path):
            bad_request("'dockerfilePath' must be a relative path inside the build context")
        build, cached = self.store.create_build(upload_id, region, dockerfile_path)
        return json_response(
            {
                "build": self.store.build_json(build, self.base_url),
                "contextHash": build.context_hash,
                "cached": cached,
            },
            200 if cached else 201,
        )

    def on_list_builds(self, request: Request) -> Response:
        status = query_str(request, "status")
        if status is not None and status not in spec.BUILD_STATUSES:
            bad_request(f"'status' must be one of {', '.join(spec.BUILD_STATUSES)}")
        limit = query_int(request, "limit", *spec.BUILDS_LIMIT)
        offset = query_int(request, "offset", *spec.BUILDS_OFFSET)
        builds, total = self.store.list_builds(
            status,
            query_str(request, "region"),
            query_str(request, "contextHash"),
            # Beyond the spec's listBuilds: the real service filters on it exactly, and the
            # GitHub deploy action's cache look-up depends on that.
            query_str(request, "dockerfilePath"),
            limit,
            offset,
        )
        return json_response(
            {
                "builds": [self.store.build_json(b, self.base_url) for b in builds],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    def on_get_build(self, request: Request, buildId: str) -> Response:
        build = self.store.get_build(check_build_id(buildId))
        return json_response({"build": self.store.build_json(build, self.base_url)})

    def on_build_logs(self, request: Request, buildId: str) -> Response:
        build_id = check_build_id(buildId)
        limit = query_int(request, "limit", *spec.LOGS_LIMIT)
        start = 0
        token = request.args.get("nextToken")
        if token is not None:
            if not token.isdigit() or len(token) > 9:
                bad_request("Invalid nextToken")
            start = int(token)
        lines = self.store.build_logs(self.store.get_build(build_id))
        body: dict[str, Any] = {"logs": lines[start : start + limit]}
        if start + limit < len(lines):
            body["nextToken"] = str(start + limit)
        return json_response(body)

    # -- agents ------------------------------------------------------------------------------

    def on_create_agent(self, request: Request) -> Response:
        body = read_json(request)
        name = body.get("serviceName")
        if name is None:
            bad_request("'serviceName' is required")
        if not isinstance(name, str):
            bad_request("'serviceName' must be a string")
        if len(name) > spec.SERVICE_NAME_MAX or not spec.SERVICE_NAME_RE.fullmatch(name):
            bad_request(
                "'serviceName' must start and end with a lowercase letter or number, contain "
                "only lowercase letters, numbers and hyphens, and be at most "
                f"{spec.SERVICE_NAME_MAX} characters"
            )
        region = opt_str(body, "region") or spec.DEFAULT_REGION
        if region not in REGIONS:
            bad_request(f"Invalid region '{region}'")
        image = opt_str(body, "image")
        build_id = opt_uuid(body, "buildId")
        settings = agent_settings(body, None)
        agent = self.store.create_agent(name, region, image, build_id, settings)
        return json_response(self.store.agent_json(agent))

    def on_list_agents(self, request: Request) -> Response:
        raw = request.args.get("includeActiveDeployment")
        if raw is not None and raw.lower() not in ("true", "false", "1", "0"):
            bad_request("'includeActiveDeployment' must be true or false")
        with_deployment = raw is not None and raw.lower() in ("true", "1")
        agents = self.store.list_agents(query_str(request, "region"))
        return json_response(
            {"services": [self.store.agent_list_item(a, with_deployment) for a in agents]}
        )

    def on_get_agent(self, request: Request, agentName: str) -> Response:
        return json_response(self.store.agent_json(self.store.get_agent(agentName)))

    def on_update_agent(self, request: Request, agentName: str) -> Response:
        agent = self.store.get_agent(agentName, "Service not found")
        body = read_json(request)
        image = opt_str(body, "image")
        build_id = opt_uuid(body, "buildId")
        force = body.get("forceRedeploy", False)
        if not isinstance(force, bool):
            bad_request("'forceRedeploy' must be a boolean")
        changes = agent_settings(body, agent.current.settings)
        agent = self.store.update_agent(agentName, image, build_id, changes, force)
        return json_response(self.store.agent_json(agent))

    def on_delete_agent(self, request: Request, agentName: str) -> Response:
        self.store.delete_agent(agentName)
        return json_response({"status": "OK"})

    def on_regions(self, request: Request) -> Response:
        return json_response(
            {
                "regions": [
                    {"code": code, "display_name": display}
                    for code, (display, _) in REGIONS.items()
                ]
            }
        )

    # -- properties --------------------------------------------------------------------------

    def on_properties_get(self, request: Request) -> Response:
        return json_response({"properties": self.store.properties()})

    def on_properties_update(self, request: Request) -> Response:
        self.store.update_properties(read_json(request))
        # The spec answers a PATCH with the whole schema, current values included.
        return json_response({"properties": self.store.property_schema()})

    def on_properties_schema(self, request: Request) -> Response:
        return json_response({"properties": self.store.property_schema()})

    # -- secrets -----------------------------------------------------------------------------

    def on_put_secret_set(self, request: Request, setName: str) -> Response:
        name = check_set_name(setName)
        body = read_json(request)
        region = opt_str(body, "region")
        values, host = secret_set_request(body)
        secret_set = self.store.put_secret_set(name, region, values, host)
        return json_response({"status": "OK", "region": secret_set.region}, 202)

    def on_list_secret_sets(self, request: Request) -> Response:
        sets = self.store.list_secret_sets()
        return json_response({"sets": [self.store.secret_set_json(s, False) for s in sets]})

    def on_get_secret_set(self, request: Request, setName: str) -> Response:
        secret_set = self.store.get_secret_set(check_set_name(setName))
        if secret_set.type == "imagePullSecret":
            bad_request("Cannot retrieve image pull secrets by name")
        return json_response(self.store.secret_set_json(secret_set, True))

    # A name no set can have is simply not found here: the spec documents no 400 for these.
    def on_delete_secret_set(self, request: Request, setName: str) -> Response:
        self.store.delete_secret_set(setName)
        return json_response({"status": "OK"})

    def on_delete_secret(self, request: Request, setName: str, secretKey: str) -> Response:
        self.store.delete_secret(setName, secretKey)
        return json_response({"status": "OK"})

    # -- storage -----------------------------------------------------------------------------

    def on_storage_post(self, request: Request, bucket: str) -> Response:
        return self.storage.handle(request, bucket)

    # -- control -----------------------------------------------------------------------------

    def on_stats_get(self, request: Request) -> Response:
        return json_response(self.stats.to_json())

    def on_stats_reset(self, request: Request) -> Response:
        self.stats.reset()
        return json_response(self.stats.to_json())

    def _config_json(self) -> dict[str, Any]:
        c = self.store.config
        return {
            "buildSeconds": c.build_seconds,
            "uploadTtlSeconds": c.upload_ttl_seconds,
            "maxUploadBytes": c.max_upload_bytes,
            "agentReadySeconds": c.agent_ready_seconds,
            "secretReadySeconds": c.secret_ready_seconds,
            "agentDeleteSeconds": c.agent_delete_seconds,
        }

    def on_config_get(self, request: Request) -> Response:
        return json_response(self._config_json())

    def on_config_set(self, request: Request) -> Response:
        body = read_json(request)
        known = {
            "buildSeconds",
            "uploadTtlSeconds",
            "maxUploadBytes",
            "agentReadySeconds",
            "secretReadySeconds",
            "agentDeleteSeconds",
        }
        unknown = sorted(set(body) - known)
        if unknown:
            bad_request(f"Unknown config keys: {', '.join(unknown)}")
        build_seconds = opt_number(body, "buildSeconds", 0)
        ttl = opt_number(body, "uploadTtlSeconds", 0)
        max_bytes = opt_int(body, "maxUploadBytes", 1, 1 << 40)
        ready = opt_number(body, "agentReadySeconds", 0)
        secret_ready = opt_number(body, "secretReadySeconds", 0)
        deleting = opt_number(body, "agentDeleteSeconds", 0)
        c = self.store.config
        if build_seconds is not None:
            c.build_seconds = build_seconds
        if ttl is not None:
            c.upload_ttl_seconds = ttl
        if max_bytes is not None:
            c.max_upload_bytes = max_bytes
        if ready is not None:
            c.agent_ready_seconds = ready
        if secret_ready is not None:
            c.secret_ready_seconds = secret_ready
        if deleting is not None:
            c.agent_delete_seconds = deleting
        self.on_config()
        return json_response(self._config_json())

    def on_faults_get(self, request: Request) -> Response:
        return json_response({"faults": self.faults.to_json()})

    def on_faults_add(self, request: Request) -> Response:
        body = read_json(request)
        unknown = sorted(
            set(body)
            - {"route", "status", "times", "drop", "actThenDrop", "retryAfter"}
            - {"body", "message", "delay", "hold"}
        )
        if unknown:
            bad_request(f"Unknown fault keys: {', '.join(unknown)}")
        route = req_str(body, "route")
        if route not in self.faultable:
            bad_request(f"Unknown route '{route}'; one of: {', '.join(sorted(self.faultable))}")
        drop = body.get("drop", False)
        if not isinstance(drop, bool):
            bad_request("'drop' must be a boolean")
        acted = body.get("actThenDrop", False)
        if not isinstance(acted, bool):
            bad_request("'actThenDrop' must be a boolean")
        kind = opt_str(body, "body") or "json"
        if kind not in ("json", "html", "malformed", "echo"):
            bad_request("'body' must be one of json, html, malformed, echo")
        # A malformed body may come with a 200: an answer that is not what it should be.
        status = opt_int(body, "status", 200 if kind == "malformed" else 400, 599)
        delay = opt_number(body, "delay", 0)
        hold = opt_number(body, "hold", 0)
        if [status is not None, drop, acted, hold is not None].count(True) > 1 or (
            delay is None and [status is not None, drop, acted, hold is not None].count(True) == 0
        ):
            bad_request(
                "Give one of 'status' (400-599), 'drop': true, 'actThenDrop': true or "
                "'hold': seconds (and/or 'delay': seconds)"
            )
        if kind != "json" and status is None:
            bad_request("'body' needs a 'status'")
        times = opt_int(body, "times", 1, 1_000_000) or 1
        retry_after = opt_int(body, "retryAfter", 0, 3600)
        self.faults.add(
            Fault(
                route=route,
                status=status or 0,
                drop=drop,
                remaining=times,
                retry_after=1 if retry_after is None else retry_after,
                acted=acted,
                body=kind,
                message=opt_str(body, "message") or "Fault injected by the emulator",
                delay=hold if hold is not None else delay or 0.0,
                hold=hold is not None,
            )
        )
        return json_response({"faults": self.faults.to_json()}, 201)

    def on_faults_clear(self, request: Request) -> Response:
        self.faults.clear()
        return json_response({"faults": []})

    def on_vanish_build(self, request: Request, buildId: str) -> Response:
        self.store.delete_build(check_build_id(buildId))
        return json_response({"deleted": buildId.lower()})

    def on_fail_secret_set(self, request: Request, setName: str) -> Response:
        message = opt_str(read_json(request), "errorMessage") or "Secret set provisioning failed"
        self.store.fail_secret_set(setName, message)
        return json_response({"failing": setName, "errorMessage": message})

    def on_agent_deployments(self, request: Request, agentName: str) -> Response:
        agent = self.store.get_agent(agentName)
        return json_response(
            {
                "deployments": [
                    {
                        "id": d.id,
                        "buildId": d.build_id,
                        "boundSets": d.bound_sets,
                        "settings": d.settings,
                    }
                    for d in agent.deployments
                ]
            }
        )

    def on_finish_build(self, request: Request, buildId: str) -> Response:
        build = self.store.finish_build(check_build_id(buildId))
        return json_response({"build": self.store.build_json(build, self.base_url)})


__all__ = ["FAULTABLE", "EmulatorApp", "route_key"]
