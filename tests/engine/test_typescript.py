"""A TypeScript program on the SDK generated from the `pipecat` schema (sdk/nodejs), under the
real engine against the emulator: the same behaviour as the Python and YAML doors.

The program's dependencies are tests/typescript/node_modules (`make typescript` installs them
at the versions of its package-lock.json, with the SDK built from sdk/nodejs); each program
links to them. The Node language host is our own minimal one (scripts/pulumi-engine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN, Stack
from test_official_cli import run_pcc

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tests" / "typescript" / "node_modules"
DOCKERFILE = "FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n"

PROGRAM = """
import * as pulumi from "@pulumi/pulumi";
import * as pipecat from "@pcc-provider/pipecat";

const config = new pulumi.Config();
const creds = new pipecat.SecretSet("creds", {
    setName: "bot-secrets",
    secrets: { OPENAI_API_KEY: config.requireSecret("openaiKey") },
});
const image = new pipecat.Build("image", { context: "./agent" });
const bot = new pipecat.Agent("bot", {
    serviceName: "bot",
    buildId: image.buildId,
    secretSet: creds.setName,
    maxAgents: 5,
});
export const imageUri = image.imageUri;
export const buildId = image.buildId;
export const deployment = bot.desiredDeploymentId;
"""


def typescript_stack(tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle) -> Stack:
    if shutil.which("pulumi-language-nodejs", path=engine["PATH"]) is None:
        raise RuntimeError("the Node language host is missing: run `make typescript`")
    if not (NODE_MODULES / "@pcc-provider" / "pipecat" / "index.js").exists():
        raise RuntimeError("the TypeScript SDK is not built: run `make typescript`")
    project = tmp_path / "ts-project"
    (project / "agent").mkdir(parents=True)
    (project / "agent" / "Dockerfile").write_text(DOCKERFILE)
    (project / "agent" / "bot.py").write_text("print('hello')\n")
    (project / "node_modules").symlink_to(NODE_MODULES)
    (project / "index.ts").write_text(PROGRAM)
    (project / "package.json").write_text(json.dumps({"name": "ts-project", "main": "index.ts"}))
    (project / "Pulumi.yaml").write_text(
        "name: tsproj\nruntime: nodejs\nplugins:\n  providers:\n"
        f"    - name: pipecat\n      path: {VENV_BIN}\n"
    )
    stack = Stack(project, "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    stack.config("openaiKey", "sk-first-value", secret=True)
    return stack


def test_typescript_program_up_no_op_edit_secret_import_and_destroy(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0, buildSeconds=0)
    stack = typescript_stack(tmp_path, engine, emulator)
    stack.up()
    outputs = stack.outputs()
    (build,) = emulator.api("GET", "/builds").json()["builds"]
    assert outputs["buildId"] == build["id"] and outputs["imageUri"] == build["imageUri"]
    agent = emulator.api("GET", "/agents/bot").json()
    assert agent["ready"] is True and agent["autoScaling"]["maxReplicas"] == 5
    assert agent["deployment"]["manifest"]["spec"]["envFromSecretNames"] == ["bot-secrets"]
    assert "sk-first-value" not in stack.export() and API_KEY not in stack.export()

    # Re-run: a no-op with no API call.
    before = emulator.stats()["requests"]
    again = stack.up()
    assert "4 unchanged" in again.output, again.output
    assert emulator.stats()["requests"] == before, "an unchanged up called the API"

    # An edit of the context previews as a Build replacement, the agent following.
    (stack.dir / "agent" / "bot.py").write_text("print('hello again')\n")
    edited = stack.preview("--diff")
    assert "+-pipecat:index:Build: (replace)" in edited.output, edited.output
    assert "~ contentDigest" in edited.output
    assert "~ pipecat:index:Agent: (update)" in edited.output
    # A changed secret previews by key name, never by value, and rolls the agent out.
    (stack.dir / "agent" / "bot.py").write_text("print('hello')\n")
    stack.config("openaiKey", "sk-second-value", secret=True)
    changed = stack.preview("--diff")
    assert "OPENAI_API_KEY: [secret] => [secret]" in changed.output, changed.output
    assert "sk-second-value" not in changed.output and "sk-first-value" not in changed.output
    stack.up()
    rolled = emulator.api("GET", "/agents/bot").json()
    assert rolled["desiredDeploymentId"] != agent["desiredDeploymentId"]

    # An agent `pcc deploy` made, imported (our Node host generates no code).
    home = tmp_path / "home"
    home.mkdir()
    out = run_pcc(emulator, home, "deploy", "legacy", "example/agent:1", "--yes")
    assert "Deployment complete" in out, out
    stack.pulumi(
        "import", "pipecat:index:Agent", "legacy", "legacy", "--yes", "--generate-code=false"
    )
    (legacy,) = [r for r in stack.resources() if r["urn"].endswith("::legacy")]
    assert legacy["inputs"]["image"] == "example/agent:1"

    stack.pulumi("state", "unprotect", legacy["urn"], "--yes")
    stack.destroy()
    assert emulator.api("GET", "/agents/bot").status_code == 404
    assert emulator.api("GET", "/agents/legacy").status_code == 404
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404
