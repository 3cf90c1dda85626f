"""The emulator's dashboard in a real browser (headless Chromium) while a real `pulumi up`
runs against the emulator: what a user watching it sees, load after load."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser import Browser, rows_of, tables
from conftest import EmulatorHandle
from pulumi_stack import Stack
from waiting import eventually

pytestmark = pytest.mark.engine

PROGRAM = """
import pulumi
from pcc_provider import Agent, Build, SecretSet

cfg = pulumi.Config()
secrets = SecretSet("secrets", set_name="bot-secrets",
                    secrets={"OPENAI_API_KEY": cfg.require_secret("openaiKey"), "GREETING": "hi"})
image = Build("image", context="agent")
bot = Agent("bot", service_name="bot", build_id=image.build_id, secret_set=secrets.set_name,
            min_agents=1, deploy_timeout=120)
pulumi.export("ready", bot.ready)
"""
FILES = {
    "agent/Dockerfile": "FROM dailyco/pipecat-base:latest\nCOPY bot.py bot.py\n",
    "agent/bot.py": "print('hello')\n",
}
OPENAI_KEY = "sk-zqD4sh8Bq2Wm6Yt1"


def test_the_dashboard_follows_a_pulumi_up_in_a_browser(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    # A deployment that takes a while, so that loads of the page see it get ready.
    emulator.configure(agentReadySeconds=6, replicaWarmSeconds=0)
    stack = cloud_stack(PROGRAM, files=FILES)
    stack.config("openaiKey", OPENAI_KEY, secret=True)
    # The provider's first read of the agent fails: it retries, and the page shows the fault.
    emulator.fault("GET /v1/agents/{agentName}", status=503, times=1)
    browser = Browser(tmp_path)
    url = f"{emulator.url}/"

    with ThreadPoolExecutor(1, thread_name_prefix="pulumi-up") as pool:
        up = pool.submit(stack.up)

        def load() -> str:
            assert not up.done(), "pulumi up ended before the page saw the agent deploying"
            return browser.dom(url)

        def deploying(dom: str) -> bool:
            return any(
                r["status"] in ("creating", "validating")
                for r in rows_of(dom, "agents", data_agent="bot")
            )

        # Loads of the page while the up runs: the agent shows once created, not ready yet
        # (the up waits for it to be ready, so it still runs then).
        try:
            seen = eventually(
                load, until=deploying, timeout=120, every=0.2, what="the page to show bot deploying"
            )
        finally:
            up.result(timeout=300)  # and its error, if it failed

    (agent,) = rows_of(seen, "agents", data_agent="bot")
    assert agent["replicas warm"] == "0 / 1" and agent["serving"] == "—"
    (build,) = [r for r in tables(seen)["builds"] if "@data-build" in r]
    assert build["status"] == "success" and build["Dockerfile"] == "Dockerfile"

    # A later load: the agent is ready, the fault fired, the provider's requests are logged.
    ready = browser.dom(url)
    (agent,) = rows_of(ready, "agents", data_agent="bot")
    assert agent["status"] == "ready"
    assert agent["replicas warm"] == "1 / 1"
    (deployment,) = rows_of(ready, "deployments", data_agent="bot")
    assert deployment["phase"] == "Active"
    assert deployment["runs"] == f"build {build['@data-build'][:8]}"
    assert "secrets bot-secrets v1" in deployment["settings"]
    (secret_set,) = rows_of(ready, "secrets", data_set="bot-secrets")
    assert secret_set["keys (values never shown)"] == "GREETING, OPENAI_API_KEY"
    (fired,) = tables(ready)["faults"]
    assert (fired[""], fired["route"], fired["effect"]) == (
        "fired",
        "GET /v1/agents/{agentName}",
        "503",
    )
    log = tables(ready)["requests"]
    assert {r["client"] for r in log} == {"pcc-provider"}
    refused = [r for r in log if r["fault"] == "503"]
    assert [(r["request"], r["status"]) for r in refused] == [("GET /v1/agents/bot", "503")]
    assert any(r["request"] == "POST /v1/agents" and r["status"] == "200" for r in log)
    assert OPENAI_KEY not in ready and OPENAI_KEY[:8] not in ready
