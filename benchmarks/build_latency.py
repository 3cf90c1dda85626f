"""From a build's end to its resource created: `pulumi up` of one Build, against the emulator.

    .venv/bin/python benchmarks/build_latency.py [--durations 4 10 23.5] [--json OUT]

For each duration D, the emulator's builds take D seconds, and one `pulumi up` of a new
one-Build stack runs. The latency is the resource's `created` time in the stack state
(the engine's clock) minus the build's `completedAt` (the emulator's, same machine). The
calls are the emulator's count of `GET /v1/builds/{buildId}`; calls per minute are over the
time the resource waited. Beside it, the delay the previous schedule (0.5 s, x1.5, at most
10 s apart) would have had for the same D, computed from that schedule (request time
ignored), and its worst case: the length of the poll interval a build of D ends in. Exits 1
if a latency is over 2 s.

The default durations end just after a poll of ours (polls 0.5, 1.25, 2.375, 3.875 s, then
every 1.5 s after the build's creation), so they show the latency near its worst case; a
build that ends just before a poll is noticed almost at once. --json OUT records the figures
(bench_results.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from harness import builds_program, contexts, engine_stack, finish, json_option, recorder

from pcc_provider.emulator import Emulator

TARGET = 2.0


def old_schedule(duration: float) -> tuple[float, float]:
    """The previous schedule's delay after a build of `duration`, and its worst case: the
    length of the poll interval the build ends in."""
    at, interval = 0.0, 0.5
    while at < duration:
        last = interval
        at += interval
        interval = min(interval * 1.5, 10.0)
    return at - duration, last


def when(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--durations", type=float, nargs="+", default=[4.0, 10.0, 23.5])
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("build_latency", args)
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(Path(tmp) / "emulator", api_key="pk_benchmark_key") as emu,
    ):
        for n, duration in enumerate(args.durations):
            stack = engine_stack(
                Path(tmp),
                f"latency{n}",
                builds_program(1),
                emu.api_url,
                files=contexts(["b0"]) | {"b0/run.txt": f"run {n}\n"},
            )
            _set_build_seconds(emu.url, duration)
            before = _polls(emu.url)
            stack.up()
            polls = _polls(emu.url) - before
            (build,) = [r for r in stack.resources() if r["type"].endswith("Build")]
            done = when(build["outputs"]["completedAt"])
            created = when(build["created"])
            waited = created - when(build["outputs"]["createdAt"])
            rows.append((duration, created - done, polls, polls / waited * 60))
    print(
        f"{'build takes':>12} {'ours: end -> created':>21} {'GETs':>5} {'GETs/min':>9} "
        f"{'previous schedule: delay':>25} {'worst':>6}"
    )
    for duration, latency, polls, rate in rows:
        delay, worst = old_schedule(duration)
        print(
            f"{duration:11.1f}s {latency:20.2f}s {polls:5d} {rate:9.1f} {delay:24.2f}s "
            f"{worst:5.2f}s"
        )
    rec.params = {"durations": args.durations}
    for duration, latency, polls, rate in rows:
        delay, worst = old_schedule(duration)
        at = f"{duration:g}"
        rec.add(f"{at}.previous_worst", worst, "s", "previous schedule, worst case", computed=True)
        rec.add(f"{at}.previous_delay", delay, "s", "previous schedule, this end", computed=True)
        rec.add(
            f"{at}.latency",
            latency,
            "s",
            "build end to resource created",
            f"{at}.previous_worst",
            target=f"<= {TARGET:g} s",
            ok=latency <= TARGET,
        )
        rec.add(f"{at}.gets", polls, "calls", "GET /builds/{id}")
        rec.add(f"{at}.gets_a_minute", rate, "/min", "GET /builds/{id} a minute while waiting")
    return finish(
        rec,
        [(f"build of {d:g} s: {lat:.2f} s <= {TARGET} s", lat <= TARGET) for d, lat, _, _ in rows],
    )


def _set_build_seconds(url: str, seconds: float) -> None:
    import urllib.request

    request = urllib.request.Request(
        f"{url}/_emulator/config",
        data=json.dumps({"buildSeconds": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


def _polls(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:
        stats = json.load(response)
    return int(stats["requests"].get("GET /v1/builds/{buildId}", 0))


if __name__ == "__main__":
    sys.exit(main())
