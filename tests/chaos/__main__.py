"""`python -m chaos --seed N --steps M` from tests/ (what `make chaos` runs)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from chaos.runner import Chaos


def main() -> int:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--stacks", type=int, default=3, choices=(2, 3))
    parser.add_argument("--keep-going", action="store_true", help="do not stop at a violation")
    parser.add_argument("--workdir", type=Path, help="keep the run's files here")
    parser.add_argument(
        "--plant-at", type=int, help="inject a violation: plant an unowned set at this step"
    )
    parser.add_argument(
        "--inject",
        choices=["adopt", "no-smoke", "cut-calls"],
        help="inject a violation: the program adopts what it finds (no ownership check), "
        "asks no smoke check, or deletes agents over live sessions",
    )
    parser.add_argument(
        "--bad-build-at",
        type=int,
        help="at this step, a build whose bot crashes at start, whatever the odds drew",
    )
    parser.add_argument(
        "--sessions-at",
        type=int,
        help="at this step, live sessions on an agent (one the step deletes, if any), whatever "
        "the odds drew",
    )
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix=f"chaos-{args.seed}-"))
    root.mkdir(parents=True, exist_ok=True)
    chaos = Chaos(
        args.seed,
        root,
        stacks=args.stacks,
        plant_at=args.plant_at,
        inject=args.inject,
        bad_build_at=args.bad_build_at,
        sessions_at=args.sessions_at,
        log=lambda line: print(line, flush=True),
    )
    report = chaos.run(args.steps, keep_going=args.keep_going)
    print(json.dumps(report.to_json(), indent=2))
    if args.workdir is not None:  # for `python -m chaos.table`, which writes the README's rows
        (root / "summary.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if report.violations:
        first = report.violations[0]
        print(f"\n{first}", file=sys.stderr)
        injected = [
            *([f"--plant-at {args.plant_at}"] if args.plant_at is not None else []),
            *([f"--inject {args.inject}"] if args.inject else []),
            *([f"--bad-build-at {args.bad_build_at}"] if args.bad_build_at is not None else []),
            *([f"--sessions-at {args.sessions_at}"] if args.sessions_at is not None else []),
        ]
        extra = f' CHAOS_ARGS="{" ".join(injected)}"' if injected else ""
        print(
            f"replay: make chaos SEED={args.seed} STEPS={first.step} STACKS={args.stacks}{extra}"
            f"\nlogs of this run, one file per command: {root}/logs",
            file=sys.stderr,
        )
        return 1
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
