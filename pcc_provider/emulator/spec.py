"""What the emulator validates, read from the official API description it ships (openapi.json).

The limits a request is checked against (name pattern and length, enums, numeric ranges,
defaults) come from the spec, not from the provider's own constants, so that the provider's
checks agreeing with the emulator's means both agree with the API.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).with_name("openapi.json")


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return data


def field(schema: str, *path: str) -> dict[str, Any]:
    """The schema of `components.schemas.<schema>.properties.<path[0]>.properties...`."""
    node: dict[str, Any] = spec()["components"]["schemas"][schema]
    for name in path:
        node = node["properties"][name]
    return node


def enum(schema: str, *path: str) -> tuple[Any, ...]:
    return tuple(field(schema, *path)["enum"])


def bounds(schema: str, *path: str) -> tuple[int, int]:
    node = field(schema, *path)
    return int(node["minimum"]), int(node["maximum"])


def query(path: str, method: str, name: str) -> tuple[int, int, int | None]:
    """(default, minimum, maximum or None) of an integer query parameter of an operation."""
    for parameter in spec()["paths"][path][method]["parameters"]:
        if parameter["name"] == name and parameter["in"] == "query":
            schema = parameter["schema"]
            high = schema.get("maximum")
            return (
                int(schema["default"]),
                int(schema["minimum"]),
                None if high is None else int(high),
            )
    raise KeyError(f"{method.upper()} {path} has no query parameter {name}")


def path_parameter(path: str, method: str, name: str) -> dict[str, Any]:
    """The schema of a path parameter of an operation."""
    for parameter in spec()["paths"][path][method]["parameters"]:
        if parameter["name"] == name and parameter["in"] == "path":
            schema: dict[str, Any] = parameter["schema"]
            return schema
    raise KeyError(f"{method.upper()} {path} has no path parameter {name}")


SERVICE_NAME_RE = re.compile(field("CreateServiceRequest", "serviceName")["pattern"])
SERVICE_NAME_MAX = int(field("CreateServiceRequest", "serviceName")["maxLength"])
AGENT_PROFILES = enum("CreateServiceRequest", "agentProfile")
DEFAULT_AGENT_PROFILE = str(field("CreateServiceRequest", "agentProfile")["default"])
SESSION_DURATION = bounds("CreateServiceRequest", "maxSessionDuration")
AUDIO_FILTERS = enum("CreateServiceRequest", "krispViva", "audioFilter")
DEFAULT_REGION = str(field("CreateServiceRequest", "region")["default"])
DEFAULT_NODE_TYPE = str(field("CreateServiceRequest", "nodeType")["default"])
BUILD_STATUSES = enum("Build", "status")
REVISION_PHASES = enum("RevisionInfo", "phase")
HEALTH_STATES = enum("RevisionHealth", "state")
BUILDS_LIMIT = query("/builds", "get", "limit")
BUILDS_OFFSET = query("/builds", "get", "offset")
LOGS_LIMIT = query("/builds/{buildId}/logs", "get", "limit")
_SET_NAME = path_parameter("/secrets/{setName}", "put", "setName")
SECRET_SET_NAME_RE = re.compile(_SET_NAME["pattern"])
SECRET_SET_NAME_LENGTH = int(_SET_NAME["minLength"]), int(_SET_NAME["maxLength"])
