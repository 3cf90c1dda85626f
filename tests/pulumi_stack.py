"""Real Pulumi stacks for the end-to-end tests.

Runs the Pulumi CLI from .venv/bin (scripts/install-pulumi) with the local file backend and
passphrase secrets, each test in its own PULUMI_HOME and state folder, so tests exercise the
real engine, language host and dynamic-provider plugin exactly as a user's `pulumi up` does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waiting import eventually

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PASSPHRASE = "pcc-provider-tests"


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class PulumiError(AssertionError):
    pass


def engine_env(home: Path, state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULUMI_", "PIPECAT_")) and k != "PCC_PROVIDER_CACHE_DIR"
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PULUMI_HOME=str(home),
        PULUMI_BACKEND_URL=state.as_uri(),
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_SKIP_CONFIRMATIONS="true",
        NO_COLOR="1",
    )
    return env


class Stack:
    """One stack of one project folder, driven through the `pulumi` CLI."""

    def __init__(
        self, project_dir: Path, name: str, env: dict[str, str], launcher: tuple[str, ...] = ()
    ) -> None:
        if shutil.which("pulumi", path=env["PATH"]) is None:
            raise RuntimeError("the Pulumi CLI is missing: run `make pulumi`")
        self.dir = project_dir
        self.name = name
        self.env = env
        # What runs `pulumi` (a namespace with no Python in it, say); nothing by default.
        self.launcher = launcher

    def pulumi(self, *args: str, check: bool = True, timeout: float = 600) -> Result:
        argv = [*self.launcher, "pulumi", *args, "--non-interactive", "--color", "never"]
        proc = subprocess.run(
            argv,
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise PulumiError(
                f"{' '.join(argv)} exited {proc.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def init(self) -> Stack:
        self.pulumi("stack", "init", self.name)
        return self

    def config(self, key: str, value: str, secret: bool = False) -> None:
        self.pulumi(
            "config", "set", key, value, "--stack", self.name, *(["--secret"] if secret else [])
        )

    def preview(self, *extra: str, check: bool = True) -> Result:
        return self.pulumi("preview", "--stack", self.name, "--diff", *extra, check=check)

    def preview_json(self) -> dict[str, Any]:
        result = self.pulumi("preview", "--stack", self.name, "--json")
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def up(self, *extra: str, check: bool = True) -> Result:
        return self.pulumi(
            "up", "--stack", self.name, "--yes", "--skip-preview", *extra, check=check
        )

    def up_killed_once(self, happened: Callable[[], bool], timeout: float = 120) -> None:
        """Start `pulumi up` and SIGKILL it, engine, language host and provider plugin at
        once, as soon as `happened()`; then `pulumi cancel`, as a user would."""
        argv = ["pulumi", "up", "--stack", self.name, "--yes", "--skip-preview"]
        up = subprocess.Popen(
            [*argv, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def look() -> bool:
            assert up.poll() is None, "pulumi up ended before it could be killed"
            return happened()

        try:
            eventually(look, timeout=timeout, every=0.1, what="the moment to kill pulumi up")
        finally:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        self.pulumi("cancel", "--yes", "--stack", self.name, check=False)

    def on_fresh_machine(self, root: Path) -> Stack:
        """The same stack (project folder, state backend and passphrase) as another machine
        sees it, a fresh CI runner say: its own PULUMI_HOME, pcc-provider cache folder and
        cache key, under `root`, none of which the machines share."""
        (root / "pulumi-home").mkdir(parents=True)
        env = {
            **self.env,
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PCC_PROVIDER_CACHE_DIR": str(root / "cache"),
            "XDG_CONFIG_HOME": str(root / "config"),
        }
        return Stack(self.dir, self.name, env, self.launcher)

    def run(self, argv: list[str], check: bool = True) -> Result:
        """Another command (`pcc-provider recover`, say) in the project folder, with the
        stack's environment."""
        proc = subprocess.run(
            argv, cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=600
        )
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise PulumiError(f"{' '.join(argv)} exited {proc.returncode}\n{result.output}")
        return result

    def refresh(self, *extra: str, check: bool = True) -> Result:
        return self.pulumi(
            "refresh", "--stack", self.name, "--yes", "--skip-preview", *extra, check=check
        )

    def destroy(self, *extra: str, check: bool = True) -> Result:
        return self.pulumi(
            "destroy", "--stack", self.name, "--yes", "--skip-preview", *extra, check=check
        )

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        args = [
            "stack",
            "output",
            "--stack",
            self.name,
            "--json",
            *(["--show-secrets"] if show_secrets else []),
        ]
        data: dict[str, Any] = json.loads(self.pulumi(*args).stdout)
        return data

    def export(self) -> str:
        return self.pulumi("stack", "export", "--stack", self.name).stdout

    def resources(self) -> list[dict[str, Any]]:
        deployment = json.loads(self.export())["deployment"]
        found: list[dict[str, Any]] = deployment.get("resources") or []
        return found


def new_project(
    parent: Path, name: str, program: str, *, files: dict[str, str] | None = None
) -> Path:
    """A Python Pulumi project folder with `program` as its __main__.py."""
    project = parent / name
    project.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    (project / "__main__.py").write_text(program)
    for rel, text in (files or {}).items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project
