"""The plugin installed the way docs/native-provider.md gives for programs that do not name a
folder: `python -m pcc_provider plugin` writes the archive, `pulumi plugin install ... --file`
puts it in the plugin cache, and a YAML program with no `plugins:` entry runs on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EmulatorHandle
from test_native_yaml import yaml_stack

import pcc_provider

pytestmark = pytest.mark.engine


def test_plugin_archive_installs_and_serves_a_yaml_program(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "pcc_provider", "plugin", "--out", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        check=True,
    )
    archive = Path(made.stdout.strip())
    assert archive.name.startswith(f"pulumi-resource-pipecat-v{pcc_provider.__version__}-")
    assert f"pulumi plugin install resource pipecat {pcc_provider.__version__}" in made.stderr

    image = {"type": "pipecat:index:Build", "properties": {"context": "./agent"}}
    stack = yaml_stack(tmp_path, engine, emulator, {"image": image})
    program = json.loads((stack.dir / "Pulumi.yaml").read_text())
    del program["plugins"]  # nothing names a folder: the plugin cache serves it
    (stack.dir / "Pulumi.yaml").write_text(json.dumps(program))
    # Not the console script the test's PATH holds: only what is installed.
    stack.env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"
    stack.pulumi(
        "plugin", "install", "resource", "pipecat", pcc_provider.__version__, "--file", str(archive)
    )
    listed = stack.pulumi("plugin", "ls").output
    assert "pipecat" in listed and pcc_provider.__version__ in listed, listed

    up = stack.up()
    assert "from $PATH" not in up.output, up.output
    assert stack.outputs()["buildId"] == emulator.api("GET", "/builds").json()["builds"][0]["id"]
    stack.destroy()
