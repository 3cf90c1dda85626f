"""A Python program moves a stack from the dynamic resources to the native ones: no replacement.

The program keeps the resource's name and says where it came from with an alias of the
dynamic resource's type; the native provider's diff compares only what decides the image
(what its description says replaces), so the dynamic provider's own keys (`__provider`) do
not count."""

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


def to_native(stack: Stack, program: str) -> None:
    """The stack's program, now on the native provider (the plugin in this venv)."""
    (stack.dir / "Pulumi.yaml").write_text(
        "name: proj\nruntime: python\nplugins:\n  providers:\n"
        f"    - name: pipecat\n      path: {VENV_BIN}\n"
    )
    (stack.dir / "__main__.py").write_text(program)


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

    to_native(stack, NATIVE)
    preview = stack.preview()
    assert "replace" not in preview.output, preview.output
    assert "2 unchanged" in preview.output, preview.output  # the stack and the build
    stack.up()

    (image,) = [r for r in stack.resources() if r["urn"].endswith("::image")]
    assert image["type"] == "pipecat:index:Build"
    assert stack.outputs()["buildId"] == built
    assert emulator.calls("POST /v1/builds") == 1  # built once, by the dynamic resource


DYNAMIC_ALL = """
import pulumi
from pcc_provider import Agent, Build, SecretSet

creds = SecretSet("creds", set_name="bot-secrets", secrets={"GREETING": "hello-there-1"})
image = Build("image", context="agent")
bot = Agent("bot", service_name="bot", build_id=image.build_id, secret_set=creds, max_agents=3)
pulumi.export("buildId", image.build_id)
"""

NATIVE_ALL = """
import pulumi

def moved(kind):
    alias = pulumi.Alias(type_=f"pulumi-python:dynamic/pipecat:{kind}")
    return pulumi.ResourceOptions(aliases=[alias])

creds = pulumi.CustomResource(
    "pipecat:index:SecretSet",
    "creds",
    {"setName": "bot-secrets", "secrets": {"GREETING": pulumi.Output.secret("hello-there-1")}},
    opts=moved("SecretSet"),
)
image = pulumi.CustomResource(
    "pipecat:index:Build", "image", {"context": "agent", "buildId": None}, opts=moved("Build")
)
bot = pulumi.CustomResource(
    "pipecat:index:Agent",
    "bot",
    {"serviceName": "bot", "buildId": image.buildId, "secretSet": creds.setName, "maxAgents": 3},
    opts=moved("Agent"),
)
pulumi.export("buildId", image.buildId)
"""


def test_python_stack_moves_a_set_a_build_and_an_agent_to_the_native_ones(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(DYNAMIC_ALL, files=FILES)
    stack.up()
    deployed = emulator.api("GET", "/agents/bot").json()["desiredDeploymentId"]

    to_native(stack, NATIVE_ALL)
    preview = stack.preview("--diff")
    assert "replace" not in preview.output, preview.output
    # Both doors' states have the schema's names: nothing changes, and the agent that binds
    # the set knows its name at preview. (A set an earlier version wrote in Python's names is
    # rewritten once: tests/engine/test_earlier_states.py.)
    assert "4 unchanged" in preview.output and "to update" not in preview.output, preview.output
    puts = emulator.calls("PUT /v1/secrets/{setName}")
    stack.up()
    assert emulator.calls("PUT /v1/secrets/{setName}") == puts  # nothing sent
    types = {r["urn"].rsplit("::", 1)[1]: r["type"] for r in stack.resources()}
    assert types["creds"] == "pipecat:index:SecretSet" and types["bot"] == "pipecat:index:Agent"
    # Nothing was made again or redeployed; the value stays secret in the state.
    assert emulator.api("GET", "/agents/bot").json()["desiredDeploymentId"] == deployed
    assert emulator.calls("POST /v1/builds") == 1 and emulator.calls("POST /v1/agents") == 1
    assert "hello-there-1" not in stack.export()
    stack.preview("--expect-no-changes")
    stack.destroy()
    assert emulator.api("GET", "/agents/bot").status_code == 404
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404
