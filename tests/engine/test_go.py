"""A Go program on the SDK generated from the `pipecat` schema (sdk/go/pipecat), under the
real engine against the emulator: the same behaviour as the Python, YAML and TypeScript doors.

The program's module requires the SDK through a `replace` of its module path by sdk/; Go
resolves go.sum itself (GOFLAGS=-mod=mod) into the shared module and build caches, so only
the first run builds the Pulumi SDK (about two minutes). The Go language host is our own
minimal one (scripts/pulumi-engine/pulumi-language-go).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN, Stack

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
