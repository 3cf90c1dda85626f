"""What the state holds of the API key (docs/installation-configuration.md, "Using it against
Pipecat Cloud"): under the real engine, the default `pulumi-python` provider's inputs carry
every stack config value, the key among them as ciphertext; no resource of ours carries it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import Stack

pytestmark = pytest.mark.engine

PROGRAM = """\
from pcc_provider import SecretSet
SecretSet("creds", set_name="bot-secrets", secrets={"K": "v"}, ready_timeout=30)
"""


def test_the_key_is_stored_once_encrypted_among_the_python_providers_inputs(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(secretReadySeconds=0)
    stack = cloud_stack(PROGRAM)
    stack.config("proj:unrelated", "plain-value")
    stack.up()
    exported = stack.export()
    assert API_KEY not in exported
    resources = json.loads(exported)["deployment"]["resources"]
    provider = next(r for r in resources if r["type"] == "pulumi:providers:pulumi-python")
    stored = provider["inputs"]["pipecat:apiKey"]
    assert set(stored) == {"4dabf18193072939515e22adb298388d", "ciphertext"}  # a Pulumi secret
    assert provider["inputs"]["proj:unrelated"] == "plain-value"  # every config value
    for resource in resources:
        if resource["type"].startswith("pulumi-python:dynamic"):
            assert "pipecat:apiKey" not in json.dumps(resource)
    shown = stack.pulumi("stack", "export", "--show-secrets", "--stack", stack.name).stdout
    assert API_KEY in shown
