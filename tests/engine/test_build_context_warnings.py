"""What the context selection warns about shows on the Build's row under the real engine."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pulumi_stack import Stack
from test_build import AGENT_FILES, PROGRAM

pytestmark = pytest.mark.engine


def test_dockerignore_reinclude_is_warned_about_in_preview_and_up(
    cloud_stack: Callable[..., Stack],
) -> None:
    files = {**AGENT_FILES, "agent/.dockerignore": "*.log\n!keep.log\n", "agent/keep.log": "x"}
    stack = cloud_stack(PROGRAM, files=files)
    warning = (
        '/.dockerignore line 2 "!keep.log": "!" (re-include) is not supported and the line is '
        "ignored, as the official CLI ignores it: what other lines exclude stays excluded; "
        "narrow those lines instead"
    )
    preview = stack.pulumi("preview", "--stack", stack.name)
    for result in (preview, stack.up()):
        # In the Diagnostics, under the Build's name.
        group = result.output.split("pipecat:Build (image):\n", 1)[1].split("\n\n", 1)[0]
        assert f"    warning: {stack.dir}/agent{warning}" in group.splitlines()
