"""The ownership rule under the real engine: an object in Pipecat Cloud is changed or deleted
only if this stack created it, the program adopts it on purpose, or it is provably what this
stack's interrupted `up` left. Two stacks declaring one name is the normal case here."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import EmulatorHandle
from pulumi_stack import VENV_BIN, Stack
from waiting import eventually

from pcc_provider import ownership

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
    eventually(
        lambda: emulator.api("GET", "/agents/bot").status_code,
        until=lambda status: status == 404,
        timeout=30,
        every=0.1,
        what="agent bot to be gone",
    )
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


# An agent and a set created side by side (the agent does not bind the set), so that one
# `pulumi up` can be killed while both are being created.
SIDE_BY_SIDE = """
import pulumi
from pcc_provider import Agent, SecretSet

cfg = pulumi.Config()
SecretSet("secrets", set_name=cfg.get("setName") or "bot-secrets",
          secrets={"OURS": cfg.get("value") or "ours-value"})
Agent("bot", service_name=cfg.get("agentName") or "bot", image="example/agent:1",
      deploy_timeout=60)
"""
RECOVER_COMMAND = re.compile(r"run `([^`]*\brecover\b[^`]*)` in the project's folder")


# The agent's refusal or the set's, whichever the engine meets first: once one resource
# fails, the engine starts no other.
REFUSED = re.compile(
    r"(an agent named bot already exists|secret set bot-secrets: it already exists in "
    r"Pipecat Cloud) and this stack did not create it"
)


def recover_command(output: str) -> list[str]:
    """The one command a refusal names for what an interrupted `up` left on another machine."""
    found = {m.group(1) for m in RECOVER_COMMAND.finditer(output)}
    assert len(found) == 1, output
    return shlex.split(found.pop())


def pending_creates(stack: Stack) -> list[str]:
    exported = json.loads(stack.export())["deployment"]
    return [op["resource"]["urn"] for op in exported.get("pending_operations") or []]


def test_a_fresh_machine_recovers_what_an_interrupted_up_left_with_the_command_it_names(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    # A CI runner's `pulumi up` is killed while the agent deploys and the set provisions;
    # the runner is gone with its cache folder (and the claims in it).
    emulator.configure(agentReadySeconds=30, secretReadySeconds=30)
    first = cloud_stack(SIDE_BY_SIDE)
    first.up_killed_once(
        lambda: (
            emulator.api("GET", "/agents/bot").status_code == 200
            and emulator.api("GET", "/secrets/bot-secrets").status_code == 200
        )
    )
    assert len(pending_creates(first)) == 2
    made = emulator.api("GET", "/agents/bot").json()["createdAt"]
    emulator.configure(agentReadySeconds=0.2, secretReadySeconds=0.2)

    # The next job, on a fresh runner: the same state backend, nothing else.
    stack = first.on_fresh_machine(tmp_path / "runner-2")
    refused = stack.up(check=False)
    assert refused.returncode != 0
    assert REFUSED.search(refused.output), refused.output
    command = recover_command(refused.output)
    # The package's command, beside the program's Python (the same on the runner).
    assert command == [str(VENV_BIN / "pcc-provider"), "recover", "--stack", "dev"]

    recovered = stack.run(command)
    assert recovered.output.count("claimed on this machine") == 2, recovered.output
    result = stack.up()
    assert "agent bot was created by an interrupted `pulumi up` of this stack" in result.output
    assert "secret set bot-secrets was created by an interrupted `pulumi up`" in result.output
    assert stored_values(tmp_path, "bot-secrets") == {"OURS": "ours-value"}
    assert emulator.api("GET", "/agents/bot").json()["ready"] is True
    assert emulator.api("GET", "/agents/bot").json()["createdAt"] == made  # the one agent

    # Run again, it clears the two pending creates, which the engine would warn of forever.
    again = stack.run(command)
    assert again.output.count("in the state since: its pending create is done with") == 2
    assert "cleared them from the stack's state" in again.output
    assert pending_creates(stack) == []
    assert "pending operations" not in stack.up().output
    stack.destroy()
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404
    assert emulator.api("GET", "/agents/bot").status_code == 404


def test_a_fresh_machine_recovers_a_renamed_agent_whose_replacement_was_interrupted(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A rename replaces the agent: its create has the URN of the agent it replaces, which is
    in the state under the old name (chaos seed 103 found `recover` calling it done)."""
    emulator.configure(agentReadySeconds=0.2, secretReadySeconds=0.2)
    first = cloud_stack(SIDE_BY_SIDE)
    first.up()
    emulator.configure(agentReadySeconds=30)
    first.config("agentName", "bot-renamed")
    first.up_killed_once(lambda: emulator.api("GET", "/agents/bot-renamed").status_code == 200)
    made = emulator.api("GET", "/agents/bot-renamed").json()["createdAt"]
    emulator.configure(agentReadySeconds=0.2)

    stack = first.on_fresh_machine(tmp_path / "runner-2")
    recovered = stack.run(recover_command(stack.up(check=False).output))
    assert "agent bot-renamed: claimed on this machine" in recovered.output, recovered.output
    result = stack.up()
    assert "agent bot-renamed was created by an interrupted `pulumi up`" in result.output
    assert emulator.api("GET", "/agents/bot-renamed").json()["createdAt"] == made
    assert emulator.api("GET", "/agents/bot").status_code == 404  # the replaced one
    stack.destroy()
    assert emulator.api("GET", "/agents/bot-renamed").status_code == 404


def test_on_a_fresh_machine_a_second_stack_of_the_same_names_is_still_refused(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0.2, secretReadySeconds=0.2)
    first = cloud_stack(SIDE_BY_SIDE, project="team-a")
    first.config("value", "value-of-team-a")
    first.up()
    theirs = emulator.api("GET", "/agents/bot").json()
    # An agent made within CLOCK_SKEW before a claim began counts as made after it (the
    # service's clock may be behind): team B starts later than that, as teams do.
    time.sleep(ownership.CLOCK_SKEW + 1)

    # Team B declares the same names, and its `up` is killed while both its creates are in
    # flight (the service holds the answers): its state records two pending creates.
    second = cloud_stack(SIDE_BY_SIDE, project="team-b")
    second.config("value", "value-of-team-b")
    emulator.reset_stats()
    # The check's list of agents fails, so it cannot refuse team A's agent at once: the create
    # goes ahead, as when team A's agent appears between team B's preview and its create.
    emulator.fault("GET /v1/agents", status=400)
    # A set's check and create ask the list of sets (taken.py): the check's, answered; the
    # create's, held.
    emulator.fault("GET /v1/secrets", delay=0.01)
    emulator.fault("GET /v1/secrets", hold=60)
    emulator.fault("POST /v1/agents", hold=60)
    second.up_killed_once(
        lambda: emulator.calls("POST /v1/agents") == 1 and emulator.calls("GET /v1/secrets") == 2
    )
    emulator.clear_faults()
    assert len(pending_creates(second)) == 2

    # On a fresh machine, the command reads them, and proves nothing that is team A's.
    stack = second.on_fresh_machine(tmp_path / "runner-2")
    recovered = stack.run(["pcc-provider", "recover", "--stack", "dev"])
    assert "secret set bot-secrets: not claimed: a set of that name already existed" in (
        recovered.output
    )
    assert "agent bot: claimed on this machine" in recovered.output  # created before it began
    refused = stack.up(check=False)
    assert refused.returncode != 0
    assert REFUSED.search(refused.output), refused.output
    assert "created by an interrupted" not in refused.output
    assert stored_values(tmp_path, "bot-secrets") == {"OURS": "value-of-team-a"}
    assert deployments(emulator, "bot") == deployments(emulator, "bot")[:1]
    assert emulator.api("GET", "/agents/bot").json()["createdAt"] == theirs["createdAt"]
    assert "3 unchanged" in first.preview().stdout
