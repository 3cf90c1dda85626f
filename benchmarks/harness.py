"""What the benchmarks share: measured children, the verdict on targets, engine stacks."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_results import Recorder, load_average

# As on a user's machine, Python caches bytecode (pip compiles a wheel's at install): an
# environment that turns it off (PYTHONDONTWRITEBYTECODE, as this project's machine sets)
# would add the compile of every pcc_provider module to each program and provider started.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def measure(code: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `code` in a child; its JSON result plus the child's own peak RSS."""
    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        out = child.stdout.read()
        # Reaped here, not by Popen.wait, so that its rusage is ours to read.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            err.seek(0)
            sys.exit(f"benchmark child failed ({child.returncode}): {out}{err.read()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    result["rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def verdict(checks: list[tuple[str, bool]]) -> int:
    """Print each target's result; the exit code is 1 if any was missed."""
    print()
    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(ok for _, ok in checks) else 1


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        type=Path,
        metavar="OUT",
        help="record the figures in OUT (benchmarks/results.json), replacing this benchmark's",
    )


def recorder(name: str, args: argparse.Namespace) -> Recorder:
    """The figures of this run, recorded by `finish` when --json names a file."""
    return Recorder(name, args.json)


def finish(rec: Recorder, checks: list[tuple[str, bool]]) -> int:
    """The verdict on the targets (the exit code), and the figures recorded."""
    code = verdict(checks)
    print(
        f"load average (1 min): {rec.load_start[0]:.2f} at the start, {load_average()[0]:.2f} now"
    )
    rec.record(checks)
    return code


# -- the real Pulumi engine against the emulator (the tests' own helpers) -------------------

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from pulumi_stack import Stack, engine_env, new_project  # noqa: E402

API_KEY = "pk_benchmark_key"


def engine_stack(
    folder: Path, name: str, program: str, api_url: str, files: dict[str, str] | None = None
) -> Stack:
    """A stack `dev` of a new project `name` in `folder`, configured for the emulator."""
    home, state = folder / "pulumi-home", folder / "pulumi-state"
    home.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)
    env = engine_env(home, state)
    env["PCC_PROVIDER_CACHE_DIR"] = str(folder / "context-cache")
    project = new_project(folder / "projects", name, program, files=files)
    stack = Stack(project, "dev", env).init()
    stack.config("pipecat:apiUrl", api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    return stack


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def contexts(names: list[str]) -> dict[str, str]:
    """One small build context per name: a Dockerfile and a source file."""
    files = {}
    for name in names:
        files[f"{name}/Dockerfile"] = f"FROM python:3.12-slim\nCOPY bot.py bot.py\nLABEL n={name}\n"
        files[f"{name}/bot.py"] = f"print('hello from {name}')\n"
    return files


def builds_program(count: int) -> str:
    names = [f"b{i}" for i in range(count)]
    return (
        "import pulumi\nfrom pcc_provider import Build\n"
        f"for name in {names!r}:\n"
        "    pulumi.export(name, Build(name, context=name).build_id)\n"
    )
