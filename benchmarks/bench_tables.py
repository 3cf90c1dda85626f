"""The performance tables of the Markdown files, made from benchmarks/results.json.

A table lives between two markers, in whichever Markdown file holds it (README.md, docs/,
benchmarks/README.md; a marked block may move to another file):

    <!-- bench:engine -->
    ...made by `make bench`; edits here are overwritten...
    <!-- /bench:engine -->

`update` writes every marked block again from the results; `stale` names those that differ
(tests/unit/test_bench_tables.py). Each table says under it which run it comes from: the
mode (full, quick), the date, the machine and the load average at the start and end.

Standard library only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench_results import REPO, UNITS

OPEN = re.compile(r"<!-- bench:(?P<name>[a-z0-9-]+) -->")
CLOSE = re.compile(r"<!-- /bench:(?P<name>[a-z0-9-]+) -->")
BLOCK = re.compile(
    r"(?P<open><!-- bench:(?P<name>[a-z0-9-]+) -->)\n"
    r"(?P<body>.*?)(?P<close><!-- /bench:(?P=name) -->)",
    re.S,
)
PATTERNS = ("*.md", "docs/**/*.md", "benchmarks/**/*.md")
MISSING = "_Not measured yet: run `make bench`._"
TIMES = "\N{MULTIPLICATION SIGN}"


def markdown_files(root: Path = REPO) -> list[Path]:
    found: set[Path] = set()
    for pattern in PATTERNS:
        found.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(found)


# -- reading results.json -------------------------------------------------------------------


class Results:
    def __init__(self, data: dict[str, Any]) -> None:
        self.figures: dict[str, dict[str, Any]] = data.get("figures", {})
        self.runs: dict[str, dict[str, Any]] = data.get("runs", {})

    def fig(self, key: str) -> dict[str, Any] | None:
        return self.figures.get(key)

    def v(self, key: str) -> float:
        return float(self.figures[key]["value"])

    def has(self, *keys: str) -> bool:
        return all(k in self.figures for k in keys)

    def params(self, run: str) -> dict[str, Any]:
        params: dict[str, Any] = self.runs.get(run, {}).get("params", {})
        return params

    def fparams(self, key: str) -> dict[str, Any]:
        params: dict[str, Any] = self.figures[key].get("params", {})
        return params


# -- formatting -----------------------------------------------------------------------------


def sec(v: float) -> str:
    if v < 0.1:
        return f"{v:.3f} s"
    return f"{v:.2f} s" if v < 100 else f"{v:.0f} s"


def mib(v: float) -> str:
    return f"{v:.0f} MiB"


def mb(size_bytes: float) -> str:
    return f"{size_bytes / 1e6:.0f} MB"


def times(v: float) -> str:
    return f"{v:.2f}{TIMES}"


def pretty(target: str) -> str:
    target = target.replace("<=", "≤").replace(">=", "≥")
    return re.sub(r"(\d)x\b", rf"\1{TIMES}", target)


def tick(r: Results, *keys: str) -> str:
    """The target of the first of `keys` that has one, and whether all of them met theirs."""
    targets = [r.fparams(k) for k in keys if r.has(k) and "target" in r.fparams(k)]
    if not targets:
        return ""
    ok = all(t.get("ok") for t in targets)
    return f"{pretty(targets[0]['target'])} {'✓' if ok else '✗'}"


def table(header: list[str], align: str, rows: Iterable[list[str] | None]) -> list[str]:
    body = [row for row in rows if row is not None]
    if not body:
        return [MISSING]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align.split()) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines


MODES = {
    "full": "full mode (`make bench`)",
    "quick": "quick mode (`make bench-quick`)",
}


def _title(name: str) -> str:
    for unit in UNITS:
        if unit.name == name:
            return unit.title
    return name


def _mode(run: dict[str, Any]) -> str:
    mode = str(run.get("mode", "custom"))
    if mode in MODES:
        return MODES[mode]
    words = shlex.split(str(run.get("command", "")))
    shown = " ".join(w for w in words[1:] if not w.endswith(".json") and w != "--json")
    return f"a run of its own (`{shown}`)"


def _machine(run: dict[str, Any]) -> str:
    m = run.get("machine", {})
    return f"{m.get('cores')} cores ({m.get('cpu')}), Python {m.get('python')}"


def _load(run: dict[str, Any]) -> str:
    load = run.get("load", {})
    start, end = load.get("start", [0.0])[0], load.get("end", [0.0])[0]
    return f"{start:.1f} → {end:.1f}"


def caption(r: Results, *names: str) -> list[str]:
    """Which runs a table's figures come from: mode, date, machine, load average."""
    runs = [(n, r.runs[n]) for n in names if n in r.runs]
    if not runs:
        return []
    if len(runs) == 1:
        name, run = runs[0]
        return [
            "",
            f"_`{_title(name)}`, {_mode(run)}, {str(run['date'])[:10]}, on {_machine(run)}; "
            f"load average (1 min) {_load(run)} from its start to its end._",
        ]
    modes = {_mode(run) for _, run in runs}
    common = next(iter(modes)) if len(modes) == 1 else None
    parts = []
    for name, run in runs:
        mode = "" if common else f" {_mode(run)},"
        parts.append(f"`{_title(name)}`{mode} {str(run['date'])[:10]}, {_load(run)}")
    said = f"{common + ', ' if common else ''}on {_machine(runs[0][1])}; each run with its date "
    said += f"and the load average (1 min) from its start to its end: {'; '.join(parts)}"
    return ["", f"_{said[:1].upper()}{said[1:]}._"]


# -- the tables -----------------------------------------------------------------------------


def context_hash(r: Results) -> list[str]:
    p = r.params("context_hash")
    if not r.has("context_hash.official.seconds"):
        return [MISSING]
    head = f"contextHash of a {mb(p['bytes'])} context ({p['files']:,} files)"
    c = "context_hash"
    rows = [
        [
            "official CLI (`create_deterministic_tarball`)",
            sec(r.v(f"{c}.official.seconds")),
            mib(r.v(f"{c}.official.rss")),
        ],
        ["ours, cold", sec(r.v(f"{c}.cold.seconds")), mib(r.v(f"{c}.cold.rss"))],
        ["ours, unchanged (warm)", sec(r.v(f"{c}.warm.seconds")), mib(r.v(f"{c}.warm.rss"))],
        [
            "`python -m pcc_provider hash`, unchanged, whole process (median)",
            sec(r.v(f"{c}.cli.median")),
            "",
        ],
    ]
    return table([head, "time", "peak RSS"], "--- ---: ---:", rows) + caption(r, c)


def _checks(r: Results, name: str) -> list[str]:
    checks = r.runs.get(name, {}).get("checks", [])
    if not checks:
        return []
    said = "; ".join(f"{pretty(c['name'])} {'✓' if c['ok'] else '✗'}" for c in checks)
    return ["", f"Checks: {said}."]


def context_hash_detail(r: Results) -> list[str]:
    c = "context_hash"
    if not r.has(f"{c}.official.seconds"):
        return [MISSING]
    details = r.runs[c].get("details", {})
    rows = []
    for label, key, digest in [
        ("official `create_deterministic_tarball`", "official", details.get("official_hash")),
        ("ours, cold (empty cache)", "cold", details.get("hash")),
        ("ours, warm (unchanged)", "warm", details.get("hash")),
    ]:
        rows.append(
            [
                label,
                f"`{digest}`",
                f"{r.v(f'{c}.{key}.seconds'):.2f}",
                f"{r.v(f'{c}.{key}.rss'):.0f}",
            ]
        )
    rows.append(
        [
            "`python -m pcc_provider hash`, unchanged, whole process",
            "",
            f"{r.v(f'{c}.cli.best'):.3f} best, {r.v(f'{c}.cli.median'):.3f} median",
            "",
        ]
    )
    head = ["run", "contextHash", "time (s)", "peak RSS (MiB)"]
    return table(head, "--- --- ---: ---:", rows) + _checks(r, c) + caption(r, c)


def content_digest(r: Results) -> list[str]:
    c = "context_hash"
    if not r.has(f"{c}.program.select"):
        return [MISSING]
    p = r.params(c)
    rows = [
        [f"list the {p['files']:,} files (`select`)", sec(r.v(f"{c}.program.select"))],
        ["content digest, unchanged (a stat per file)", sec(r.v(f"{c}.program.unchanged"))],
        ["content digest after a one-line edit", sec(r.v(f"{c}.program.edit"))],
        ["content digest, empty cache (every file read)", sec(r.v(f"{c}.program.cold"))],
    ]
    head = [f"in the program, one process, the {mb(p['bytes'])} context", "time"]
    return table(head, "--- ---:", rows) + caption(r, c)


def _unchanged_keys(r: Results) -> list[str]:
    """edit_preview's figures by context size (a key per scale: edit_preview.x0.3...)."""
    keys = [
        k for k in r.figures if k.startswith("edit_preview.") and k.endswith(".unchanged.median")
    ]
    return sorted(keys, key=lambda k: float(r.fparams(k)["scale"]))


def edit_preview(r: Results) -> list[str]:
    keys = _unchanged_keys(r)
    if not keys:
        return [MISSING]
    at = keys[-1].removesuffix(".unchanged.median")  # the largest context
    p = r.fparams(f"{at}.unchanged.median")
    unchanged = r.v(f"{at}.unchanged.median")
    rows = []
    for name, label in (
        ("unchanged", "unchanged stack"),
        ("edit", "after a one-line edit (one file reread)"),
        ("cold", "unchanged, empty context cache (every file read)"),
    ):
        median = r.v(f"{at}.{name}.median")
        over = "" if name == "unchanged" else f"{median - unchanged:+.2f} s"
        rows.append(
            [
                label,
                sec(median),
                sec(r.v(f"{at}.{name}.best")),
                over,
                tick(r, f"{at}.{name}.median"),
            ]
        )
    rows.append(
        [
            "before: the program compressed the whole context for its `contextHash` (the call "
            "alone)",
            sec(r.v(f"{at}.before")),
            "",
            "",
            "",
        ]
    )
    rounds = r.params("edit_preview").get("rounds")
    head = [
        f"`pulumi preview`, one `Build` of {mb(p['bytes'])} ({p['files']:,} files), "
        f"{rounds} rounds",
        "median",
        "best",
        "median over unchanged",
        "target",
    ]
    return table(head, "--- ---: ---: ---: ---", rows) + caption(r, "edit_preview")


def edit_preview_sizes(r: Results) -> list[str]:
    rows = []
    for key in _unchanged_keys(r):
        at = key.removesuffix(".unchanged.median")
        p = r.fparams(key)
        rows.append(
            [
                f"{mb(p['bytes'])}, {p['files']:,} files",
                sec(r.v(f"{at}.unchanged.median")),
                sec(r.v(f"{at}.edit.median")),
                sec(r.v(f"{at}.cold.median")),
                sec(r.v(f"{at}.before")),
                sec(r.v(f"{at}.first_up")),
            ]
        )
    head = [
        "context",
        "unchanged",
        "one-line edit",
        "empty cache",
        "before: compress (the call alone)",
        "first `pulumi up`",
    ]
    return table(head, "--- ---: ---: ---: ---: ---:", rows) + caption(r, "edit_preview")


def _upload_sizes(r: Results) -> list[int]:
    return [int(s) for s in r.params("upload").get("sizes_mb", [])]


def upload_summary(r: Results) -> list[str]:
    sizes = _upload_sizes(r)
    if not sizes or not r.has(*(f"upload.ours.{s}.rss" for s in sizes)):
        return [MISSING]
    u = "upload"

    def row(label: str, who: str, what: str, fmt: Callable[[float], str]) -> list[str]:
        return [label, *(fmt(r.v(f"{u}.{who}.{s}.{what}")) for s in sizes)]

    rows = [
        row("ours (`Client.upload`, streamed): peak RSS", "ours", "rss", mib),
        row(
            "official CLI (`upload_to_s3`, whole archive in memory): peak RSS",
            "official",
            "rss",
            mib,
        ),
        row("ours: time", "ours", "seconds", sec),
        row("official CLI: time", "official", "seconds", sec),
    ]
    head = [
        "upload of the archive to the storage URL (emulator)",
        *(f"{s} MB" for s in sizes),
    ]
    align = "--- " + " ".join("---:" for _ in sizes)
    return table(head, align, rows) + caption(r, u)


def upload(r: Results) -> list[str]:
    sizes = _upload_sizes(r)
    if not sizes or not r.has(*(f"upload.ours.{s}.rss" for s in sizes)):
        return [MISSING]
    u = "upload"
    rows = [
        ["ours, import + `Client()` only", "", "", f"{r.v(f'{u}.ours.baseline.rss'):.0f}"],
        ["official, import only", "", "", f"{r.v(f'{u}.official.baseline.rss'):.0f}"],
    ]
    for who, label in (("ours", "ours, `Client.upload`"), ("official", "official, `upload_to_s3`")):
        for s in sizes:
            at = f"{u}.{who}.{s}"
            rows.append(
                [
                    f"{label}, {mb(r.fparams(f'{at}.seconds')['bytes'])}",
                    f"{r.v(f'{at}.seconds'):.2f}",
                    f"{r.v(f'{at}.mbps'):.0f}",
                    f"{r.v(f'{at}.rss'):.0f}",
                ]
            )
    rows.append(["emulator (server), whole run", "", "", f"{r.v(f'{u}.emulator.rss'):.0f}"])
    head = ["run", "time (s)", "MB/s", "peak RSS (MiB)"]
    return table(head, "--- ---: ---: ---:", rows) + _checks(r, u) + caption(r, u)


DOORS = {
    "parallel_builds": "",
    "parallel_builds_yaml": ", a YAML program over the native provider (`--yaml`)",
    "parallel_builds_typescript": ", a TypeScript program on the generated SDK (`--typescript`)",
}


def _engine_rows(r: Results) -> Iterable[list[str] | None]:
    for name, door in DOORS.items():
        if r.has(f"{name}.many.seconds"):
            p = r.params(name)
            yield [
                f"{p['builds']} new Builds, builds of {p['build_seconds']:g} s, one `pulumi up` "
                f"(`parallel_builds.py`){door}",
                f"{sec(r.v(f'{name}.many.seconds'))} = {times(r.v(f'{name}.ratio'))}",
                f"1 Build: {sec(r.v(f'{name}.one.seconds'))}",
                tick(r, f"{name}.ratio"),
            ]
    durations = [float(d) for d in r.params("build_latency").get("durations", [])]
    keys = [f"build_latency.{d:g}" for d in durations]
    if durations and r.has(*(f"{k}.latency" for k in keys)):
        worst = " / ".join(f"{r.v(f'{k}.previous_worst'):.2f}" for k in keys)
        yield [
            f"build end → resource created (`build_latency.py`), builds of "
            f"{' / '.join(f'{d:g}' for d in durations)} s ending just after a poll (near our "
            "worst case)",
            " / ".join(f"{r.v(f'{k}.latency'):.2f}" for k in keys) + " s",
            f"previous schedule (computed), worst case for a build that long: {worst} s "
            "(10 s for any build over 25 s)",
            tick(r, *(f"{k}.latency" for k in keys)),
        ]
        longest = keys[durations.index(max(durations))]
        yield [
            "`GET /builds/{id}` per waiting resource (the same run)",
            f"{r.v(f'{longest}.gets_a_minute'):.1f} a minute over a {max(durations):g} s build",
            "official CLI: 20 a minute (a poll every 3 s); `pcc deploy`: 12 (every 5 s)",
            "",
        ]
    w = r.params("waiting")
    way = (w.get("ways") or ["checkpoints"])[0]
    n = w.get("customers")
    at = f"waiting.{way}.{n}"
    if r.has(f"{at}.seconds", f"waiting.{way}.1.seconds"):
        skip = " (`PULUMI_SKIP_CHECKPOINTS=true`)" if way == "skip" else ""
        one = r.v(f"waiting.{way}.1.seconds")
        yield [
            f"{n} customers, each a SecretSet and an Agent bound to it, one `pulumi up "
            f"--parallel 256`{skip}; deployments {w['deploy_seconds']:g} s, sets "
            f"{w['set_seconds']:g} s (`waiting.py`)",
            f"{sec(r.v(f'{at}.seconds'))} = {times(r.v(f'{at}.seconds') / one)}",
            f"1 customer: {sec(one)}",
            tick(r, f"{at}.seconds"),
        ]
        if r.has(f"{at}.polls_a_minute"):
            window = r.fparams(f"{at}.polls_a_minute")["window_seconds"]
            yield [
                "API calls while every agent waits (the same run)",
                f"{r.v(f'{at}.polls_a_minute'):.0f} a minute (over {window:.0f} s)",
                "",
                tick(r, f"{at}.polls_a_minute"),
            ]
        yield [
            "API calls of that whole `up` (by route: `benchmarks/README.md`)",
            f"{r.v(f'{at}.calls'):.0f} in {sec(r.v(f'{at}.seconds'))}",
            f"1 customer: {r.v(f'waiting.{way}.1.calls'):.0f}",
            "",
        ]
    if r.has("waiting.warm.seconds", "waiting.opt_out.seconds"):
        yield [
            f"an agent with `min_agents=2`, deployment 5 s, replicas warming "
            f"{w['warm_seconds']:g} s apart (`waiting.py`)",
            f"the `up` ends {r.v('waiting.warm.replicas'):.0f}/2 warm "
            f"({sec(r.v('waiting.warm.seconds'))})",
            f"`wait_for_capacity=False`: ends at readiness, "
            f"{r.v('waiting.opt_out.replicas'):.0f}/2 warm "
            f"({sec(r.v('waiting.opt_out.seconds'))})",
            tick(r, "waiting.warm.replicas"),
        ]
    rounds = r.params("noop_preview").get("rounds")
    for count in (1, 8):
        key = f"noop_preview.builds{count}"
        if r.has(f"{key}.over", "noop_preview.builds0.median"):
            what = (
                f"`pulumi preview`, unchanged, 1 Build (`noop_preview.py`, median of {rounds})"
                if count == 1
                else f"the same, {count} Builds"
            )
            yield [
                what,
                f"{r.v(f'{key}.over'):+.2f} s ({sec(r.v(f'{key}.median'))})",
                f"empty program: {sec(r.v('noop_preview.builds0.median'))}" if count == 1 else "",
                tick(r, f"{key}.over"),
            ]
    if r.has("noop_preview.yaml1.over", "noop_preview.yaml0.median"):
        plugin = r.params("noop_preview").get("yaml_plugin", "the plugin")
        yield [
            f"the same, 1 Build in YAML (the native door, {plugin})",
            f"{r.v('noop_preview.yaml1.over'):+.2f} s ({sec(r.v('noop_preview.yaml1.median'))})",
            f"empty YAML program: {sec(r.v('noop_preview.yaml0.median'))}",
            tick(r, "noop_preview.yaml1.over"),
        ]
    if r.has("ignored_sigint.ignored.median"):
        yield [
            "`pulumi preview` of an empty program, SIGINT ignored by the parent "
            "(`ignored_sigint.py`, median)",
            sec(r.v("ignored_sigint.ignored.median")),
            f"as usual: {sec(r.v('ignored_sigint.usual.median'))}",
            tick(r, "ignored_sigint.ignored.median"),
        ]
    if r.has("ignored_sigint.tests.ignored"):
        tests = r.params("ignored_sigint").get("tests")
        yield [
            f"`pytest {tests}`, SIGINT ignored by the parent (`ignored_sigint.py --tests`)",
            sec(r.v("ignored_sigint.tests.ignored")),
            f"as usual: {sec(r.v('ignored_sigint.tests.usual'))}",
            tick(r, "ignored_sigint.tests.ignored"),
        ]


def engine(r: Results) -> list[str]:
    runs = [*DOORS, "build_latency", "waiting", "noop_preview", "ignored_sigint"]
    rows = table(["measure", "ours", "reference", "target"], "--- ---: --- ---", _engine_rows(r))
    return rows + caption(r, *runs)


def customers(r: Results, run: str = "waiting") -> list[str]:
    w = r.params(run)
    sizes, ways = w.get("sizes", []), w.get("ways", [])
    if not sizes or not ways:
        return [MISSING]
    head = ["customers"]
    for way in ways:
        name = "as usual" if way == "checkpoints" else "`PULUMI_SKIP_CHECKPOINTS=true`"
        head += [f"`pulumi up`, {name}", f"{TIMES} 1 customer"]
    head += ["API calls", "polls a minute while every agent waits"]
    first = f"{run}.{ways[0]}"
    destroyed = r.has(f"{first}.1.destroy_seconds")
    if destroyed:
        head += ["`pulumi destroy`", f"{TIMES} 1 customer", "its API calls"]
    peaks = r.has(f"{first}.1.memory.engine")
    if peaks:
        head += ["peak memory: engine, provider, program"]
    cpus = r.has(f"{first}.1.cpu.engine")
    if cpus:
        head += ["CPU time of the `up`: engine, provider, program"]
    rows = []
    for n in sizes:
        row = [f"{n}"]
        for way in ways:
            if not r.has(f"{run}.{way}.{n}.seconds"):
                row += ["", ""]
                continue
            took = r.v(f"{run}.{way}.{n}.seconds")
            row += [sec(took), times(took / r.v(f"{run}.{way}.1.seconds"))]
        at = f"{run}.{ways[0]}.{n}"
        row.append(f"{r.v(f'{at}.calls'):.0f}" if r.has(f"{at}.calls") else "")
        row.append(f"{r.v(f'{at}.polls_a_minute'):.0f}" if r.has(f"{at}.polls_a_minute") else "—")
        if destroyed:
            took = r.v(f"{at}.destroy_seconds")
            one = r.v(f"{first}.1.destroy_seconds")
            row += [sec(took), times(took / one), f"{r.v(f'{at}.destroy_calls'):.0f}"]
        if peaks:
            row.append(
                ", ".join(
                    f"{r.v(f'{at}.memory.{role}'):.0f} MB" if r.has(f"{at}.memory.{role}") else "—"
                    for role in ("engine", "provider", "program")
                )
            )
        if cpus:
            row.append(
                ", ".join(
                    sec(r.v(f"{at}.cpu.{role}")) if r.has(f"{at}.cpu.{role}") else "—"
                    for role in ("engine", "provider", "program")
                )
            )
        rows.append(row)
    align = "---: " + " ".join("---: ---:" for _ in ways) + " ---: ---:"
    align += " ---: ---: ---:" * destroyed + " ---:" * peaks + " ---:" * cpus
    intro = (
        f"Deployments of {w['deploy_seconds']:g} s, sets of {w['set_seconds']:g} s, one "
        "`pulumi up --parallel 256` per size; API calls and polls of the first way."
    )
    return [intro, "", *table(head, align, rows), *caption(r, run)]


def checkpoints(r: Results, run: str = "waiting") -> list[str]:
    """What the engine's checkpoints cost: the state it writes whole at each step's start and
    end, and its CPU over the `up` spent writing it (its CPU profile)."""
    w = r.params(run)
    rows = []
    for n in w.get("sizes", []):
        at = f"{run}.checkpoints.{n}"
        if not r.has(f"{at}.state.bytes"):
            continue
        size, traces = r.v(f"{at}.state.bytes"), r.v(f"{at}.state.stack_traces")
        internal = r.v(f"{at}.state.internal")
        row = [f"{n}", f"{size:,.0f} KB", f"{traces / size:.0%}", f"{internal / size:.0%}"]
        for step, seconds in (("engine", "seconds"), ("destroy_engine", "destroy_seconds")):
            if r.has(f"{at}.{step}.cpu"):
                cpu, saving = r.v(f"{at}.{step}.cpu"), r.v(f"{at}.{step}.saving")
                row += [
                    sec(r.v(f"{at}.{seconds}")),
                    sec(cpu),
                    f"{sec(saving)} ({saving / cpu:.0%})",
                ]
            else:
                row += [sec(r.v(f"{at}.{seconds}")), "—", "—"]
        rows.append(row)
    head = [
        "customers",
        "the state, written whole at each step",
        "of it, the SDK's stack traces",
        "the provider's own properties",
        "`pulumi up`",
        "the engine's CPU",
        "of it, writing the state",
        "`pulumi destroy`",
        "the engine's CPU",
        "of it, writing the state",
    ]
    return table(head, "---: ---: ---: ---: ---: ---: ---: ---: ---: ---:", rows) + caption(r, run)


def waiting_routes(r: Results) -> list[str]:
    w = r.params("waiting")
    by = r.runs.get("waiting", {}).get("details", {}).get("by_route", {})
    way = (w.get("ways") or ["checkpoints"])[0]
    sizes = [n for n in w.get("sizes", []) if f"{way}.{n}" in by]
    if not sizes:
        return [MISSING]
    routes = sorted({route for n in sizes for route in by[f"{way}.{n}"]})
    rows = [
        [f"`{route}`", *(str(by[f"{way}.{n}"].get(route, 0)) for n in sizes)] for route in routes
    ]
    rows.append(["all", *(str(sum(by[f"{way}.{n}"].values())) for n in sizes)])
    head = ["API calls of one `up`, by route", *(f"{n} customer{'s' * (n > 1)}" for n in sizes)]
    align = "--- " + " ".join("---:" for _ in sizes)
    return table(head, align, rows) + caption(r, "waiting")


def plugin_start(r: Results) -> list[str]:
    p = "plugin_start"
    if not r.has(f"{p}.frozen.median"):
        return [MISSING]
    rows = [
        [
            "**one-folder binary (PyInstaller), the release's**",
            f"{r.v(f'{p}.archive.mb'):.1f} MB ({r.v(f'{p}.unpacked.mb'):.0f} MB unpacked)",
            sec(r.v(f"{p}.frozen.median")),
            "nothing",
        ],
        [
            "the package's console script, `python -m pcc_provider.native`",
            "—",
            sec(r.v(f"{p}.python.median")),
            "Python 3.11+ with pcc-provider",
        ],
    ]
    rounds = r.params(p).get("rounds")
    head = [
        "form",
        "download",
        f"start (exec to port line, median of {rounds})",
        "needs on the user's machine",
    ]
    return table(head, "--- ---: ---: ---", rows) + _checks(r, p) + caption(r, p)


def runs(r: Results) -> list[str]:
    rows = []
    for unit in UNITS:
        run = r.runs.get(unit.name)
        if run is None:
            rows.append([f"`{unit.title}`", "not run", "", "", "", "", ""])
            continue
        words = shlex.split(str(run.get("command", "")))
        command = " ".join(w for w in words[1:] if w != "--json" and not w.endswith(".json"))
        checks = run.get("checks", [])
        met = sum(1 for c in checks if c["ok"])
        rows.append(
            [
                f"`{unit.title}`",
                str(run.get("mode")),
                str(run["date"]).replace("T", " ").removesuffix("Z") + " UTC",
                _load(run),
                f"{run.get('seconds', 0):.0f} s",
                f"{met}/{len(checks)}",
                f"`{command}`",
            ]
        )
    head = ["benchmark", "mode", "date", "load average", "took", "targets met", "command"]
    return table(head, "--- --- --- ---: ---: ---: ---", rows)


def modes(r: Results) -> list[str]:
    rows = []
    for unit in UNITS:
        quick = "(kept: not run)" if unit.quick is None else " ".join(unit.quick) or "(defaults)"
        rows.append(
            [
                f"`{unit.name}`",
                f"`{unit.script}`",
                f"`{' '.join(unit.full)}`" if unit.full else "(defaults)",
                f"`{quick}`" if unit.quick else quick,
            ]
        )
    return table(["run", "script", "full: arguments", "quick: arguments"], "--- --- --- ---", rows)


def example(r: Results) -> list[str]:
    """One figure of results.json and its run, as the file holds them."""
    import json

    if not r.figures:
        return [MISSING]
    w = r.params("waiting")
    way = (w.get("ways") or ["checkpoints"])[0]
    key = f"waiting.{way}.{w.get('customers')}.seconds"
    if key not in r.figures:
        key = sorted(r.figures)[0]
    figure = r.figures[key]
    run = dict(r.runs[figure["run"]])
    run["checks"] = run.get("checks", [])[:1] + (["..."] if len(run.get("checks", [])) > 1 else [])
    run["details"] = "..." if run.get("details") else {}
    text = json.dumps(
        {"format": 1, "figures": {key: figure}, "runs": {figure["run"]: run}},
        indent=2,
        ensure_ascii=False,
    )
    return ["```json", text, "```"]


TABLES: dict[str, Callable[[Results], list[str]]] = {
    "context-hash": context_hash,
    "context-hash-detail": context_hash_detail,
    "content-digest": content_digest,
    "edit-preview": edit_preview,
    "edit-preview-sizes": edit_preview_sizes,
    "upload-summary": upload_summary,
    "upload": upload,
    "engine": engine,
    "customers": customers,
    "customers-horizon": lambda r: customers(r, "waiting_horizon"),
    "checkpoints": checkpoints,
    "waiting-routes": waiting_routes,
    "plugin-start": plugin_start,
    "runs": runs,
    "modes": modes,
    "example": example,
}


def render(name: str, data: dict[str, Any]) -> str:
    if name not in TABLES:
        raise KeyError(f"no table named {name!r} (bench_tables.TABLES: {', '.join(TABLES)})")
    return "\n".join(TABLES[name](Results(data)))


def rewrite(text: str, data: dict[str, Any]) -> str:
    """`text` with each marked block made again from `data`."""

    def block(m: re.Match[str]) -> str:
        return f"{m['open']}\n\n{render(m['name'], data)}\n\n{m['close']}"

    return BLOCK.sub(block, text)


def problems(text: str) -> list[str]:
    """Markers without their pair, and names no table has."""
    found = []
    opened = [m["name"] for m in OPEN.finditer(text)]
    closed = [m["name"] for m in CLOSE.finditer(text)]
    paired = [m["name"] for m in BLOCK.finditer(text)]
    for name in sorted(set(opened + closed)):
        if not (opened.count(name) == closed.count(name) == paired.count(name)):
            found.append(f"the markers of {name!r} do not pair")
        if name not in TABLES:
            found.append(f"no table named {name!r}")
    return found


def blocks(root: Path = REPO) -> dict[str, list[Path]]:
    """Each table name, and the files that hold it."""
    out: dict[str, list[Path]] = {}
    for path in markdown_files(root):
        for m in BLOCK.finditer(path.read_text()):
            out.setdefault(m["name"], []).append(path)
    return out


def stale(data: dict[str, Any], root: Path = REPO) -> list[str]:
    """`path: name` of each block that is not what `data` makes, and any marker problem."""
    out = []
    for path in markdown_files(root):
        text = path.read_text()
        out += [f"{path.relative_to(root)}: {p}" for p in problems(text)]
        if BLOCK.search(text) is None:
            continue
        for m in BLOCK.finditer(text):
            if m["name"] not in TABLES:
                continue
            want = f"\n{render(m['name'], data)}\n\n"
            if m["body"] != want:
                out.append(f"{path.relative_to(root)}: {m['name']}")
    return out


def update(data: dict[str, Any], root: Path = REPO) -> list[Path]:
    """Write every marked block again; the files that changed."""
    changed = []
    for path in markdown_files(root):
        text = path.read_text()
        trouble = problems(text)
        if trouble:
            raise SystemExit(f"{path}: {'; '.join(trouble)}")
        new = rewrite(text, data)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
