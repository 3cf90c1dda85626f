"""Many resources waiting in one `pulumi up`, and an `up` that ends when min_agents are warm.

    .venv/bin/python benchmarks/waiting.py [--customers 40] [--deploy-seconds 20]
                                           [--set-seconds 5] [--warm-seconds 3]
                                           [--skip-checkpoints]

Row 2 of issue 20: one program, N customers, each a SecretSet and an Agent bound to it; the
emulator's deployments take --deploy-seconds, its sets --set-seconds. The stack of 1 customer
(the reference) and the stack of N are each brought up once (`--parallel 256`, so that every
resource waits at once, as the native plugin's pool allows). The emulator's request counts
(/_emulator/stats, sampled every second from another thread; its control calls are not
counted) give the API calls of each `up`, and the polls a minute while every agent waits:
the GETs from the moment the last agent is created until the first could be ready. (Over the
whole `up`, each resource's own reads count too: a set's look-up before its create, and the
one detail read of each resource whose wait ends.)

Row 3: one agent with min_agents=2, replicas warming --warm-seconds apart once the deployment
is ready: the `up` must end with readyReplicas 2; with wait_for_capacity=False it ends at the
deployment's readiness.

Exits 1 if N customers take more than 1.5x one, if the polls of the N-customer `up` exceed
120 a minute, or if the warm `up` ends before 2/2 are warm.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness import engine_stack, timed, verdict

from pcc_provider.emulator import Emulator

TARGET_RATIO, TARGET_POLLS = 1.5, 120
POLLS = (
    "GET /v1/agents",
    "GET /v1/agents/{agentName}",
    "GET /v1/secrets",
    "GET /v1/secrets/{setName}",
)


def customers_program(count: int) -> str:
    """Names of its own per stack: names are unique in the organization."""
    return (
        "from pcc_provider import Agent, SecretSet\n"
        f"for i in range({count}):\n"
        f"    name = f's{count}-c{{i}}'\n"
        "    creds = SecretSet(f'{name}-secrets', set_name=f'{name}-secrets',\n"
        "                      secrets={'OPENAI_API_KEY': f'sk-customer-{i}'})\n"
        "    Agent(name, service_name=name, image='example/agent:1', secret_set=creds)\n"
    )


WARM_PROGRAM = """
import pulumi
from pcc_provider import Agent

cfg = pulumi.Config()
Agent("warm", service_name="warm", image="example/agent:1", min_agents=2,
      wait_for_capacity=cfg.get_bool("waitForCapacity") is not False)
"""


class Counts:
    """The emulator's request counts, sampled every second while an `up` runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=10) as response:
            requests: dict[str, int] = json.load(response)["requests"]
            return requests

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_emulator/stats", method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append((time.monotonic(), self.stats()))

    def __enter__(self) -> Counts:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), self.stats()))


def polls(counts: dict[str, int]) -> int:
    return sum(counts.get(route, 0) for route in POLLS)


def customers(
    tmp: Path, emu: Emulator, count: int, deploy: float, skip_checkpoints: bool = False
) -> dict[str, Any]:
    stack = engine_stack(tmp, f"customers{count}", customers_program(count), emu.api_url)
    if skip_checkpoints:
        # The engine persists the whole state at each step's start and end, one write at a
        # time: with hundreds of resources those writes, not the provider, pace the creates.
        stack.env["PULUMI_SKIP_CHECKPOINTS"] = "true"
    with Counts(emu.url) as counts:
        took = timed(lambda: stack.up("--parallel", "256"))
    final = counts.samples[-1][1]
    # While every agent waits: from the sample that sees the last one created to the time
    # the first one created (up to a sample earlier) could be ready.
    created = [(t, c.get("POST /v1/agents", 0)) for t, c in counts.samples]
    first = next(t for t, n in created if n >= 1) - 1.0
    start = next(i for i, (_, n) in enumerate(created) if n >= count)
    inside = [(t, c) for t, c in counts.samples[start:] if t <= first + deploy - 0.5]
    waiting = None
    if len(inside) >= 3:
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        waiting = (polls(c1) - polls(c0)) / (t1 - t0) * 60, t1 - t0
    return {
        "seconds": took,
        "calls": sum(final.values()),
        "polls": polls(final),
        "by": final,
        "waiting": waiting,
    }


def warm(tmp: Path, emu: Emulator, opt_out: bool) -> dict[str, Any]:
    name = "cold" if opt_out else "warm"
    stack = engine_stack(tmp, name, WARM_PROGRAM, emu.api_url)
    if opt_out:
        stack.config("waitForCapacity", "false")
    took = timed(stack.up)
    with urllib.request.urlopen(
        urllib.request.Request(
            f"{emu.api_url}/agents/warm", headers={"Authorization": "Bearer pk_benchmark_key"}
        ),
        timeout=10,
    ) as response:
        agent = json.load(response)
    stack.destroy()
    return {"seconds": took, "warm": agent["currentRevision"]["readyReplicas"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--deploy-seconds", type=float, default=20.0)
    parser.add_argument("--set-seconds", type=float, default=5.0)
    parser.add_argument("--warm-seconds", type=float, default=3.0)
    parser.add_argument(
        "--skip-checkpoints",
        action="store_true",
        help="both stacks with PULUMI_SKIP_CHECKPOINTS=true: the engine's own step cost aside",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(
            Path(tmp) / "emulator",
            api_key="pk_benchmark_key",
            agent_ready_seconds=args.deploy_seconds,
            secret_ready_seconds=args.set_seconds,
            replica_warm_seconds=args.warm_seconds,
        ) as emu,
    ):
        skip = args.skip_checkpoints
        one = customers(Path(tmp), emu, 1, args.deploy_seconds, skip)
        many = customers(Path(tmp), emu, args.customers, args.deploy_seconds, skip)
        emu.config.agent_ready_seconds = 5.0
        hot = warm(Path(tmp), emu, opt_out=False)
        cold = warm(Path(tmp), emu, opt_out=True)
    ratio = many["seconds"] / one["seconds"]
    rate = many["waiting"][0] if many["waiting"] else float("inf")
    print(f"deployments of {args.deploy_seconds:g} s, sets of {args.set_seconds:g} s, one `up`:")
    if args.skip_checkpoints:
        print("(PULUMI_SKIP_CHECKPOINTS=true: the engine writes the state once, at the end)")
    print(f"{'':24} {'wall':>8} {'API calls':>10} {'a minute':>9} {'polls a minute':>15}")
    for label, run in (("1 customer (reference)", one), (f"{args.customers} customers", many)):
        steady = f"{run['waiting'][0]:.0f} over {run['waiting'][1]:.0f}s" if run["waiting"] else "-"
        print(
            f"{label:24} {run['seconds']:7.2f}s {run['calls']:10d} "
            f"{run['calls'] / run['seconds'] * 60:9.0f} {steady:>15}"
        )
    print(f"= {ratio:.2f}x one customer; calls of the {args.customers}-customer up by route:")
    for route, count in sorted(many["by"].items()):
        print(f"    {route:34} {count:5d}")
    print(
        f"\nmin_agents=2, deployment of 5 s, replicas warming {args.warm_seconds:g} s apart:\n"
        f"    waiting for capacity: {hot['seconds']:.2f}s, ends with {hot['warm']}/2 warm\n"
        f"    wait_for_capacity=False: {cold['seconds']:.2f}s, ends with {cold['warm']}/2 warm"
    )
    return verdict(
        [
            (f"{args.customers} customers: {ratio:.2f}x one <= {TARGET_RATIO}x", ratio <= 1.5),
            (f"polls while waiting: {rate:.0f} a minute <= {TARGET_POLLS}", rate <= TARGET_POLLS),
            (f"the warm up ends with {hot['warm']}/2 warm", hot["warm"] == 2),
            (f"opted out, it ends before: {cold['warm']}/2 warm", cold["warm"] < 2),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
