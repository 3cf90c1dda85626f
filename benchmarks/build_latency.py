"""From a build's end to its resource created: `pulumi up` of one Build, against the emulator.

    .venv/bin/python benchmarks/build_latency.py [--durations 5 11 23]

For each duration D, the emulator's builds take D seconds, and one `pulumi up` of a new
one-Build stack runs. The latency is the resource's `created` time in the stack state
(the engine's clock) minus the build's `completedAt` (the emulator's, same machine). The
calls are the emulator's count of `GET /v1/builds/{buildId}`; calls per minute are over the
time the resource waited. Beside it, the delay the previous schedule (0.5 s, x1.5, at most
10 s apart) would have had for the same D, computed from that schedule (request time
ignored). Exits 1 if a latency is over 2 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from harness import builds_program, contexts, engine_stack, verdict

from pcc_provider.emulator import Emulator

TARGET = 2.0


def old_schedule_delay(duration: float) -> float:
    """How long after `duration` the previous schedule polled next."""
    at, interval = 0.0, 0.5
    while at < duration:
        at += interval
        interval = min(interval * 1.5, 10.0)
    return at - duration


def when(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--durations", type=float, nargs="+", default=[5.0, 11.0, 23.0])
    args = parser.parse_args()
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
        f"{'previous schedule':>18}"
    )
    for duration, latency, polls, rate in rows:
        print(
            f"{duration:11.0f}s {latency:20.2f}s {polls:5d} {rate:9.1f} "
            f"{old_schedule_delay(duration):17.2f}s"
        )
    return verdict(
        [(f"build of {d:.0f}s: {lat:.2f} s <= {TARGET} s", lat <= TARGET) for d, lat, _, _ in rows]
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
