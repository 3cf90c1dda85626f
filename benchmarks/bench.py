"""Run the benchmarks, record their figures, and write the tables and plots made from them.

    .venv/bin/python benchmarks/bench.py --full     # what the README quotes (make bench)
    .venv/bin/python benchmarks/bench.py --quick    # smaller sizes, fewer rounds (make bench-quick)
    .venv/bin/python benchmarks/bench.py --full --only waiting upload
    .venv/bin/python benchmarks/bench.py --tables-only --plots-only   # no measurement

Each benchmark runs as its own process, one at a time, with the arguments of the mode
(bench_results.UNITS), and records its figures in benchmarks/results.json (`--json`): the
figures of the benchmarks that did not run are kept. Then the tables between `<!-- bench:NAME
-->` markers in the Markdown files (bench_tables.py) and the SVG plots in docs/
(bench_plots.py) are written again from that file. Exits 1 if a benchmark missed a target
or failed; the figures of those that ran are recorded all the same.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import bench_plots
import bench_tables
from bench_results import DRIVER_ENV, MODE_ENV, REPO, RESULTS, UNITS, command_line, read


def run(names: list[str], mode: str, results: Path) -> list[str]:
    """Runs the units named (all when empty) in `mode`; the names of those that failed."""
    failed = []
    env = {**os.environ, MODE_ENV: mode, DRIVER_ENV: command_line(sys.argv)}
    (REPO / ".bench-data").mkdir(exist_ok=True)
    units = [u for u in UNITS if not names or u.name in names]
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    print(f"==> load average (1 min) {load:.2f} on {cores} cores", flush=True)
    if load > cores:
        print("==> the machine is busy: times will be longer (each run records its load)")
    for unit in units:
        args = unit.full if mode == "full" else unit.quick
        if args is None:
            print(f"==> {unit.name}: not in the quick mode (its figures are kept)", flush=True)
            continue
        argv = [sys.executable, f"benchmarks/{unit.script}", *args, "--json", str(results)]
        print(f"==> {unit.name}: {command_line(argv[1:])}", flush=True)
        before = read(results)["runs"].get(unit.name, {}).get("date")
        started = time.monotonic()
        code = subprocess.run(argv, cwd=REPO, env=env, check=False).returncode
        took = time.monotonic() - started
        recorded = read(results)["runs"].get(unit.name, {})
        if recorded.get("date") == before or recorded.get("mode") != mode:
            print(f"==> {unit.name}: FAILED (exit {code}), nothing recorded ({took:.0f} s)")
            failed.append(unit.name)
        elif code:
            print(f"==> {unit.name}: a target was missed; its figures are recorded ({took:.0f} s)")
            failed.append(unit.name)
        else:
            print(f"==> {unit.name}: done in {took:.0f} s", flush=True)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the figures the README quotes")
    mode.add_argument("--quick", action="store_true", help="a run of a few minutes")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="these benchmarks")
    parser.add_argument("--tables-only", action="store_true", help="write the tables, no run")
    parser.add_argument("--plots-only", action="store_true", help="write the plots, no run")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    unknown = set(args.only) - {u.name for u in UNITS}
    if unknown:
        parser.error(f"no benchmark {', '.join(sorted(unknown))}: {[u.name for u in UNITS]}")
    measuring = not (args.tables_only or args.plots_only)
    if measuring and not (args.full or args.quick):
        parser.error("--full or --quick (or --tables-only / --plots-only)")
    failed: list[str] = []
    if measuring:
        started = time.monotonic()
        failed = run(args.only, "full" if args.full else "quick", args.results)
        print(f"\n==> benchmarks took {time.monotonic() - started:.0f} s")
    data = read(args.results)
    if measuring or args.tables_only:
        for path in bench_tables.update(data):
            print(f"==> wrote the tables of {path.relative_to(REPO)}")
    if measuring or args.plots_only:
        for path in bench_plots.update(data):
            print(f"==> wrote {path.relative_to(REPO)}")
    if failed:
        print(f"==> missed a target or failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
