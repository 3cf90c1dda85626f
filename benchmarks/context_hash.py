"""Benchmark: contextHash of a ~340 MB build context, ours against the official CLI's.

    .venv/bin/python benchmarks/context_hash.py [FOLDER]

Generates a reproducible context in FOLDER (reused when it already holds this benchmark's
tree; a temporary folder when omitted): 2,000 source files, three 100 MB incompressible
assets, and a .venv folder the default exclusions leave out. Then measures, each in its own
process so that peak RSS is that run's alone:

- ours, cold: `select` + `digest` with an empty cache (hashes every file, compresses);
- ours, warm: the same on the unchanged tree (a stat per file; the rest from the cache);
- the official CLI: `get_exclusions` + `create_deterministic_tarball` (it has no cache);
- `python -m pcc_provider hash FOLDER` as a whole process on the unchanged tree.

Times are taken around the calls, after imports, except for the CLI (whole process, best
and median of 5). Exits 1 if the hashes differ or a target is missed.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import measure, verdict

SEED = 20240601
MARKER = ".pcc-benchmark"
SPEC = "v1: 2000 sources, 3 x 100 MB assets, .venv"
MB = 10**6
MiB = 1024**2

OURS = """
import json, sys, time
t = time.perf_counter()
from pcc_provider import context
ctx = context.select(sys.argv[1])
d = context.digest(ctx)
print(json.dumps({"hash": d.context_hash, "seconds": time.perf_counter() - t,
                  "cached": d.cached, "files": len(ctx.files), "bytes": ctx.total_bytes}))
"""

OFFICIAL = """
import json, sys, time
from pathlib import Path
from pipecatcloud._utils.build_utils import create_deterministic_tarball, get_exclusions
t = time.perf_counter()
root = Path(sys.argv[1]).resolve()
built = create_deterministic_tarball(str(root), get_exclusions(root, None), "Dockerfile")
print(json.dumps({"hash": built.context_hash, "seconds": time.perf_counter() - t,
                  "cached": False, "files": built.file_count, "bytes": built.total_size}))
"""


def generate(root: Path) -> None:
    """The benchmark tree; the same bytes on every machine for the same SEED."""
    rng = random.Random(SEED)
    words = [
        "import",
        "from",
        "pipecat",
        "def",
        "async",
        "await",
        "return",
        "self",
        "frame",
        "pipeline",
        "transport",
        "None",
        "True",
        "class",
        "if",
        "else",
        "for",
        "in",
        "(",
        ")",
        ":",
        "=",
        "+",
        "#",
    ]
    lines = [
        "    " * rng.randrange(4) + " ".join(rng.choices(words, k=rng.randrange(2, 12))) + "\n"
        for _ in range(5000)
    ]

    def source(size: int) -> bytes:
        out: list[str] = []
        length = 0
        while length < size:
            chunk = rng.choices(lines, k=64)
            out.extend(chunk)
            length += sum(map(len, chunk))
        return "".join(out).encode()[:size]

    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(
        "FROM dailyco/pipecat-base:latest\nCOPY ./pyproject.toml ./\nCOPY . /app\n"
    )
    (root / "pyproject.toml").write_text('[project]\nname = "bench-agent"\nversion = "0.1.0"\n')
    for i in range(2000):
        package = root / "src" / f"pkg{i % 40:02d}" / f"sub{i % 7}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"module_{i:04d}.py").write_bytes(source(rng.randrange(2_000, 38_000)))
    assets = root / "assets"
    assets.mkdir()
    for i in range(3):
        blob = random.Random(SEED + i)
        with open(assets / f"model-{i}.bin", "wb") as out:
            for _ in range(100):
                out.write(blob.randbytes(MB))
    venv = root / ".venv" / "lib" / "python3.12" / "site-packages"
    for i in range(1000):
        package = venv / f"dep{i % 50}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"m{i}.py").write_bytes(source(10_000))
    (root / MARKER).write_text(SPEC)


def prepare(folder: str | None) -> tuple[Path, bool]:
    if folder is None:
        root = Path(tempfile.mkdtemp(prefix="pcc-bench-")) / "agent"
        generate(root)
        return root, True
    root = Path(folder).resolve()
    if (root / MARKER).is_file() and (root / MARKER).read_text() == SPEC:
        return root, False
    if root.exists() and any(root.iterdir()):
        sys.exit(f"{root} is not empty and not a benchmark tree: pass an empty or new folder")
    generate(root)
    return root, False


def cli_seconds(root: Path, env: dict[str, str], runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pcc_provider", "hash", str(root)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        times.append(time.perf_counter() - started)
        assert done.stdout.rstrip().endswith("(cached)"), done.stdout
    return times


def main() -> int:
    root, temporary = prepare(sys.argv[1] if len(sys.argv) > 1 else None)
    cache = Path(tempfile.mkdtemp(prefix="pcc-bench-cache-"))
    env = {**os.environ, "PCC_PROVIDER_CACHE_DIR": str(cache)}
    try:
        # Files younger than a fraction of a second are not cached (see context.cache.racy).
        time.sleep(0.2)
        official = measure(OFFICIAL, [str(root)], env)
        cold = measure(OURS, [str(root)], env)
        warm = measure(OURS, [str(root)], env)
        cli = cli_seconds(root, env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if temporary:
            shutil.rmtree(root.parent, ignore_errors=True)

    print(f"context: {root} ({cold['files']} files, {int(cold['bytes']) / MB:.1f} MB selected)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print("| run | contextHash | time (s) | peak RSS (MiB) |")
    print("|---|---|---:|---:|")
    for label, run in [
        ("official `create_deterministic_tarball`", official),
        ("ours, cold (empty cache)", cold),
        ("ours, warm (unchanged)", warm),
    ]:
        print(
            f"| {label} | `{run['hash']}` | {float(run['seconds']):.2f} "
            f"| {float(run['rss_mib']):.0f} |"
        )
    print(
        f"| `python -m pcc_provider hash`, unchanged, whole process | | "
        f"{min(cli):.3f} best, {statistics.median(cli):.3f} median | |"
    )

    checks = [
        ("same hash", official["hash"] == cold["hash"] == warm["hash"]),
        ("warm run answered from the cache", warm["cached"] is True),
        ("cold time <= official", float(cold["seconds"]) <= float(official["seconds"])),
        ("peak RSS <= 100 MB", float(cold["rss_mib"]) * MiB <= 100 * MB),
        ("CLI on unchanged context <= 0.5 s", statistics.median(cli) <= 0.5),
    ]
    return verdict(checks)


if __name__ == "__main__":
    sys.exit(main())
