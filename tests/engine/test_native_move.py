"""A Python program moves a stack from the dynamic Build to the native one: no replacement.

The program keeps the resource's name and says where it came from with an alias of the
dynamic resource's type; the native provider's diff compares only what decides the image
(build.REPLACE_ON), so the dynamic provider's own keys (`__provider`) do not count."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import EmulatorHandle
from pulumi_stack import VENV_BIN, Stack

pytestmark = pytest.mark.engine

DYNAMIC = """
import pulumi
from pcc_provider import Build

image = Build("image", context="agent")
pulumi.export("buildId", image.build_id)
"""

NATIVE = """
import pulumi

image = pulumi.CustomResource(
    "pipecat:index:Build",
    "image",
    {"context": "agent", "buildId": None},
    opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="pulumi-python:dynamic/pipecat:Build")]),
)
pulumi.export("buildId", image.buildId)
"""

FILES = {
    "agent/Dockerfile": "FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n",
    "agent/bot.py": "print('hello')\n",
}


def test_python_stack_moves_from_the_dynamic_build_to_the_native_one(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(DYNAMIC, files=FILES)
    stack.up()
    built = stack.outputs()["buildId"]

    (stack.dir / "Pulumi.yaml").write_text(
        "name: proj\nruntime: python\nplugins:\n  providers:\n"
        f"    - name: pipecat\n      path: {VENV_BIN}\n"
    )
    (stack.dir / "__main__.py").write_text(NATIVE)
    preview = stack.preview()
    assert "replace" not in preview.output, preview.output
    assert "2 unchanged" in preview.output, preview.output  # the stack and the build
    stack.up()

    (image,) = [r for r in stack.resources() if r["urn"].endswith("::image")]
    assert image["type"] == "pipecat:index:Build"
    assert stack.outputs()["buildId"] == built
    assert emulator.calls("POST /v1/builds") == 1  # built once, by the dynamic resource
