"""`opts.import_` on the dynamic resources is refused in one line naming what works, under the
real engine (issue 19): the SDK's plugin cannot read a resource it did not create."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import EmulatorHandle
from pulumi_stack import Stack

IMPORTING = """
import pulumi
from pcc_provider import Agent, SecretSet

kind = pulumi.Config().require("kind")
opts = pulumi.ResourceOptions(import_="acme-bot")
if kind == "agent":
    Agent("bot", service_name="acme-bot", image="example/agent:1", opts=opts)
else:
    SecretSet("keys", set_name="acme-bot", secrets={"OPENAI_API_KEY": "sk-1234"}, opts=opts)
"""


@pytest.mark.parametrize("kind", ["agent", "set"])
def test_import_is_refused_in_one_line_naming_what_works(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, kind: str
) -> None:
    emulator.api("POST", "/agents", json={"serviceName": "acme-bot", "image": "example/agent:1"})
    stack = cloud_stack(IMPORTING)
    stack.config("kind", kind)
    failed = stack.preview(check=False)
    assert failed.returncode != 0
    lines = [line for line in failed.output.splitlines() if "opts.import_" in line]
    assert len(lines) == 1, failed.output
    token = "pipecat:index:Agent" if kind == "agent" else "pipecat:index:SecretSet"
    for named in ("adopt_existing=True", "Build.get", f"`pulumi import {token} "):
        assert named in lines[0]
    assert "Traceback" not in failed.output and "KeyError" not in failed.output
