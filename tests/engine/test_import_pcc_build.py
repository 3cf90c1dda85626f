"""`pulumi import` of what `pcc` made, for real: an agent `pcc deploy` deployed from a cloud
build is imported with its build (read where pcc reads it, the organization's route), the
generated code put into a YAML program and into a Python one previews no changes, and `up`
makes no new deployment; a later change sends no default pcc never set. No import of what
pcc made (agent, secret set, image pull secret, build) gets Pulumi's "bug in the provider"
warning."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN, Stack
from test_official_cli import agent_folder, run_pcc

pytestmark = pytest.mark.engine

PLUGIN = f"plugins:\n  providers:\n    - name: pipecat\n      path: {VENV_BIN}\n"


def project(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle, runtime: str
) -> Stack:
    folder = tmp_path / f"{runtime}-project"
    folder.mkdir()
    (folder / "Pulumi.yaml").write_text(f"name: imported-{runtime}\nruntime: {runtime}\n{PLUGIN}")
    if runtime == "python":
        (folder / "__main__.py").write_text("import pulumi\n")
    stack = Stack(folder, "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    return stack


def imported(stack: Stack, kind: str, name: str, id_: str, *extra: str) -> str:
    """The code `pulumi import` generates; no check of ours failed on what it read."""
    done = stack.pulumi(
        "import", f"pipecat:index:{kind}", name, id_, "--yes", "--stack", stack.name, *extra
    )
    assert "almost certainly a bug" not in done.output, done.output
    assert "failed to validate" not in done.output, done.output
    return done.stdout[done.stdout.index("resources:") :] if not extra else ""


def properties(code: str) -> dict[str, Any]:
    """The properties of the one resource of generated YAML code (plain scalars only)."""
    found: dict[str, Any] = {}
    block = code.split("properties:\n", 1)[1]
    for line in block.splitlines():
        match = re.fullmatch(r" {6}(\w+): (.*)", line)
        if not match:
            break
        key, text = match.groups()
        value: Any = {"true": True, "false": False}.get(text, text)
        if re.fullmatch(r"\d+", text):
            value = int(text)
        found[key] = value
    return found


def pcc_deploys_built(emulator: EmulatorHandle, tmp_path: Path) -> str:
    """`pcc deploy` of a folder (a cloud build) as agent `built`, with `tmp_path / "home"` as
    pcc's home: the build's id."""
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0, buildSeconds=0)
    home = tmp_path / "home"
    home.mkdir()
    built = agent_folder(tmp_path / "built", toml='agent_name = "built"\n')
    out = run_pcc(emulator, home, "deploy", "--yes", cwd=built)
    started = re.search(r"Build started: (\S+)", out)
    assert started and "Deployment complete" in out, out
    return started.group(1)


def test_an_agent_pcc_deployed_from_a_cloud_build_is_imported_with_its_build(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    build_id = pcc_deploys_built(emulator, tmp_path)
    deployments = emulator.deployments("built")

    # YAML: the generated code, as it is, is the program.
    stack = project(tmp_path, engine, emulator, "yaml")
    code = imported(stack, "Agent", "built", "built")
    assert f"buildId: {build_id}" in code, code
    (stack.dir / "Pulumi.yaml").write_text(f"name: imported-yaml\nruntime: yaml\n{PLUGIN}{code}")
    stack.preview("--expect-no-changes")
    stack.up()
    assert emulator.deployments("built") == deployments

    # Python: the generated code's properties, through the native provider (our Python
    # language host generates no code: the YAML is the code, written as Python).
    python = project(tmp_path, engine, emulator, "python")
    imported(python, "Agent", "built", "built", "--generate-code=false")
    given = properties(code)
    assert given["buildId"] == build_id and "maxSessionDuration" not in given, given
    (python.dir / "__main__.py").write_text(
        "import pulumi\n\n"
        f'pulumi.CustomResource("pipecat:index:Agent", "built", {given!r}, '
        "opts=pulumi.ResourceOptions(protect=True))\n"
    )
    python.preview("--expect-no-changes")
    python.up()
    assert emulator.deployments("built") == deployments

    # A change deploys it, sending nothing pcc never set: no session limit appears.
    (stack.dir / "Pulumi.yaml").write_text(
        f"name: imported-yaml\nruntime: yaml\n{PLUGIN}"
        + code.replace("      buildId:", "      maxAgents: 7\n      buildId:")
    )
    stack.up()
    agent = emulator.api("GET", "/agents/built").json()
    assert agent["autoScaling"]["maxReplicas"] == 7
    assert "maxSessionDurationSeconds" not in agent["deployment"]["manifest"]["spec"], agent

    # The service's defaults written out in the program are what pcc left unset: no change.
    (stack.dir / "Pulumi.yaml").write_text(
        f"name: imported-yaml\nruntime: yaml\n{PLUGIN}"
        + code.replace(
            "      buildId:",
            "      maxAgents: 7\n      maxSessionDuration: 7200\n      agentProfile: agent-1x\n"
            "      buildId:",
        )
    )
    stack.preview("--expect-no-changes")


ADOPTING = """
from pcc_provider import Agent

Agent("bot", service_name="adoptee", image="example/agent:1", max_agents=4,
      adopt_existing=True, deploy_timeout=60)
"""


def test_an_adopted_agent_gets_no_default_pcc_never_set(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0)
    home = tmp_path / "home"
    home.mkdir()
    out = run_pcc(
        emulator, home, "deploy", "adoptee", "example/agent:1", "--max-agents", "3", "--yes"
    )
    assert "Deployment complete" in out, out
    stack = cloud_stack(ADOPTING)
    stack.up()
    agent = emulator.api("GET", "/agents/adoptee").json()
    assert agent["autoScaling"]["maxReplicas"] == 4
    assert "maxSessionDurationSeconds" not in agent["deployment"]["manifest"]["spec"], agent
    stack.preview("--expect-no-changes")


def test_no_import_of_what_pcc_made_is_called_a_bug(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    build_id = pcc_deploys_built(emulator, tmp_path)
    home = tmp_path / "home"
    out = run_pcc(emulator, home, "deploy", "from-image", "example/agent:1", "--yes")
    assert "Deployment complete" in out, out
    out = run_pcc(emulator, home, "secrets", "set", "creds", "A=1", "--skip")
    assert "created successfully" in out, out
    out = run_pcc(emulator, home, "secrets", "image-pull-secret", "ghcr", "https://ghcr.io", "u:p")
    assert emulator.api("GET", "/secrets").json()["sets"], out

    stack = project(tmp_path, engine, emulator, "yaml")
    codes = [imported(stack, "Agent", "built", "built")]
    codes.append(imported(stack, "Agent", "from-image", "from-image"))
    assert "image: example/agent:1" in codes[-1]
    codes.append(imported(stack, "SecretSet", "creds", "creds"))
    codes.append(imported(stack, "ImagePullSecret", "ghcr", "ghcr"))
    # A build's code needs its `context` added (docs/adopting-from-pcc.md): the folder pcc built.
    code = imported(stack, "Build", "image", build_id)
    assert "context" not in code, code
    codes.append(
        code.replace("    properties:\n", f"    properties:\n      context: {tmp_path / 'built'}\n")
    )

    # The code generated, as it is (with the build's context), is a program with no changes.
    resources = "".join(code.removeprefix("resources:\n") for code in codes)
    program = f"name: imported-yaml\nruntime: yaml\n{PLUGIN}resources:\n{resources}"
    (stack.dir / "Pulumi.yaml").write_text(program)
    stack.preview("--expect-no-changes")
