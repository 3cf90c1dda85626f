"""The state folder: one emulator at a time.

A second emulator on a folder in use is refused in one line, in this process or from the
command line; an emulator killed outright leaves the folder free.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from api_contract import Client
from conftest import API_KEY

from pcc_provider.emulator import Emulator

IN_USE = (
    "the state folder {state} is in use by another emulator (pid {pid}): stop it, or give "
    "this one another --state-dir"
)


def _command(state: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "pcc_provider", "emulator", "--api-key", API_KEY),
        *("--port", "0", "--state-dir", str(state)),
    ]


def _spawn(state: Path) -> tuple[subprocess.Popen[str], str]:
    """A command-line emulator on `state`, once it listens: (the process, its URL)."""
    process = subprocess.Popen(
        _command(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"Pipecat Cloud emulator listening on (\S+) ", line)
    if not match:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"unexpected first line {line!r}: {err}")
    return process, match[1]


def _stop(process: subprocess.Popen[str]) -> str:
    """Stop a command-line emulator as Ctrl-C does; its stderr."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    return err


# -- one emulator per state folder ------------------------------------------------------------


def test_a_second_emulator_on_a_folder_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(state, api_key=API_KEY, agent_ready_seconds=0) as first:
        api = Client(first)
        api.call("POST", "/agents", 200, json={"serviceName": "mine", "image": "x:1"})
        with pytest.raises(RuntimeError) as refused:
            Emulator(state, api_key=API_KEY)
        line = IN_USE.format(state=state, pid=f"{os.getpid()}, this process")
        assert str(refused.value) == line
        # The first one goes on, its agent as it was; the folder stays taken.
        assert api.call("GET", "/agents/mine", 200)["ready"] is True
        with pytest.raises(RuntimeError, match="is in use by another emulator"):
            Emulator(state, api_key=API_KEY)
    # Once it has stopped, the folder is free, with what it left.
    with Emulator(state, api_key=API_KEY) as second:
        assert Client(second).call("GET", "/agents/mine", 200)["name"] == "mine"


def test_a_stopped_emulator_lets_go_of_its_folder_and_takes_it_back_as_it_is(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    first = Emulator(state, api_key=API_KEY, agent_ready_seconds=0).start()
    first.stop()
    with Emulator(state, api_key=API_KEY, agent_ready_seconds=0) as second:
        Client(second).call("POST", "/agents", 200, json={"serviceName": "meanwhile", "image": "x"})
        with pytest.raises(RuntimeError, match="is in use by another emulator"):
            first.start()
    # Started again, it serves what the other one left, not what it held before.
    first.start()
    try:
        assert Client(first).call("GET", "/agents/meanwhile", 200)["name"] == "meanwhile"
    finally:
        first.stop()


def test_a_second_command_line_emulator_on_a_folder_in_use_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    first, url = _spawn(state)
    try:
        done = subprocess.run(_command(state), capture_output=True, text=True, timeout=30)
        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr == "error: " + IN_USE.format(state=state, pid=first.pid) + "\n"
        assert requests.get(f"{url}/_emulator/stats", timeout=10).status_code == 200
    finally:
        _stop(first)


def test_an_emulator_killed_outright_leaves_its_folder_free(tmp_path: Path) -> None:
    state = tmp_path / "state"
    killed, _ = _spawn(state)
    try:
        # While it lives, the folder is taken ...
        with pytest.raises(RuntimeError) as refused:
            Emulator(state, api_key=API_KEY)
        assert str(refused.value) == IN_USE.format(state=state, pid=killed.pid)
    finally:
        killed.kill()  # SIGKILL: no handler, no cleanup
        killed.communicate(timeout=10)
    # ... and free once it is gone, for this process and for the command line.
    with Emulator(state, api_key=API_KEY) as emu:
        assert requests.get(f"{emu.url}/_emulator/stats", timeout=10).status_code == 200
    again, _ = _spawn(state)
    assert _stop(again) == ""
