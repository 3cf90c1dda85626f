"""The package as users get it: the released wheel (`make dist`), not the checkout.

The wheel goes into a fresh virtualenv beside a user's older Pulumi
SDK, is upgraded as a user would, and a Pulumi program in a folder outside the repository
runs `pulumi up` with it, under the real engine, against the emulator that same install
serves.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import API_KEY
from pulumi_stack import REPO, VENV_BIN, Stack, engine_env
from release import released
from waiting import eventually

import pcc_provider

FLOOR_PULUMI = re.search(
    r"^pulumi==(\S+)$", (REPO / "constraints-floor.txt").read_text(), re.MULTILINE
)


def run(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{' '.join(map(str, argv))}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def user_env() -> dict[str, str]:
    """The environment of a user's shell: nothing of this checkout's .venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN]
    env["PATH"] = os.pathsep.join(path)
    return env


@pytest.fixture(scope="session")
def dist() -> tuple[Path, Path]:
    """(wheel, sdist) of the release `make dist` wrote (the sdist built first, the wheel from
    it, so the wheel proves the sdist carries everything too)."""
    version = pcc_provider.__version__
    return released(f"pcc_provider-{version}-py3-none-any.whl"), released(
        f"pcc_provider-{version}.tar.gz"
    )


def test_version_has_one_source() -> None:
    """The code, the CLI and the installed metadata (from pyproject.toml) agree."""
    shown = run(sys.executable, "-m", "pcc_provider", "--version")
    assert shown.strip() == f"pcc-provider {pcc_provider.__version__}"
    assert importlib.metadata.version("pcc-provider") == pcc_provider.__version__


@pytest.mark.package
def test_wheel_and_sdist_carry_what_runs_and_pass_twine(dist: tuple[Path, Path]) -> None:
    wheel, sdist = dist
    version = pcc_provider.__version__
    assert wheel.name == f"pcc_provider-{version}-py3-none-any.whl"
    assert sdist.name == f"pcc_provider-{version}.tar.gz"

    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (REPO / "pcc_provider").rglob("*.py"):
        assert module.relative_to(REPO).as_posix() in names
    assert {"pcc_provider/py.typed", "pcc_provider/emulator/openapi.json"} <= names
    metadata = zipfile.ZipFile(wheel).read(f"pcc_provider-{version}.dist-info/METADATA").decode()
    requires = re.findall(r"^Requires-Dist: (.*)$", metadata, re.MULTILINE)
    runtime = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("pulumi") for r in runtime)
    assert not [r for r in runtime if "==" in r], (
        f"exact pins in the runtime dependencies: {runtime}"
    )

    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {"CHANGELOG.md", "README.md", "pyproject.toml", "pcc_provider/py.typed"} <= members
    assert "pcc_provider/emulator/openapi.json" in members

    checked = run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    assert checked.count("PASSED") == 2, checked


@pytest.fixture
def pulumi_cli(tmp_path: Path) -> Path:
    """A folder holding only the Pulumi CLI and its plugins, as a user's Pulumi install does."""
    cli = tmp_path / "pulumi-cli"
    cli.mkdir()
    if not (VENV_BIN / "pulumi").exists():
        pytest.fail("the Pulumi CLI is missing: run `make pulumi`")
    # The CLI trusts the plugins beside its own executable, so the binary itself goes here.
    binary = (VENV_BIN / "pulumi").resolve()
    try:
        os.link(binary, cli / "pulumi")
    except OSError:
        shutil.copy2(binary, cli / "pulumi")
    for plugin in (
        "pulumi-language-python",
        "pulumi-language-python-exec",
        "pulumi-resource-pulumi-python",
    ):
        (cli / plugin).symlink_to((VENV_BIN / plugin).resolve())
    return cli


@pytest.fixture
def emulator_from(tmp_path: Path) -> Iterator[Callable[[Path], dict[str, str]]]:
    """Starts `python -m pcc_provider emulator` from a given virtualenv; yields its URLs."""
    procs: list[subprocess.Popen[str]] = []
    urls: dict[str, str] = {}

    def start(python: Path) -> dict[str, str]:
        log = tmp_path / "emulator.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [
                    *(python, "-m", "pcc_provider", "emulator", "--state-dir", tmp_path / "emu"),
                    *("--api-key", API_KEY, "--build-seconds", "1", "--agent-ready-seconds", "0.5"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=user_env(),
            )
        procs.append(proc)

        def started() -> re.Match[str] | None:
            assert proc.poll() is None, f"the emulator exited:\n{log.read_text()}"
            return re.search(r"on (\S+) \(API: (\S+)\)", log.read_text())

        found = eventually(started, timeout=60, every=0.1, what="the emulator to say where")
        assert found is not None
        urls.update(url=found[1], api_url=found[2])
        return urls

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


PROGRAM = """\
import importlib.metadata

import pulumi

import pcc_provider
from pcc_provider import Agent, Build

image = Build("bot-image", context="bot")
bot = Agent("bot", service_name="my-bot", build_id=image.build_id)

pulumi.export("buildId", image.build_id)
pulumi.export("ready", bot.ready)
pulumi.export("pccProviderFile", pcc_provider.__file__)
pulumi.export("pulumiVersion", importlib.metadata.version("pulumi"))
"""


@pytest.mark.package
@pytest.mark.engine
def test_wheel_in_a_fresh_virtualenv_runs_a_user_program(
    dist: tuple[Path, Path],
    tmp_path: Path,
    pulumi_cli: Path,
    emulator_from: Callable[[Path], dict[str, str]],
) -> None:
    wheel, _ = dist
    assert FLOOR_PULUMI is not None
    project = tmp_path / "my-infra"  # the user's own project, outside the repository
    project.mkdir()
    assert REPO not in project.parents
    venv = project / "venv"
    env = user_env()
    run(sys.executable, "-m", "venv", venv, env=env)
    python = venv / "bin" / "python"
    pip = (python, "-m", "pip", "--disable-pip-version-check")

    # A user whose project already has an older Pulumi SDK (our floor) keeps it.
    run(*pip, "install", wheel, f"pulumi=={FLOOR_PULUMI[1]}", cwd=project, env=env)
    run(*pip, "check", cwd=project, env=env)
    assert run(*pip, "show", "pulumi", env=env).count(f"Version: {FLOOR_PULUMI[1]}") == 1
    # ... and may upgrade it, with requests and urllib3, to the newest: still no conflict.
    run(*pip, "install", "-U", "pulumi", "requests", "urllib3", cwd=project, env=env)
    assert "No broken requirements found" in run(*pip, "check", cwd=project, env=env)
    newest = run(
        python, "-c", "import importlib.metadata as m; print(m.version('pulumi'))", env=env
    )
    assert newest.strip() != FLOOR_PULUMI[1]

    version = run(python, "-m", "pcc_provider", "--version", cwd=project, env=env)
    assert version.strip() == f"pcc-provider {pcc_provider.__version__}"

    emulator = emulator_from(python)

    (project / "Pulumi.yaml").write_text(
        "name: my-infra\n"
        "runtime:\n"
        "  name: python\n"
        "  options:\n"
        "    toolchain: pip\n"
        "    virtualenv: venv\n"
    )
    (project / "__main__.py").write_text(PROGRAM)
    (project / "bot").mkdir()
    (project / "bot" / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY bot.py .\n")
    (project / "bot" / "bot.py").write_text("print('hello')\n")

    home, state = tmp_path / "pulumi-home", tmp_path / "pulumi-state"
    home.mkdir()
    state.mkdir()
    engine = engine_env(home, state)
    # Only the Pulumi CLI folder: no python of this checkout on PATH, so the program and the
    # dynamic-provider plugin both run in the user's virtualenv (the `virtualenv` option).
    engine["PATH"] = os.pathsep.join([str(pulumi_cli), user_env()["PATH"]])
    engine["PCC_PROVIDER_CACHE_DIR"] = str(tmp_path / "context-cache")
    stack = Stack(project, "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator["api_url"])
    stack.config("pipecat:apiKey", API_KEY, secret=True)

    up = stack.up()
    assert "+ 3 created" in up.stdout, up.stdout
    outputs = stack.outputs()
    assert Path(outputs["pccProviderFile"]).is_relative_to(venv)
    assert outputs["pulumiVersion"] == newest.strip()
    assert outputs["ready"] is True
    build = run(
        python,
        "-c",
        "import sys, requests; r = requests.get(sys.argv[1], timeout=10,"
        " headers={'Authorization': 'Bearer ' + sys.argv[2]}); print(r.json()['build']['status'])",
        f"{emulator['api_url']}/builds/{outputs['buildId']}",
        API_KEY,
        env=env,
    )
    assert build.strip() == "success"
    assert API_KEY not in stack.export()
    preview = stack.pulumi("preview", "--stack", stack.name, "--expect-no-changes")
    assert "3 unchanged" in preview.stdout, preview.output
    stack.destroy()
    assert stack.resources() == []
