from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from pulumi_stack import Stack, engine_env, new_project

if TYPE_CHECKING:
    from api_contract import Client

    from pcc_provider.emulator import Emulator


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A context cache of the test's own, with its own signing key (under XDG_CONFIG_HOME)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return folder


@pytest.fixture
def bot_context(tmp_path: Path) -> Path:
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


# The one API key of the test suite: every emulator the tests start accepts it.
API_KEY = "pk_test_0123456789abcdef_secret"
# An emulator's settings unless a test asks for others: @pytest.mark.emulator(build_seconds=0.2).
EMULATOR_SETTINGS: dict[str, float] = {"build_seconds": 1.0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "emulator(**settings): the settings (settings.py keywords) of the test's emulator",
    )


class EmulatorHandle:
    """The emulator as the tests see it: its URLs and its control endpoints (`/_emulator`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api_url = f"{url}/v1"

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request to a control endpoint, `path` after `/_emulator`, answered as it is."""
        return requests.request(method, f"{self.url}/_emulator{path}", timeout=10, **kwargs)

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.control("GET", "/stats").json()
        return data

    def calls(self, route: str) -> int:
        return int(self.stats()["requests"].get(route, 0))

    def reset_stats(self) -> None:
        self.control("DELETE", "/stats").raise_for_status()

    def configure(self, **settings: Any) -> None:
        self.control("POST", "/config", json=settings).raise_for_status()

    def advance(self, seconds: float) -> None:
        """Move the emulated service's clock on: its builds, deployments, secret sets and
        upload URLs are `seconds` older at once."""
        self.control("POST", "/clock", json={"advance": seconds}).raise_for_status()

    def fault(self, route: str, **fault: Any) -> None:
        self.control("POST", "/faults", json={"route": route, **fault}).raise_for_status()

    def clear_faults(self) -> None:
        """Drop the faults still queued; requests held by one are answered now."""
        self.control("DELETE", "/faults").raise_for_status()

    def fail_next_provisioning(self, set_name: str, message: str) -> None:
        """The next provisioning of the secret set ends `failed` with `message`."""
        answer = self.control("POST", f"/secrets/{set_name}/fail", json={"errorMessage": message})
        answer.raise_for_status()

    def deployments(self, agent_name: str) -> list[dict[str, Any]]:
        """Each deployment the agent has had (the emulator keeps the last two), oldest first:
        its build, settings and the version of each secret set it bound."""
        answer = self.control("GET", f"/agents/{agent_name}")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["deployments"]
        return found

    def vanish(self, build_id: str) -> None:
        self.control("DELETE", f"/builds/{build_id}").raise_for_status()

    def finish(self, build_id: str) -> None:
        """End a build in flight now, as it was going to end."""
        self.control("POST", f"/builds/{build_id}/finish").raise_for_status()

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        return requests.request(
            method, f"{self.api_url}{path}", headers=headers, timeout=10, **kwargs
        )


@pytest.fixture
def emu(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Emulator]:
    """The test's own emulator, in this process, with its marker's settings (the others at
    their defaults) or, with no marker, EMULATOR_SETTINGS."""
    from pcc_provider.emulator import Emulator

    marker = request.node.get_closest_marker("emulator")
    settings = marker.kwargs if marker else EMULATOR_SETTINGS
    with Emulator(tmp_path / "emulator", api_key=API_KEY, **settings) as running:
        yield running


@pytest.fixture
def emulator(emu: Emulator) -> EmulatorHandle:
    """The test's emulator, seen only through HTTP: its URLs and control endpoints."""
    return EmulatorHandle(emu.url)


@pytest.fixture
def api(emu: Emulator) -> Client:
    """A client of the emulator's public API that checks every answer against the spec."""
    from api_contract import Client

    return Client(emu)


@pytest.fixture
def cloud_stack(make_stack: Callable[..., Stack], emulator: EmulatorHandle) -> Callable[..., Stack]:
    """make_stack, configured for the emulator with the key as a secret."""

    def make(program: str, name: str = "dev", **kwargs: Any) -> Stack:
        stack = make_stack(program, name, **kwargs)
        stack.config("pipecat:apiUrl", emulator.api_url)
        stack.config("pipecat:apiKey", API_KEY, secret=True)
        return stack

    return make
