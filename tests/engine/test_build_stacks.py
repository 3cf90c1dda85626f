"""Two stacks on one machine building the same new context at the same moment: one upload,
one build, both stacks on it (issue 16 item 7). The real engine against the emulator."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EmulatorHandle
from pulumi_stack import Result, Stack
from test_build import AGENT_FILES, CREATE, UPLOAD, UPLOAD_URL

pytestmark = pytest.mark.engine

# Both programs declare their Build only once both are running, so that the two creates
# overlap; preview (a dry run) does not wait.
PROGRAM = """
import pathlib
import time

import pulumi
from pcc_provider import Build

barrier = pathlib.Path(pulumi.Config().require("barrier"))
if not pulumi.runtime.is_dry_run():
    (barrier / pulumi.get_project()).touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
image = Build("image", context="agent", build_timeout=120)
pulumi.export("build_id", image.build_id)
pulumi.export("source", image.source)
"""


def test_two_stacks_building_the_same_new_context_build_once(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    # Two projects sharing this test's context cache folder (the engine fixture's), as two
    # stacks of one user on one machine do.
    stacks = [cloud_stack(PROGRAM, project=name, files=AGENT_FILES) for name in ("one", "two")]
    for stack in stacks:
        stack.config("barrier", str(barrier))
    # The first to ask for an upload URL is told to come back in 5 s: without coordination
    # the other stack finds no build meanwhile, and uploads and builds a second time.
    emulator.fault(UPLOAD_URL, status=429, retryAfter=5, times=1)

    results: dict[str, Result] = {}

    def up(stack: Stack) -> None:
        results[stack.dir.name] = stack.up()

    threads = [threading.Thread(target=up, args=(stack,)) for stack in stacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {"one", "two"}

    assert emulator.calls(UPLOAD) == 1 and emulator.calls(CREATE) == 1
    outputs = [stack.outputs() for stack in stacks]
    assert outputs[0]["build_id"] == outputs[1]["build_id"]
    assert sorted(o["source"] for o in outputs) == ["new", "reattached"]
    waited = next(r for r in results.values() if "reattaching to build" in r.output)
    assert "waiting for another stack's build of the same image" in waited.output
