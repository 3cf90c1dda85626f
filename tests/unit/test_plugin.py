"""pcc_provider/plugin.py's error reporting, in a stand-in for the SDK's provider server
module (no engine): our errors become their one line, anything else keeps its traceback, and
every other `traceback` name the server may use still works."""

from __future__ import annotations

import io
import sys
import traceback
import types

import pytest

from pcc_provider.agent import AgentError
from pcc_provider.plugin import report_errors_plainly


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module shaped like the SDK's provider server, run as __main__ as the plugin is."""
    module = types.ModuleType("__main__")
    module._abort_with_traceback = lambda *_: None  # type: ignore[attr-defined]
    module.traceback = traceback  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", module)
    report_errors_plainly()
    return module


def test_our_errors_are_their_one_line(server: types.ModuleType) -> None:
    try:
        raise AgentError("agent bot: deployment d1 failed: CrashLoopBackOff")
    except AgentError:
        shown = server.traceback.format_exc()
    assert shown == "agent bot: deployment d1 failed: CrashLoopBackOff"


def test_other_errors_keep_their_traceback(server: types.ModuleType) -> None:
    try:
        raise KeyError("bug")
    except KeyError:
        shown = server.traceback.format_exc()
    assert shown.startswith("Traceback (most recent call last):")
    assert shown.rstrip().endswith("KeyError: 'bug'")


def test_every_other_traceback_name_is_the_modules_own(server: types.ModuleType) -> None:
    assert server.traceback is not traceback  # replaced, and only once
    report_errors_plainly()
    assert type(server.traceback).__name__ == "PlainTraceback"
    out = io.StringIO()
    try:
        raise ValueError("printed")
    except ValueError:
        server.traceback.print_exc(file=out)
    assert out.getvalue().rstrip().endswith("ValueError: printed")
    assert server.traceback.format_exception is traceback.format_exception


def test_the_engine_address_is_found_after_the_engines_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pcc_provider.plugin import engine_address

    monkeypatch.setattr(sys, "argv", ["plugin", "-v=9", "--tracing", "x", "127.0.0.1:4321"])
    assert engine_address() == "127.0.0.1:4321"
    monkeypatch.setattr(sys, "argv", ["plugin"])
    assert engine_address() is None
