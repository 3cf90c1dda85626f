"""Start time and size of the released plugin, beside the plugin run from a Python install.

    .venv/bin/python benchmarks/plugin_start.py [--rounds N] [--archive PATH | --dist DIR]
                                                [--json OUT]

The archive is dist/'s (`make dist`) for this machine, or that of DIR (`scripts/dist.py plugin
--out DIR`: `make bench` makes it in .bench-data/dist). It is unpacked as the engine unpacks
it; each round then starts the frozen plugin and, for reference, the same provider as a
Python install runs it (`python -m pcc_provider.native`), interleaved so that load on the
machine hits both alike. A start is the time from exec until the plugin prints its port
(the engine waits for that line before its first call); the process is then killed. Prints
the archive's size, the unpacked size, and the median and best start of each. Exits 1 if
the frozen plugin's median start is over the target (0.5 s) or the archive over 40 MB.
--json OUT records the figures (bench_results.py).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from harness import REPO, finish, json_option, recorder

sys.path.insert(0, str(REPO))
from pcc_provider.native.archive import PLUGIN, archive_name

START_TARGET = 0.5  # seconds, median
SIZE_TARGET = 40e6  # bytes of the archive users download


def start(argv: list[str]) -> float:
    began = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    port = child.stdout.readline().strip()
    took = time.perf_counter() - began
    child.kill()
    child.wait()
    if not port.isdigit():
        assert child.stderr is not None
        sys.exit(f"{argv[0]} printed {port!r} instead of a port: {child.stderr.read()[-2000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--archive", type=Path)
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="the archive's folder")
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("plugin_start", args)
    if args.archive is None:
        args.archive = args.dist / archive_name()
    if not args.archive.exists():
        sys.exit(f"{args.archive} is missing: run `make dist` (or `make bench`)")
    with tempfile.TemporaryDirectory() as tmp:
        unpacked = Path(tmp)
        with tarfile.open(args.archive) as archive:
            archive.extractall(unpacked, filter="tar")
        size = sum(p.stat().st_size for p in unpacked.rglob("*") if p.is_file())
        # The address of an engine that is not there: the plugin prints its port before
        # it ever calls the engine.
        runs = {
            "frozen plugin (release)": [str(unpacked / PLUGIN), "127.0.0.1:1"],
            "python -m pcc_provider.native": [
                *(sys.executable, "-m", "pcc_provider.native", "127.0.0.1:1")
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for argv in runs.values():
            start(argv)  # warm the page cache once
        for _ in range(args.rounds):
            for name, argv in runs.items():
                times[name].append(start(argv))

    archive_bytes = args.archive.stat().st_size
    print(
        f"archive {args.archive.name}: {archive_bytes / 1e6:.1f} MB, unpacked {size / 1e6:.1f} MB"
    )
    print(f"{'start (exec to port line)':34} {'median':>8} {'best':>8}  ({args.rounds} rounds)")
    for name, taken in times.items():
        print(f"{name:34} {statistics.median(taken):7.3f}s {min(taken):7.3f}s")
    frozen = statistics.median(times["frozen plugin (release)"])
    python = times["python -m pcc_provider.native"]
    rec.params = {"rounds": args.rounds, "archive": args.archive.name}
    rec.add(
        "archive.mb",
        archive_bytes / 1e6,
        "MB",
        "the release's plugin archive",
        target=f"<= {SIZE_TARGET / 1e6:.0f} MB",
        ok=archive_bytes <= SIZE_TARGET,
    )
    rec.add("unpacked.mb", size / 1e6, "MB", "the same, unpacked")
    rec.add("python.median", statistics.median(python), "s", "python -m pcc_provider.native")
    rec.add("python.best", min(python), "s", "the same, best")
    rec.add(
        "frozen.median",
        frozen,
        "s",
        "frozen plugin (release)",
        "python.median",
        target=f"<= {START_TARGET:g} s",
        ok=frozen <= START_TARGET,
    )
    rec.add("frozen.best", min(times["frozen plugin (release)"]), "s", "the same, best")
    return finish(
        rec,
        [
            (
                f"frozen plugin median start {frozen:.3f} s <= {START_TARGET} s",
                frozen <= START_TARGET,
            ),
            (
                f"archive {archive_bytes / 1e6:.1f} MB <= {SIZE_TARGET / 1e6:.0f} MB",
                archive_bytes <= SIZE_TARGET,
            ),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
