"""The Agent's websocketAuth, architecture and resources from a YAML program (issue 31): each
diffs by name, travels on pcc's organization route, is undone when the program drops it, and a
wrong value fails the preview in one line in the schema's names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorHandle
from test_native_yaml import write_program, yaml_stack

pytestmark = pytest.mark.engine

SERVICE = "/organizations/acme/services/bot"


def program(**settings: Any) -> dict[str, Any]:
    properties = {"serviceName": "bot", "image": "example/agent:1", **settings}
    return {
        "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
        "bot": {"type": "pipecat:index:Agent", "properties": properties},
    }


def held(emulator: EmulatorHandle) -> tuple[Any, Any, Any, Any]:
    """(architecture, websocketAuth, resources, profile) where pcc's `agent status` reads them."""
    body = emulator.api("GET", SERVICE).json()["body"]
    spec = body["deployment"]["manifest"]["spec"]
    return spec.get("arch"), body["websocketAuth"], body["resources"], body["agentProfile"]


def test_yaml_agent_fields_diff_by_name_and_are_undone_when_dropped(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0, buildSeconds=0)
    sized = {"cpu": "2", "memory": "4Gi"}
    pinned = {"architecture": "arm64", "websocketAuth": "token", "resources": sized}
    stack = yaml_stack(tmp_path, engine, emulator, program(**pinned))
    stack.up()
    assert held(emulator) == ("arm64", "token", sized, None)
    assert emulator.calls("POST /v1/organizations/{org}/services") == 1
    assert emulator.calls("POST /v1/agents") == 0
    stack.preview("--expect-no-changes")

    write_program(stack.dir, program(**{**pinned, "architecture": "amd64"}))
    edited = stack.preview().output
    assert '~ architecture: "arm64" => "amd64"' in edited, edited
    stack.up()
    assert held(emulator) == ("amd64", "token", sized, None)
    assert emulator.calls("PUT /v1/organizations/{org}/services") == 1

    # Dropped from the program: back to what the service gives an agent without them.
    write_program(stack.dir, program())
    stack.up()
    assert held(emulator) == (None, "none", {"cpu": "500m", "memory": "1Gi"}, "agent-1x")
    stack.preview("--expect-no-changes")


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"architecture": "x86"}, "architecture must be one of amd64, arm64"),
        ({"websocketAuth": "hmac"}, "websocketAuth must be one of none, token"),
        (
            {"agentProfile": "agent-2x", "resources": {"cpu": "2", "memory": "4Gi"}},
            "give either agentProfile or resources, not both",
        ),
    ],
)
def test_yaml_a_wrong_value_fails_the_preview_in_one_line(
    tmp_path: Path,
    engine: dict[str, str],
    emulator: EmulatorHandle,
    settings: dict[str, Any],
    said: str,
) -> None:
    stack = yaml_stack(tmp_path, engine, emulator, program(**settings))
    preview = stack.preview(check=False)
    assert preview.returncode != 0
    errors = [line for line in preview.output.splitlines() if said in line]
    assert errors, preview.output
    assert "Traceback" not in preview.output
    assert emulator.stats()["requests"].get("POST /v1/organizations/{org}/services") is None
