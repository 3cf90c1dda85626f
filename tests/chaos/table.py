"""`python -m chaos.table RUN...` from tests/: the README's chaos rows from runs' summaries.

Each RUN is a run's `summary.json` (written into its --workdir) or the output of
`make chaos` (its summary is the last JSON object printed). Faults read `drawn/fired` where the
summary counts what fired, else as drawn (the disturbances `bad-build` and `live-sessions`
among them); checks are by invariant, 1 to 9 (0 for one a run did not have yet); outcomes are
what the outputs showed of smoke checks and drains.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

INVARIANTS = (
    "1 ownership",
    "2 matches",
    "3 one-build",
    "4 no-secrets",
    "5 no-orphans",
    "6 converges",
    "7 records-kept",
    "8 smoke-holds",
    "9 no-call-cut",
)


def summary(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix == ".json":
        found: dict[str, Any] = json.loads(text)
        return found
    start = text.rindex("\n{\n") + 1  # the runner prints its summary last, indented
    end = text.index("\n}\n", start) + 2
    found = json.loads(text[start:end])
    return found


def faults(drawn: Counter[str], fired: Counter[str] | None) -> str:
    kinds = [(kind, n) for kind, n in drawn.most_common() if kind != "none"]
    shown = [f"{kind} {n}" if fired is None else f"{kind} {n}/{fired[kind]}" for kind, n in kinds]
    return ", ".join([f"none {drawn['none']}", *shown])


def row(label: str, report: dict[str, Any], notes: Counter[str]) -> str:
    fired = Counter(report["fired"]) if "fired" in report else None
    checks = "/".join(str(report["checks"].get(k, 0)) for k in INVARIANTS)
    said = "; ".join(f"{k} {v}" for k, v in sorted(notes.items()))
    violations = len(report["violations"]) or "none"
    return (
        f"| {label} | {faults(Counter(report['faults']), fired)} | {checks} | {violations}"
        f"{f' ({said})' if said else ''} |"
    )


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    total: dict[str, Any] = {"faults": Counter(), "checks": Counter(), "violations": []}
    actions: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    fired: Counter[str] | None = Counter()
    steps = 0
    for path in paths:
        report = summary(Path(path))
        label = f"{report['seed']}, {report['steps']} ({report['seconds']} s)"
        print(row(label, report, Counter(report.get("notes", {}))))
        steps += report["steps"]
        total["faults"].update(report["faults"])
        total["checks"].update(report["checks"])
        total["violations"] += report["violations"]
        actions.update(report["actions"])
        notes.update(report.get("notes", {}))
        outcomes.update(report.get("outcomes", {}))
        # A total of fired faults only while every run counted them.
        fired = (
            fired + Counter(report["fired"]) if fired is not None and "fired" in report else None
        )
    if fired is not None:
        total["fired"] = fired
    print(row(f"all, {steps}", total, Counter()))
    print("actions:", ", ".join(f"{k} {v}" for k, v in actions.most_common()))
    print("notes:", ", ".join(f"{k} {v}" for k, v in notes.most_common()))
    print("outcomes:", ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
