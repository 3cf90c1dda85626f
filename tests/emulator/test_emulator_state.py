"""The state folder: one emulator at a time, and no record lost unseen.

A second emulator on a folder in use is refused in one line, in this process or from the
command line; an emulator killed outright leaves the folder free. A record the emulator
cannot read (not JSON, cut short, of the wrong shape) is moved to `unreadable/` with one
warning line naming both paths, and the rest of the state is served; an unreadable
`emulator.json` (the organization and the upload signing key) stops the start in one line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from api_contract import Client, context
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


# -- records it cannot read --------------------------------------------------------------------


def _seed(state: Path) -> dict[str, Any]:
    """Two agents, a build and a secret set under `state`; what the API said of the build."""
    with Emulator(state, api_key=API_KEY, build_seconds=0, agent_ready_seconds=0) as emu:
        api = Client(emu)
        status, created = api.create(context())
        assert status == 201
        for name in ("kept", "spoilt"):
            api.call("POST", "/agents", 200, json={"serviceName": name, "image": f"x:{name}"})
        emu.store.put_secret_set("keys", "us-west", {"A": "1"}, None)
        build: dict[str, Any] = created["build"]
        return build


def _serves_the_rest(emu: Emulator, build: dict[str, Any], gone: str | None = "spoilt") -> None:
    api = Client(emu)
    assert api.call("GET", "/agents/kept", 200)["name"] == "kept"
    assert api.call("GET", f"/builds/{build['id']}", 200)["build"]["id"] == build["id"]
    assert api.call("GET", "/secrets/keys", 200)["secrets"] == [{"fieldName": "A"}]
    if gone is not None:
        api.call("GET", f"/agents/{gone}", 404)


def _set_aside_line(state: Path, relative: str) -> str:
    """The pattern of the one warning line for the record at `relative`."""
    return (
        f"warning: cannot read {re.escape(str(state / relative))} \\((.+)\\): moved it to "
        f"{re.escape(str(state / 'unreadable' / relative))}; the emulator starts without it"
    )


def _restart_sets_aside(
    state: Path, relative: str, capsys: pytest.CaptureFixture[str], build: dict[str, Any]
) -> str:
    """Start an emulator on `state` whose record at `relative` is spoilt: it starts, says so
    in one line, keeps the record's bytes under unreadable/, serves the rest; the reason."""
    spoilt = (state / relative).read_bytes()
    capsys.readouterr()
    gone = "spoilt" if relative == "agents/spoilt.json" else None
    with Emulator(state, api_key=API_KEY) as emu:
        _serves_the_rest(emu, build, gone)
        moved = [(state / relative, state / "unreadable" / relative)]
        assert emu.store.records.set_aside == moved
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    match = re.fullmatch(_set_aside_line(state, relative), lines[0])
    assert match, lines[0]
    assert not (state / relative).exists()
    assert (state / "unreadable" / relative).read_bytes() == spoilt
    # Nothing left to set aside: the next start says nothing.
    with Emulator(state, api_key=API_KEY) as emu:
        _serves_the_rest(emu, build, gone)
    assert capsys.readouterr().err == ""
    return match[1]


def test_a_truncated_record_is_set_aside_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    build = _seed(state)
    record = state / "agents" / "spoilt.json"
    whole = record.read_bytes()
    record.write_bytes(whole[: len(whole) // 2])
    reason = _restart_sets_aside(state, "agents/spoilt.json", capsys, build)
    assert reason.startswith("not JSON: "), reason


ILL_TYPED: dict[str, tuple[str, Any, str]] = {
    # case: (the record, what it becomes, the reason the line gives)
    "a wrong type": (
        "agents/spoilt.json",
        lambda d: {**d, "created_at": "yesterday"},
        "created_at is a string, not a number",
    ),
    "a wrong type within": (
        "agents/spoilt.json",
        lambda d: {**d, "deployments": [{**d["deployments"][0], "ready_at": None}]},
        "deployments[0].ready_at is null, not a number",
    ),
    "not a list": (
        "agents/spoilt.json",
        lambda d: {**d, "deployments": "none"},
        "deployments is a string, not a list",
    ),
    "no deployment": ("agents/spoilt.json", lambda d: {**d, "deployments": []}, "no deployment"),
    "a field missing": (
        "agents/spoilt.json",
        lambda d: {k: v for k, v in d.items() if k != "region"},
        "no field region",
    ),
    "an unknown field": (
        "agents/spoilt.json",
        lambda d: {**d, "colour": "red"},
        "an unknown field colour",
    ),
    "another name": (
        "agents/spoilt.json",
        lambda d: {**d, "name": "kept"},
        "the record of kept, not of spoilt",
    ),
    "not an object": ("agents/spoilt.json", lambda d: [d], "a list, not an object"),
    "a secret value not text": (
        "secrets/keys.json",
        lambda d: {**d, "values": {"A": 1}},
        "values['A'] is an integer, not a string",
    ),
    "a boolean for a number": (
        "builds/{build}.json",
        lambda d: {**d, "context_size": True},
        "context_size is a boolean, not an integer",
    ),
}


@pytest.mark.parametrize("case", ILL_TYPED)
def test_an_ill_typed_record_is_set_aside_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    state = tmp_path / "state"
    build = _seed(state)
    relative, spoil, why = ILL_TYPED[case]
    relative = relative.format(build=build["id"])
    record = state / relative
    record.write_text(json.dumps(spoil(json.loads(record.read_text()))))
    if relative.startswith("secrets/"):
        # The set is what is gone, so the rest is the agents and the build.
        spoilt = record.read_bytes()
        capsys.readouterr()
        with Emulator(state, api_key=API_KEY) as emu:
            Client(emu).call("GET", "/secrets/keys", 404)
            Client(emu).call("GET", "/agents/spoilt", 200)
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1, lines
        match = re.fullmatch(_set_aside_line(state, relative), lines[0])
        assert match and match[1] == why, lines[0]
        assert (state / "unreadable" / relative).read_bytes() == spoilt
        return
    if relative.startswith("builds/"):
        capsys.readouterr()
        with Emulator(state, api_key=API_KEY) as emu:
            Client(emu).call("GET", f"/builds/{build['id']}", 404)
            assert Client(emu).call("GET", "/builds", 200)["total"] == 0
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1, lines
        match = re.fullmatch(_set_aside_line(state, relative), lines[0])
        assert match and match[1] == why, lines[0]
        return
    assert _restart_sets_aside(state, relative, capsys, build) == why


@pytest.mark.parametrize(
    ("garbage", "why"),
    [
        (b"", "an empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8 text"),
        (b"garbage", "not JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
)
def test_a_garbage_record_is_set_aside_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], garbage: bytes, why: str
) -> None:
    state = tmp_path / "state"
    build = _seed(state)
    (state / "agents" / "spoilt.json").write_bytes(garbage)
    assert _restart_sets_aside(state, "agents/spoilt.json", capsys, build) == why


def test_a_record_set_aside_twice_keeps_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    _seed(state)
    record = state / "agents" / "spoilt.json"
    kept = []
    for text in ("{first", "{second"):
        if not record.exists():
            with Emulator(state, api_key=API_KEY) as emu:
                Client(emu).call(
                    "POST", "/agents", 200, json={"serviceName": "spoilt", "image": "y"}
                )
        record.write_text(text)
        kept.append(text)
        with Emulator(state, api_key=API_KEY):
            pass
    aside = state / "unreadable" / "agents"
    assert sorted(p.read_text() for p in aside.iterdir()) == sorted(kept)
    err = capsys.readouterr().err
    assert err.count("warning: cannot read") == 2, err
    assert str(aside / "spoilt.1.json") in err


def test_the_command_line_emulator_sets_a_record_aside_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    build = _seed(state)
    record = state / "agents" / "spoilt.json"
    whole = record.read_bytes()
    record.write_bytes(whole[:-10])
    process, url = _spawn(state)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        answer = requests.get(f"{url}/v1/builds/{build['id']}", headers=headers, timeout=10)
        assert answer.status_code == 200
        gone = requests.get(f"{url}/v1/agents/spoilt", headers=headers, timeout=10)
        assert gone.status_code == 404
    finally:
        err = _stop(process)
    lines = err.splitlines()
    assert len(lines) == 1 and re.fullmatch(_set_aside_line(state, "agents/spoilt.json"), lines[0])
    assert (state / "unreadable" / "agents" / "spoilt.json").read_bytes() == whole[:-10]


# -- the identity --------------------------------------------------------------------------------

UNREADABLE_IDENTITY = [
    (b"", "an empty file"),
    (b'{"secret": "ab', "not JSON: Unterminated string starting at: line 1 column 12 (char 11)"),
    (b"\x00\xff garbage", "not UTF-8 text"),
    (b"[]", "a list, not an object"),
    (
        b'{"secret": "not hex", "organizationId": "org_1", "accountId": "1"}',
        "secret is not hexadecimal",
    ),
    (b'{"secret": "ab", "organizationId": "org_1"}', "no field accountId"),
]


def _identity_line(state: Path, why: str) -> str:
    return (
        f"cannot read {state / 'emulator.json'} ({why}): it holds the emulator's organization "
        "and upload signing key, so it is not set aside; restore it, or start afresh with an "
        "empty --state-dir"
    )


@pytest.mark.parametrize(("garbage", "why"), UNREADABLE_IDENTITY)
def test_an_unreadable_identity_stops_the_start_in_one_line(
    tmp_path: Path, garbage: bytes, why: str
) -> None:
    state = tmp_path / "state"
    _seed(state)
    (state / "emulator.json").write_bytes(garbage)
    with pytest.raises(RuntimeError) as refused:
        Emulator(state, api_key=API_KEY)
    assert str(refused.value) == _identity_line(state, why)
    assert (state / "emulator.json").read_bytes() == garbage
    # The folder is not left locked by the refused start.
    (state / "emulator.json").unlink()
    with Emulator(state, api_key=API_KEY):
        pass


@pytest.mark.parametrize(("garbage", "why"), UNREADABLE_IDENTITY[:3])
def test_the_command_line_emulator_on_an_unreadable_identity_says_so_in_one_line(
    tmp_path: Path, garbage: bytes, why: str
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "emulator.json").write_bytes(garbage)
    done = subprocess.run(_command(state), capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error: " + _identity_line(state, why) + "\n"
    assert (state / "emulator.json").read_bytes() == garbage
