"""`pulumi import` of an agent that `pcc deploy` (here: the API) made, through the native
`pipecat` provider, then a preview that shows no changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EmulatorHandle
from test_native_yaml import write_program, yaml_stack

pytestmark = pytest.mark.engine


def test_yaml_import_of_an_agent_then_no_changes(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0)
    made = emulator.api(
        "POST",
        "/agents",
        json={
            "serviceName": "bot",
            "image": "example/agent:1",
            "autoScaling": {"minAgents": 0, "maxAgents": 3},
        },
    )
    assert made.status_code == 200, made.text
    image = {"type": "pipecat:index:Build", "properties": {"context": "./agent"}}
    stack = yaml_stack(tmp_path, engine, emulator, {"image": image})
    stack.up()
    imported = stack.pulumi(
        "import", "pipecat:index:Agent", "bot", "bot", "--yes", "--stack", stack.name, check=False
    )
    agent = {
        "type": "pipecat:index:Agent",
        "properties": {"serviceName": "bot", "image": "example/agent:1", "maxAgents": 3},
    }
    write_program(stack.dir, {"image": image, "bot": agent})
    assert imported.returncode == 0, imported.output
    assert "failed to validate" not in imported.output, imported.output
    # The generated code names what the agent holds.
    assert "image: example/agent:1" in imported.stdout and "maxAgents: 3" in imported.stdout
    stack.preview("--expect-no-changes")
    assert [s["name"] for s in emulator.api("GET", "/agents").json()["services"]] == ["bot"]
