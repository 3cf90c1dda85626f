"""Agent resource acceptance: a build stack and a deployment stack chained by StackReference,
and one program doing both, under the real Pulumi engine against the emulator."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import REPO, Stack

pytestmark = pytest.mark.engine


def example_stack(
    tmp_path: Path, env: dict[str, str], emulator: EmulatorHandle, name: str
) -> Stack:
    stack = Stack(tmp_path / "examples" / name, "dev", env).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    return stack


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of examples/, so tests can edit the agent's code."""
    target = tmp_path / "examples"
    shutil.copytree(REPO / "examples", target)
    return target


def test_build_stack_then_deployment_stack(
    examples: Path, tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    # Longer than a `pulumi up` takes by itself, so "ready" after up proves it waited.
    emulator.configure(agentReadySeconds=3)
    builds = example_stack(tmp_path, engine, emulator, "build-stack")
    deploys = example_stack(tmp_path, engine, emulator, "deploy-stack")
    deploys.config("buildStack", "organization/pcc-build/dev")
    deploys.config("openaiApiKey", "sk-example-key", secret=True)

    builds.up()
    built = builds.outputs()
    deploys.up()
    deployed = deploys.outputs()
    assert deployed["deployedBuildId"] == built["buildId"]
    assert deployed["ready"] is True
    assert deployed["secretKeys"] == ["GREETING", "OPENAI_API_KEY"]
    agent = emulator.api("GET", "/agents/hello-agent").json()
    assert agent["ready"] is True
    assert agent["deployment"]["manifest"]["spec"]["envFromSecretNames"] == ["hello-agent-secrets"]
    assert (
        agent["reconciledDeploymentId"] == agent["desiredDeploymentId"] == deployed["deploymentId"]
    )

    # New code: the build stack builds a new image, the deployment stack updates the agent.
    (examples / "hello-agent" / "bot.py").write_text("# a new greeting\n", encoding="utf-8")
    builds.up()
    rebuilt = builds.outputs()
    assert rebuilt["imageUri"] != built["imageUri"] and rebuilt["buildId"] != built["buildId"]

    preview = deploys.preview()
    assert "~ 1 to update" in preview.stdout and "replace" not in preview.stdout
    assert built["buildId"] in preview.stdout and rebuilt["buildId"] in preview.stdout
    deploys.up()
    redeployed = deploys.outputs()
    assert redeployed["deployedBuildId"] == rebuilt["buildId"] and redeployed["ready"] is True
    assert redeployed["deploymentId"] != deployed["deploymentId"]
    agent = emulator.api("GET", "/agents/hello-agent").json()
    assert agent["ready"] and agent["reconciledDeploymentId"] == redeployed["deploymentId"]

    # A config change updates the agent in place.
    deploys.config("maxAgents", "3")
    preview = deploys.preview()
    assert "~ 1 to update" in preview.stdout
    deploys.up()
    agent = emulator.api("GET", "/agents/hello-agent").json()
    assert agent["autoScaling"]["maxReplicas"] == 3
    assert agent["reconciledDeploymentId"] == deploys.outputs()["deploymentId"]

    deploys.destroy()
    builds.destroy()
    assert emulator.api("GET", "/agents/hello-agent").status_code == 404
    assert emulator.api("GET", "/secrets").json() == {"sets": []}


ONE_PROGRAM = """
import pulumi
from pcc_provider import Agent, Build

cfg = pulumi.Config()
image = Build("image", context="agent", build_timeout=float(cfg.get("buildTimeout") or 120))
bot = Agent("bot", service_name=cfg.get("name") or "bot", build_id=image.build_id,
            region=cfg.get("region"), max_agents=cfg.get_int("maxAgents"),
            deploy_timeout=float(cfg.get("deployTimeout") or 60))
pulumi.export("build_id", image.build_id)
pulumi.export("agent_build_id", bot.build_id)
pulumi.export("ready", bot.ready)
"""

AGENT_FILES = {
    "agent/Dockerfile": "FROM dailyco/pipecat-base:latest\nCOPY bot.py bot.py\n",
    "agent/bot.py": "x = 1\n",
}


def test_build_and_agent_in_one_program(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(ONE_PROGRAM, files=AGENT_FILES)
    stack.up()
    outputs = stack.outputs()
    assert outputs["agent_build_id"] == outputs["build_id"] and outputs["ready"] is True

    # Unchanged, or changed in a way that does not touch the image: no changes, no call.
    before = sum(emulator.stats()["requests"].values())
    assert "3 unchanged" in stack.preview().stdout
    stack.config("buildTimeout", "300")
    assert "3 unchanged" in stack.preview().stdout
    assert sum(emulator.stats()["requests"].values()) == before

    # A setting set, then removed from the program, is undone on the service too.
    stack.config("maxAgents", "3")
    stack.up()
    assert emulator.api("GET", "/agents/bot").json()["autoScaling"]["maxReplicas"] == 3
    stack.pulumi("config", "rm", "maxAgents", "--stack", stack.name)
    assert "~ 1 to update" in stack.preview().stdout
    stack.up()
    assert emulator.api("GET", "/agents/bot").json()["autoScaling"]["maxReplicas"] == 50

    # Renaming the agent replaces it: the old one is deleted.
    stack.config("name", "bot-two")
    preview = stack.preview()
    assert "+-1 to replace" in preview.stdout
    stack.up()
    assert emulator.api("GET", "/agents/bot").status_code == 404
    assert emulator.api("GET", "/agents/bot-two").json()["ready"] is True

    # Another region: the agent is replaced there (and the build too: builds are regional).
    stack.config("region", "eu-central")
    stack.config("pipecat:region", "eu-central")
    stack.up()
    assert emulator.api("GET", "/agents/bot-two").json()["region"] == "eu-central"

    # Deleted outside Pulumi: refresh drops it, up creates it again.
    assert emulator.api("DELETE", "/agents/bot-two").status_code == 200
    refresh = stack.refresh()
    assert "deleted" in refresh.stdout
    stack.up()
    assert emulator.api("GET", "/agents/bot-two").status_code == 200


IMAGE_PROGRAM = """
import pulumi
from pcc_provider import Agent

cfg = pulumi.Config()
bot = Agent("bot", service_name=cfg.get("name") or "bot",
            image=cfg.get("image") or "example/agent:1", deploy_timeout=60)
pulumi.export("ready", bot.ready)
pulumi.export("name", bot.service_name)
"""


def test_bad_agent_input_fails_preview_in_one_line(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    # Every input check is covered by test_agent_provider.py; this shows how one reaches
    # the user: one line from the program, before any API call.
    program = (
        "from pcc_provider import Agent, Build\n"
        "image = Build('image', context='agent')\n"
        "Agent('bot', service_name='bot', build_id=image.build_id, image='example/agent:1')\n"
    )
    stack = cloud_stack(program, files=AGENT_FILES)
    result = stack.preview(check=False)
    assert result.returncode != 0
    line = next(line for line in result.output.splitlines() if "Agent 'bot'" in line)
    assert "give either build_id or image, not both" in line
    assert "Traceback" not in result.output
    assert emulator.stats()["requests"] == {}


def test_a_build_the_service_refuses_fails_preview(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    # The provider's check, as the engine shows it (the cases: test_agent_provider.py).
    missing = "123e4567-e89b-12d3-a456-426614174000"
    deployer = cloud_stack(
        f"from pcc_provider import Agent\nAgent('bot', service_name='bot', build_id={missing!r})\n"
    )
    result = deployer.preview(check=False)
    assert result.returncode != 0
    assert f"build {missing} does not exist" in result.output
    assert "Traceback" not in result.output
    assert emulator.calls("POST /v1/agents") == 0


def test_a_crash_looping_agent_fails_the_up_with_its_reason_then_recovers(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(IMAGE_PROGRAM)
    stack.config("image", "example/crashloop:1")
    result = stack.up(check=False)
    assert result.returncode != 0
    line = next(line for line in result.output.splitlines() if "failed: CrashLoopBackOff" in line)
    assert "exit code 1" in line and "pcc agent logs" not in result.output
    assert "the agent was deleted again, and its logs with it: its last output is below" in line
    assert "Traceback (most recent call last)" in result.output
    assert emulator.api("GET", "/agents/bot").status_code == 404

    stack.config("image", "example/agent:2")
    stack.up()
    assert stack.outputs()["ready"] is True
    agent = emulator.api("GET", "/agents/bot").json()
    assert agent["deployment"]["manifest"]["spec"]["image"] == "example/agent:2"


def test_a_rename_creates_the_new_agent_before_deleting_the_old(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(IMAGE_PROGRAM)
    stack.up()
    old = emulator.api("GET", "/agents/bot").json()
    # The new name is taken by someone else's agent: the create fails, and the old agent,
    # which a delete-first replacement would have removed, still serves.
    emulator.api("POST", "/agents", json={"serviceName": "bot-two", "image": "them/agent:1"})
    stack.config("name", "bot-two")
    result = stack.up(check=False)
    assert result.returncode != 0
    assert "an agent named bot-two already exists and this stack did not create it" in (
        result.output
    )
    still = emulator.api("GET", "/agents/bot").json()
    assert still["desiredDeploymentId"] == old["desiredDeploymentId"] and still["ready"]
    theirs = emulator.api("GET", "/agents/bot-two").json()
    assert theirs["deployment"]["manifest"]["spec"]["image"] == "them/agent:1"

    stack.config("name", "bot-three")
    stack.up()
    assert stack.outputs()["name"] == "bot-three"
    assert emulator.api("GET", "/agents/bot").status_code == 404
    assert emulator.api("GET", "/agents/bot-three").json()["ready"] is True


def test_an_up_interrupted_while_creating_the_agent_is_recovered(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=8)
    stack = cloud_stack(IMAGE_PROGRAM)
    # Killed mid-create, once the agent exists and before its deployment is ready.
    stack.up_killed_once(lambda: emulator.api("GET", "/agents/bot").status_code == 200)

    result = stack.up()
    assert "was created by an interrupted `pulumi up` of this stack" in result.output
    assert stack.outputs()["ready"] is True
    assert [s["name"] for s in emulator.api("GET", "/agents").json()["services"]] == ["bot"]
    # Sent the same settings again: no new deployment.
    seen = requests.get(f"{emulator.url}/_emulator/agents/bot", timeout=10).json()
    assert len(seen["deployments"]) == 1
    assert "2 unchanged" in stack.preview().stdout


def test_resources_under_a_component_show_their_progress_on_their_rows(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(
        "import pulumi\nfrom pcc_provider import Agent, Build\n\n"
        "class App(pulumi.ComponentResource):\n"
        "    def __init__(self, name):\n"
        "        super().__init__('acme:index:App', name)\n"
        "        child = pulumi.ResourceOptions(parent=self)\n"
        "        image = Build('image', context='agent', opts=child)\n"
        "        self.bot = Agent('bot', service_name='bot', build_id=image.build_id, opts=child)\n"
        "        self.register_outputs({})\n\n"
        "app = App('app')\n"
        "pulumi.export('ready', app.bot.ready)\n",
        files=AGENT_FILES,
    )
    result = stack.up()
    assert stack.outputs()["ready"] is True
    lines = result.output.splitlines()
    assert any("pipecat:Agent bot" in line and "agent bot is ready" in line for line in lines)
    assert any("pipecat:Build image" in line and "logs" in line for line in lines), lines
    ours = [r for r in stack.resources() if r["type"].startswith("pulumi-python:dynamic/")]
    assert sorted(r["parent"].rsplit("::", 1)[1] for r in ours) == ["app", "app"]


WARM_PROGRAM = """
import pulumi
from pcc_provider import Agent

cfg = pulumi.Config()
bot = Agent("bot", service_name="bot", image="example/agent:1", deploy_timeout=60,
            min_agents=cfg.get_int("minAgents"),
            wait_for_capacity=cfg.get_bool("waitForCapacity") is not False)
pulumi.export("ready", bot.ready)
"""


def test_an_up_ends_when_min_agents_replicas_are_warm_unless_the_program_opts_out(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    # Replicas warm 2 s apart once the deployment is ready: the up waits for both.
    emulator.configure(agentReadySeconds=1, replicaWarmSeconds=2)
    stack = cloud_stack(WARM_PROGRAM)
    stack.config("minAgents", "2")
    result = stack.up()
    agent = emulator.api("GET", "/agents/bot").json()
    assert agent["currentRevision"]["readyReplicas"] == 2
    assert agent["autoScaling"]["minReplicas"] == 2
    assert "2/2 warm" in result.output

    # Opted out, a scale-up ends when the deployment is ready, before any replica is warm.
    emulator.configure(replicaWarmSeconds=60)
    stack.config("waitForCapacity", "false")
    stack.config("minAgents", "3")
    stack.up()
    agent = emulator.api("GET", "/agents/bot").json()
    assert agent["ready"] is True and agent["autoScaling"]["minReplicas"] == 3
    assert agent["currentRevision"]["readyReplicas"] == 0
