"""The emulator's entities and renderers on their own: what a build or an agent shows at a
time `now` is a function of the entity and `now` alone, with no clock and no server."""

from __future__ import annotations

from pcc_provider.emulator import render
from pcc_provider.emulator.entities import (
    Agent,
    Build,
    Deployment,
    Organization,
    build_outcome,
    deployment_fault,
)

ORG = Organization("org_0123456789ab", "123456789012")
SETTINGS = {
    "nodeType": "arm",
    "secretSet": None,
    "imagePullSecretSet": None,
    "autoScaling": {"minAgents": 0, "maxAgents": 5},
    "krispViva": {"audioFilter": None},
    "agentProfile": "agent-1x",
    "maxSessionDuration": None,
}


def a_build(dockerfile: str, created: float = 1000.0, duration: float = 10.0) -> Build:
    planned = build_outcome(dockerfile, "Dockerfile")
    return Build(
        id="3f1c2b9e-0000-4000-8000-000000000001",
        region="us-west",
        context_hash="0123456789abcdef",
        dockerfile_path="Dockerfile",
        context_size=100,
        created_at=created,
        duration=duration,
        outcome=planned.outcome,
        error_message=planned.error_message,
        image_size=1 if planned.outcome == "success" else None,
        steps=planned.steps,
        failed_step=planned.failed_step,
    )


def test_a_build_shows_its_progress_at_the_time_asked() -> None:
    build = a_build("FROM python:3.12\nRUN echo ok\n")
    seen = {
        now: render.build_json(build, now, ORG, "http://emulator")
        for now in (1000.5, 1005.0, 1010.0)
    }
    assert [body["status"] for body in seen.values()] == ["pending", "building", "success"]
    assert seen[1010.0]["imageUri"] == (
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/pipecat-cloud/org_0123456789ab:"
        "0123456789abcdef"
    )
    assert render.build_json(build, 1005.0, ORG, "http://emulator") == seen[1005.0]
    early = render.build_logs(build, 1001.0, ORG)
    assert early and len(early) < len(render.build_logs(build, 1010.0, ORG))


def test_what_a_dockerfile_says_decides_how_its_build_ends() -> None:
    assert build_outcome("FROM x\nRUN exit 1\n", "Dockerfile").outcome == "failed"
    assert build_outcome("FROM x\nRUN sleep infinity\n", "Dockerfile").outcome == "timeout"
    missing = build_outcome(None, "Dockerfile.prod")
    assert missing.outcome == "failed" and "open Dockerfile.prod" in str(missing.error_message)
    crashing = a_build('FROM x\nCMD ["sh", "-c", "exit 3"]\n')
    assert deployment_fault("ignored", crashing.steps) == "crash:3"
    assert deployment_fault("example/crashloop:1", None) == "crash:1"
    assert deployment_fault("example/does-not-exist:1", None) == "pull"
    assert deployment_fault("example/agent:1", None) is None


def test_an_agent_that_cannot_pull_its_image_fails_once_it_would_have_been_ready() -> None:
    deployment = Deployment(
        id="d1",
        created_at=2000.0,
        ready_at=2002.0,
        image="example/does-not-exist:1",
        build_id=None,
        settings=SETTINGS,
        fault=deployment_fault("example/does-not-exist:1", None),
    )
    agent = Agent("a1", "bot", "us-west", 2000.0, 2000.0, [deployment])
    phases = [
        render.agent_json(agent, now, ORG)["currentRevision"]["phase"]
        for now in (2000.5, 2001.5, 2003.0)
    ]
    assert phases == ["Creating", "Validating", "Failed"]
    assert render.agent_json(agent, 2003.0, ORG)["ready"] is False
