"""HTTP helpers every route table shares: the API's error shape, JSON bodies, request validators.

Validators read a request's JSON body or query and return plain values for the backend, or
raise errors.BadRequest (a 400 with the message a client should see). What a request may contain
comes from the official API description (spec.py), checked the same way for both APIs.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator import render, spec
from pcc_provider.emulator.entities import (
    PROFILE_NAME_RE,
    QUANTITY_RE,
    REGIONS,
    SECRET_KEY_RE,
    SECRET_SET_NAME_RE,
    WEBSOCKET_AUTH,
    valid_dockerfile_path,
)
from pcc_provider.emulator.errors import BadRequest, ServiceError

MAX_JSON_BYTES = 1024 * 1024
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
INT_RE = re.compile(r"^[+-]?[0-9]{1,18}$")


def route_key(method: str, path: str) -> str:
    """How stats and faults name a route: "<METHOD> <path template>"."""
    template = re.sub(r"<(?:[a-z]+:)?([A-Za-z]+)>", r"{\1}", path)
    return f"{method} {template}"


class BuildIdConverter(BaseConverter):
    """Any segment but `upload-url`, so that `GET /v1/builds/upload-url` is a 405 (that path
    only takes POST), while other malformed ids still reach the handler for their 400."""

    regex = r"(?!upload-url$)[^/]+"


CONVERTERS: dict[str, type[BaseConverter]] = {"build": BuildIdConverter}


def bad_request(message: str) -> NoReturn:
    raise BadRequest(message)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(error: ServiceError) -> Response:
    """A refusal as the API answers it."""
    return json_response(render.error(error), error.status, error.headers)


# -- request validators ----------------------------------------------------------------------


def read_json(request: Request) -> dict[str, Any]:
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise ServiceError(f"Request body exceeds {MAX_JSON_BYTES} bytes", status=413)
    raw = request.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ServiceError(f"Request body exceeds {MAX_JSON_BYTES} bytes", status=413)
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
    if profile is not None and not (
        profile in spec.AGENT_PROFILES or PROFILE_NAME_RE.fullmatch(profile)
    ):
        # Beyond the spec's enum: an organization's own profile, which the backend checks.
        bad_request(
            f"'agentProfile' must be one of {', '.join(spec.AGENT_PROFILES)}, or the name of "
            "one of the organization's enabled profiles"
        )
    if profile is not None or base is None:
        settings["agentProfile"] = profile or spec.DEFAULT_AGENT_PROFILE
    if "maxSessionDuration" in body or base is None:
        settings["maxSessionDuration"] = opt_int(body, "maxSessionDuration", *spec.SESSION_DURATION)
    return settings


def organization_settings(body: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    """The settings only the organization route's create and update take (the public ones
    drop them, as the API drops fields it does not know): `websocketAuth`, `architecture`
    (null: the region's default) and `resources` (null: none, sized by the profile). A
    create (`base` None) keeps what differs from the defaults, an update what it changes, so
    that an agent that never set one holds the settings it always did."""
    found: dict[str, Any] = {}
    auth = opt_str(body, "websocketAuth")
    if auth is not None and auth not in WEBSOCKET_AUTH:
        bad_request(f"'websocketAuth' must be one of {', '.join(WEBSOCKET_AUTH)}")
    if auth is not None:
        found["websocketAuth"] = auth
    if "architecture" in body:
        arch = body["architecture"]
        if arch is not None and arch not in ("amd64", "arm64"):
            bad_request(f"Invalid architecture '{arch}'. Valid values are: amd64, arm64")
        found["architecture"] = arch
    if "resources" in body:
        raw = body["resources"]
        if raw is not None:
            if not isinstance(raw, dict) or set(raw) != {"cpu", "memory"}:
                bad_request("'resources' must be an object with exactly 'cpu' and 'memory'")
            for name in ("cpu", "memory"):
                value = raw[name]
                if not isinstance(value, str) or not QUANTITY_RE.fullmatch(value):
                    bad_request(
                        f"Invalid {name} quantity {value!r} (expected e.g. '500m', '2', '4Gi')"
                    )
            if body.get("agentProfile") is not None:
                bad_request("Cannot specify both 'agentProfile' and 'resources'")
            raw = {"cpu": raw["cpu"], "memory": raw["memory"]}
        found["resources"] = raw
    defaults = {"websocketAuth": "none", "architecture": None, "resources": None}
    held = base or {}
    return {k: v for k, v in found.items() if v != held.get(k, defaults[k])}


# -- what an operation's request asks for ---------------------------------------------------


def build_request(body: dict[str, Any], default_region: str) -> tuple[str, str, str]:
    """(uploadId, region, dockerfilePath) of a create-build body."""
    upload_id = opt_uuid(body, "uploadId")
    if upload_id is None:
        bad_request("'uploadId' is required")
    # Beyond the spec, as for upload-url: no region means the organization's default.
    region = opt_str(body, "region") or default_region
    dockerfile_path = opt_str(body, "dockerfilePath")
    if dockerfile_path is None:
        dockerfile_path = "Dockerfile"
    if not valid_dockerfile_path(dockerfile_path):
        bad_request("'dockerfilePath' must be a relative path inside the build context")
    return upload_id, region, dockerfile_path


def builds_query(request: Request) -> dict[str, Any]:
    """The list-builds query as keyword arguments of `Backend.list_builds`."""
    status = query_str(request, "status")
    if status is not None and status not in spec.BUILD_STATUSES:
        bad_request(f"'status' must be one of {', '.join(spec.BUILD_STATUSES)}")
    limit = query_int(request, "limit", *spec.BUILDS_LIMIT)
    offset = query_int(request, "offset", *spec.BUILDS_OFFSET)
    return {
        "status": status,
        "region": query_str(request, "region"),
        "context_hash": query_str(request, "contextHash"),
        # Beyond the spec's listBuilds: the real service filters on it exactly, and the
        # GitHub deploy action's cache look-up depends on that.
        "dockerfile_path": query_str(request, "dockerfilePath"),
        "limit": limit,
        "offset": offset,
    }


def logs_page(request: Request) -> tuple[int, int]:
    """(start, limit) of a build-logs request."""
    limit = query_int(request, "limit", *spec.LOGS_LIMIT)
    start = 0
    token = request.args.get("nextToken")
    if token is not None:
        if not token.isdigit() or len(token) > 9:
            bad_request("Invalid nextToken")
        start = int(token)
    return start, limit


def logs_json(lines: list[str], start: int, limit: int) -> dict[str, Any]:
    body: dict[str, Any] = {"logs": lines[start : start + limit]}
    if start + limit < len(lines):
        body["nextToken"] = str(start + limit)
    return body


def create_agent_request(
    body: dict[str, Any],
) -> tuple[str, str, str | None, str | None, dict[str, Any]]:
    """(name, region, image, buildId, settings) of a create-agent body."""
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
    return name, region, image, build_id, agent_settings(body, None)


def update_agent_request(
    body: dict[str, Any], current: dict[str, Any]
) -> tuple[str | None, str | None, dict[str, Any], bool]:
    """(image, buildId, changed settings, forceRedeploy) of an update-agent body."""
    image = opt_str(body, "image")
    build_id = opt_uuid(body, "buildId")
    force = body.get("forceRedeploy", False)
    if not isinstance(force, bool):
        bad_request("'forceRedeploy' must be a boolean")
    return image, build_id, agent_settings(body, current), force


def include_deployment(request: Request) -> bool:
    raw = request.args.get("includeActiveDeployment")
    if raw is not None and raw.lower() not in ("true", "false", "1", "0"):
        bad_request("'includeActiveDeployment' must be true or false")
    return raw is not None and raw.lower() in ("true", "1")


def profile_resources(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(cpu, memory) of an agent-profile body's `resources`, both or neither."""
    raw = body.get("resources")
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        bad_request("'resources' must be an object")
    cpu, memory = opt_str(raw, "cpu"), opt_str(raw, "memory")
    if (cpu is None) != (memory is None):
        bad_request("'resources' needs both 'cpu' and 'memory'")
    return cpu, memory


# -- sessions and agent logs ----------------------------------------------------------------

START_TRANSPORTS = tuple(spec.enum("StartRequest", "transport"))
SESSION_STATUSES = ("active", "ended", "all")
START_TYPES = ("cold", "warm", "all")
LOG_ORDERS = ("asc", "desc")
WEBSOCKET_BODY_BYTES = 4 * 1024  # the spec: at most 4 KB of `body` for transport websocket
PAGE_LIMIT = (1, 1000)  # a sessions or logs page: the spec gives no bounds; these are ours


def start_request(body: dict[str, Any]) -> dict[str, Any]:
    """The StartRequest in `body`, each field of its type (400 otherwise), defaults filled in:
    createDailyRoom, enableDefaultIceServers (false), transport (None), body,
    dailyRoomProperties, dailyMeetingTokenProperties (None). Fields it does not know are
    dropped, as the API drops them."""
    start: dict[str, Any] = {}
    for name in ("createDailyRoom", "enableDefaultIceServers"):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            bad_request(f"'{name}' must be a boolean")
        start[name] = bool(value)
    for name in ("body", "dailyRoomProperties", "dailyMeetingTokenProperties"):
        value = body.get(name)
        if value is not None and not isinstance(value, dict):
            bad_request(f"'{name}' must be an object")
        start[name] = value
    transport = body.get("transport")
    if transport is not None and transport not in START_TRANSPORTS:
        bad_request(f"'transport' must be one of {', '.join(START_TRANSPORTS)}")
    start["transport"] = transport
    if transport == "websocket" and start["body"] is not None:
        size = len(json.dumps(start["body"]).encode())
        if size > WEBSOCKET_BODY_BYTES:
            bad_request(
                f"'body' is {size} bytes: at most {WEBSOCKET_BODY_BYTES} with transport websocket"
            )
    return start


def sessions_query(request: Request) -> dict[str, Any]:
    """The getSessions query as keyword arguments of `Backend.sessions`, with `limit` (10) and
    `offset` for the page: status (active, ended or all), deploymentId, startType (cold, warm
    or all), startTime and endTime (Unix seconds: when a session was created),
    startTimeMin and startTimeMax (its botStartSeconds; 0: no bound)."""
    status = query_str(request, "status") or "all"
    if status not in SESSION_STATUSES:
        bad_request(f"'status' must be one of {', '.join(SESSION_STATUSES)}")
    start_type = query_str(request, "startType") or "all"
    if start_type not in START_TYPES:
        bad_request(f"'startType' must be one of {', '.join(START_TYPES)}")
    return {
        "status": status,
        "deployment_id": query_str(request, "deploymentId"),
        "start_type": start_type,
        "created_from": _query_time(request, "startTime"),
        "created_to": _query_time(request, "endTime"),
        "bot_start_min": query_int(request, "startTimeMin", 0, 0, None),
        "bot_start_max": query_int(request, "startTimeMax", 0, 0, None),
        "limit": query_int(request, "limit", 10, *PAGE_LIMIT),
        "offset": query_int(request, "offset", 0, 0, None),
    }


def agent_logs_query(request: Request) -> dict[str, Any]:
    """The getLogs query: limit (10), offset, deploymentId, sessionId, order (desc), query (a
    text the line contains, any case), startTime and endTime (Unix seconds)."""
    order = query_str(request, "order") or "desc"
    if order not in LOG_ORDERS:
        bad_request(f"'order' must be one of {', '.join(LOG_ORDERS)}")
    return {
        # Keyword arguments of render.agent_log_lines.
        "filters": {
            "deployment_id": query_str(request, "deploymentId"),
            "session_id": query_str(request, "sessionId"),
            "text": query_str(request, "query"),
            "since": _query_time(request, "startTime"),
            "until": _query_time(request, "endTime"),
        },
        "order": order,
        "limit": query_int(request, "limit", 10, *PAGE_LIMIT),
        "offset": query_int(request, "offset", 0, 0, None),
    }


def _query_time(request: Request, name: str) -> int | None:
    """A Unix timestamp of the query, in seconds, or None."""
    if name not in request.args:
        return None
    return query_int(request, name, 0, 0, None)


def check_session_id(session_id: str) -> str:
    """A session id as stopSession takes it: a UUID (400 otherwise, as the spec documents)."""
    if not UUID_RE.fullmatch(session_id):
        bad_request("Invalid session ID format")
    return session_id.lower()
