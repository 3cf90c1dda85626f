"""Many resources waiting in one `pulumi up`, and an `up` that ends when min_agents are warm.

    .venv/bin/python benchmarks/waiting.py [--customers 40] [--deploy-seconds 20]
                                           [--set-seconds 5] [--warm-seconds 3]
                                           [--skip-checkpoints] [--also-customers N ...]
                                           [--also-skip-checkpoints] [--json OUT]

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

Each customers' stack is then destroyed (`--parallel 256`), timed and counted the same way.
While each `up` runs, the peak resident memory (VmHWM) of the engine, of the Python provider
and of the program's process are sampled from /proc.

Exits 1 if N customers take more than 1.5x one, if the polls of the N-customer `up` exceed
120 a minute, if its calls exceed 1.5 per object plus 120 a minute, if its destroy takes more
than 1.5x that of one customer or more calls than 1.1 per object plus 120 a minute, or if the
warm `up` ends before 2/2 are warm.

--also-customers measures more sizes the same way (no target: the curve of wall time and
API calls against the number of customers). --skip-checkpoints runs every stack with
PULUMI_SKIP_CHECKPOINTS=true: the engine then writes the state once, at the end, instead of
at each step's start and end, one write at a time; --also-skip-checkpoints measures each size
both ways. --json OUT records the figures (bench_results.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness import Stack, engine_stack, finish, json_option, recorder, timed

from pcc_provider.emulator import Emulator

TARGET_RATIO, TARGET_POLLS = 1.5, 120
POLLS = (
    "GET /v1/agents",
    "GET /v1/agents/{agentName}",
    "GET /v1/secrets",
    "GET /v1/secrets/{setName}",
)


def customers_program(count: int, prefix: str = "s") -> str:
    """Names of its own per stack: names are unique in the organization."""
    return (
        "from pcc_provider import Agent, SecretSet\n"
        f"for i in range({count}):\n"
        f"    name = f'{prefix}{count}-c{{i}}'\n"
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


class Memory:
    """The peak resident memory (VmHWM) of the engine, the Python provider and the program's
    process while an `up` runs, and the CPU time each used (user and system, as last seen),
    sampled from /proc every half second (Linux; elsewhere nothing is recorded): the
    processes whose PULUMI_HOME is the stack's."""

    TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, stack: Stack) -> None:
        self.home = f"PULUMI_HOME={stack.env['PULUMI_HOME']}".encode()
        self.peak: dict[str, int] = {}  # role -> bytes
        self._cpu: dict[tuple[str, str], float] = {}  # (role, pid) -> seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def cpu(self) -> dict[str, float]:
        """CPU seconds by role: the sum over its processes (up to half a second short of what
        each used after its last sample)."""
        total: dict[str, float] = {}
        for (role, _), seconds in self._cpu.items():
            total[role] = total.get(role, 0.0) + seconds
        return total

    @staticmethod
    def role(argv: list[str]) -> str | None:
        line = " ".join(argv)
        if "pulumi.dynamic" in line or "pulumi-resource-pipecat" in line:
            return "provider"
        if "pulumi-language-python-exec" in line:
            return "program"
        return "engine" if argv and Path(argv[0]).name == "pulumi" else None

    def _sample(self) -> None:
        while True:
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    role = self.role(Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0"))
                    if role is None or self.home not in Path(f"/proc/{pid}/environ").read_bytes():
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                    # After the command's name in parentheses: utime and stime are fields 14, 15.
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # gone meanwhile
                self._cpu[role, pid] = (int(fields[11]) + int(fields[12])) / self.TICKS
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1]) * 1024
                        self.peak[role] = max(self.peak.get(role, 0), peak)
            if self._stop.wait(0.5):
                return

    def __enter__(self) -> Memory:
        if Path("/proc/self/status").exists():
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def state_size(stack: Stack) -> dict[str, int]:
    """The bytes of the stack's state as the engine writes it at each step; of them, the stack
    traces the Pulumi SDK records of each resource's registration, and the provider's own
    properties (`__urn`, `__claim`, `__provider`, an agent's set revision...)."""
    backend = Path(stack.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    file = backend / ".pulumi" / "stacks" / stack.dir.name / f"{stack.name}.json"
    resources = json.loads(file.read_text())["checkpoint"]["latest"]["resources"]

    def size(value: object) -> int:
        return len(json.dumps(value, separators=(",", ":")))

    traces = sum(size(r.get("stackTrace", [])) for r in resources)
    internal = sum(
        size({k: v for k, v in r.get(part, {}).items() if k.startswith("__")})
        for r in resources
        for part in ("inputs", "outputs")
    )
    return {"bytes": file.stat().st_size, "stack_traces": traces, "internal": internal}


SAVE = "backend.(*SnapshotManager).saveSnapshot"


def engine_cpu(prefix: Path) -> dict[str, float]:
    """From the engine's CPU profile (`pulumi up --profiling`): its CPU seconds, and those in
    writing the state (the snapshot manager's saves), read with `go tool pprof`; nothing
    without Go."""
    profiles = list(prefix.parent.glob(f"{prefix.name}.*.cpu"))
    go = shutil.which("go")
    if len(profiles) != 1 or go is None:
        return {}
    top = subprocess.run(
        [go, "tool", "pprof", "-top", "-cum", "-nodefraction=0", str(profiles[0])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def seconds(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(\w*)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}[unit]

    total = re.search(r"Total samples = (\S+)", top)
    if total is None:
        return {}
    # Absent when no sample fell in a save: a small state, or PULUMI_SKIP_CHECKPOINTS.
    saving = next((line.split()[3] for line in top.splitlines() if line.endswith(SAVE)), "0s")
    return {"cpu": seconds(total.group(1)), "saving": seconds(saving)}


def polls(counts: dict[str, int]) -> int:
    return sum(counts.get(route, 0) for route in POLLS)


def customers(
    tmp: Path, emu: Emulator, count: int, deploy: float, skip_checkpoints: bool = False
) -> dict[str, Any]:
    suffix = "-skip" if skip_checkpoints else ""
    program = customers_program(count, "k" if skip_checkpoints else "s")
    stack = engine_stack(tmp, f"customers{count}{suffix}", program, emu.api_url)
    if skip_checkpoints:
        # The engine persists the whole state at each step's start and end, one write at a
        # time: with hundreds of resources those writes, not the provider, pace the creates.
        stack.env["PULUMI_SKIP_CHECKPOINTS"] = "true"
    # The engine's CPU profile: where its time goes (Go's sampling costs it about 1%).
    profile = tmp / f"engine-{count}{suffix}"
    with Counts(emu.url) as counts, Memory(stack) as memory:
        took = timed(lambda: stack.up("--parallel", "256", "--profiling", str(profile)))
    final = counts.samples[-1][1]
    state = state_size(stack)
    with Counts(emu.url) as destroyed:
        destroy_took = timed(
            lambda: stack.destroy("--parallel", "256", "--profiling", f"{profile}-destroy")
        )
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
        "memory": memory.peak,
        "cpu": memory.cpu,
        "state": state,
        "engine": engine_cpu(profile),
        "destroy_engine": engine_cpu(Path(f"{profile}-destroy")),
        "destroy_seconds": destroy_took,
        "destroy_calls": sum(destroyed.samples[-1][1].values()),
        "destroy_by": destroyed.samples[-1][1],
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
        help="every stack with PULUMI_SKIP_CHECKPOINTS=true: the engine's own step cost aside",
    )
    parser.add_argument(
        "--also-customers", type=int, nargs="+", default=[], help="more sizes, no target"
    )
    parser.add_argument(
        "--also-skip-checkpoints",
        action="store_true",
        help="each size also with PULUMI_SKIP_CHECKPOINTS=true",
    )
    parser.add_argument(
        "--horizon",
        action="store_true",
        help="the customers alone (no warm rows), recorded as waiting_horizon",
    )
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("waiting_horizon" if args.horizon else "waiting", args)
    sizes = sorted({1, args.customers, *args.also_customers})
    ways = ["skip"] if args.skip_checkpoints else ["checkpoints"]
    if args.also_skip_checkpoints and not args.skip_checkpoints:
        ways.append("skip")
    runs: dict[tuple[str, int], dict[str, Any]] = {}
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
        for count in sizes:
            for way in ways:
                runs[way, count] = customers(
                    Path(tmp), emu, count, args.deploy_seconds, way == "skip"
                )
        hot = cold = None
        if not args.horizon:
            emu.config.agent_ready_seconds = 5.0
            hot = warm(Path(tmp), emu, opt_out=False)
            cold = warm(Path(tmp), emu, opt_out=True)
    main_way = ways[0]
    one, many = runs[main_way, 1], runs[main_way, args.customers]
    ratio = many["seconds"] / one["seconds"]
    objects = 2 * args.customers  # a set and an agent each
    # The floors of issue 33: a write per object (1.5x for the reads a wait needs) and one
    # delete per object (1.1x), plus the shared looks, 120 a minute at most.
    up_bound = 1.5 * objects + TARGET_POLLS * many["seconds"] / 60
    destroy_ratio = many["destroy_seconds"] / one["destroy_seconds"]
    destroy_bound = 1.1 * objects + TARGET_POLLS * many["destroy_seconds"] / 60
    rate = many["waiting"][0] if many["waiting"] else float("inf")
    print(f"deployments of {args.deploy_seconds:g} s, sets of {args.set_seconds:g} s, one `up`:")
    for way in ways:
        if way == "skip":
            print("(PULUMI_SKIP_CHECKPOINTS=true: the engine writes the state once, at the end)")
        else:
            print("(the engine's checkpoints, as usual)")
        print(
            f"{'':24} {'wall':>8} {'API calls':>10} {'a minute':>9} {'polls a minute':>15}"
            f" {'destroy':>8} {'calls':>6}  peak MB and CPU s: engine, provider, program"
        )
        for count in sizes:
            run = runs[way, count]
            label = "1 customer (reference)" if count == 1 else f"{count} customers"
            steady = (
                f"{run['waiting'][0]:.0f} over {run['waiting'][1]:.0f}s" if run["waiting"] else "-"
            )
            peaks = (
                ", ".join(
                    f"{run['memory'].get(role, 0) / 1e6:.0f}"
                    for role in ("engine", "provider", "program")
                )
                + "; "
                + ", ".join(
                    f"{run['cpu'].get(role, 0):.1f}" for role in ("engine", "provider", "program")
                )
            )
            print(
                f"{label:24} {run['seconds']:7.2f}s {run['calls']:10d} "
                f"{run['calls'] / run['seconds'] * 60:9.0f} {steady:>15}"
                f" {run['destroy_seconds']:7.2f}s {run['destroy_calls']:6d}  {peaks}"
            )
    print("the state the engine writes at each step, and the engine's CPU over the up:")
    for (way, count), run in runs.items():
        state, engine, gone = run["state"], run["engine"], run["destroy_engine"]
        cpu = (
            f"{engine['cpu']:.1f}s CPU, {engine['saving']:.1f}s of it writing the state"
            f" (destroy: {gone['cpu']:.1f}s, {gone['saving']:.1f}s)"
            if engine and gone
            else "(no CPU profile: `go tool pprof` is missing)"
        )
        print(
            f"    {count:5d} customers ({way}): {state['bytes'] / 1e3:8.0f} KB,"
            f" {state['stack_traces'] / state['bytes']:4.0%} of it the SDK's stack traces,"
            f" {state['internal'] / state['bytes']:4.0%} the provider's own properties; {cpu}"
        )
    print(f"= {ratio:.2f}x one customer; calls of the {args.customers}-customer up by route:")
    for route, count in sorted(many["by"].items()):
        print(f"    {route:34} {count:5d}")
    print(f"and of its destroy ({destroy_ratio:.2f}x one customer's):")
    for route, count in sorted(many["destroy_by"].items()):
        print(f"    {route:34} {count:5d}")
    if hot is not None and cold is not None:
        print(
            f"\nmin_agents=2, deployment of 5 s, replicas warming {args.warm_seconds:g} s apart:\n"
            f"    waiting for capacity: {hot['seconds']:.2f}s, ends with {hot['warm']}/2 warm\n"
            f"    wait_for_capacity=False: {cold['seconds']:.2f}s, ends with {cold['warm']}/2 warm"
        )

    rec.params = {
        "customers": args.customers,
        "sizes": sizes,
        "ways": ways,
        "deploy_seconds": args.deploy_seconds,
        "set_seconds": args.set_seconds,
        "warm_seconds": args.warm_seconds,
    }
    rec.details = {
        "by_route": {f"{w}.{n}": run["by"] for (w, n), run in runs.items()},
        "destroy_by_route": {f"{w}.{n}": run["destroy_by"] for (w, n), run in runs.items()},
    }
    for (way, count), run in runs.items():
        at = f"{way}.{count}"
        params: dict[str, Any] = {"customers": count, "way": way}
        main = (way, count) == (main_way, args.customers)

        def aim(target: str, ok: bool, main: bool = main) -> dict[str, Any]:
            """The target of a figure of the main size; the other sizes have none."""
            return {"target": target, "ok": ok} if main else {}

        ref = None if count == 1 else f"{way}.1.seconds"
        target = aim(f"<= {TARGET_RATIO:g}x one customer", ratio <= TARGET_RATIO)
        rec.add(f"{at}.seconds", run["seconds"], "s", "one pulumi up", ref, **params, **target)
        target = aim(f"<= {up_bound:.0f} (1.5 per object + 120 a minute)", run["calls"] <= up_bound)
        rec.add(f"{at}.calls", run["calls"], "calls", "API calls of the up", **params, **target)
        ref = None if count == 1 else f"{way}.1.destroy_seconds"
        target = aim(f"<= {TARGET_RATIO:g}x one customer", destroy_ratio <= TARGET_RATIO)
        rec.add(
            f"{at}.destroy_seconds",
            run["destroy_seconds"],
            "s",
            "its pulumi destroy",
            ref,
            **params,
            **target,
        )
        target = aim(
            f"<= {destroy_bound:.0f} (1.1 per object + 120 a minute)",
            run["destroy_calls"] <= destroy_bound,
        )
        rec.add(
            f"{at}.destroy_calls",
            run["destroy_calls"],
            "calls",
            "API calls of the destroy",
            **params,
            **target,
        )
        for role, peak in run["memory"].items():
            rec.add(f"{at}.memory.{role}", peak / 1e6, "MB", f"peak memory of the {role}", **params)
        for role, seconds in run["cpu"].items():
            rec.add(f"{at}.cpu.{role}", seconds, "s", f"CPU time of the {role}", **params)
        state, engine, gone = run["state"], run["engine"], run["destroy_engine"]
        rec.add(f"{at}.state.bytes", state["bytes"] / 1e3, "KB", "the state", **params)
        rec.add(
            f"{at}.state.stack_traces",
            state["stack_traces"] / 1e3,
            "KB",
            "of it, the SDK's stack traces",
            **params,
        )
        rec.add(
            f"{at}.state.internal",
            state["internal"] / 1e3,
            "KB",
            "of it, the provider's own properties",
            **params,
        )
        if engine:
            rec.add(f"{at}.engine.cpu", engine["cpu"], "s", "the engine's CPU", **params)
            rec.add(
                f"{at}.engine.saving",
                engine["saving"],
                "s",
                "of it, writing the state",
                **params,
            )
        if gone:
            rec.add(
                f"{at}.destroy_engine.cpu", gone["cpu"], "s", "the engine's CPU (destroy)", **params
            )
            rec.add(
                f"{at}.destroy_engine.saving",
                gone["saving"],
                "s",
                "of it, writing the state (destroy)",
                **params,
            )
        per_minute = run["calls"] / run["seconds"] * 60
        rec.add(f"{at}.calls_a_minute", per_minute, "/min", "API calls a minute", **params)
        if run["waiting"]:
            rate_, window = run["waiting"]
            target = aim(f"<= {TARGET_POLLS}", rate_ <= TARGET_POLLS)
            rec.add(
                f"{at}.polls_a_minute",
                rate_,
                "/min",
                "polls a minute while every agent waits",
                window_seconds=round(window, 1),
                **params,
                **target,
            )
    checks = [
        (f"{args.customers} customers: {ratio:.2f}x one <= {TARGET_RATIO}x", ratio <= 1.5),
        (f"their up: {many['calls']} API calls <= {up_bound:.0f}", many["calls"] <= up_bound),
        (
            f"their destroy: {destroy_ratio:.2f}x one <= {TARGET_RATIO}x",
            destroy_ratio <= TARGET_RATIO,
        ),
        (
            f"their destroy: {many['destroy_calls']} API calls <= {destroy_bound:.0f}",
            many["destroy_calls"] <= destroy_bound,
        ),
        (f"polls while waiting: {rate:.0f} a minute <= {TARGET_POLLS}", rate <= TARGET_POLLS),
    ]
    if hot is not None and cold is not None:
        rec.add("warm.seconds", hot["seconds"], "s", "min_agents=2, waits for capacity")
        rec.add(
            "warm.replicas",
            hot["warm"],
            "replicas",
            "warm replicas when the up ends",
            target="2/2 warm",
            ok=hot["warm"] == 2,
        )
        rec.add("opt_out.seconds", cold["seconds"], "s", "wait_for_capacity=False")
        rec.add("opt_out.replicas", cold["warm"], "replicas", "warm replicas when the up ends")
        checks += [
            (f"the warm up ends with {hot['warm']}/2 warm", hot["warm"] == 2),
            (f"opted out, it ends before: {cold['warm']}/2 warm", cold["warm"] < 2),
        ]
    return finish(rec, checks)


if __name__ == "__main__":
    sys.exit(main())
