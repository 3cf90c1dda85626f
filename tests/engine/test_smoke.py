"""Safe deploys under the real engine against the emulator: an Agent's smoke session after each
new deployment, the previous deployment put back when it fails, and no live call cut by a
delete. The emulator plays the bot as the build's Dockerfile says (`ENV PCC_EMULATOR_BOT=crash`:
it crashes at start with a traceback)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import Stack
from test_native_yaml import yaml_stack
from test_typescript import typescript_stack

pytestmark = pytest.mark.engine

PROGRAM = """
import pulumi
from pcc_provider import Agent, ApiKey, Build, SmokeCheck

cfg = pulumi.Config()
image = Build("image", context="agent")
key = ApiKey("smoke-key", name="smoke")
bot = Agent("bot", service_name="smoke-bot", build_id=image.build_id, deploy_timeout=60,
            smoke=SmokeCheck(run_seconds=3, start_timeout=15, public_api_key=key.key,
                             body={"caller": "smoke"}))
pulumi.export("buildId", image.build_id)
pulumi.export("publicKey", key.key)
"""
GOOD = "FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n"
CRASHING = GOOD + "ENV PCC_EMULATOR_BOT=crash\n"


def public_key(emulator: EmulatorHandle) -> str:
    """A public key minted as `pcc organizations keys create` mints one."""
    org = emulator.api("GET", "/organizations").json()["organizations"][0]["name"]
    made = emulator.api(
        "POST", f"/organizations/{org}/apiKeys", json={"name": "p", "type": "public"}
    )
    made.raise_for_status()
    key: str = made.json()["key"]
    return key


def agent_build(emulator: EmulatorHandle, name: str) -> str | None:
    """The build the agent's current deployment runs, as the emulator holds it."""
    build: str | None = emulator.deployments(name)[-1]["buildId"]
    return build


def rehearse_a_bad_deploy(stack: Stack, emulator: EmulatorHandle, agent: str) -> None:
    """The story of a bad build in any door: `up` with a good build passes its smoke session;
    a build whose bot crashes fails the `up` with the paragraph, and the agent serves the good
    build again; the next preview shows the same update; a fixed build rolls forward. The
    public key (output `publicKey`) is in no plaintext."""
    agent_dir = stack.dir / "agent"
    up = stack.up()
    assert "smoke session" in up.output and "passed" in up.output, up.output
    good = stack.outputs()["buildId"]
    key = stack.outputs(show_secrets=True)["publicKey"]
    assert agent_build(emulator, agent) == good

    # A build whose bot crashes on its first frame: ready, healthy, and broken.
    (agent_dir / "Dockerfile").write_text(CRASHING)
    failed = stack.up(check=False)
    assert failed.returncode != 0
    said = failed.output
    assert "smoke session" in said and "failed" in said, said
    assert "KeyError" in said  # the bot's last log lines
    assert f"back on build {good}" in said, said
    assert agent_build(emulator, agent) == good  # serving the previous build again
    builds = emulator.api("GET", "/builds").json()["builds"]
    (crashing,) = [b["id"] for b in builds if b["id"] != good]

    # The state keeps the previous inputs: the same update is pending.
    preview = stack.preview("--diff")
    assert "1 to update" in preview.output, preview.output
    assert good in preview.output and crashing in preview.output

    # Fixed: the next up passes its smoke session and ends with the new build live.
    (agent_dir / "bot.py").write_text("x = 2\n")
    (agent_dir / "Dockerfile").write_text(GOOD)
    up = stack.up()
    fixed = stack.outputs()["buildId"]
    assert fixed not in (good, crashing) and agent_build(emulator, agent) == fixed
    assert "passed" in up.output

    # The public key is in no plaintext: state, output, logs.
    seen = [up.output, failed.output, preview.output, stack.export()]
    assert key and not any(key in text for text in seen)
    stack.destroy()


def test_a_build_whose_bot_crashes_is_rolled_back_and_a_fixed_one_rolls_forward(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0, buildSeconds=0)
    stack = cloud_stack(PROGRAM, files={"agent/Dockerfile": GOOD, "agent/bot.py": "x = 1\n"})
    rehearse_a_bad_deploy(stack, emulator, "smoke-bot")


YAML_PROGRAM = {
    "key": {"type": "pipecat:index:ApiKey", "properties": {"name": "smoke"}},
    "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
    "bot": {
        "type": "pipecat:index:Agent",
        "properties": {
            "serviceName": "yaml-smoke",
            "buildId": "${image.buildId}",
            "deployTimeout": 60,
            "smoke": {"runSeconds": 3, "startTimeout": 15, "publicApiKey": "${key.key}"},
        },
    },
}


def test_yaml_a_bad_deploy_is_rolled_back(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0, buildSeconds=0)
    stack = yaml_stack(tmp_path, engine, emulator, YAML_PROGRAM)
    program = json.loads((stack.dir / "Pulumi.yaml").read_text())
    program["outputs"]["publicKey"] = "${key.key}"
    (stack.dir / "Pulumi.yaml").write_text(json.dumps(program, indent=2))
    (stack.dir / "agent" / "Dockerfile").write_text(GOOD)
    rehearse_a_bad_deploy(stack, emulator, "yaml-smoke")


TS_PROGRAM = """
import * as pipecat from "@pcc-provider/pipecat";

const key = new pipecat.ApiKey("smoke-key", { name: "smoke" });
const image = new pipecat.Build("image", { context: "./agent" });
const bot = new pipecat.Agent("bot", {
    serviceName: "ts-smoke",
    buildId: image.buildId,
    deployTimeout: 60,
    smoke: { runSeconds: 3, startTimeout: 15, publicApiKey: key.key },
});
export const buildId = image.buildId;
export const publicKey = key.key;
"""


def test_typescript_a_bad_deploy_is_rolled_back(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0, buildSeconds=0)
    stack = typescript_stack(tmp_path, engine, emulator)
    (stack.dir / "index.ts").write_text(TS_PROGRAM)
    (stack.dir / "agent" / "Dockerfile").write_text(GOOD)
    rehearse_a_bad_deploy(stack, emulator, "ts-smoke")


CREATE_ONLY = """
import pulumi
from pcc_provider import Agent, SmokeCheck

bot = Agent("bot", service_name="new-bot", image=pulumi.Config().require("image"),
            deploy_timeout=60, smoke=SmokeCheck(run_seconds=2, start_timeout=10))
"""


def test_a_new_agent_that_fails_its_smoke_check_is_deleted_again(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0)
    public = public_key(emulator)
    stack = cloud_stack(CREATE_ONLY)
    stack.config("pipecat:publicApiKey", public, secret=True)
    stack.config("image", "acme/bot-crash:1")
    failed = stack.up(check=False)
    assert failed.returncode != 0
    assert "smoke session" in failed.output and "deleted again" in failed.output, failed.output
    assert emulator.api("GET", "/agents/new-bot").status_code == 404
    assert public not in failed.output and public not in stack.export()

    stack.config("image", "acme/bot:1")
    up = stack.up()
    assert "passed" in up.output
    stack.destroy()


DRAINED = """
import pulumi
from pcc_provider import Agent

cfg = pulumi.Config()
bot = Agent("bot", service_name="busy-bot", image="acme/bot:1",
            drain_timeout=float(cfg.get("drainTimeout") or 60),
            on_active_sessions=cfg.get("onActiveSessions") or "wait")
"""


def add_sessions(emulator: EmulatorHandle, name: str, count: int, **session: Any) -> None:
    for _ in range(count):
        answer = emulator.control("POST", f"/agents/{name}/sessions", json=session)
        answer.raise_for_status()


def test_destroy_waits_for_live_calls_refuses_past_its_timeout_and_proceeds_when_told(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0)
    stack = cloud_stack(DRAINED)
    stack.up()
    # Two calls that end by themselves in a few seconds: destroy waits for them.
    add_sessions(emulator, "busy-bot", 2, endsAfter=4)
    began = time.monotonic()
    destroyed = stack.destroy()
    assert time.monotonic() - began >= 3.5
    assert "2 active sessions ended" in destroyed.output, destroyed.output
    assert emulator.api("GET", "/agents/busy-bot").status_code == 404
    assert emulator.stats()["sessionsCut"] == 0

    # Calls that go on past drain_timeout: nothing is deleted, the option is named.
    stack.config("drainTimeout", "2")
    stack.up()
    add_sessions(emulator, "busy-bot", 2)
    refused = stack.destroy(check=False)
    assert refused.returncode != 0
    assert "still has 2 active sessions" in refused.output, refused.output
    assert 'on_active_sessions="proceed"' in refused.output
    assert emulator.api("GET", "/agents/busy-bot").status_code == 200

    # Told to proceed: deleted at once, the calls cut.
    stack.config("onActiveSessions", "proceed")
    stack.up()
    began = time.monotonic()
    stack.destroy()
    assert emulator.api("GET", "/agents/busy-bot").status_code == 404
    assert emulator.stats()["sessionsCut"] == 2


def test_a_test_stack_without_sessions_is_destroyed_with_no_extra_call(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0)
    stack = cloud_stack(DRAINED)
    stack.up()
    emulator.reset_stats()
    stack.destroy()
    # One look (which carries the session count), the delete, the look that sees it gone.
    assert emulator.calls("GET /v1/agents/{name}") <= 2, emulator.stats()["requests"]
    assert emulator.calls("GET /v1/agents/{name}/sessions") == 0


def test_the_public_key_is_never_the_private_one(emulator: EmulatorHandle) -> None:
    # The emulator refuses a session started with the private key, as the service does.
    emulator.configure(agentReadySeconds=0)
    answer = emulator.api("POST", "/public/any-bot/start", json={})
    assert answer.status_code == 401
    assert API_KEY not in answer.text
