"""Functions (data sources) under the real engine: a stack reads what `pcc` made, owning none of
it, from Python (`pcc_provider.get_agent(...)`, plain and Output forms) and from YAML
(`fn::invoke` of `pipecat:index:getAgent`, served by the plugin's Invoke); a missing object is
one line that names it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN
from test_native_yaml import yaml_stack
from test_official_cli import agent_folder, run_pcc

pytestmark = pytest.mark.engine

GREETING = "hello-from-pcc-1234"
REGISTRY_TOKEN = "ghp_registry_token_5678"


def made_with_pcc(emulator: EmulatorHandle, tmp_path: Path) -> dict[str, Any]:
    """An image agent, a build-deployed agent (its cloud build), a secret set, an image pull
    secret and three sessions, all made with `pcc` (the sessions with the emulator's control
    API, which `pcc agent sessions` then lists); what `pcc` says of them."""
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0, buildSeconds=0)
    home = tmp_path / "home"
    home.mkdir()

    def pcc(*args: str, cwd: Path | None = None) -> str:
        return run_pcc(emulator, home, *args, cwd=cwd)

    out = pcc("deploy", "legacy", "example/agent:1", "--max-agents", "3", "--yes")
    assert "Deployment complete" in out, out
    out = pcc("secrets", "set", "legacy-secrets", f"GREETING={GREETING}", "A=1", "--skip")
    assert "created successfully" in out, out
    out = pcc(
        "secrets", "image-pull-secret", "ghcr", "https://ghcr.io", f"bot:{REGISTRY_TOKEN}", "--skip"
    )
    assert "created successfully" in out, out
    built = agent_folder(tmp_path / "built", toml='agent_name = "built"\nregion = "us-east"\n')
    out = pcc("deploy", "--yes", cwd=built)
    started = re.search(r"Build started: (\S+)", out)
    assert started, out
    for session in (
        {"endState": "completed", "seconds": 30, "coldStart": True, "botStartSeconds": 2},
        {"endState": "agent_error", "seconds": 5, "coldStart": False, "botStartSeconds": 1},
        {"seconds": 12, "coldStart": False, "botStartSeconds": 0},
    ):
        emulator.control("POST", "/agents/legacy/sessions", json=session).raise_for_status()
    sessions = pcc("agent", "sessions", "legacy")
    status = pcc("agent", "status", "built")
    return {"buildId": started.group(1), "sessions": sessions, "status": status}


def _expected(emulator: EmulatorHandle, made: dict[str, Any]) -> dict[str, Any]:
    """Each function's result, from what `pcc` made and shows."""
    build = emulator.api("GET", f"/builds/{made['buildId']}").json()["build"]
    legacy = emulator.api("GET", "/agents/legacy").json()
    built = emulator.api("GET", "/agents/built").json()
    sessions = re.findall(r"^\s*([0-9a-f-]{36})\s", made["sessions"], re.M)
    return {
        "build": build,
        "legacy": legacy,
        "built": built,
        "session_ids": sessions,
    }


def _check(outputs: dict[str, Any], emulator: EmulatorHandle, made: dict[str, Any]) -> None:
    seen = _expected(emulator, made)
    build = seen["build"]
    legacy = outputs["legacy"]
    assert legacy["serviceName"] == "legacy" and legacy["region"] == "us-west"
    assert legacy["image"] == "example/agent:1" and legacy.get("buildId") is None
    assert (legacy["maxAgents"], legacy["minAgents"]) == (3, 0)
    assert legacy["activeDeploymentId"] == seen["legacy"]["activeDeploymentId"]
    assert legacy["ready"] is True and legacy["phase"] == "Active"
    built = outputs["built"]
    # `pcc agent status` shows the build the agent runs; the public API redacts it.
    assert f"Build: {made['buildId']}" in made["status"], made["status"]
    assert built["buildId"] == made["buildId"] and built["region"] == "us-east"
    assert built["image"] == build["imageUri"]
    for by in ("buildById", "buildByHash"):
        found = outputs[by]
        assert found["buildId"] == made["buildId"], by
        assert found["status"] == "success" and found["imageUri"] == build["imageUri"]
        assert found["contextHash"] == build["contextHash"] and found["region"] == "us-east"
    assert outputs["secrets"] == {
        "setName": "legacy-secrets",
        "region": "us-west",
        "type": "secret",
        "status": "ready",
        "keys": ["A", "GREETING"],
    }
    assert outputs["pull"] == {
        "setName": "ghcr",
        "region": "us-west",
        "type": "imagePullSecret",
        "status": "ready",
        "keys": [],
    }
    regions = outputs["regions"]
    assert regions["regions"] == ["us-west", "us-east", "eu-central", "ap-south"]
    assert regions["displayNames"]["eu-central"] == "Europe (Frankfurt)"
    org = outputs["org"]
    assert org["defaultRegion"] == "us-west" and org["properties"] == {"defaultRegion": "us-west"}
    assert (
        org["organization"]
        == emulator.api("GET", "/organizations").json()["organizations"][0]["name"]
    )
    sessions = outputs["sessions"]
    assert sessions["sessionIds"] == seen["session_ids"] and len(seen["session_ids"]) == 3
    assert (sessions["total"], sessions["active"], sessions["coldStarts"]) == (3, 1, 1)
    assert sessions["byEndState"] == {"active": 1, "agent_error": 1, "completed": 1}
    assert outputs["errors"]["total"] == 1


PYTHON_PROGRAM = """\
import dataclasses

import pulumi

import pcc_provider as pcc

HASH = {context_hash!r}


def export(name, result):
    pulumi.export(name, dataclasses.asdict(result))


export("legacy", pcc.get_agent(service_name="legacy"))
built = pcc.get_agent(service_name="built")
export("built", built)
export("buildById", pcc.get_build(build_id=built.build_id))
export("buildByHash", pcc.get_build(context_hash=HASH, region="us-east"))
export("secrets", pcc.get_secret_set(set_name="legacy-secrets"))
export("pull", pcc.get_secret_set(set_name="ghcr"))
export("regions", pcc.get_regions())
export("org", pcc.get_organization_properties())
export("sessions", pcc.get_agent_sessions(service_name="legacy"))
export("errors", pcc.get_agent_sessions(service_name="legacy", end_state="agent_error"))
# The Output form: Inputs in, an Output of the result out.
name = pulumi.Output.from_input("legacy")
pulumi.export("viaOutput", pcc.get_agent_output(service_name=name).apply(lambda a: a.max_agents))
"""


def _snake_to_camel(value: Any) -> Any:
    """The Python program's results (dataclasses.asdict: snake_case) in the schema's names."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): v for k, v in value.items()}
    return value


def test_python_functions_read_what_pcc_made(
    tmp_path: Path, cloud_stack: Any, emulator: EmulatorHandle
) -> None:
    made = made_with_pcc(emulator, tmp_path)
    context_hash = emulator.api("GET", f"/builds/{made['buildId']}").json()["build"]["contextHash"]
    stack = cloud_stack(PYTHON_PROGRAM.format(context_hash=context_hash))

    up = stack.up()

    assert not re.search(r"^\s*(error|warning):", up.output, re.M), up.output
    outputs = {k: _snake_to_camel(v) for k, v in stack.outputs().items()}
    # byEndState's keys are the API's own (agent_error): not renamed.
    outputs["sessions"]["byEndState"] = stack.outputs()["sessions"]["by_end_state"]
    _check(outputs, emulator, made)
    assert outputs["viaOutput"] == 3
    # A function owns nothing: the stack holds no resource but itself.
    assert [r["type"] for r in stack.resources()] == ["pulumi:pulumi:Stack"]
    assert API_KEY not in stack.export() and REGISTRY_TOKEN not in stack.export()


YAML_FUNCTIONS: dict[str, Any] = {
    "legacy": ("getAgent", {"serviceName": "legacy"}),
    "built": ("getAgent", {"serviceName": "built"}),
    "buildById": ("getBuild", {"buildId": "${built.buildId}"}),
    "buildByHash": ("getBuild", {"contextHash": "${buildById.contextHash}", "region": "us-east"}),
    "secrets": ("getSecretSet", {"setName": "legacy-secrets"}),
    "pull": ("getSecretSet", {"setName": "ghcr"}),
    "regions": ("getRegions", None),
    "org": ("getOrganizationProperties", None),
    "sessions": ("getAgentSessions", {"serviceName": "legacy"}),
    "errors": ("getAgentSessions", {"serviceName": "legacy", "endState": "agent_error"}),
}


def write_yaml_functions(project: Path, functions: dict[str, Any]) -> None:
    variables = {
        name: {
            "fn::invoke": {
                "function": f"pipecat:index:{token}",
                **({"arguments": args} if args else {}),
            }
        }
        for name, (token, args) in functions.items()
    }
    program = {
        "name": "yamlproj",
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "pipecat", "path": str(VENV_BIN)}]},
        "variables": variables,
        "outputs": {name: f"${{{name}}}" for name in functions},
    }
    (project / "Pulumi.yaml").write_text(json.dumps(program, indent=2))


def test_yaml_functions_read_what_pcc_made(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    made = made_with_pcc(emulator, tmp_path)
    stack = yaml_stack(tmp_path, engine, emulator, {})
    write_yaml_functions(stack.dir, YAML_FUNCTIONS)

    up = stack.up()

    assert not re.search(r"^\s*(error|warning):", up.output, re.M), up.output
    _check(stack.outputs(), emulator, made)
    assert [r["type"] for r in stack.resources() if r["type"].startswith("pipecat:index")] == []
    assert API_KEY not in stack.export() and REGISTRY_TOKEN not in stack.export()


def _errors(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if "nobody" in line]


def test_a_missing_object_is_one_line_naming_it_in_each_door(
    tmp_path: Path, engine: dict[str, str], cloud_stack: Any, emulator: EmulatorHandle
) -> None:
    python = cloud_stack(
        "import pcc_provider\npcc_provider.get_agent(service_name='nobody')\n", "py"
    )
    failed = python.up(check=False)
    assert failed.returncode != 0
    assert "get_agent: no agent named 'nobody' (`pcc agent list` lists them)" in failed.output
    assert "Traceback" not in failed.output, failed.output

    stack = yaml_stack(tmp_path, engine, emulator, {})
    write_yaml_functions(stack.dir, {"gone": ("getAgent", {"serviceName": "nobody"})})
    failed = stack.up(check=False)
    assert failed.returncode != 0
    assert "getAgent: no agent named 'nobody' (`pcc agent list` lists them)" in failed.output
    assert "Traceback" not in failed.output, failed.output


def test_bad_arguments_are_one_line_in_each_door_and_call_nothing(
    tmp_path: Path, engine: dict[str, str], cloud_stack: Any, emulator: EmulatorHandle
) -> None:
    emulator.reset_stats()
    python = cloud_stack("import pcc_provider\npcc_provider.get_build(region='us-east')\n")
    failed = python.up(check=False)
    assert failed.returncode != 0
    assert "error: get_build: give build_id or context_hash, one of them" in failed.output
    assert "Traceback" not in failed.output, failed.output
    typo = cloud_stack("import pcc_provider\npcc_provider.get_agent(service='x')\n", project="p2")
    failed = typo.up(check=False)
    assert "error: get_agent: unknown keyword service" in failed.output, failed.output

    stack = yaml_stack(tmp_path, engine, emulator, {})
    both = {"buildId": "b1", "contextHash": "abc"}
    write_yaml_functions(stack.dir, {"image": ("getBuild", both)})
    failed = stack.up(check=False)
    assert failed.returncode != 0
    assert "getBuild: give buildId or contextHash, not both" in failed.output, failed.output
    assert "Traceback" not in failed.output, failed.output
    # Refused before any call to Pipecat Cloud.
    assert emulator.stats()["requests"] == {}, emulator.stats()


PYTHON_CHAINED = """\
import pulumi

import pcc_provider as pcc

bot = pcc.Agent("fresh", service_name="fresh", image="example/agent:2")
pulumi.export("image", pcc.get_agent_output(service_name=bot.service_name).image)
"""


def test_the_output_form_reads_once_the_resource_it_follows_exists(
    cloud_stack: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0)
    stack = cloud_stack(PYTHON_CHAINED)

    # The agent is not made yet: the read waits, unknown in the preview (as Pulumi's invokes).
    preview = stack.preview()
    assert re.search(r"image\s*:\s*\[unknown\]", preview.output), preview.output
    stack.up()

    assert stack.outputs()["image"] == "example/agent:2"


TYPESCRIPT_PROGRAM = """
import * as pipecat from "@pcc-provider/pipecat";

const legacy = pipecat.getAgentOutput({ serviceName: "legacy" });
export const legacyImage = legacy.image;
export const legacyMaxAgents = legacy.maxAgents;
export const built = pipecat.getAgent({ serviceName: "built" }).then((a) => a.buildId);
export const keys = pipecat.getSecretSetOutput({ setName: "legacy-secrets" }).keys;
export const sessions = pipecat.getAgentSessionsOutput({ serviceName: "legacy" }).byEndState;
export const regions = pipecat.getRegionsOutput().regions;
"""


def test_typescript_sdk_functions_read_what_pcc_made(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    from test_typescript import typescript_stack

    made = made_with_pcc(emulator, tmp_path)
    stack = typescript_stack(tmp_path, engine, emulator)
    (stack.dir / "index.ts").write_text(TYPESCRIPT_PROGRAM)

    stack.up()

    assert stack.outputs() == {
        "legacyImage": "example/agent:1",
        "legacyMaxAgents": 3,
        "built": made["buildId"],
        "keys": ["A", "GREETING"],
        "sessions": {"active": 1, "agent_error": 1, "completed": 1},
        "regions": ["us-west", "us-east", "eu-central", "ap-south"],
    }


GO_PROGRAM = """package main

import (
	"github.com/pcc-provider/pcc-provider/sdk/go/pipecat"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		legacy := pipecat.LookupAgentOutput(ctx, pipecat.LookupAgentOutputArgs{
			ServiceName: pulumi.String("legacy"),
		})
		ctx.Export("legacyImage", legacy.Image())
		creds, err := pipecat.LookupSecretSet(ctx, &pipecat.LookupSecretSetArgs{SetName: "ghcr"})
		if err != nil {
			return err
		}
		ctx.Export("pullType", pulumi.String(creds.Type))
		ctx.Export("active", pipecat.GetAgentSessionsOutput(ctx, pipecat.GetAgentSessionsOutputArgs{
			ServiceName: pulumi.String("legacy"),
		}).Active())
		return nil
	})
}
"""


def test_go_sdk_functions_read_what_pcc_made(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    from test_go import go_stack

    made_with_pcc(emulator, tmp_path)
    stack = go_stack(tmp_path, engine, emulator)
    (stack.dir / "main.go").write_text(GO_PROGRAM)

    stack.up()

    assert stack.outputs() == {
        "legacyImage": "example/agent:1",
        "pullType": "imagePullSecret",
        "active": 1,
    }
