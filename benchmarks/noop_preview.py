"""`pulumi preview` of an unchanged stack with 1 and 8 Builds, beside an empty Python program.

    .venv/bin/python benchmarks/noop_preview.py [--rounds N] [--json OUT]

Three projects on the same engine, state backend and emulator: an empty program (`import
pulumi`), one `Build`, eight `Build`s (small contexts). The Build stacks are brought up
first; then each round previews the three in turn (interleaved, so that load on the machine
hits all three alike). Prints the median and best of each and the overhead over the empty
program. Exits 1 if a target is missed (median overhead <= 0.25 s for 1 Build, <= 0.4 s
for 8) or a preview shows a change. --json OUT records the figures (bench_results.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from harness import builds_program, contexts, engine_stack, finish, json_option, recorder, timed

from pcc_provider.emulator import Emulator

TARGETS = {1: 0.25, 8: 0.40}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("noop_preview", args)
    rec.params = {"rounds": args.rounds}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(Path(tmp) / "emulator", api_key="pk_benchmark_key", build_seconds=0.5) as emu,
    ):
        folder = Path(tmp)
        stacks = {0: engine_stack(folder, "empty", "import pulumi\n", emu.api_url)}
        stacks[0].up()
        for count in TARGETS:
            names = [f"b{i}" for i in range(count)]
            stack = engine_stack(
                folder,
                f"builds{count}",
                builds_program(count),
                emu.api_url,
                files=contexts(names),
            )
            stack.up()
            stacks[count] = stack
        times: dict[int, list[float]] = {n: [] for n in stacks}
        unchanged = True
        for _ in range(args.rounds):
            for count, stack in stacks.items():
                times[count].append(timed(lambda s=stack: s.preview()))
        for count, stack in stacks.items():
            unchanged &= "to create" not in stack.preview().stdout and (
                count == 0 or f"{count + 1} unchanged" in stack.preview().stdout
            )
    empty = statistics.median(times[0])
    print(f"{'pulumi preview, unchanged stack':34} {'median':>8} {'best':>8} {'over empty':>11}")
    checks = [("every preview shows no change", unchanged)]
    for count, runs in times.items():
        label = "empty Python program" if count == 0 else f"{count} Build{'s' * (count > 1)}"
        over = statistics.median(runs) - empty
        print(
            f"{label:34} {statistics.median(runs):7.2f}s {min(runs):7.2f}s "
            f"{'' if count == 0 else f'{over:+10.2f}s'}"
        )
        key = f"builds{count}"
        rec.add(
            f"{key}.median",
            statistics.median(runs),
            "s",
            label,
            None if count == 0 else "builds0.median",
        )
        rec.add(f"{key}.best", min(runs), "s", f"{label}, best")
        if count:
            rec.add(
                f"{key}.over",
                over,
                "s",
                f"{label} over the empty program",
                target=f"<= +{TARGETS[count]:g} s",
                ok=over <= TARGETS[count],
            )
            checks.append(
                (
                    f"{label}: median {over:+.2f} s over empty <= {TARGETS[count]} s",
                    over <= TARGETS[count],
                )
            )
    return finish(rec, checks)


if __name__ == "__main__":
    sys.exit(main())
