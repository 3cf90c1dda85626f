"""`pulumi preview` after a one-line edit in a ~340 MB context, and a cold preview.

    .venv/bin/python benchmarks/edit_preview.py [FOLDER] [--rounds N]

The context is context_hash.py's tree (reused from FOLDER when it holds it): 2,006 selected
files, 340 MB, three of them 100 MB model-sized assets. One `Build` of it is brought up
under the real engine against the emulator; then each round, interleaved:

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

from context_hash import OURS, prepare
from harness import engine_stack, measure, timed, verdict

from pcc_provider.emulator import Emulator

EDIT_TARGET = 0.5
COLD_TARGET = 2.0
PROGRAM = """
import pulumi
from pcc_provider import Build

image = Build("image", context=pulumi.Config().require("context"))
pulumi.export("contextHash", image.context_hash)
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root, temporary = prepare(args.folder)
    edited = root / "src" / "pkg00" / "sub0" / "module_0000.py"
    original = edited.read_bytes()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(Path(tmp) / "emulator", api_key="pk_benchmark_key", build_seconds=0.5) as emu,
    ):
        folder = Path(tmp)
        stack = engine_stack(folder, "edit", PROGRAM, emu.api_url)
        stack.config("context", str(root))
        cache = Path(stack.env["PCC_PROVIDER_CACHE_DIR"])
        started = time.perf_counter()
        stack.up()
        first_up = time.perf_counter() - started
        stack.preview()  # the digests of files younger than a tick are kept from here on

        def unchanged() -> bool:
            return "2 unchanged" in stack.preview().stdout

        times: dict[str, list[float]] = {"unchanged": [], "edit": [], "cold": []}
        shown = True
        for i in range(args.rounds):
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
        # What every preview cost before: compressing the whole context for its contextHash.
        empty = {**os.environ, "PCC_PROVIDER_CACHE_DIR": str(folder / "empty-cache")}
        before = measure(OURS, [str(root)], empty)
    if temporary:
        shutil.rmtree(root.parent, ignore_errors=True)

    def median(name: str) -> float:
        return statistics.median(times[name])

    print(f"context: {root} ({before['files']} files, {int(before['bytes']) / 1e6:.1f} MB)")
    python = sys.version.split()[0]
    print(f"python {python}, {os.cpu_count()} cores; first `pulumi up` {first_up:.1f} s")
    print(f"load average at the end: {', '.join(f'{n:.1f}' for n in os.getloadavg())}")
    print()
    print("| pulumi preview | median (s) | best (s) | median over unchanged (s) |")
    print("|---|---:|---:|---:|")
    for name, label in (
        ("unchanged", "unchanged stack"),
        ("edit", "after a one-line edit"),
        ("cold", "unchanged, empty context cache"),
    ):
        over = "" if name == "unchanged" else f"{median(name) - median('unchanged'):+.2f}"
        print(f"| {label} | {median(name):.2f} | {min(times[name]):.2f} | {over} |")
    print(
        f"| reference: before, the program compressed the context on every change "
        f"(`context.digest`, empty cache, the call alone) | {float(before['seconds']):.2f} | | |"
    )
    over = median("edit") - median("unchanged")
    checks = [
        ("every preview showed what it should", shown),
        (f"edit: median {over:+.2f} s over unchanged <= {EDIT_TARGET} s", over <= EDIT_TARGET),
        (f"cold: median {median('cold'):.2f} s <= {COLD_TARGET} s", median("cold") <= COLD_TARGET),
    ]
    return verdict(checks)


if __name__ == "__main__":
    sys.exit(main())
