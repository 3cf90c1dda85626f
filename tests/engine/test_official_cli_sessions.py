"""Agent sessions in the emulator, as `pcc agent sessions` (pipecatcloud 1.4.0) lists them: those
a test adds with `POST /_emulator/agents/{name}/sessions`, kept with the agent across a restart.
(Sessions `pcc agent start` starts: tests/emulator/test_emulator_sessions.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import requests
from conftest import API_KEY, EmulatorHandle
from test_official_cli import run_pcc

from pcc_provider.emulator import Emulator


def _add(emulator: EmulatorHandle, name: str, **session: object) -> dict[str, object]:
    answer = emulator.control("POST", f"/agents/{name}/sessions", json=session)
    assert answer.status_code == 201, answer.text
    added: dict[str, object] = answer.json()
    return added


def test_pcc_lists_the_sessions_added_filters_them_and_shows_one(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0)
    home = tmp_path / "home"
    home.mkdir()
    out = run_pcc(emulator, home, "deploy", "bot", "example/agent:1", "--yes")
    assert "Deployment complete" in out, out
    empty = run_pcc(emulator, home, "agent", "sessions", "bot")
    # None yet: none was started or added.
    assert "Session data for agent bot" in empty, empty
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", empty), empty

    done = _add(emulator, "bot", endState="completed", seconds=30, coldStart=True)
    running = _add(emulator, "bot", seconds=5, botStartSeconds=1, coldStart=False)
    assert running["endState"] == "active" and running["endedAt"] is None

    listed = run_pcc(emulator, home, "agent", "sessions", "bot")
    # Newest first, each with its status, duration, bot start and cold start as pcc shows them.
    assert re.search(rf"^{running['sessionId']}\t.*\tActive\t1\tFalse$", listed, re.M), listed
    assert re.search(rf"^{done['sessionId']}\t.*\t00:00:30\tComplete\t\tTrue$", listed, re.M)
    assert listed.index(str(running["sessionId"])) < listed.index(str(done["sessionId"]))
    ended = run_pcc(emulator, home, "agent", "sessions", "bot", "--end-state", "completed")
    assert str(done["sessionId"]) in ended and str(running["sessionId"]) not in ended, ended
    one = run_pcc(emulator, home, "agent", "sessions", "bot", "--id", str(running["sessionId"]))
    assert f"Session ID: {running['sessionId']}" in one and "Active" in one, one
    gone = run_pcc(emulator, home, "agent", "sessions", "bot", "--id", "no-such-session")
    assert "Session 'no-such-session' not found" in gone, gone


def test_a_session_for_no_agent_or_with_unknown_keys_is_refused(
    emulator: EmulatorHandle,
) -> None:
    emulator.configure(agentReadySeconds=0)
    emulator.api("POST", "/agents", json={"serviceName": "bot", "image": "x"}).raise_for_status()
    missing = emulator.control("POST", "/agents/nobody/sessions", json={})
    assert missing.status_code == 404, missing.text
    unknown = emulator.control("POST", "/agents/bot/sessions", json={"endstate": "completed"})
    assert unknown.status_code == 400 and "endstate" in unknown.json()["error"], unknown.text
    cold = emulator.control("POST", "/agents/bot/sessions", json={"coldStart": "yes"})
    assert cold.status_code == 400 and "coldStart" in cold.json()["error"], cold.text


def test_sessions_are_kept_with_their_agent_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(state, api_key=API_KEY, agent_ready_seconds=0) as first:
        handle = EmulatorHandle(first.url)
        handle.api("POST", "/agents", json={"serviceName": "bot", "image": "x"}).raise_for_status()
        added = _add(handle, "bot", endState="agent_error")
    with Emulator(state, api_key=API_KEY) as second:
        listed = requests.get(
            f"{second.url}/v1/organizations/any/services/bot/sessions",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        ).json()
    assert [s["sessionId"] for s in listed["sessions"]] == [added["sessionId"]]
    assert listed["sessions"][0]["endState"] == "agent_error"
