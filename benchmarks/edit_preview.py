"""`pulumi preview` after a one-line edit in a ~340 MB context, and a cold preview.

    .venv/bin/python benchmarks/edit_preview.py [FOLDER] [--rounds N] [--scales 1 ...]
                                                [--json OUT]

The context is context_hash.py's tree (reused from FOLDER when it holds it): 2,006 selected
files, 340 MB, three of them 100 MB model-sized assets; with --scales, its trees of each
scale in turn (context_hash.py --scale), so that the preview's cost shows against the
context's size. One `Build` of it is brought up under the real engine against the emulator;
then each round, interleaved:

- unchanged: `pulumi preview` of the stack as it is (the files' digests are cached);
- one-line edit: a line appended to a source file, then `pulumi preview` (it must show the
  replacement); the edit is reverted afterwards and the next preview settles it;
- cold: the context cache emptied, then `pulumi preview` of the unchanged stack.

Beside them, as the reference, what a preview cost before (issue 20): the program
compressed the whole context for its contextHash (`context.digest` with an empty cache,
timed in a child). Prints medians and best, and exits 1 if a target is missed: edit ≤ 0.5 s
over unchanged, cold ≤ 2 s, or a preview that does not show what it should.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from context_hash import OURS, prepare
from harness import engine_stack, finish, json_option, measure, recorder, timed

from pcc_provider.emulator import Emulator

EDIT_TARGET = 0.5
COLD_TARGET = 2.0
PROGRAM = """
import pulumi
from pcc_provider import Build

image = Build("image", context=pulumi.Config().require("context"))
pulumi.export("contextHash", image.context_hash)
"""


LABELS = {
    "unchanged": "unchanged stack",
    "edit": "after a one-line edit",
    "cold": "unchanged, empty context cache",
}


def one_size(folder: Path, name: str, root: Path, rounds: int) -> dict[str, Any]:
    """Preview times of one Build of `root` (a stack of its own), and the reference."""
    edited = root / "src" / "pkg00" / "sub0" / "module_0000.py"
    original = edited.read_bytes()
    with Emulator(
        folder / f"emulator-{name}", api_key="pk_benchmark_key", build_seconds=0.5
    ) as emu:
        stack = engine_stack(folder, name, PROGRAM, emu.api_url)
        stack.config("context", str(root))
        cache = Path(stack.env["PCC_PROVIDER_CACHE_DIR"])
        first_up = timed(stack.up)
        stack.preview()  # the digests of files younger than a tick are kept from here on

        def unchanged() -> bool:
            return "2 unchanged" in stack.preview().stdout

        times: dict[str, list[float]] = {"unchanged": [], "edit": [], "cold": []}
        shown = True
        try:
            for i in range(rounds):
                times["unchanged"].append(timed(lambda: stack.preview()))
                with open(edited, "ab") as source:
                    source.write(f"# edit {i}\n".encode())
                start = time.perf_counter()
                output = stack.preview().stdout
                times["edit"].append(time.perf_counter() - start)
                shown &= "+-1 to replace" in output
                edited.write_bytes(original)
                shown &= unchanged()  # settles the reverted file's digest
                shutil.rmtree(cache, ignore_errors=True)
                times["cold"].append(timed(lambda: stack.preview()))
                shown &= unchanged()
        finally:
            edited.write_bytes(original)
    # What every preview cost before: compressing the whole context for its contextHash.
    empty = {**os.environ, "PCC_PROVIDER_CACHE_DIR": str(folder / f"empty-cache-{name}")}
    before = measure(OURS, [str(root)], empty)
    return {"times": times, "shown": shown, "before": before, "first_up": first_up}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--scales", type=float, nargs="+", default=[1.0], help="tree sizes (1: 340 MB)"
    )
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("edit_preview", args)
    rec.params = {"rounds": args.rounds, "scales": args.scales}
    checks = []
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for n, scale in enumerate(sorted(args.scales)):
            root, temporary = prepare(args.folder, scale)
            try:
                run = one_size(Path(tmp), f"edit{n}", root, args.rounds)
            finally:
                if temporary:
                    shutil.rmtree(root.parent, ignore_errors=True)
            times, before = run["times"], run["before"]

            def median(name: str, times: dict[str, list[float]] = times) -> float:
                return statistics.median(times[name])

            files, size = int(before["files"]), int(before["bytes"])
            print(f"\ncontext: {root} ({files} files, {size / 1e6:.1f} MB)")
            print(f"first `pulumi up` {run['first_up']:.1f} s")
            print("| pulumi preview | median (s) | best (s) | median over unchanged (s) |")
            print("|---|---:|---:|---:|")
            for name, label in LABELS.items():
                shown = "" if name == "unchanged" else f"{median(name) - median('unchanged'):+.2f}"
                print(f"| {label} | {median(name):.2f} | {min(times[name]):.2f} | {shown} |")
            print(
                f"| reference: before, the program compressed the context on every change "
                f"(`context.digest`, empty cache, the call alone) | "
                f"{float(before['seconds']):.2f} | | |"
            )
            at = f"x{scale:g}"
            params: dict[str, Any] = {"scale": scale, "files": files, "bytes": size}
            rec.add(
                f"{at}.before", before["seconds"], "s", "before: compress for contextHash", **params
            )
            over = median("edit") - median("unchanged")
            targets: dict[str, dict[str, Any]] = {
                "unchanged": {},
                "edit": {"target": f"<= +{EDIT_TARGET:g} s", "ok": over <= EDIT_TARGET},
                "cold": {"target": f"<= {COLD_TARGET:g} s", "ok": median("cold") <= COLD_TARGET},
            }
            for name, label in LABELS.items():
                ref = None if name == "unchanged" else f"{at}.unchanged.median"
                rec.add(
                    f"{at}.{name}.median", median(name), "s", label, ref, **params, **targets[name]
                )
                rec.add(f"{at}.{name}.best", min(times[name]), "s", f"{label}, best", **params)
            rec.add(f"{at}.first_up", run["first_up"], "s", "first pulumi up", **params)
            mb = f"{size / 1e6:.0f} MB"
            checks += [
                (f"{mb}: every preview showed what it should", run["shown"]),
                (
                    f"{mb}: edit: median {over:+.2f} s over unchanged <= {EDIT_TARGET} s",
                    over <= EDIT_TARGET,
                ),
                (
                    f"{mb}: cold: median {median('cold'):.2f} s <= {COLD_TARGET} s",
                    median("cold") <= COLD_TARGET,
                ),
            ]
    return finish(rec, checks)


if __name__ == "__main__":
    sys.exit(main())
