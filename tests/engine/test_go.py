"""A Go program on the SDK generated from the `pipecat` schema (sdk/go/pipecat), under the
real engine against the emulator: the same behaviour as the Python, YAML and TypeScript doors.

The program's module requires the SDK through a `replace` of its module path by sdk/; Go
resolves go.sum itself (GOFLAGS=-mod=mod) into the shared module and build caches, so only
the first run builds the Pulumi SDK (about two minutes). The Go language host is our own
minimal one (scripts/pulumi-engine/pulumi-language-go).
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN, Stack

import pcc_provider

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk"
SDK_MODULE = "github.com/pcc-provider/pcc-provider/sdk"
DOCKERFILE = "FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n"

PROGRAM = """package main

import (
	"github.com/pcc-provider/pcc-provider/sdk/go/pipecat"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		image, err := pipecat.NewBuild(ctx, "image", &pipecat.BuildArgs{
			Context: pulumi.String("./agent"),
		})
		if err != nil {
			return err
		}
		ctx.Export("buildId", image.BuildId)
		ctx.Export("imageUri", image.ImageUri)
		return nil
	})
}
"""


def go_mod(sdk: Path) -> str:
    # The Pulumi SDK at the version the generated SDK was built against: no newer one is
    # looked up.
    pulumi = re.search(r"github.com/pulumi/pulumi/sdk/v3 (v\S+)", (SDK / "go.mod").read_text())
    assert pulumi, "sdk/go.mod requires no github.com/pulumi/pulumi/sdk/v3"
    return (
        "module goproj\n\ngo 1.25\n\n"
        f"require (\n\t{SDK_MODULE} v0.0.0\n\tgithub.com/pulumi/pulumi/sdk/v3 {pulumi[1]}\n)\n\n"
        f"replace {SDK_MODULE} => {sdk}\n"
    )


def go_stack(
    tmp_path: Path,
    engine: dict[str, str],
    emulator: EmulatorHandle,
    *,
    sdk: Path = SDK,
    plugins: bool = True,
) -> Stack:
    if shutil.which("pulumi-language-go", path=engine["PATH"]) is None:
        raise RuntimeError("the Go language host is missing: run `make pulumi-go`")
    if shutil.which("go", path=engine["PATH"]) is None:
        raise RuntimeError("Go is needed for Go programs")
    project = tmp_path / "go-project"
    (project / "agent").mkdir(parents=True)
    (project / "agent" / "Dockerfile").write_text(DOCKERFILE)
    (project / "agent" / "bot.py").write_text("print('hello')\n")
    (project / "main.go").write_text(PROGRAM)
    (project / "go.mod").write_text(go_mod(sdk))
    yaml = "name: goproj\nruntime: go\n"
    if plugins:
        yaml += f"plugins:\n  providers:\n    - name: pipecat\n      path: {VENV_BIN}\n"
    (project / "Pulumi.yaml").write_text(yaml)
    engine["GOFLAGS"] = "-mod=mod"  # go.sum written on the first build
    stack = Stack(project, "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    return stack


def test_go_program_up_no_op_destroy_and_a_build_error(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(buildSeconds=0)
    stack = go_stack(tmp_path, engine, emulator)
    stack.up()
    (build,) = emulator.api("GET", "/builds").json()["builds"]
    assert stack.outputs() == {"buildId": build["id"], "imageUri": build["imageUri"]}

    before = emulator.stats()["requests"]
    stack.preview("--expect-no-changes")
    assert emulator.stats()["requests"] == before, "an unchanged preview called the API"

    stack.destroy()
    assert stack.resources() == []

    # A program that does not compile: the compiler's message, once, as the error.
    (stack.dir / "main.go").write_text(PROGRAM.replace("image.BuildId", "image.NoSuchField"))
    failed = stack.preview(check=False)
    assert failed.returncode != 0
    assert failed.output.count("image.NoSuchField undefined") == 1, failed.output
    assert "did not build (`go build`)" in failed.output, failed.output
    assert "panic" not in failed.output and "goroutine" not in failed.output, failed.output


class PluginServer(http.server.ThreadingHTTPServer):
    """Serves the plugin archive `python -m pcc_provider plugin` writes; notes what was asked."""

    def __init__(self, dist: Path) -> None:
        self.asked: list[str] = []
        self.archive = ""
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(dist), **kwargs)

            def log_message(self, format: str, *args: Any) -> None:
                server.asked.append(self.path)

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def plugin_server(tmp_path: Path) -> Iterator[PluginServer]:
    dist = tmp_path / "dist"
    made = subprocess.run(
        [sys.executable, "-m", "pcc_provider", "plugin", "--out", str(dist)],
        capture_output=True,
        text=True,
        check=True,
    )
    with PluginServer(dist) as server:
        server.archive = Path(made.stdout.strip()).name
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server
        server.shutdown()


def test_go_program_gets_its_plugin_from_the_sdk_server(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle, plugin_server: PluginServer
) -> None:
    # The SDK as published with a pluginDownloadURL: its pulumi-plugin.json names the server.
    sdk = tmp_path / "sdk"
    shutil.copytree(SDK, sdk, ignore=shutil.ignore_patterns("nodejs"))
    meta = sdk / "go" / "pipecat" / "pulumi-plugin.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "server": plugin_server.url}))
    # No `plugins:` entry and no plugin on PATH: the engine asks the language host.
    stack = go_stack(tmp_path, engine, emulator, sdk=sdk, plugins=False)
    stack.env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"
    del stack.env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"]

    preview = stack.preview()
    assert "+ pipecat:index:Build: (create)" in preview.output, preview.output
    assert plugin_server.asked == [f"/{plugin_server.archive}"]  # once, on first use
    listed = stack.pulumi("plugin", "ls").output
    assert re.search(rf"pipecat\s+resource\s+{re.escape(pcc_provider.__version__)}", listed), listed
