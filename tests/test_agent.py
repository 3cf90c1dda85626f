"""Agent resource acceptance: a build stack and a deployment stack chained by StackReference,
and one program doing both, under the real Pulumi engine against the emulator."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
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


BAD_AGENTS = {
    "both image and build": ("build_id=image.build_id, image='example/agent:1'", "not both"),
    "bad service name": (
        "service_name='Hello_Agent', build_id=image.build_id",
        "not a valid agent name",
    ),
    "neither": ("", "give build_id"),
    "bad profile": ("build_id=image.build_id, agent_profile='agent-9x'", "agent_profile must be"),
}


@pytest.mark.parametrize("case", list(BAD_AGENTS))
def test_bad_agent_input_fails_preview(
    case: str, cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    args, words = BAD_AGENTS[case]
    if "service_name" not in args:
        args = "service_name='bot', " + args
    program = (
        "from pcc_provider import Agent, Build\n"
        "image = Build('image', context='agent')\n"
        f"Agent('bot', {args})\n"
    )
    stack = cloud_stack(program, files=AGENT_FILES)
    result = stack.preview(check=False)
    assert result.returncode != 0
    line = next(line for line in result.output.splitlines() if "Agent 'bot'" in line)
    assert words in line
    assert "Traceback" not in result.output
    assert emulator.stats()["requests"] == {}


def test_build_from_another_region_fails_preview(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    builder = cloud_stack(
        "import pulumi\nfrom pcc_provider import Build\n"
        "image = Build('image', context='agent', region='eu-central')\n"
        "pulumi.export('build_id', image.build_id)\n",
        files=AGENT_FILES,
    )
    builder.up()
    build_id = builder.outputs()["build_id"]
    deployer = cloud_stack(
        "from pcc_provider import Agent\n"
        f"Agent('bot', service_name='bot', build_id={build_id!r}, region='us-west')\n",
        project="deployer",
    )
    result = deployer.preview(check=False)
    assert result.returncode != 0
    assert f"build {build_id} is in region eu-central, the agent in us-west" in result.output
    assert emulator.calls("POST /v1/agents") == 0


def test_agent_from_an_image(cloud_stack: Callable[..., Stack], emulator: EmulatorHandle) -> None:
    stack = cloud_stack(
        "import pulumi\nfrom pcc_provider import Agent\n"
        "bot = Agent('bot', service_name='bot', image='example/agent:1')\n"
        "pulumi.export('ready', bot.ready)\n"
    )
    stack.up()
    assert stack.outputs()["ready"] is True
    agent = emulator.api("GET", "/agents/bot").json()
    assert agent["deployment"]["manifest"]["spec"]["image"] == "example/agent:1"


def test_deploy_timeout_leaves_nothing_behind(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=30)
    stack = cloud_stack(ONE_PROGRAM, files=AGENT_FILES)
    stack.config("deployTimeout", "1")
    result = stack.up(check=False)
    assert result.returncode != 0
    assert "agent bot: not ready after 1s (deployTimeout)" in result.output
    assert "the agent was deleted again" in result.output
    assert emulator.api("GET", "/agents/bot").status_code == 404

    emulator.configure(agentReadySeconds=1)
    stack.config("deployTimeout", "60")
    stack.up()
    assert stack.outputs()["ready"] is True
