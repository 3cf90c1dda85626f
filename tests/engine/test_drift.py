"""Drift made outside Pulumi, under the real engine: after `pulumi refresh`, `pulumi preview
--diff` names each changed setting with its old and new value, and the next `up` restores it
(issue 19)."""

from __future__ import annotations

import re
from collections.abc import Callable

from conftest import EmulatorHandle
from pulumi_stack import Stack
from test_official_cli import pcc  # noqa: F401 (a fixture)

AGENT_PROGRAM = """
from pcc_provider import Agent

Agent("bot", service_name="bot", image="example/agent:1", max_agents=5, deploy_timeout=60)
"""


def held(emulator: EmulatorHandle) -> tuple[str, int, int | None]:
    agent = emulator.api("GET", "/agents/bot").json()
    spec = agent["deployment"]["manifest"]["spec"]
    return (
        agent["agentProfile"],
        agent["autoScaling"]["maxReplicas"],
        spec.get("maxSessionDurationSeconds"),
    )


def test_agent_drift_shows_with_old_and_new_values_and_up_restores_it(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
) -> None:
    stack = cloud_stack(AGENT_PROGRAM)
    stack.up()
    assert held(emulator) == ("agent-1x", 5, None)
    # Changed outside Pulumi with `pcc deploy`: one setting the program sets, one it leaves
    # to the service.
    out = pcc(
        "deploy",
        "bot",
        "example/agent:1",
        "--max-agents",
        "12",
        "--min-agents",
        "0",
        "--profile",
        "agent-2x",
        "--region",
        "us-west",
        "--yes",
    )
    assert "is ready" in out, out
    stack.refresh()
    shown = stack.preview("--diff").stdout
    assert "maxAgents" in shown and "12 => 5" in shown, shown
    assert "agentProfile" in shown and "agent-2x" in shown, shown
    stack.up()
    # An update undoes what the agent holds and the program leaves unset (the profile, as its
    # documented default), and pins no default on what it holds nothing for (the session
    # limit neither the program nor pcc set).
    assert held(emulator) == ("agent-1x", 5, None)
    stack.preview("--expect-no-changes")


SET_PROGRAM = """
from pcc_provider import SecretSet

SecretSet("keys", set_name="acme-bot-secrets",
          secrets={"OPENAI_API_KEY": "sk-open-1234", "CARTESIA_API_KEY": "ca-5678"})
"""


def test_a_secret_key_removed_outside_pulumi_shows_by_name_and_up_restores_it(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
) -> None:
    stack = cloud_stack(SET_PROGRAM)
    stack.up()
    out = pcc("secrets", "unset", "acme-bot-secrets", "CARTESIA_API_KEY", "--skip")
    assert "deleted successfully" in out, out
    stack.refresh()
    shown = stack.preview("--diff").stdout
    # The removed key, by name, its value hidden.
    assert re.search(r"\+ CARTESIA_API_KEY\s*: \[secret\]", shown), shown
    assert "sk-open-1234" not in shown and "ca-5678" not in shown
    stack.up()
    held = emulator.api("GET", "/secrets/acme-bot-secrets").json()["secrets"]
    assert sorted(s["fieldName"] for s in held) == ["CARTESIA_API_KEY", "OPENAI_API_KEY"]
    stack.preview("--expect-no-changes")
