from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pulumi_stack import Stack, engine_env, new_project


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A context cache of the test's own, with its own signing key (under XDG_CONFIG_HOME)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return folder


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    """A small agent's build context: a Dockerfile and bot.py."""
    root = tmp_path / "agent"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM dailyco/pipecat-base:latest\nCOPY ./bot.py bot.py\n")
    (root / "bot.py").write_text("print('hello')\n")
    return root


@pytest.fixture
def engine(tmp_path: Path) -> dict[str, str]:
    """Environment for the real Pulumi CLI: isolated PULUMI_HOME, file backend, passphrase."""
    home, state = tmp_path / "pulumi-home", tmp_path / "pulumi-state"
    home.mkdir()
    state.mkdir()
    env = engine_env(home, state)
    # Each test gets its own context cache too, so cache hits are the test's own doing.
    env["PCC_PROVIDER_CACHE_DIR"] = str(tmp_path / "context-cache")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # and its own cache key
    return env


@pytest.fixture
def make_stack(tmp_path: Path, engine: dict[str, str]) -> Callable[..., Stack]:
    """make_stack(program, name="dev", project="proj", files={...}) -> an initialised Stack."""

    def make(
        program: str,
        name: str = "dev",
        project: str = "proj",
        files: dict[str, str] | None = None,
    ) -> Stack:
        folder = tmp_path / "projects"
        project_dir = folder / project
        if not project_dir.exists():
            new_project(folder, project, program, files=files)
        elif (project_dir / "__main__.py").read_text() != program:
            raise ValueError(f"project {project!r} exists with another program")
        return Stack(project_dir, name, engine).init()

    return make


API_KEY = "pk_test_0123456789abcdef_secret"


class EmulatorHandle:
    """The emulator as the tests see it: its URLs and its control endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api_url = f"{url}/v1"

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = requests.get(f"{self.url}/_emulator/stats", timeout=10).json()
        return data

    def calls(self, route: str) -> int:
        return int(self.stats()["requests"].get(route, 0))

    def configure(self, **settings: Any) -> None:
        requests.post(f"{self.url}/_emulator/config", json=settings, timeout=10).raise_for_status()

    def fault(self, route: str, **fault: Any) -> None:
        response = requests.post(
            f"{self.url}/_emulator/faults", json={"route": route, **fault}, timeout=10
        )
        response.raise_for_status()

    def vanish(self, build_id: str) -> None:
        requests.delete(f"{self.url}/_emulator/builds/{build_id}", timeout=10).raise_for_status()

    def finish(self, build_id: str) -> None:
        """End a build in flight now, as it was going to end."""
        url = f"{self.url}/_emulator/builds/{build_id}/finish"
        requests.post(url, timeout=10).raise_for_status()

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        return requests.request(
            method, f"{self.api_url}{path}", headers=headers, timeout=10, **kwargs
        )


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorHandle]:
    from pcc_provider.emulator import Emulator

    with Emulator(tmp_path / "emulator", api_key=API_KEY, build_seconds=1.0) as emu:
        yield EmulatorHandle(emu.url)


@pytest.fixture
def cloud_stack(make_stack: Callable[..., Stack], emulator: EmulatorHandle) -> Callable[..., Stack]:
    """make_stack, configured for the emulator with the key as a secret."""

    def make(program: str, name: str = "dev", **kwargs: Any) -> Stack:
        stack = make_stack(program, name, **kwargs)
        stack.config("pipecat:apiUrl", emulator.api_url)
        stack.config("pipecat:apiKey", API_KEY, secret=True)
        return stack

    return make
