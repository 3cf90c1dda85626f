"""The ownership rule under the real engine: an object in Pipecat Cloud is changed or deleted
only if this stack created it, the program adopts it on purpose, or it is provably what this
stack's interrupted `up` left. Two stacks declaring one name is the normal case here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import EmulatorHandle
from pulumi_stack import Stack

pytestmark = pytest.mark.engine

PROGRAM = """
import pulumi
from pcc_provider import Agent, Build, SecretSet

cfg = pulumi.Config()
secrets = SecretSet("secrets", set_name=cfg.get("setName") or "shared-secrets",
                    secrets={"OPENAI_API_KEY": cfg.require_secret("openaiKey")})
image = Build("image", context="agent")
bot = Agent("bot", service_name="shared-bot", build_id=image.build_id, secret_set=secrets,
            deploy_timeout=60)
pulumi.export("buildId", image.build_id)
"""


def files(line: str) -> dict[str, str]:
    return {
        "agent/Dockerfile": "FROM dailyco/pipecat-base:latest\nCOPY bot.py bot.py\n",
        "agent/bot.py": f"print({line!r})\n",
    }


def stored_values(tmp_path: Path, name: str) -> dict[str, str]:
    """The values the emulator holds for a set (only there: the API never returns them)."""
    stored = json.loads((tmp_path / "emulator" / "secrets" / f"{name}.json").read_text())
    values: dict[str, str] = stored["values"]
    return values


def deployments(emulator: EmulatorHandle, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = requests.get(
        f"{emulator.url}/_emulator/agents/{name}", timeout=10
    ).json()["deployments"]
    return found


def one_error_line(output: str) -> str:
    """The provider's own error line of a failed `pulumi up`."""
    lines = [line.strip() for line in output.splitlines() if "did not create it" in line]
    assert lines, output
    assert "Traceback" not in output, output
    return lines[0]


def test_a_second_stack_never_takes_over_the_first_stacks_set_or_agent(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0.5, secretReadySeconds=0.2)
    first = cloud_stack(PROGRAM, project="team-a", files=files("a"))
    first.config("openaiKey", "value-of-team-a", secret=True)
    first.up()
    build_a = first.outputs()["buildId"]

    second = cloud_stack(PROGRAM, project="team-b", files=files("b"))
    second.config("openaiKey", "value-of-team-b", secret=True)
    failed = second.up(check=False)
    assert failed.returncode != 0
    line = one_error_line(failed.output)
    assert (
        "secret set shared-secrets: it already exists in Pipecat Cloud and this stack did " in line
    )
    assert "adopt_existing=True" in line
    assert stored_values(tmp_path, "shared-secrets") == {"OPENAI_API_KEY": "value-of-team-a"}

    # With its own set, the second stack's agent of the same name is refused too.
    second.config("setName", "team-b-secrets")
    failed = second.up(check=False)
    assert failed.returncode != 0
    line = one_error_line(failed.output)
    assert "an agent named shared-bot already exists and this stack did not create it" in line
    assert [d["buildId"] for d in deployments(emulator, "shared-bot")] == [build_a]

    # Its destroy removes only what it made.
    second.destroy()
    assert emulator.api("GET", "/secrets/team-b-secrets").status_code == 404
    assert emulator.api("GET", "/secrets/shared-secrets").status_code == 200
    assert emulator.api("GET", "/agents/shared-bot").json()["ready"] is True
    assert "4 unchanged" in first.preview().stdout

    first.destroy()
    assert emulator.api("GET", "/secrets/shared-secrets").status_code == 404
    assert emulator.api("GET", "/agents/shared-bot").status_code == 404


IMAGE_PROGRAM = """
import pulumi
from pcc_provider import Agent, SecretSet

secrets = SecretSet("secrets", set_name="bot-secrets", secrets={"OURS": "ours-value"})
Agent("bot", service_name="bot", image="example/agent:1", secret_set=secrets, deploy_timeout=60)
"""


def test_destroy_leaves_newcomers_under_our_names_alone(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0.2, secretReadySeconds=0.2)
    stack = cloud_stack(IMAGE_PROGRAM)
    stack.up()
    # Deleted by hand; then someone else makes new ones under the same names.
    assert emulator.api("DELETE", "/agents/bot").status_code == 200
    assert emulator.api("DELETE", "/secrets/bot-secrets").status_code == 200
    deadline = time.monotonic() + 30
    while emulator.api("GET", "/agents/bot").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    body = {"secrets": [{"secretKey": "THEIRS", "secretValue": "their-value"}]}
    assert emulator.api("PUT", "/secrets/bot-secrets", json=body).status_code == 202
    theirs = emulator.api("POST", "/agents", json={"serviceName": "bot", "image": "them/x:1"})
    assert theirs.status_code in (200, 201), theirs.text

    result = stack.destroy()
    assert "agent bot was not deleted: it is not the one this stack created" in result.output
    assert "secret set bot-secrets was not deleted: it is not the one this stack" in result.output
    assert emulator.api("GET", "/agents/bot").json()["name"] == "bot"
    assert stored_values(tmp_path, "bot-secrets") == {"THEIRS": "their-value"}
    assert stack.resources() == []


def test_a_set_left_by_this_stacks_interrupted_up_is_recovered(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0.2, secretReadySeconds=8)
    stack = cloud_stack(IMAGE_PROGRAM)
    # Killed while the set provisions.
    stack.up_killed_once(lambda: emulator.api("GET", "/secrets/bot-secrets").status_code == 200)
    emulator.configure(secretReadySeconds=0.2)

    result = stack.up()
    assert "was created by an interrupted `pulumi up` of this stack" in result.output
    assert stored_values(tmp_path, "bot-secrets") == {"OURS": "ours-value"}
    assert emulator.api("GET", "/agents/bot").json()["ready"] is True
    stack.destroy()
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404
