"""The real Pulumi engine runs a Python program with a dynamic resource, end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pulumi_stack import Stack

PROGRAM = (Path(__file__).parent.parent / "programs" / "smoke" / "__main__.py").read_text()


def test_preview_up_refresh_destroy(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(PROGRAM)

    preview = stack.preview_json()
    assert preview["changeSummary"] == {"create": 2}
    assert {step["urn"].rsplit("::", 1)[1] for step in preview["steps"]} == {"proj-dev", "hello"}

    up = stack.up()
    assert "+ 2 created" in up.stdout
    assert stack.outputs() == {"text": "hello, world"}

    again = stack.up()
    assert "2 unchanged" in again.stdout

    refresh = stack.refresh()
    assert "2 unchanged" in refresh.stdout

    stack.config("who", "pulumi")
    changed = stack.preview()
    assert "~ 1 to update" in changed.stdout or "+-1 to replace" in changed.stdout

    destroy = stack.destroy()
    assert "2 deleted" in destroy.stdout
    assert stack.resources() == []


def test_program_error_is_reported(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack("raise SystemExit('the program says no')\n")
    result = stack.up(check=False)
    assert result.returncode != 0
    assert "the program says no" in result.output
