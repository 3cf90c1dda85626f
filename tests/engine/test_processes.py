"""No process of ours outlives the engine: after `pulumi` itself is killed (SIGKILL, as a CI
runner's timeout does), the language host, the program it runs and the provider plugins
exit within seconds instead of running on until their builds time out."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EmulatorHandle
from pulumi_stack import VENV_BIN, Stack
from waiting import eventually

pytestmark = pytest.mark.engine

PROGRAM = """
import pulumi
from pcc_provider import Build

image = Build("image", context="agent")
pulumi.export("buildId", image.build_id)
"""
# The same Build through the native provider (pulumi-resource-pipecat), which the engine
# starts as a plugin of its own.
NATIVE = """
import pulumi

image = pulumi.CustomResource("pipecat:index:Build", "image", {"context": "agent", "buildId": None})
pulumi.export("buildId", image.buildId)
"""
PLUGIN = {"dynamic": "pulumi.dynamic", "native": "pulumi-resource-pipecat"}
FILES = {"agent/Dockerfile": "FROM dailyco/pipecat-base:latest\nCOPY bot.py bot.py\n"}
FILES["agent/bot.py"] = "print('hello')\n"


def processes_of(home: str) -> dict[int, str]:
    """pid -> command line of every live process started for the stack whose PULUMI_HOME
    is `home` (they all inherit it: the CLI, its plugins, the host and the program)."""
    mark = f"PULUMI_HOME={home}".encode()
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # exited, not yet reaped by its parent
            found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


@pytest.mark.parametrize(
    ("provider", "sigint"), [("dynamic", "default"), ("dynamic", "ignored"), ("native", "default")]
)
def test_nothing_outlives_a_killed_pulumi(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, provider: str, sigint: str
) -> None:
    emulator.configure(buildSeconds=120)
    stack = cloud_stack(NATIVE if provider == "native" else PROGRAM, files=FILES)
    if provider == "native":
        (stack.dir / "Pulumi.yaml").write_text(
            "name: proj\nruntime: python\nplugins:\n  providers:\n"
            f"    - name: pipecat\n      path: {VENV_BIN}\n"
        )
    argv = ["pulumi", "up", "--stack", stack.name, "--yes", "--skip-preview", "--non-interactive"]
    # A parent that ignores SIGINT (a background job, some CI runners) passes that on.
    up = subprocess.Popen(
        argv,
        cwd=stack.dir,
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if sigint == "ignored"
        else None,
    )
    home = stack.env["PULUMI_HOME"]

    def builds() -> int:
        assert up.poll() is None, "pulumi up ended before the build"
        return emulator.calls("POST /v1/builds")

    try:
        # Mid-build: the host, the program and the plugin are all running.
        eventually(builds, timeout=120, every=0.1, what="the build's create")
        running = processes_of(home)
        assert any("pulumi-language-python" in c for c in running.values()), running
        assert any(PLUGIN[provider] in c for c in running.values()), running
        up.kill()  # the CLI alone: nothing tells its children
        up.wait()
        eventually(  # a guard: they go within a few seconds
            lambda: processes_of(home),
            until=lambda left: left == {},
            timeout=30,
            every=0.2,
            what="the engine's children to exit after it was killed",
        )
    finally:
        for pid in processes_of(home):
            os.kill(pid, signal.SIGKILL)
