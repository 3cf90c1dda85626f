"""Benchmark: contextHash of a ~340 MB build context, ours against the official CLI's.

    .venv/bin/python benchmarks/context_hash.py [FOLDER] [--scale 1] [--json OUT]

Generates a reproducible context in FOLDER (reused when it already holds this benchmark's
tree; a temporary folder when omitted): 2,000 source files, three 100 MB incompressible
assets, and a .venv folder the default exclusions leave out. Then measures, each in its own
process so that peak RSS is that run's alone:

- ours, cold: `select` + `digest` with an empty cache (hashes every file, compresses);
- ours, warm: the same on the unchanged tree (a stat per file; the rest from the cache);
- the official CLI: `get_exclusions` + `create_deterministic_tarball` (it has no cache);
- `python -m pcc_provider hash FOLDER` as a whole process on the unchanged tree.

Times are taken around the calls, after imports, except for the CLI (whole process, best
and median of 5). Beside them, what a preview does in the program (one child, its own empty
cache): list the files (`select`), then their content digest with an empty cache, unchanged,
and after a one-line edit (`content_digest`). Exits 1 if the hashes differ or a target is
missed.

--scale S makes a tree S times the size (files and assets; 1 is the README's 340 MB), in
FOLDER-xS when FOLDER is given. --json OUT records the figures (bench_results.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import finish, json_option, measure, recorder

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

# What a preview does with the context, in one process: list, then content digests.
DIGESTS = """
import json, sys, time
from pathlib import Path
from pcc_provider import context
root, edited = sys.argv[1], Path(sys.argv[2])
t = time.perf_counter()
ctx = context.select(root)
listed = time.perf_counter() - t
t = time.perf_counter()
context.content_digest(ctx)
cold = time.perf_counter() - t
again = context.select(root)
t = time.perf_counter()
context.content_digest(again)
unchanged = time.perf_counter() - t
with open(edited, "ab") as source:
    source.write(b"# one more line\\n")
again = context.select(root)
t = time.perf_counter()
context.content_digest(again)
edit = time.perf_counter() - t
print(json.dumps({"select": listed, "cold": cold, "unchanged": unchanged, "edit": edit}))
"""
EDITED = Path("src", "pkg00", "sub0", "module_0000.py")


def spec(scale: float) -> str:
    return SPEC if scale == 1 else f"{SPEC}, scale {scale:g}"


def tree_folder(folder: str | None, scale: float) -> str | None:
    """Where the tree of `scale` lives for FOLDER: FOLDER itself at scale 1, else FOLDER-xS."""
    if folder is None or scale == 1:
        return folder
    return f"{folder.rstrip('/')}-x{scale:g}"


def generate(root: Path, scale: float = 1.0) -> None:
    """The benchmark tree; the same bytes on every machine for the same SEED and scale."""
    sources, asset_mb, venv_files = (
        max(1, round(2000 * scale)),
        max(1, round(100 * scale)),
        max(1, round(1000 * scale)),
    )
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
    for i in range(sources):
        package = root / "src" / f"pkg{i % 40:02d}" / f"sub{i % 7}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"module_{i:04d}.py").write_bytes(source(rng.randrange(2_000, 38_000)))
    assets = root / "assets"
    assets.mkdir()
    for i in range(3):
        blob = random.Random(SEED + i)
        with open(assets / f"model-{i}.bin", "wb") as out:
            for _ in range(asset_mb):
                out.write(blob.randbytes(MB))
    venv = root / ".venv" / "lib" / "python3.12" / "site-packages"
    for i in range(venv_files):
        package = venv / f"dep{i % 50}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"m{i}.py").write_bytes(source(10_000))
    (root / MARKER).write_text(spec(scale))


def prepare(folder: str | None, scale: float = 1.0) -> tuple[Path, bool]:
    folder = tree_folder(folder, scale)
    if folder is None:
        root = Path(tempfile.mkdtemp(prefix="pcc-bench-")) / "agent"
        generate(root, scale)
        return root, True
    root = Path(folder).resolve()
    if (root / MARKER).is_file() and (root / MARKER).read_text() == spec(scale):
        return root, False
    if root.exists() and any(root.iterdir()):
        sys.exit(f"{root} is not empty and not a benchmark tree: pass an empty or new folder")
    generate(root, scale)
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
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--scale", type=float, default=1.0, help="1: the 340 MB tree")
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("context_hash", args)
    root, temporary = prepare(args.folder, args.scale)
    cache = Path(tempfile.mkdtemp(prefix="pcc-bench-cache-"))
    env = {**os.environ, "PCC_PROVIDER_CACHE_DIR": str(cache)}
    edited = root / EDITED
    original = edited.read_bytes()
    try:
        # Files younger than a fraction of a second are not cached (see context.cache.racy).
        time.sleep(0.2)
        official = measure(OFFICIAL, [str(root)], env)
        cold = measure(OURS, [str(root)], env)
        warm = measure(OURS, [str(root)], env)
        cli = cli_seconds(root, env)
        own = {**env, "PCC_PROVIDER_CACHE_DIR": str(cache / "digests")}
        digests = measure(DIGESTS, [str(root), str(edited)], own)
    finally:
        edited.write_bytes(original)
        shutil.rmtree(cache, ignore_errors=True)
        if temporary:
            shutil.rmtree(root.parent, ignore_errors=True)

    files, size = int(cold["files"]), int(cold["bytes"])
    print(f"context: {root} ({files} files, {size / MB:.1f} MB selected)")
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
    print("\nin the program, as a preview does it (s):")
    for name, label in DIGEST_LABELS.items():
        print(f"    {label:52} {float(digests[name]):.3f}")

    rec.params = {"scale": args.scale, "files": files, "bytes": size}
    rec.details = {"hash": cold["hash"], "official_hash": official["hash"]}
    rec.add("official.seconds", official["seconds"], "s", "official CLI")
    rec.add("official.rss", official["rss_mib"], "MiB", "official CLI")
    rec.add(
        "cold.seconds",
        cold["seconds"],
        "s",
        "ours, cold",
        "official.seconds",
        target="<= official",
        ok=float(cold["seconds"]) <= float(official["seconds"]),
    )
    rec.add(
        "cold.rss",
        cold["rss_mib"],
        "MiB",
        "ours, cold",
        "official.rss",
        target="<= 100 MB",
        ok=float(cold["rss_mib"]) * MiB <= 100 * MB,
    )
    rec.add("warm.seconds", warm["seconds"], "s", "ours, warm", "official.seconds")
    rec.add("warm.rss", warm["rss_mib"], "MiB", "ours, warm", "official.rss")
    rec.add("cli.best", min(cli), "s", "python -m pcc_provider hash, unchanged, best")
    median = statistics.median(cli)
    rec.add(
        "cli.median",
        median,
        "s",
        "the same, median",
        runs=len(cli),
        target="<= 0.5 s",
        ok=median <= 0.5,
    )
    for name, label in DIGEST_LABELS.items():
        rec.add(f"program.{name}", digests[name], "s", label)

    checks = [
        ("same hash", official["hash"] == cold["hash"] == warm["hash"]),
        ("warm run answered from the cache", warm["cached"] is True),
        ("cold time <= official", float(cold["seconds"]) <= float(official["seconds"])),
        ("peak RSS <= 100 MB", float(cold["rss_mib"]) * MiB <= 100 * MB),
        ("CLI on unchanged context <= 0.5 s", statistics.median(cli) <= 0.5),
    ]
    return finish(rec, checks)


DIGEST_LABELS = {
    "select": "list the files (`select`)",
    "cold": "content digest, empty cache (every file read)",
    "unchanged": "content digest, unchanged",
    "edit": "content digest after a one-line edit",
}


if __name__ == "__main__":
    sys.exit(main())
