"""`pulumi preview` with SIGINT ignored by its parent, beside the same preview without.

    .venv/bin/python benchmarks/ignored_sigint.py [--rounds 5]
        [--tests tests/engine/test_engine_smoke.py] [--json OUT]

A background job in a non-interactive script, and some CI runners, start commands with
SIGINT ignored; the engine stops its language host with SIGINT. The script previews an
empty Python program (`import pulumi`) `--rounds` times each way, interleaved; with
`--tests`, it also runs that pytest file once each way. Exits 1 if the median with SIGINT
ignored is more than 0.5 s over the median without (a host that misses the engine's
SIGINT costs 5 s per command). --json OUT records the figures (bench_results.py).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import REPO, engine_stack, finish, json_option, recorder, timed

from pcc_provider.emulator import Emulator


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--tests", help="a pytest file to time both ways, e.g. tests/engine/test_engine_smoke.py"
    )
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("ignored_sigint", args)
    rec.params = {"rounds": args.rounds, "tests": args.tests}
    times: dict[bool, list[float]] = {False: [], True: []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(Path(tmp) / "emulator", api_key="pk_benchmark_key") as emu,
    ):
        stack = engine_stack(Path(tmp), "empty", "import pulumi\n", emu.api_url)
        argv = ["pulumi", "preview", "--stack", "dev", "--non-interactive"]
        for _ in range(args.rounds):
            for ignored in times:
                times[ignored].append(
                    timed(
                        lambda ignored=ignored: subprocess.run(
                            argv,
                            cwd=stack.dir,
                            env=stack.env,
                            capture_output=True,
                            check=True,
                            preexec_fn=ignore_sigint if ignored else None,
                        )
                    )
                )
    normal, ignored = statistics.median(times[False]), statistics.median(times[True])
    print(f"{'empty program, pulumi preview':34} {'median':>8} {'best':>8}")
    print(f"{'SIGINT as usual (reference)':34} {normal:7.2f}s {min(times[False]):7.2f}s")
    print(f"{'SIGINT ignored by the parent':34} {ignored:7.2f}s {min(times[True]):7.2f}s")
    rec.add("usual.median", normal, "s", "empty program, SIGINT as usual")
    rec.add("usual.best", min(times[False]), "s", "the same, best")
    rec.add(
        "ignored.median",
        ignored,
        "s",
        "SIGINT ignored by the parent",
        "usual.median",
        target="<= +0.5 s",
        ok=ignored - normal <= 0.5,
    )
    rec.add("ignored.best", min(times[True]), "s", "the same, best")
    checks = [
        (
            f"SIGINT ignored: {ignored - normal:+.2f} s over usual (<= 0.5 s)",
            ignored - normal <= 0.5,
        )
    ]
    if args.tests:
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", args.tests]
        suite = {
            way: timed(
                lambda way=way: subprocess.run(
                    pytest,
                    cwd=REPO,
                    capture_output=True,
                    check=True,
                    preexec_fn=ignore_sigint if way else None,
                )
            )
            for way in (False, True)
        }
        rec.add("tests.usual", suite[False], "s", f"pytest {args.tests}, as usual")
        rec.add(
            "tests.ignored",
            suite[True],
            "s",
            "the same, SIGINT ignored",
            "tests.usual",
            target="<= 1.15x",
            ok=suite[True] <= suite[False] * 1.15,
        )
        print(f"{'pytest ' + args.tests + ', as usual':50} {suite[False]:7.1f}s")
        print(f"{'pytest ' + args.tests + ', SIGINT ignored':50} {suite[True]:7.1f}s")
        checks.append(
            (
                f"{args.tests}: {suite[True] - suite[False]:+.1f} s with SIGINT ignored",
                suite[True] <= suite[False] * 1.15,
            )
        )
    return finish(rec, checks)


if __name__ == "__main__":
    sys.exit(main())
