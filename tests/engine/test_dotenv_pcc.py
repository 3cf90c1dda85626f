"""pcc 1.4.0 itself as the oracle of the dotenv reader (pcc_provider.dotenv): `pcc secrets
set NAME --file F` against the emulator, for each file of the corpus, sets exactly what
`dotenv.read` gives, and sets nothing where it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EmulatorHandle
from dotenv_corpus import ACCEPTED, REFUSED
from test_official_cli import run_pcc

from pcc_provider import dotenv


def stored(tmp_path: Path, name: str) -> dict[str, str] | None:
    """The values the emulator holds for a set (the API never returns them)."""
    path = tmp_path / "emulator" / "secrets" / f"{name}.json"
    if not path.exists():
        return None
    values: dict[str, str] = json.loads(path.read_text())["values"]
    return values


def test_pcc_sets_what_the_reader_reads_and_refuses_what_it_refuses(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    emulator.configure(secretReadySeconds=0)
    home = tmp_path / "home"
    home.mkdir()
    files = {**{k: v[0] for k, v in ACCEPTED.items()}, **{k: v[0] for k, v in REFUSED.items()}}
    for number, (name, content) in enumerate(sorted(files.items())):
        path = home / f"{name}.env"
        path.write_bytes(content)
        set_name = f"set-{number}"
        out = run_pcc(emulator, home, "secrets", "set", set_name, "--file", path.name, "--skip")
        if name in ACCEPTED:
            assert stored(tmp_path, set_name) == dotenv.read(path) == ACCEPTED[name][1], out
        else:
            assert stored(tmp_path, set_name) is None, (name, out)
            assert "Error" in out, (name, out)
            with pytest.raises(dotenv.DotenvError):
                dotenv.read(path)
