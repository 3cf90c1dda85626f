"""The emulator's settings, declared once in settings.py, reach every door that names them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import API_KEY

from pcc_provider.emulator import Emulator
from pcc_provider.emulator.settings import SETTINGS, Settings

# A value for each setting that is none of the defaults, of the setting's own kind.
CHOSEN = {s.name: (12345 if s.whole else 7.25) for s in SETTINGS}


def test_each_setting_has_one_flag_and_one_control_name_and_its_default(tmp_path: Path) -> None:
    with Emulator(tmp_path / "state", api_key=API_KEY) as emulator:
        shown = requests.get(f"{emulator.url}/_emulator/config", timeout=10).json()
    assert shown == {s.json_name: s.default for s in SETTINGS}
    assert shown == Settings().to_json()
    done = subprocess.run(
        [sys.executable, "-m", "pcc_provider", "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    flags = set(re.findall(r"--[a-z-]+-(?:seconds|bytes)\b", done.stdout))
    assert flags == {s.flag for s in SETTINGS}


def test_the_command_line_sets_each_setting(tmp_path: Path) -> None:
    flags = [part for s in SETTINGS for part in (s.flag, str(CHOSEN[s.name]))]
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "pcc_provider", "emulator", "--api-key", API_KEY),
            *("--state-dir", str(tmp_path / "state"), *flags),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        shown = requests.get(f"{match[1]}/_emulator/config", timeout=10).json()
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert shown == {s.json_name: CHOSEN[s.name] for s in SETTINGS}


def test_the_control_endpoint_sets_each_setting_and_emulator_takes_each_keyword(
    tmp_path: Path,
) -> None:
    with Emulator(tmp_path / "a", api_key=API_KEY, **CHOSEN) as emulator:
        shown = requests.get(f"{emulator.url}/_emulator/config", timeout=10).json()
        assert shown == {s.json_name: CHOSEN[s.name] for s in SETTINGS}
        changed = {s.json_name: s.default for s in SETTINGS}
        answer = requests.post(f"{emulator.url}/_emulator/config", json=changed, timeout=10)
        assert answer.json() == changed
        assert emulator.config == Settings()


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--build-seconds", "-1", "'-1': must be between 0 and 1e9"),
        ("--agent-ready-seconds", "soon", "'soon': must be a number"),
        ("--max-upload-bytes", "0", "'0': must be between 1 and 1099511627776"),
        ("--max-upload-bytes", "1.5", "'1.5': must be an integer"),
    ],
)
def test_the_command_line_refuses_a_setting_out_of_bounds_in_one_line(
    tmp_path: Path, flag: str, value: str, problem: str
) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pcc_provider", "emulator", "--api-key", API_KEY),
            *("--state-dir", str(tmp_path / "state"), flag, value),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"python -m pcc_provider emulator: error: argument {flag}: {problem}"
    )
    assert not (tmp_path / "state").exists()  # refused before anything is made


def test_the_control_endpoint_refuses_a_setting_out_of_bounds(tmp_path: Path) -> None:
    with Emulator(tmp_path / "state", api_key=API_KEY) as emulator:
        url = f"{emulator.url}/_emulator/config"
        for body, message in [
            ({"buildSeconds": -1}, "'buildSeconds' must be between 0 and 1e9"),
            ({"maxUploadBytes": 0.5}, "'maxUploadBytes' must be an integer"),
            ({"buildSecs": 1}, "Unknown config keys: buildSecs"),
        ]:
            answer = requests.post(url, json=body, timeout=10)
            assert (answer.status_code, answer.json()["error"]) == (400, message)
        assert requests.get(url, timeout=10).json() == Settings().to_json()
