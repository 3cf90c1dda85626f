"""A Deployment (or Agent) of a name someone else's agent holds is refused by the preview, in
one line naming the agent and the fix, before anything is built; the preview asks Pipecat
Cloud for its agents once, however many agents the program declares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EmulatorHandle
from pulumi_stack import Stack
from test_native_yaml import yaml_stack
from test_official_cli import agent_folder, pcc  # noqa: F401 (pcc is a fixture)

pytestmark = pytest.mark.engine

PROGRAM = """
import pulumi
from pcc_provider import Deployment

cfg = pulumi.Config()
for name in cfg.require("names").split(","):
    Deployment(name, config_file=f"{name}/pcc-deploy.toml",
               adopt_existing=cfg.get_bool("adopt") or False, deploy_timeout=60)
"""
UPLOADS = ("POST /v1/builds/upload-url", "POST /_storage/{bucket}", "POST /v1/builds")


def test_a_deployment_of_an_agent_pcc_made_is_refused_at_preview_before_any_build(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
) -> None:
    emulator.configure(buildSeconds=0, agentReadySeconds=0)
    out = pcc("deploy", "taken-bot", "example/agent:1", "--yes")
    assert "Deployment complete" in out, out
    stack = cloud_stack(PROGRAM)
    for name in ("bot-one", "bot-two", "bot-three", "taken-bot"):
        agent_folder(stack.dir / name, toml=f'agent_name = "{name}"\n')

    # Three new agents: one list of agents for the whole preview.
    stack.config("names", "bot-one,bot-two,bot-three")
    emulator.reset_stats()
    preview = stack.preview()
    # The stack, and three of each: Deployment, Build, Agent.
    assert "+ 10 to create" in preview.output, preview.output
    assert emulator.calls("GET /v1/agents") == 1

    stack.config("names", "bot-one,taken-bot")
    emulator.reset_stats()
    refused = stack.preview(check=False)
    assert refused.returncode != 0
    lines = [line.strip() for line in refused.output.splitlines() if "taken-bot" in line]
    line = next(line for line in lines if "did not create it" in line)
    assert (
        "an agent named taken-bot already exists and this stack did not create it: pick "
        "another service_name, delete it (`pcc agent delete taken-bot`), pass "
        "adopt_existing=True to take it over" in line
    ), refused.output
    assert "Traceback" not in refused.output
    # A `pulumi up` stops at its preview the same way: nothing built, nothing uploaded.
    failed = stack.pulumi("up", "--yes", "--stack", stack.name, check=False)
    assert failed.returncode != 0 and "did not create it" in failed.output
    assert [emulator.calls(route) for route in UPLOADS] == [0, 0, 0]
    assert (
        emulator.api("GET", "/agents/taken-bot").json()["deployment"]["manifest"]["spec"]["image"]
        == "example/agent:1"
    )

    # Adopting it on purpose previews as a create (the `up` takes it over).
    stack.config("adopt", "true")
    assert stack.preview().returncode == 0
    # The warning says what happened: the program's build is a new deployment.
    adopted = stack.up()
    assert "adopt_existing=True takes it over (redeployed with this program's settings)" in (
        adopted.output
    ), adopted.output


def test_yaml_an_agent_of_a_name_someone_else_holds_is_refused_at_preview_naming_import(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0)
    made = emulator.api("POST", "/agents", json={"serviceName": "theirs", "image": "them/a:1"})
    assert made.status_code == 200, made.text
    agent = {
        "type": "pipecat:index:Agent",
        "properties": {"serviceName": "theirs", "buildId": "${image.buildId}"},
    }
    image = {"type": "pipecat:index:Build", "properties": {"context": "./agent"}}
    stack = yaml_stack(tmp_path, engine, emulator, {"image": image, "bot": agent})
    refused = stack.preview(check=False)
    assert refused.returncode != 0
    assert (
        "an agent named theirs already exists and this stack did not create it: pick another "
        "serviceName, delete it (`pcc agent delete theirs`), pass adoptExisting: true to take "
        "it over, or import it (`pulumi import pipecat:index:Agent <resource name> theirs`)"
        in refused.output
    ), refused.output
    assert [emulator.calls(route) for route in UPLOADS] == [0, 0, 0]
