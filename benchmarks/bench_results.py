"""benchmarks/results.json: the figures the benchmarks measured, and the runs they came from.

Standard library only: the README's tables and the plots in docs/ are made from this file by
code that runs without the benchmarks' dependencies (tests/unit/test_bench_tables.py).

The file holds two maps:

- "figures", by key (`waiting.checkpoints.40.seconds`): the value and its unit, a label, the
  benchmark run it comes from (`run`, a key of "runs"), the parameters it was measured with,
  and, when it has one, its reference: another figure of the same run (`{"key", "value",
  "unit"}`), or a value computed rather than measured (`"computed": true`);
- "runs", by benchmark (`context_hash`, `parallel_builds_yaml`): the mode (quick, full, or
  custom: run with other arguments than bench.py's), the date, the exact command (and the
  driver's, when bench.py ran it), the machine, the load average at the start and the end,
  how long it took, the benchmark's checks and whatever else it reported (`details`).

A run replaces every figure of its benchmark and leaves the others' alone, so a quick run of
one benchmark keeps the full figures of the rest; each figure says, through its run, which
mode measured it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = 1
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results.json"
# Set by bench.py for the scripts it runs: its mode for them and its own command line.
MODE_ENV, DRIVER_ENV = "PCC_BENCH_MODE", "PCC_BENCH_DRIVER"


@dataclass
class Figure:
    key: str
    value: float
    unit: str
    label: str
    reference: str | None = None  # the key of another figure of the same run
    computed: bool = False  # worked out (from a schedule, a formula), not measured
    params: dict[str, Any] = field(default_factory=dict)


def load_average() -> list[float]:
    return [round(n, 2) for n in os.getloadavg()]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    pulumi = Path(sys.executable).parent / "pulumi"
    version = None
    if pulumi.exists():
        try:
            version = subprocess.run(
                [str(pulumi), "version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            version = None
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "pulumi": version,
    }


def read(path: Path = RESULTS) -> dict[str, Any]:
    if not path.exists():
        return {"format": FORMAT, "figures": {}, "runs": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise SystemExit(f"{path}: format {data.get('format')!r}, expected {FORMAT}")
    return data


def write(data: dict[str, Any], path: Path = RESULTS) -> None:
    """Atomically, sorted, so that a diff shows what changed."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text)
    os.replace(out.name, path)


def _number(value: float) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return round(float(value), 4)


def merge(
    data: dict[str, Any], run_name: str, run: dict[str, Any], figures: list[Figure]
) -> dict[str, Any]:
    """`data` with `run_name`'s figures replaced by `figures` (the others' kept)."""
    keys = {f.key for f in figures}
    if len(keys) != len(figures):
        raise ValueError(f"{run_name}: a figure key is used twice")
    by_key = {f.key: f for f in figures}
    out = {
        k: v
        for k, v in data.get("figures", {}).items()
        if v.get("run") != run_name and k not in keys
    }
    for f in figures:
        entry: dict[str, Any] = {
            "value": _number(f.value),
            "unit": f.unit,
            "label": f.label,
            "run": run_name,
        }
        if f.params:
            entry["params"] = f.params
        if f.computed:
            entry["computed"] = True
        if f.reference is not None:
            ref = by_key.get(f.reference)
            if ref is None:
                raise ValueError(f"{f.key}: its reference {f.reference} is not of this run")
            entry["reference"] = {"key": ref.key, "value": _number(ref.value), "unit": ref.unit}
        out[f.key] = entry
    runs = {**data.get("runs", {}), run_name: run}
    used = {v["run"] for v in out.values()}
    return {
        "format": FORMAT,
        "figures": out,
        "runs": {k: v for k, v in runs.items() if k in used},
    }


def command_line(argv: list[str]) -> str:
    """The command as run, with paths inside the repository made relative to it."""
    import shlex

    def rel(arg: str) -> str:
        path = Path(os.path.abspath(arg))
        if path.is_relative_to(REPO) and (arg.startswith(("/", ".")) or path.exists()):
            return str(path.relative_to(REPO))
        return arg

    return shlex.join([rel(sys.executable), *(rel(a) for a in argv)])


class Recorder:
    """Collects one benchmark run's figures; `finish` records them (with --json)."""

    def __init__(self, name: str, out: Path | None) -> None:
        self.name = name
        self.out = out
        self.figures: list[Figure] = []
        self.details: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.started = now()
        self.load_start = load_average()
        self._t0 = time.monotonic()

    def add(
        self,
        key: str,
        value: float,
        unit: str,
        label: str,
        reference: str | None = None,
        computed: bool = False,
        **params: Any,
    ) -> str:
        key = f"{self.name}.{key}"
        ref = None if reference is None else f"{self.name}.{reference}"
        self.figures.append(Figure(key, value, unit, label, ref, computed, params))
        return key

    def record(self, checks: list[tuple[str, bool]]) -> None:
        if self.out is None:
            return
        run = {
            "mode": os.environ.get(MODE_ENV, "custom"),
            "date": self.started,
            "command": command_line(sys.argv),
            "driver": os.environ.get(DRIVER_ENV),
            "machine": machine(),
            "load": {"start": self.load_start, "end": load_average()},
            "seconds": round(time.monotonic() - self._t0, 1),
            "params": self.params,
            "checks": [{"name": name, "ok": ok} for name, ok in checks],
            "details": self.details,
        }
        write(merge(read(self.out), self.name, run, self.figures), self.out)
        print(f"\nrecorded {len(self.figures)} figures of {self.name} in {self.out}")


# -- what bench.py runs --------------------------------------------------------------------

DATA = ".bench-data"  # the generated contexts and archives, kept between runs (gitignored)


@dataclass
class Unit:
    """One benchmark run as bench.py makes it: `script` with the arguments of each mode."""

    name: str  # the key of its run in results.json
    script: str
    full: list[str]
    quick: list[str] | None  # None: the full figures are kept by a quick run
    flag: str = ""  # what tells this run from another of the same script

    @property
    def title(self) -> str:
        return f"{self.script} {self.flag}".strip()


UNITS = [
    Unit(
        "context_hash",
        "context_hash.py",
        [f"{DATA}/context"],
        [f"{DATA}/context", "--scale", "0.1"],
    ),
    Unit(
        "edit_preview",
        "edit_preview.py",
        [f"{DATA}/context", "--scales", "0.1", "0.3", "1", "--rounds", "5"],
        [f"{DATA}/context", "--scales", "0.03", "0.1", "--rounds", "2"],
    ),
    Unit("upload", "upload.py", [f"{DATA}/upload"], [f"{DATA}/upload", "--sizes", "10", "80"]),
    Unit("parallel_builds", "parallel_builds.py", [], ["--seconds", "2"]),
    Unit("parallel_builds_yaml", "parallel_builds.py", ["--yaml"], None, "--yaml"),
    Unit(
        "parallel_builds_typescript", "parallel_builds.py", ["--typescript"], None, "--typescript"
    ),
    Unit("build_latency", "build_latency.py", [], ["--durations", "4"]),
    Unit(
        "noop_preview",
        "noop_preview.py",
        ["--dist", f"{DATA}/dist"],
        ["--rounds", "3", "--dist", f"{DATA}/dist"],
    ),
    Unit(
        "waiting",
        "waiting.py",
        ["--customers", "200", "--also-customers", "10", "40", "100", "--also-skip-checkpoints"],
        [
            *("--customers", "10", "--deploy-seconds", "10", "--set-seconds", "3"),
            *("--warm-seconds", "1", "--also-skip-checkpoints"),
        ],
    ),
    # The horizon of issue 33: a thousand customers, in one `up` and one `destroy`.
    Unit(
        "waiting_horizon",
        "waiting.py",
        ["--horizon", "--customers", "1000", "--skip-checkpoints"],
        None,
        "--horizon",
    ),
    Unit(
        "ignored_sigint",
        "ignored_sigint.py",
        ["--tests", "tests/engine/test_engine_smoke.py"],
        ["--rounds", "3"],
    ),
    Unit(
        "plugin_start",
        "plugin_start.py",
        ["--dist", f"{DATA}/dist"],
        ["--dist", f"{DATA}/dist", "--rounds", "5"],
    ),
]
