"""The chaos runner in CI: a short fixed seed breaks no invariant, and violations injected on
purpose (an object no stack owns; a program that skips the ownership check) are caught,
named, and printed with the command that replays them. `make chaos` runs long seeds."""

from __future__ import annotations

import base64
import random
import subprocess
import sys
from pathlib import Path

import pytest
from chaos.runner import Chaos

pytestmark = pytest.mark.engine

TESTS = Path(__file__).resolve().parent
# Drawn so that 10 steps meet six kinds of fault (a SIGKILL and an emulator restart among
# them), a refresh, two stacks at once, and at step 3 one stack declaring another's name.
CI_SEED, CI_STEPS = 114, 10


def chaos(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "chaos", "--stacks", "2", "--workdir", str(tmp_path / "run")]
    return subprocess.run(
        [*argv, *args], cwd=TESTS, capture_output=True, text=True, timeout=900, check=False
    )


def test_a_short_fixed_seed_breaks_no_invariant(tmp_path: Path) -> None:
    report = Chaos(CI_SEED, tmp_path, stacks=2).run(CI_STEPS)
    assert report.violations == [], "\n".join(map(str, report.violations))
    assert report.steps == CI_STEPS
    faults = {kind for kind, count in report.faults.items() if count and kind != "none"}
    assert len(faults) >= 3, report.faults
    assert set(report.checks) == {
        "1 ownership",
        "2 matches",
        "3 one-build",
        "4 no-secrets",
        "5 no-orphans",
        "6 converges",
    }


def test_an_object_no_stack_owns_is_caught_at_its_step(tmp_path: Path) -> None:
    run = chaos(tmp_path, "--seed", str(CI_SEED), "--steps", "2", "--plant-at", "2")
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        "invariant 1 ownership broken at step 2: set planted-2 is in the emulator, in no "
        "stack's state, and no output announced it as left behind"
    ) in run.stderr
    assert f'replay: make chaos SEED={CI_SEED} STEPS=2 STACKS=2 CHAOS_ARGS="--plant-at 2"' in (
        run.stderr
    )


def test_a_program_that_skips_the_ownership_check_is_caught(tmp_path: Path) -> None:
    # With --inject adopt every resource takes over what it finds under its name, as if the
    # provider's ownership check were gone: the seed's take-name step (3) must show it.
    run = chaos(tmp_path, "--seed", str(CI_SEED), "--steps", "3", "--inject", "adopt")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "invariant 1 ownership broken at step 3: " in run.stderr
    assert "is in the state of ['s0', 's1']" in run.stderr


def test_a_secret_value_in_an_output_or_a_state_file_is_caught(tmp_path: Path) -> None:
    runner = Chaos(CI_SEED, tmp_path, stacks=2, log=lambda line: None)
    try:
        value = runner.fresh_value(random.Random(1))
        runner.step_no = 5
        runner.outputs.append((5, f"error: the service said {value!r}"))
        (tmp_path / "state" / "leak.json").write_text(
            base64.b64encode(runner.api_key.encode()).decode()
        )
        runner.check_secrets()
    finally:
        runner.close()
    found = sorted(str(v) for v in runner.report.violations)
    assert found == sorted(
        [
            f"invariant 4 no-secrets broken at step 5: secret value {value} in plaintext in "
            "output of a command of step 5",
            "invariant 4 no-secrets broken at step 5: the API key, base64-encoded, in plaintext in "
            f"{tmp_path / 'state' / 'leak.json'}",
        ]
    ), found
