"""Every code block the README and docs/ mark `<!-- program -->`, run as a user would run it:
in a project of its language, with the agent's source in `./agent`, under the real engine
against the emulator. It comes up, previews no change and is destroyed, leaving nothing.

tests/unit/test_docs.py holds the pages to their markers: a block of a program's language is
either a program this test runs or marked `<!-- excerpt -->`. The plugin comes from the
checkout (a `plugins:` entry naming .venv/bin), where a user's engine downloads the release's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import API_KEY, EmulatorHandle
from markdown_docs import PROGRAM_LANGUAGES, Block, programs
from pulumi_stack import VENV_BIN, Stack
from test_go import SDK, go_mod
from test_typescript import NODE_MODULES

pytestmark = pytest.mark.engine

DOCKERFILE = "FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n"
PLUGIN = f"plugins:\n  providers:\n    - name: pipecat\n      path: {VENV_BIN}\n"


def project_of(program: Block, folder: Path, engine: dict[str, str]) -> Path:
    """A project folder holding the program, as its language lays one out."""
    (folder / "agent").mkdir(parents=True)
    (folder / "agent" / "Dockerfile").write_text(DOCKERFILE)
    (folder / "agent" / "bot.py").write_text("print('hello')\n")
    language = PROGRAM_LANGUAGES[program.language]
    if language == "python":
        (folder / "Pulumi.yaml").write_text("name: docs-program\nruntime: python\n")
        (folder / "__main__.py").write_text(program.text)
    elif language == "yaml":
        (folder / "Pulumi.yaml").write_text(program.text + PLUGIN)
    elif language == "typescript":
        if not (NODE_MODULES / "@pcc-provider" / "pipecat" / "index.js").exists():
            raise RuntimeError("the TypeScript SDK is not built: run `make typescript`")
        (folder / "node_modules").symlink_to(NODE_MODULES)
        (folder / "index.ts").write_text(program.text)
        (folder / "package.json").write_text(
            json.dumps({"name": "docs-program", "main": "index.ts"})
        )
        (folder / "Pulumi.yaml").write_text("name: docs-program\nruntime: nodejs\n" + PLUGIN)
    else:
        assert language == "go", program.where
        (folder / "main.go").write_text(program.text)
        (folder / "go.mod").write_text(go_mod(SDK))
        (folder / "Pulumi.yaml").write_text("name: docs-program\nruntime: go\n" + PLUGIN)
        engine["GOFLAGS"] = "-mod=mod"  # go.sum written on the first build
    return folder


@pytest.mark.parametrize("program", programs(), ids=lambda block: block.where)
def test_a_program_of_the_docs_comes_up_previews_no_change_and_is_destroyed(
    program: Block, tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(buildSeconds=0, agentReadySeconds=0, secretReadySeconds=0)
    stack = Stack(project_of(program, tmp_path / "project", engine), "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    # The one stack config a program of the docs declares (native-provider.md's YAML).
    stack.config("openaiKey", "sk-docs-program", secret=True)

    stack.up()
    (build,) = emulator.api("GET", "/builds").json()["builds"]
    assert stack.outputs()["imageUri"] == build["imageUri"], program.where
    agents = [s["name"] for s in emulator.api("GET", "/agents").json()["services"]]
    assert bool(agents) == ("Agent" in program.text), program.where
    for name in agents:
        assert emulator.api("GET", f"/agents/{name}").json()["ready"] is True

    stack.preview("--expect-no-changes")
    stack.destroy()
    assert stack.resources() == []
    assert emulator.api("GET", "/agents").json()["services"] == []
