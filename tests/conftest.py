from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pulumi_stack import Stack, engine_env, new_project


@pytest.fixture
def engine(tmp_path: Path) -> dict[str, str]:
    """Environment for the real Pulumi CLI: isolated PULUMI_HOME, file backend, passphrase."""
    home, state = tmp_path / "pulumi-home", tmp_path / "pulumi-state"
    home.mkdir()
    state.mkdir()
    env = engine_env(home, state)
    # Each test gets its own context cache too, so cache hits are the test's own doing.
    env["PCC_PROVIDER_CACHE_DIR"] = str(tmp_path / "context-cache")
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
        return Stack(project_dir, name, engine).init()

    return make
