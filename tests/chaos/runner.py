"""A seeded chaos run: random edits of two or three stacks of one program family, under
random faults (API bursts, lost answers, emulator restarts, a killed `pulumi`), against the
emulator and the real Pulumi engine, with invariants checked after every step.

Each step draws an action and a fault from `Random(f"{seed}:{step}")` and from the models the
earlier steps left, never from what a command answered, so a seed replays the same actions
and faults (their timing within a command varies with the machine's load). Two disturbances
are drawn beside them, each from its own `Random(f"{seed}:{step}:<kind>")` (so that they
leave the action and fault of a step as they were): `bad-build`, a new content of one of the
stack's builds whose Dockerfile has `ENV PCC_EMULATOR_BOT=crash` (it builds and gets ready,
its bot crashes at start), and `live-sessions`, one or two active sessions added (control
API) to an agent the step deletes (now and then to any agent), some ending by themselves
within seconds, some not.

    python -m chaos --seed 7 --steps 300        # from tests/, or: make chaos SEED=7 STEPS=300

The invariants, reported by name with the step that broke them:
    1 ownership      every agent and set in the emulator is in exactly one stack's state,
                     or is a leftover a command's output announced
    2 matches        after a fault-free `up`: `preview --expect-no-changes` holds, and the
                     emulator holds what the state and the program declare
    3 one-build      no second build of one content unless the output said why
    4 no-secrets     no secret value and no API key in any output, log or state file
    5 no-orphans     no process of a command outlives it by more than a few seconds
    6 converges      a fault-free command succeeds, also right after a faulted step
    7 records-kept   a record cut short while the emulator was down is set aside, whole
    8 smoke-holds    no `up` (successful or failed, faulted or not) ends with an agent whose
                     program asks for a smoke check deployed on a build whose Dockerfile
                     carries the crash marker (its current deployment, the last one asked
                     for: the emulator's deployments[-1]); checked after every `up` but those
                     a signal stopped (the next, fault-free, `up` is checked); a faulted `up`
                     whose output said that deploying back failed too is excused, its
                     fault-free `up` after it is not
    9 no-call-cut    the emulator's sessionsCutByAgent grows only for agents whose program
                     said on_active_sessions="proceed", and only with a line of the step's
                     output announcing it (`deleting it with N active sessions`; not asked
                     of a step a signal stopped, whose output it may cut): a "wait" agent is
                     deleted once its sessions ended, or not at all; checked after every step

Expected failures. A fault-free `up` (or `destroy`) may fail where the model says it must:
an agent with a smoke check whose build's content carries the crash marker (the smoke session
fails: the agent is back on its previous build, or, created by this `up`, deleted again), or
an agent to delete whose drain mode is "wait" and that holds a session that does not end
within its drainTimeout (nothing is deleted). Such a failure is excused (invariant 6 holds)
only if every error the command printed is one of those, for those agents (by name, for this
very command: no exemption outlives it). The runner then does what the error tells a user to (a
new content of the build without the marker; the calls end: the sessions are stopped) and
runs the command again, and that run is judged by invariants 6 and 2 as any other.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from pulumi_stack import Result, Stack, engine_env

from pcc_provider.emulator import Emulator
from pcc_provider.emulator.entities import bot_behaviour
from pcc_provider.emulator.traffic import ECHOES, ENCODINGS

PROGRAM = Path(__file__).resolve().parent / "program"
INVARIANTS = ["1 ownership", "2 matches", "3 one-build", "4 no-secrets", "5 no-orphans"]
INVARIANTS.append("6 converges")
# A record the emulator cannot read when it starts again is set aside, never dropped unseen.
INVARIANTS.append("7 records-kept")
# An agent asking for a smoke check never stays on a build whose bot crashes at start.
INVARIANTS.append("8 smoke-holds")
# A delete cuts live sessions only where the program said "proceed".
INVARIANTS.append("9 no-call-cut")
PROFILES = ("agent-1x", "agent-2x", "agent-3x")

ACTIONS = {  # name -> weight
    "edit-context": 3,
    "change-secret": 3,
    "add-secret": 2,
    "remove-secret": 2,
    "agent-settings": 3,
    "rename-agent": 2,
    "add-resource": 2,
    "remove-resource": 2,
    "refresh": 2,
    "destroy-recreate": 1,
    "two-at-once": 2,
    "take-name": 1,  # declare another stack's agent or set: refused, then taken back
}
# The disturbances drawn beside the action and the fault, each from its own Random (so that a
# seed's actions and faults stay what they were before these existed), with their odds.
BAD_BUILD = 0.15  # one of the stack's builds gets a content whose bot crashes at start
SESSIONS_AT_DELETE = 0.7  # sessions added to an agent the step deletes
SESSIONS_ANYWHERE = 0.08  # ... or, when it deletes none, to any agent of the stack
CRASH_MARKER = "ENV PCC_EMULATOR_BOT=crash"  # the emulator's bot that crashes at start
DRAIN_TIMEOUT = 20  # seconds: each agent's drainTimeout (a refused delete costs this much)
# An added session that ends by itself does so this many seconds later: long enough that the
# delete of its step meets it (a command takes seconds to get there), short of DRAIN_TIMEOUT.
ENDS_AFTER = (4.0, 10.0)
# Output lines that show a smoke check ("smoke") or a drain ("drain") at work, by what they
# show; each names the agent. Counted in the summary's `outcomes`, once per command and agent.
OUTCOMES = {
    "smoke check failed, agent back on its previous build": (
        "smoke",
        re.compile(r"agent (\S+): smoke session \S+ failed: .*the agent is back on"),
    ),
    "smoke check failed, new agent deleted again": (
        "smoke",
        re.compile(r"agent (\S+): smoke session \S+ failed: .*the agent was deleted again"),
    ),
    "delete waited for live sessions, then deleted": (
        "drain",
        re.compile(r"agent (\S+): its \d+ active sessions? ended; deleting it"),
    ),
    "delete refused after drainTimeout, nothing deleted": (
        "drain",
        re.compile(r"agent (\S+) still has \d+ active sessions? after .*nothing was deleted"),
    ),
    "delete proceeded, live sessions cut": (
        "drain",
        re.compile(r"agent (\S+): deleting it with \d+ active sessions? \(onActiveSessions"),
    ),
}
# Actions that are more than an edit of one stack's program.
WHOLE_STACK = ("refresh", "destroy-recreate", "two-at-once", "take-name")
FAULTS = {
    "none": 5,
    "burst": 3,  # 5xx or 429, one to four times, on one route
    "html": 1,  # a gateway's HTML page
    "malformed": 1,  # a 200 whose body is not JSON
    "retry-after": 1,  # a 429 or 503 whose Retry-After is invalid, a date, or an hour
    "endless": 1,  # a list of builds that ignores its offset and claims a huge or bad total
    "echo": 1,  # an error that quotes the request's values, body or key, in some encoding
    "delay": 1,  # answered as usual, seconds late
    "act-then-drop": 2,  # the service acts, the answer is lost
    "restart": 1,  # the emulator stops mid-command and comes back (half the time with an
    # agent's or a set's record cut short meanwhile, as a power cut would leave it)
    "sigint": 1,  # Ctrl-C at a random moment
    "sigkill": 1,  # the CLI killed outright, then `pulumi cancel`
    # killed outright, then the rest on another machine (a fresh CI runner): a new
    # PULUMI_HOME and cache folder, `pcc-provider recover` (as README says for CI), `up`
    "fresh-machine": 1,
}
ROUTES = [
    "POST /v1/builds/upload-url",
    "POST /_storage/{bucket}",
    "POST /v1/builds",
    "GET /v1/builds",
    "GET /v1/builds/{buildId}",
    "POST /v1/agents",
    "GET /v1/agents/{agentName}",
    "POST /v1/agents/{agentName}",
    "DELETE /v1/agents/{agentName}",
    "PUT /v1/secrets/{setName}",
    "GET /v1/secrets/{setName}",
    "GET /v1/secrets",
    "DELETE /v1/secrets/{setName}",
    "DELETE /v1/secrets/{setName}/{secretKey}",
]
READ_ROUTES = [r for r in ROUTES if r.startswith("GET ")]
# The routes an action's commands call, so that most faults land where they bite.
BUILD_ROUTES = [r for r in ROUTES if "builds" in r or "_storage" in r]
AGENT_ROUTES = [r for r in ROUTES if "agents" in r]
SET_ROUTES = [r for r in ROUTES if "secrets" in r]
ROUTES_OF = {
    "edit-context": BUILD_ROUTES + AGENT_ROUTES,
    "change-secret": SET_ROUTES + AGENT_ROUTES,
    "add-secret": SET_ROUTES,
    "remove-secret": SET_ROUTES,
    "agent-settings": AGENT_ROUTES,
    "rename-agent": AGENT_ROUTES,
    "refresh": READ_ROUTES,
    "destroy-recreate": [r for r in ROUTES if not r.startswith("PUT ")],
    "take-name": AGENT_ROUTES + SET_ROUTES,
}
ACTING_ROUTES = [r for r in ROUTES if not r.startswith("GET ") and "_storage" not in r]
# Output lines that announce an object left in Pipecat Cloud on purpose.
LEFTOVER = re.compile(r"not deleted|left as it is|deleting it again failed|kept by Pipecat")
# The engine's own closing errors, beside the resources' errors.
ENGINE_ERRORS = ("update failed", "destroy failed", "preview failed", "refresh failed")
# Output lines that say why a second build of one content started.
REBUILD = re.compile(r"a new build starts instead|build \S+ (failed|timed out|timeout)")


@dataclass
class Violation:
    invariant: str
    step: int
    detail: str

    def __str__(self) -> str:
        return f"invariant {self.invariant} broken at step {self.step}: {self.detail}"


@dataclass
class Report:
    seed: int
    steps: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)  # drawn
    # Took effect: a request a queued fault changed, a kill that hit a running command, a
    # restart while a command ran. A drawn fault may not: its route was not called, the
    # command ended before the kill, the restart came after.
    fired: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)  # what the runner did beyond steps
    # What the outputs showed of smoke checks and drains (OUTCOMES), per command.
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "steps": self.steps,
            "seconds": round(self.seconds),
            "actions": dict(sorted(self.actions.items())),
            "faults": dict(sorted(self.faults.items())),
            "fired": dict(sorted(self.fired.items())),
            "checks": dict(sorted(self.checks.items())),
            "notes": dict(sorted(self.notes.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "violations": [str(v) for v in self.violations],
        }


def processes_of(home: str) -> dict[int, str]:
    """pid -> command line of every live process that has PULUMI_HOME=`home` (the CLI, its
    plugins, the language host and the program all inherit it)."""
    mark = f"PULUMI_HOME={home}".encode()
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def initial_model(stack: str, index: int) -> dict[str, Any]:
    agent: dict[str, Any] = {"serviceName": f"{stack}-bot1", "build": "img1", "set": "env1"}
    agent.update(pull="reg1" if index % 2 else None, minAgents=0, maxAgents=1)
    agent["profile"] = "agent-1x"
    # Each stack's first agent proves its deployments; their drain modes differ.
    agent.update(smoke=True, drain="proceed" if index % 2 else "wait", drainTimeout=DRAIN_TIMEOUT)
    return {
        "builds": {"img1": {"context": f"contexts/{stack}/img1"}},
        "sets": {"env1": {"setName": f"{stack}-env1", "keys": ["K1", "K2"]}},
        "pulls": {"reg1": {"setName": f"{stack}-reg1", "username": "chaos"}} if index % 2 else {},
        "agents": {"bot1": agent},
    }


def quiet_port() -> int:
    """A free port for the emulator below the range the kernel hands out for port 0 (Linux's
    ip_local_port_range): a restart holds the emulator down for a while, and a port of that
    range may meanwhile be given to a plugin of this run or of another (seed 403, step 96:
    `Address already in use`). Not the seeded generator: the draws stay the seed's."""
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.SystemRandom().sample(range(max(1024, low - 10000), low), 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return 0  # any: the kernel's choice


class Chaos:
    def __init__(
        self,
        seed: int,
        root: Path,
        *,
        stacks: int = 3,
        plant_at: int | None = None,
        inject: str | None = None,
        bad_build_at: int | None = None,
        sessions_at: int | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.seed, self.root, self.log = seed, root, log
        self.plant_at, self.inject = plant_at, inject
        # Steps where a disturbance happens whatever its odds drew (what it is, still drawn).
        self.bad_build_at, self.sessions_at = bad_build_at, sessions_at
        self.report = Report(seed)
        rng = random.Random(f"{seed}:keys")
        self.api_key = f"pk_chaos_{rng.getrandbits(96):024x}"
        self.names = [f"s{i}" for i in range(stacks)]
        self.project = root / "project"
        shutil.copytree(PROGRAM, self.project, ignore=shutil.ignore_patterns("__pycache__"))
        (self.project / "Pulumi.yaml").write_text("name: chaos\nruntime: python\n")
        (root / "logs").mkdir()
        self.state = root / "state"
        self.state.mkdir()
        self.emulator_dir = root / "emulator"
        self.emulator: Emulator | None = None
        self.port = quiet_port()
        self.stacks: dict[str, Stack] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.values: dict[str, dict[str, dict[str, str]]] = {}
        self.contexts: dict[tuple[str, str], int] = {}  # (stack, build) -> content version
        self.newest: dict[tuple[str, str], int] = {}  # (stack, build) -> its newest version
        self.crashing: set[tuple[str, str, int]] = set()  # contents whose bot crashes
        self.public_key = ""  # minted at setup: the smoke sessions' key
        # Agent name -> its drain mode, for every agent a model declared (names are unique).
        self.drain_of: dict[str, str] = {}
        # Sessions the runner added that end by themselves: id -> when (time.time()).
        self.ending: dict[str, float] = {}
        # Sessions cut by deletes: counted by emulators stopped since (a restart starts the
        # emulator's count again), and the total the last check saw.
        self.cut_before: Counter[str] = Counter()
        self.cut_seen: Counter[str] = Counter()
        self.secrets_seen: set[str] = {self.api_key}
        self.counter = itertools.count(1)
        self.leftovers: dict[str, int] = {}  # object name -> the step whose output announced it
        self.outputs: list[tuple[int, str]] = []  # (step, output) of every command
        self.scanned_at = 0.0
        self.step_no = 0
        self.reported: set[tuple[str, str]] = set()
        self.commands_done = threading.Event()  # the step's commands have ended
        self.landed = False  # the step's fault took effect (Report.fired)
        self.set_aside_names: set[str] = set()  # objects whose record a restart cut short
        self.explained: dict[tuple[str, str], int] = {}  # content -> builds an output explained
        self._emulator_log = logging.FileHandler(root / "logs" / "emulator.log")
        logging.getLogger("pcc_provider.emulator").addHandler(self._emulator_log)

    # -- the emulator ------------------------------------------------------------------------

    def start_emulator(self) -> None:
        self.emulator = Emulator(
            self.emulator_dir, api_key=self.api_key, port=self.port, build_seconds=1.0
        ).start()
        self.port = int(self.emulator.url.rsplit(":", 1)[1])
        self.control("POST", "config", json={"agentReadySeconds": 0.3, "secretReadySeconds": 0.2})

    def stop_emulator(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}/_emulator/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def api(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        response = requests.get(f"{self.url}/v1{path}", headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    # -- stacks --------------------------------------------------------------------------------

    def fresh_value(self, rng: random.Random) -> str:
        value = f"sv{rng.getrandbits(80):020x}"
        self.secrets_seen.add(value)
        return value

    def write_context(self, stack: str, build: str, version: int, crash: bool = False) -> None:
        """The build's context at `version` (a version whose bot crashes, `crash`, stays so
        when a later edit goes back to it)."""
        if crash:
            self.crashing.add((stack, build, version))
        folder = self.project / "contexts" / stack / build
        folder.mkdir(parents=True, exist_ok=True)
        marker = f"{CRASH_MARKER}\n" if (stack, build, version) in self.crashing else ""
        (folder / "Dockerfile").write_text(
            f"FROM dailyco/pipecat-base:latest\n{marker}COPY bot.py bot.py\n"
        )
        (folder / "bot.py").write_text(f"print({stack!r}, {build!r}, {version})\n")
        self.contexts[(stack, build)] = version
        self.newest[(stack, build)] = max(version, self.newest.get((stack, build), 0))

    def crashes(self, stack: str, build: str) -> bool:
        """Whether the build's content, as the model has it now, carries the crash marker."""
        return (stack, build, self.contexts[(stack, build)]) in self.crashing

    def mint_public_key(self) -> None:
        """A public API key of the emulator's organization (`pcc organizations keys create`),
        for the smoke sessions: each stack's secret config `pipecat:publicApiKey`."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        org = self.api("/organizations")["organizations"][0]["name"]
        response = requests.post(
            f"{self.url}/v1/organizations/{org}/apiKeys",
            json={"name": "chaos-smoke", "type": "public"},
            headers=headers,
            timeout=30,
        )
        response.raise_for_status()
        self.public_key = response.json()["key"]
        self.secrets_seen.add(self.public_key)

    def setup(self) -> None:
        self.start_emulator()
        self.mint_public_key()
        rng = random.Random(f"{self.seed}:setup")
        for index, name in enumerate(self.names):
            home = self.root / "homes" / name
            home.mkdir(parents=True)
            env = engine_env(home, self.state)
            env["PCC_PROVIDER_CACHE_DIR"] = str(self.root / "cache")
            env["XDG_CONFIG_HOME"] = str(self.root / "config")
            stack = Stack(self.project, name, env)
            self.stacks[name] = stack
            stack.init()
            stack.config("pipecat:apiUrl", f"{self.url}/v1")
            stack.config("pipecat:apiKey", self.api_key, secret=True)
            stack.config("pipecat:publicApiKey", self.public_key, secret=True)
            self.models[name] = initial_model(name, index)
            self.values[name] = {}
            for owner in self.models[name]["sets"]:
                self.values[name][owner] = {k: self.fresh_value(rng) for k in ("K1", "K2")}
            for owner in self.models[name]["pulls"]:
                self.values[name][owner] = {"password": self.fresh_value(rng)}
            self.write_context(name, "img1", 0)
            self.push(name)
        self.step_no = 0
        for name in self.names:
            self.checked_up(name, self.up_fault_free(name))
        self.cut_seen = self.cuts()
        self.check_all([])

    def push(self, name: str) -> None:
        """The stack's config from its model (fault-free, before any fault is armed)."""
        model = dict(self.models[name], inject=self.inject)
        # The first model to declare a name gives its mode (a take-name step's borrowed name
        # keeps its owner's).
        for spec in model["agents"].values():
            self.drain_of.setdefault(spec["serviceName"], spec.get("drain", "wait"))
        stack = self.stacks[name]
        stack.config("model", json.dumps(model, sort_keys=True))
        stack.config("values", json.dumps(self.values[name], sort_keys=True), secret=True)

    # -- commands ------------------------------------------------------------------------------

    def command(
        self, name: str, args: list[str], *, kill: str | None = None, at: float = 0.0
    ) -> Result:
        """Run `pulumi <args>` for one stack; with `kill`, send SIGINT (to its process group,
        as Ctrl-C does) or SIGKILL (to the CLI alone) once the emulator has served `at` more
        requests, if it still runs."""
        stack = self.stacks[name]
        argv = ["pulumi", *args, "--stack", name, "--non-interactive", "--color", "never"]
        number = next(self.counter)  # atomic: two stacks' commands may run at once
        logfile = self.root / "logs" / f"{self.step_no:04d}-{number:05d}-{name}-{args[0]}.log"
        with logfile.open("w+") as out:
            proc = subprocess.Popen(
                argv,
                cwd=stack.dir,
                env=stack.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                if kill is not None and self.wait_for_requests(proc, int(at)):
                    if kill == "sigint":
                        os.killpg(proc.pid, signal.SIGINT)
                    else:
                        proc.kill()
                    self.landed = True  # the command still ran when the signal went
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.violate("6 converges", f"`{' '.join(argv)}` still ran after 300s")
            if kill == "sigkill":
                self.mend_torn_sidecars()
            out.seek(0)
            output = out.read()
        self.outputs.append((self.step_no, output))
        for label, (_, pattern) in OUTCOMES.items():
            shown = set(pattern.findall(output))
            if shown:
                self.report.outcomes[label] += len(shown)
        self.check_orphans(name, argv)
        for line in output.splitlines():
            if LEFTOVER.search(line):
                for word in re.findall(r"[a-z0-9][a-z0-9-]{2,}", line):
                    if re.fullmatch(r"s\d+-[a-z0-9-]+", word):
                        self.leftovers.setdefault(word, self.step_no)
        return Result(argv, proc.returncode, output, "")

    def faults_fired(self) -> int:
        """Requests a queued fault has changed since the emulator started."""
        try:
            return int(self.control("GET", "stats")["faultsFired"])
        except requests.RequestException:
            return 0

    def requests_served(self) -> int:
        try:
            return sum(self.control("GET", "stats")["requests"].values())
        except requests.RequestException:
            return 0

    def wait_for_requests(self, proc: subprocess.Popen[bytes], count: int) -> bool:
        """Wait until the emulator has served `count` more requests (a random moment within
        the command's work); False if the command ended first."""
        until = self.requests_served() + count
        while proc.poll() is None:
            if self.requests_served() >= until:
                return True
            time.sleep(0.05)
        return False

    def up(self, name: str, extra: list[str], **kill: Any) -> Result:
        return self.command(name, ["up", "--yes", "--skip-preview", *extra], **kill)

    def checked_up(self, name: str, result: Result, why: str = "fault-free `pulumi up`") -> bool:
        """Invariants 6 and 2 after a fault-free up."""
        self.report.checks["6 converges"] += 1
        if result.returncode != 0:
            self.violate("6 converges", f"{why} of {name} failed:\n{tail(result.stdout)}")
            return False
        self.report.checks["2 matches"] += 1
        preview = self.command(name, ["preview", "--expect-no-changes", "--diff"])
        if preview.returncode != 0:
            self.violate(
                "2 matches",
                f"`pulumi preview --expect-no-changes` of {name} after its up:\n"
                f"{tail(preview.stdout)}",
            )
        self.check_matches(name)
        return True

    # -- invariants ----------------------------------------------------------------------------

    def violate(self, invariant: str, detail: str) -> None:
        if (invariant, detail) in self.reported:
            return  # the same object still wrong: reported at the step that broke it
        self.reported.add((invariant, detail))
        violation = Violation(invariant, self.step_no, detail)
        self.report.violations.append(violation)
        self.log(f"VIOLATION {violation}")

    def check_orphans(self, name: str, argv: list[str]) -> None:
        self.report.checks["5 no-orphans"] += 1
        home = self.stacks[name].env["PULUMI_HOME"]
        deadline = time.monotonic() + 10
        left = processes_of(home)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = processes_of(home)
        if left:
            self.violate("5 no-orphans", f"10s after `{' '.join(argv)}` ended: {left}")
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def state_resources(self, name: str) -> list[dict[str, Any]]:
        path = self.state / ".pulumi" / "stacks" / "chaos" / f"{name}.json"
        if not path.exists():
            return []
        deployment = json.loads(path.read_text()).get("checkpoint", {}).get("latest") or {}
        found: list[dict[str, Any]] = deployment.get("resources") or []
        return [r for r in found if r["type"].startswith("pulumi-python:dynamic/pipecat:")]

    def owned(self) -> dict[str, dict[str, list[str]]]:
        """kind -> object name -> the stacks whose state holds it."""
        owners: dict[str, dict[str, list[str]]] = {"agent": {}, "set": {}, "build": {}}
        for name in self.names:
            for resource in self.state_resources(name):
                kind = resource["type"].rsplit(":", 1)[1]
                key = {"Agent": "agent", "Build": "build"}.get(kind, "set")
                owners[key].setdefault(resource["id"], []).append(name)
        return owners

    def check_ownership(self) -> None:
        self.report.checks["1 ownership"] += 1
        owners = self.owned()
        held = {
            "agent": [a["name"] for a in self.api("/agents")["services"]],
            "set": [s["name"] for s in self.api("/secrets")["sets"]],
        }
        for kind, names in held.items():
            for obj in names:
                stacks = owners[kind].get(obj, [])
                if len(stacks) > 1:
                    self.violate("1 ownership", f"{kind} {obj} is in the state of {stacks}")
                elif not stacks and obj not in self.leftovers:
                    self.violate(
                        "1 ownership",
                        f"{kind} {obj} is in the emulator, in no stack's state, and no output "
                        "announced it as left behind",
                    )
        for obj, stacks in owners["build"].items():
            if len(stacks) > 1:
                self.violate("1 ownership", f"build {obj} is in the state of {stacks}")

    def builds(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.api(f"/builds?limit=100&offset={len(found)}")
            found += page["builds"]
            if not page["builds"] or len(found) >= page["total"]:
                return found

    def check_one_build(self) -> None:
        self.report.checks["3 one-build"] += 1
        per_content = Counter((b["contextHash"], b["dockerfilePath"]) for b in self.builds())
        said = any(REBUILD.search(output) for _, output in self.outputs)
        for (content, dockerfile), count in per_content.items():
            if count > 1 and said:
                self.explained[(content, dockerfile)] = count  # said at this step
            if count > self.explained.get((content, dockerfile), 1):
                self.violate(
                    "3 one-build",
                    f"{count} builds of content {content}, and no output said why",
                )

    def check_secrets(self) -> None:
        """Invariant 4 over this step's outputs and every file of the state, the stacks'
        homes and the cache written since the last scan (the emulator's store is exempt:
        it stands in for Pipecat Cloud)."""
        self.report.checks["4 no-secrets"] += 1
        needles: dict[str, tuple[str, str]] = {}  # form -> (the value, how it is named)
        # A pull secret is sent as base64 of `username:password`: that form counts too.
        pairs = {
            f"chaos:{v['password']}"
            for vs in self.values.values()
            for v in vs.values()
            if "password" in v
        }
        for value in {*self.secrets_seen, *pairs}:
            # Named by value (a made-up one, to grep the logs for), the key by what it is.
            name = (
                "the API key"
                if value == self.api_key
                else "the public API key"
                if value == self.public_key
                else f"secret value {value}"
            )
            # Every form the emulator's echo fault can write it in (the same table); a form
            # several encodings share is named by the first (verbatim, then the rest).
            for encoding, encode in ENCODINGS.items():
                label = name if encoding == "verbatim" else f"{name}, {encoding}-encoded,"
                needles.setdefault(encode(value), (value, label))
        started = time.time()
        texts = [(f"output of a command of step {s}", o) for s, o in self.outputs]
        roots = [self.state, self.root / "homes", self.root / "cache", self.root / "logs"]
        roots.append(self.project)  # the stacks' config files (Pulumi.<stack>.yaml)
        for root in roots:
            for path in root.rglob("*"):
                try:
                    if path.is_file() and path.stat().st_mtime >= self.scanned_at - 1:
                        texts.append((str(path), path.read_text(errors="replace")))
                except OSError:
                    continue
        self.scanned_at = started
        for where, text in texts:
            found = set()
            for needle, (value, what) in needles.items():
                if needle in text:
                    found.add(value)
                    self.violate("4 no-secrets", f"{what} in plaintext in {where}")
            # A value inside a larger encoded text (the base64 of a whole request body).
            decoded = " ".join(decode_runs(text))
            for needle, (value, what) in needles.items():
                if needle == value and value not in found and value in decoded:
                    self.violate("4 no-secrets", f"{what} inside a base64 run in {where}")

    def check_matches(self, name: str) -> None:
        """The emulator holds what this stack's state and program declare (after its up)."""
        model = self.models[name]
        resources = {r["urn"].rsplit("::", 1)[1]: r for r in self.state_resources(name)}
        declared = {*model["builds"], *model["sets"], *model["pulls"], *model["agents"]}
        if set(resources) != declared:
            self.violate(
                "2 matches",
                f"{name}'s state holds {sorted(resources)}, its program {sorted(declared)}",
            )
            return
        agents = {a["name"] for a in self.api("/agents")["services"]}
        sets = {s["name"]: s for s in self.api("/secrets")["sets"]}
        builds = {b["id"]: b for b in self.builds()}
        wrong: list[str] = []
        for res in model["builds"]:
            build = builds.get(resources[res]["id"])
            if build is None or build["status"] != "success":
                wrong.append(f"build {res}: {build and build['status']}")
        for res, spec in {**model["sets"], **model["pulls"]}.items():
            if spec["setName"] not in sets or sets[spec["setName"]]["status"] != "ready":
                wrong.append(f"set {spec['setName']} missing or not ready")
            elif res in model["sets"]:
                stored = self.emulator_dir / "secrets" / f"{spec['setName']}.json"
                values = json.loads(stored.read_text())["values"]
                if values != self.values[name][res]:
                    wrong.append(f"set {spec['setName']} holds other values or keys")
        for spec in model["agents"].values():
            if spec["serviceName"] not in agents:
                wrong.append(f"agent {spec['serviceName']} missing")
                continue
            agent = self.api(f"/agents/{spec['serviceName']}")
            deployments = self.control("GET", f"agents/{spec['serviceName']}")["deployments"]
            active = [d for d in deployments if d["id"] == agent.get("activeDeploymentId")]
            if not active:
                wrong.append(f"agent {spec['serviceName']} has no active deployment")
                continue
            settings = active[0]["settings"]
            want = {
                "buildId": resources[spec["build"]]["id"],
                "secretSet": model["sets"][spec["set"]]["setName"] if spec.get("set") else None,
                "imagePullSecretSet": (
                    model["pulls"][spec["pull"]]["setName"] if spec.get("pull") else None
                ),
                "minAgents": spec["minAgents"],
                "maxAgents": spec["maxAgents"],
                "agentProfile": spec["profile"],
            }
            have = {
                "buildId": active[0]["buildId"],
                "secretSet": settings.get("secretSet"),
                "imagePullSecretSet": settings.get("imagePullSecretSet"),
                "minAgents": settings["autoScaling"]["minAgents"],
                "maxAgents": settings["autoScaling"]["maxAgents"],
                "agentProfile": settings["agentProfile"],
            }
            if have != want:
                wrong.append(f"agent {spec['serviceName']} runs {have}, declared {want}")
        for line in wrong:
            self.violate("2 matches", f"{name} after its up: {line}")

    def check_all(self, touched: list[str]) -> None:
        self.check_ownership()
        self.check_one_build()
        self.check_secrets()
        self.outputs.clear()

    def smoke_agents(self, name: str) -> list[str]:
        """The agents `name`'s program asks a smoke check of (a name another stack's model
        declares too, for the one step of a take-name, is judged by the stack that holds it
        in its state, not by the one that borrowed it)."""
        elsewhere = {
            spec["serviceName"]
            for other in self.names
            if other != name
            for spec in self.models[other]["agents"].values()
        }
        held = {r["id"] for r in self.state_resources(name) if r["type"].endswith(":Agent")}
        return sorted(
            spec["serviceName"]
            for spec in self.models[name]["agents"].values()
            if spec.get("smoke")
            and (spec["serviceName"] not in elsewhere or spec["serviceName"] in held)
        )

    def crash_marked(self, build_id: str) -> bool:
        """Whether the emulator's build has a Dockerfile whose bot crashes at start."""
        assert self.emulator is not None
        with self.emulator.store.lock:
            build = self.emulator.store.builds.get(build_id)
        return build is not None and bot_behaviour("", build.steps).kind == "crash"

    def check_smoke_holds(self, name: str, result: Result, *, faulted: bool) -> None:
        """Invariant 8 after an `up` of `name` that no signal stopped."""
        self.report.checks["8 smoke-holds"] += 1
        for agent in self.smoke_agents(name):
            try:
                deployments = self.control("GET", f"agents/{agent}")["deployments"]
            except requests.HTTPError:
                continue  # not there: a create that failed (invariant 2 judges that)
            build = deployments[-1].get("buildId") if deployments else None
            if build is None or not self.crash_marked(build):
                continue
            said = re.search(
                rf"agent {re.escape(agent)}: .*deploying back what it ran before failed too",
                result.stdout,
            )
            if faulted and said:
                self.report.notes["a faulted up said deploying back failed"] += 1
                continue
            # Named by the object alone, so that it is reported once, at the `up` that left it.
            self.violate(
                "8 smoke-holds",
                f"agent {agent}, which {name}'s program asks a smoke check of, is deployed on "
                f"build {build}, whose bot crashes at start",
            )

    def cuts(self) -> Counter[str]:
        """Sessions cut by deletes since the run began, by agent name."""
        now = Counter(self.control("GET", "stats")["sessionsCutByAgent"])
        return self.cut_before + now

    def check_no_call_cut(self, killed: bool) -> None:
        """Invariant 9 over the step: a delete cut live sessions only of an agent whose
        program said "proceed", and (unless a signal stopped a command, and its output with
        it) its output said so."""
        self.report.checks["9 no-call-cut"] += 1
        announced = {
            agent
            for _, output in self.outputs
            for agent in OUTCOMES["delete proceeded, live sessions cut"][1].findall(output)
        }
        cuts = self.cuts()
        for agent, count in sorted(cuts.items()):
            grew = count - self.cut_seen[agent]
            if grew <= 0:
                continue
            mode = self.drain_of.get(agent, "wait")
            if mode != "proceed":
                self.violate(
                    "9 no-call-cut",
                    f"deleting agent {agent} cut {grew} live session(s), and its program said "
                    f"on_active_sessions={mode!r}",
                )
            elif agent not in announced and not killed:
                self.violate(
                    "9 no-call-cut",
                    f"deleting agent {agent} cut {grew} live session(s), and no output said so",
                )
        self.cut_seen = cuts

    # -- expected failures ---------------------------------------------------------------------

    def agent_names(self, name: str) -> set[str]:
        return {spec["serviceName"] for spec in self.models[name]["agents"].values()}

    def agents_to_delete(self, name: str, destroy: bool) -> list[str]:
        """The agents the stack's next `up` deletes (its state holds them, its program no
        longer declares them: removed or renamed), or, for a `destroy`, all it holds."""
        declared = self.agent_names(name)
        held = [r["id"] for r in self.state_resources(name) if r["type"].endswith(":Agent")]
        return sorted({a for a in held if destroy or a not in declared})

    def staying_sessions(self, agent: str) -> list[str]:
        """The agent's active sessions that do not end by themselves within its drainTimeout
        from now (a smoke session a killed `up` left running counts too)."""
        try:
            found = self.control("GET", f"agents/{agent}")
        except requests.HTTPError:
            return []
        horizon = time.time() + DRAIN_TIMEOUT - 4  # the delete's last looks, a margin
        return [
            s["sessionId"]
            for s in found["sessions"]
            if s["endState"] == "active" and self.ending.get(s["sessionId"], horizon + 1) > horizon
        ]

    def expected_failures(self, name: str, destroy: bool = False) -> dict[str, str]:
        """Agent name -> "smoke" or "drain": what the model says the stack's next fault-free
        `up` (or `destroy`) must fail on, if it gets that far."""
        expected: dict[str, str] = {}
        if not destroy:
            for spec in self.models[name]["agents"].values():
                if spec.get("smoke") and self.crashes(name, spec["build"]):
                    expected[spec["serviceName"]] = "smoke"
        for agent in self.agents_to_delete(name, destroy):
            if self.drain_of.get(agent, "wait") != "proceed" and self.staying_sessions(agent):
                expected[agent] = "drain"
        return expected

    def failures(self, output: str, expected: dict[str, str]) -> tuple[list[str], set[str]]:
        """The errors a failed command printed that are not among the failures `expected`,
        and the agents whose expected failure it printed."""
        smoke = re.compile(r"agent (\S+): smoke (?:session \S+|check) failed: ")
        drain = re.compile(
            r"agent (\S+) still has \d+ active sessions? after .*nothing was deleted"
        )
        wrong, failed = [], set()
        for line in output.splitlines():
            error = re.match(r"\s*error: (.*)", line)
            if error is None or error.group(1).strip() in ENGINE_ERRORS:
                continue
            text = error.group(1)
            found = smoke.search(text) or drain.search(text)
            why = "smoke" if found is not None and found.re is smoke else "drain"
            if found is None or expected.get(found.group(1)) != why:
                wrong.append(text)
            else:
                failed.add(found.group(1))
        return wrong, failed

    def fix(self, name: str, expected: dict[str, str]) -> None:
        """What the failure tells a user to do: fix the bot (a new content of its build,
        without the crash marker), or let the calls end (each staying session stopped, as
        `pcc agent stop` does)."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        for agent, why in sorted(expected.items()):
            if why == "smoke":
                build = next(
                    spec["build"]
                    for spec in self.models[name]["agents"].values()
                    if spec["serviceName"] == agent
                )
                if self.crashes(name, build):
                    self.write_context(name, build, self.newest[(name, build)] + 1)
                    self.report.notes["a crashing bot fixed after its smoke check failed"] += 1
                continue
            for session in self.staying_sessions(agent):
                requests.delete(
                    f"{self.url}/v1/agents/{agent}/sessions/{session}", headers=headers, timeout=30
                ).raise_for_status()
            self.report.notes["live sessions stopped after a delete waited for them in vain"] += 1
        self.push(name)

    def fault_free(self, name: str, args: list[str]) -> Result:
        """A fault-free `pulumi up` or `destroy`. Failing only as the model expects is no
        failure (invariant 6 holds): the user's fix follows, and the command again, whose
        result the caller judges. Invariant 8 after each `up`."""
        for _ in range(4):  # a smoke check and a drain may each stop it once, in turn
            expected = self.expected_failures(name, destroy=args[0] == "destroy")
            result = self.command(name, args)
            if args[0] == "up":
                self.check_smoke_holds(name, result, faulted=False)
            if result.returncode == 0 or not expected:
                return result
            wrong, failed = self.failures(result.stdout, expected)
            if wrong or not failed:
                return result  # the caller reports it (invariant 6)
            self.report.checks["6 converges"] += 1
            self.fix(name, {agent: expected[agent] for agent in failed})
        return result

    # -- actions -------------------------------------------------------------------------------

    def edit(self, rng: random.Random, name: str, action: str) -> None:
        """Change `name`'s model or files as `action` says (the program sees it on its next run)."""
        model, values = self.models[name], self.values[name]
        sets = sorted(model["sets"])
        agents = sorted(model["agents"])
        if action == "edit-context":
            build = rng.choice(sorted(model["builds"]))
            current = self.contexts[(name, build)]
            # Now and then back to an earlier content: its build is reused, not rebuilt.
            version = rng.randrange(current) if current and rng.random() < 0.3 else current + 1
            self.write_context(name, build, version)
        elif action in ("change-secret", "add-secret", "remove-secret") and sets:
            owner = rng.choice(sets)
            keys = model["sets"][owner]["keys"]
            if action == "add-secret" and len(keys) < 4:
                key = rng.choice([k for k in ("K1", "K2", "K3", "K4") if k not in keys])
                keys.append(key)
                keys.sort()
                values[owner][key] = self.fresh_value(rng)
            elif action == "remove-secret" and len(keys) > 1:
                key = rng.choice(keys)
                keys.remove(key)
                del values[owner][key]
            else:
                values[owner][rng.choice(keys)] = self.fresh_value(rng)
        elif action == "change-secret" and model["pulls"]:
            values[rng.choice(sorted(model["pulls"]))]["password"] = self.fresh_value(rng)
        elif action == "agent-settings" and agents:
            spec = model["agents"][rng.choice(agents)]
            spec["maxAgents"] = rng.randint(1, 3)
            spec["minAgents"] = rng.randint(0, min(1, spec["maxAgents"]))
            spec["profile"] = rng.choice(PROFILES)
            if rng.random() < 0.3:
                spec["build"] = rng.choice(sorted(model["builds"]))
        elif action == "rename-agent" and agents:
            res = rng.choice(agents)
            model["agents"][res]["serviceName"] = f"{name}-{res}-r{rng.getrandbits(20):05x}"
        elif action == "add-resource":
            self.add_resource(rng, name)
        elif action == "remove-resource":
            self.remove_resource(rng, name)

    def add_resource(self, rng: random.Random, name: str) -> None:
        model, values = self.models[name], self.values[name]
        kind = rng.choice(["build", "set", "pull", "agent", "agent"])
        tag = f"{rng.getrandbits(20):05x}"
        if kind == "build" and len(model["builds"]) < 3:
            res = f"img{tag}"
            model["builds"][res] = {"context": f"contexts/{name}/{res}"}
            self.write_context(name, res, 0)
        elif kind == "set" and len(model["sets"]) < 3:
            res = f"env{tag}"
            model["sets"][res] = {"setName": f"{name}-{res}", "keys": ["K1"]}
            values[res] = {"K1": self.fresh_value(rng)}
        elif kind == "pull" and len(model["pulls"]) < 2:
            res = f"reg{tag}"
            model["pulls"][res] = {"setName": f"{name}-{res}", "username": "chaos"}
            values[res] = {"password": self.fresh_value(rng)}
        elif len(model["agents"]) < 3:
            res = f"bot{tag}"
            model["agents"][res] = {
                "serviceName": f"{name}-{res}",
                "build": rng.choice(sorted(model["builds"])),
                "set": rng.choice([None, *sorted(model["sets"])]),
                "pull": rng.choice([None, *sorted(model["pulls"])]),
                "minAgents": 0,
                "maxAgents": rng.randint(1, 2),
                "profile": rng.choice(PROFILES),
            }
            # Its smoke check and drain mode, fixed for its life (a check switched on later
            # would not prove the deployment it already has), from a Random of their own.
            own = random.Random(f"{self.seed}:{self.step_no}:{name}:{res}")
            model["agents"][res].update(
                smoke=own.random() < 0.5,
                drain=own.choice(["wait", "proceed"]),
                drainTimeout=DRAIN_TIMEOUT,
            )

    def remove_resource(self, rng: random.Random, name: str) -> None:
        model, values = self.models[name], self.values[name]
        kind = rng.choice(["build", "set", "pull", "agent", "agent"])
        agents = model["agents"].values()
        if kind == "build" and len(model["builds"]) > 1:
            res = rng.choice(sorted(model["builds"]))
            del model["builds"][res]
            for spec in agents:
                if spec["build"] == res:
                    spec["build"] = sorted(model["builds"])[0]
        elif kind in ("set", "pull") and model[f"{kind}s"]:
            res = rng.choice(sorted(model[f"{kind}s"]))
            del model[f"{kind}s"][res]
            del values[res]
            for spec in agents:
                if spec.get(kind) == res:
                    spec[kind] = None
        elif model["agents"]:
            del model["agents"][rng.choice(sorted(model["agents"]))]

    def arm(self, rng: random.Random, fault: str, action: str) -> dict[str, Any]:
        """Queue an API fault in the emulator; returns how the command is to be disturbed."""
        near = ROUTES_OF.get(action, ROUTES)
        routes = near if rng.random() < 0.8 else ROUTES
        if fault == "burst":
            status = rng.choice([500, 502, 503, 429])
            body: dict[str, Any] = {"route": rng.choice(routes), "status": status}
            body.update(times=rng.randint(1, 4), **({"retryAfter": 1} if status == 429 else {}))
        elif fault == "html":
            body = {"route": rng.choice(routes), "status": 502, "body": "html"}
            body["times"] = rng.randint(1, 2)
        elif fault == "malformed":
            reads = [r for r in routes if r in READ_ROUTES] or READ_ROUTES
            body = {"route": rng.choice(reads), "status": 200, "body": "malformed"}
            body["times"] = rng.randint(1, 3)
        elif fault == "retry-after":
            after = rng.choice(["-5", "soon", "1e9", "", "Wed, 21 Oct 2015 07:28:00 GMT", "3600"])
            status = rng.choice([429, 503])
            body = {"route": rng.choice(routes), "status": status, "retryAfter": after}
            body["times"] = rng.randint(1, 3)
        elif fault == "endless":
            total = rng.choice([10**9, "abc", 5000])
            body = {"route": "GET /v1/builds", "body": "endless", "total": total, "times": 500}
        elif fault == "echo":
            body = {"route": rng.choice(routes), "status": rng.choice([400, 409, 422, 500])}
            body.update(
                body="echo", echoes=rng.choice(ECHOES), encoding=rng.choice(sorted(ENCODINGS))
            )
            body["times"] = rng.randint(1, 2)
        elif fault == "delay":
            body = {"route": rng.choice(routes), "delay": round(rng.uniform(1, 5), 1)}
        elif fault == "act-then-drop":
            acting = [r for r in routes if r in ACTING_ROUTES] or ACTING_ROUTES
            body = {"route": rng.choice(acting), "actThenDrop": True}
        elif fault in ("sigint", "sigkill"):
            # After 1 to 6 more API requests: within the work of most commands (a small
            # update makes about six, a create of a stack's resources a few dozen).
            return {"kill": fault, "at": rng.randint(1, 6)}
        elif fault == "fresh-machine":
            return {"kill": "sigkill", "at": rng.randint(1, 6), "fresh": True}
        elif fault == "restart":
            restart = {"restart": rng.randint(1, 6), "down": round(rng.uniform(0.5, 3), 1)}
            if rng.random() < 0.5:
                restart.update(corrupt=rng.choice(["agents", "secrets"]), pick=rng.random())
            return restart
        else:
            return {}
        self.control("POST", "faults", json=body)
        return {"fault": body}

    def step(self, number: int) -> None:
        self.step_no = number
        rng = random.Random(f"{self.seed}:{number}")
        action = weighted(rng, ACTIONS)
        fault = weighted(rng, FAULTS)
        first = rng.choice(self.names)
        second = rng.choice([n for n in self.names if n != first])
        self.report.actions[action] += 1
        self.report.faults[fault] += 1
        touched = [first, second] if action == "two-at-once" else [first]
        edits = (
            [rng.choice([a for a in ACTIONS if a not in WHOLE_STACK]) for _ in touched]
            if action == "two-at-once"
            else [action]
        )
        taken = self.take_name(rng, first, second) if action == "take-name" else None
        before = {name: self.agent_names(name) for name in touched}
        for name, edit in zip(touched, edits, strict=True):
            self.edit(rng, name, edit)
            self.push(name)
        bad = self.draw_bad_build(number, first)
        live = self.draw_live_sessions(number, action, first, touched, before)
        self.landed = False
        fired_before = self.faults_fired()
        disturbance = self.arm(rng, fault, action)
        extra = "".join(
            [
                f", bad-build {first}/{bad}" if bad else "",
                f", live-sessions on {live[0]} (ends after {live[1]})" if live else "",
            ]
        )
        self.log(
            f"step {number}: {action} on {'+'.join(touched)}, fault {fault} {disturbance}{extra}"
        )
        kill = {k: disturbance[k] for k in ("kill", "at") if k in disturbance}
        results: dict[str, Result] = {}
        restart = None
        self.commands_done.clear()
        if "restart" in disturbance:
            restart = threading.Thread(target=self.restart, args=(disturbance,))
            restart.start()
        clean = fault == "none"

        def up(name: str, **killing: Any) -> Result:
            return self.up_fault_free(name) if clean else self.up(name, [], **killing)

        if action == "refresh":
            results[first] = self.command(first, ["refresh", "--yes", "--skip-preview"], **kill)
        elif action == "destroy-recreate":
            destroy = ["destroy", "--yes", "--skip-preview"]
            destroyed = (
                self.fault_free(first, destroy) if clean else self.command(first, destroy, **kill)
            )
            if clean and destroyed.returncode == 0:
                leftover = self.state_resources(first)
                if leftover:
                    self.violate("6 converges", f"{first}'s state after destroy: {leftover}")
            elif clean:
                self.violate(
                    "6 converges",
                    f"fault-free destroy of {first} failed:\n{tail(destroyed.stdout)}",
                )
            if clean or destroyed.returncode == 0:
                results[first] = up(first)
        elif action == "two-at-once":
            threads = [
                threading.Thread(target=lambda n=n: results.__setitem__(n, up(n, **kill)))
                for n in touched
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        elif taken is not None:
            results[first] = self.up(first, [], **kill)  # refused: judged below
        else:
            results[first] = up(first, **kill)
        self.commands_done.set()
        if restart is not None:
            restart.join()
        if not clean and "kill" not in disturbance:
            for name, ran in results.items():  # invariant 8 after a faulted up too
                if ran.args[1] == "up" and taken is None:
                    self.check_smoke_holds(name, ran, faulted=True)
        if "fault" in disturbance:
            self.landed = self.faults_fired() > fired_before
        if not clean:
            self.report.fired[fault] += self.landed
            self.log(f"  fault {fault} {'fired' if self.landed else 'did not fire'}")
        self.control("DELETE", "faults")
        # An object whose record was set aside is gone, as if deleted outside Pulumi: its
        # stack learns that from `pulumi refresh`, as a user's would, and the up recreates it.
        owners = sorted({n.split("-", 1)[0] for n in self.set_aside_names} & set(self.names))
        self.set_aside_names.clear()
        for owner in owners:
            self.report.notes["refresh after a record was set aside"] += 1
            self.command(owner, ["refresh", "--yes", "--skip-preview"])
            if owner not in touched:
                self.checked_up(
                    owner, self.up_fault_free(owner), "the up after a record was set aside"
                )
        if "kill" in disturbance:
            for name in touched:
                self.command(name, ["cancel", "--yes"])
        if disturbance.get("fresh"):
            for name in touched:
                self.move_to_another_machine(name)
        if taken is not None:
            refused = results[first]
            if clean and refused.returncode != 0 and "did not create it" not in (refused.stdout):
                self.violate(
                    "1 ownership",
                    f"{first}'s up declaring {second}'s {taken[1]} failed without saying that "
                    f"this stack did not create it:\n{tail(refused.stdout)}",
                )
            self.check_ownership()  # before the name is given back
            kind, res, name, held = taken
            self.models[first][kind][res][held] = name
            self.push(first)
            results[first] = up(first)
        for name in touched:
            result = results.get(name)
            is_up = result is not None and result.args[1] == "up"
            if clean and is_up and result is not None:
                self.checked_up(name, result)
            elif clean and result is not None:
                self.report.checks["6 converges"] += 1
                if result.returncode != 0:
                    self.violate(
                        "6 converges",
                        f"fault-free {result.args[1]} of {name} failed:\n{tail(result.stdout)}",
                    )
            else:
                # Whatever the fault did, a fault-free up now converges.
                self.checked_up(name, self.recover(name), "the fault-free `pulumi up` after it")
        if bad is not None:  # a smoke check of an agent deploying it caught it
            model = self.models[first]
            deploying = [s["serviceName"] for s in model["agents"].values() if s["build"] == bad]
            self.report.fired["bad-build"] += self.said("smoke", deploying)
        if live is not None:
            self.report.fired["live-sessions"] += self.said("drain", [live[0]])
        if self.plant_at == number:
            # The injected violation: an object no stack created and no output announced.
            self.plant(f"planted-{number}")
        self.check_no_call_cut(killed="kill" in disturbance)
        self.check_all(touched)

    def said(self, kind: str, agents: list[str]) -> bool:
        """Whether an output of this step showed a smoke check ("smoke") or a drain
        ("drain") of one of `agents` at work."""
        return any(
            agent in pattern.findall(output)
            for step, output in self.outputs
            if step == self.step_no
            for shows, pattern in OUTCOMES.values()
            if shows == kind
            for agent in agents
        )

    def draw_bad_build(self, number: int, name: str) -> str | None:
        """Now and then (or at --bad-build-at), a new content of one of `name`'s builds whose
        bot crashes at start, mostly of one an agent with a smoke check deploys; its name."""
        rng = random.Random(f"{self.seed}:{number}:bad-build")
        if not (rng.random() < BAD_BUILD or self.bad_build_at == number):
            return None
        model = self.models[name]
        proved = sorted({s["build"] for s in model["agents"].values() if s.get("smoke")})
        pool = proved if proved and rng.random() < 0.8 else sorted(model["builds"])
        build: str = rng.choice(pool)
        self.write_context(name, build, self.newest[(name, build)] + 1, crash=True)
        self.report.faults["bad-build"] += 1
        return build

    def draw_live_sessions(
        self,
        number: int,
        action: str,
        first: str,
        touched: list[str],
        before: dict[str, set[str]],
    ) -> tuple[str, list[float | None]] | None:
        """Mostly when the step deletes an agent (a removal, a rename, a destroy), now and
        then (or at --sessions-at) otherwise: one or two active sessions added to one of
        them (else to any of `first`'s agents), each ending by itself within a few seconds
        or never. (The agent, when each ends.)"""
        rng = random.Random(f"{self.seed}:{number}:live-sessions")
        deleted = sorted(a for n in touched for a in before[n] - self.agent_names(n))
        if action == "destroy-recreate":
            deleted = sorted(before[first])
        odds = SESSIONS_AT_DELETE if deleted else SESSIONS_ANYWHERE
        if not (rng.random() < odds or self.sessions_at == number):
            return None
        pool = deleted or sorted(before[first])
        if not pool:
            return None
        agent = rng.choice(pool)
        count = rng.randint(1, 2)
        ends = [rng.choice([None, round(rng.uniform(*ENDS_AFTER), 1)]) for _ in range(count)]
        self.report.faults["live-sessions"] += 1
        for end in ends:
            try:
                body = {} if end is None else {"endsAfter": end}
                added = self.control("POST", f"agents/{agent}/sessions", json=body)
            except requests.HTTPError:
                continue  # no such agent now (its create failed): nothing to disturb
            if end is not None:
                self.ending[added["sessionId"]] = time.time() + end
        return agent, ends

    def up_fault_free(self, name: str) -> Result:
        return self.fault_free(name, ["up", "--yes", "--skip-preview"])

    def recover(self, name: str) -> Result:
        """The fault-free `up` after a faulted step. A delete the kill interrupted stays in
        the state, whatever it did (the engine's rule for every provider): the engine's
        warning says so and says to run `pulumi refresh`, which is done here, as a user
        would, before the `up` that must converge."""
        result = self.up_fault_free(name)
        if "interrupted while deleting" in result.stdout:
            self.report.notes["refresh after an interrupted delete"] += 1
            refreshed = self.command(name, ["refresh", "--yes", "--skip-preview"])
            self.report.checks["6 converges"] += 1
            if refreshed.returncode != 0:
                self.violate(
                    "6 converges",
                    f"the `pulumi refresh` an interrupted delete asks for failed:\n"
                    f"{tail(refreshed.stdout)}",
                )
            result = self.up_fault_free(name)
        return result

    def move_to_another_machine(self, name: str) -> None:
        """The stack's next commands run where nothing of the last one's machine is: its own
        PULUMI_HOME, cache folder and cache key; `pcc-provider recover` first, as in CI."""
        machine = self.root / "homes" / f"{name}-machine{next(self.counter)}"
        self.stacks[name] = stack = self.stacks[name].on_fresh_machine(machine)
        recovered = stack.run(
            [str(Path(sys.executable).parent / "pcc-provider"), "recover", "--stack", name],
            check=False,
        )
        self.outputs.append((self.step_no, recovered.output))
        self.report.notes["recover on a fresh machine"] += 1
        self.report.checks["6 converges"] += 1
        if recovered.returncode != 0:
            self.violate("6 converges", f"`pcc-provider recover` failed:\n{tail(recovered.output)}")

    def take_name(
        self, rng: random.Random, first: str, second: str
    ) -> tuple[str, str, str, str] | None:
        """Make one of `first`'s agents or sets declare the name of one of `second`'s; returns
        (kind, resource, its own name, the field) to give it back."""
        for kind, held in rng.sample([("agents", "serviceName"), ("sets", "setName")], 2):
            mine, theirs = self.models[first][kind], self.models[second][kind]
            if mine and theirs:
                res = rng.choice(sorted(mine))
                own = mine[res][held]
                mine[res][held] = theirs[rng.choice(sorted(theirs))][held]
                return kind, res, own, held
        return None

    def restart(self, disturbance: dict[str, Any]) -> None:
        """Stop the emulator after `restart` more requests (or 30s), start it again later."""
        until = self.requests_served() + disturbance["restart"]
        while self.requests_served() < until and not self.commands_done.is_set():
            time.sleep(0.05)
        self.landed = self.landed or not self.commands_done.is_set()  # a command still ran
        stopped = self.emulator
        self.stop_emulator()
        if stopped is not None:  # its count of cut sessions goes with it: kept here
            self.cut_before.update(stopped.app.stats.cut)
        cut = self.cut_a_record(disturbance)
        time.sleep(disturbance["down"])
        self.start_emulator()
        if cut is not None:
            self.check_set_aside(*cut)

    def cut_a_record(self, disturbance: dict[str, Any]) -> tuple[Path, bytes] | None:
        """Cut one record of the stopped emulator in half; returns (its path, its bytes)."""
        kind = disturbance.get("corrupt")
        records = sorted((self.emulator_dir / kind).glob("*.json")) if kind else []
        if not records:
            return None
        path = records[int(disturbance["pick"] * len(records))]
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
        self.log(f"  cut {path.relative_to(self.emulator_dir)} in half while the emulator was down")
        self.set_aside_names.add(path.stem)
        return path, whole[: len(whole) // 2]

    def mend_torn_sidecars(self) -> None:
        """A SIGKILL of `pulumi` while it writes the state can leave an empty `.attrs` beside a
        checkpoint or history file: the engine's file backend (gocloud's fileblob) writes that
        sidecar in place, before it renames the new file over the old one, and every later
        command of the stack fails with `failed to load checkpoint: EOF` (seed 102, step 63).
        The file beside it is the previous one, whole. Removing the empty sidecar is what the
        README tells users to do; counted in the summary's notes."""
        for sidecar in (self.state / ".pulumi").rglob("*.attrs"):
            if sidecar.stat().st_size == 0:
                sidecar.unlink()
                self.report.notes["empty state .attrs removed after a SIGKILL"] += 1

    def check_set_aside(self, path: Path, cut: bytes) -> None:
        """Invariant 7: the record is in unreadable/, its bytes as they were, and said so."""
        self.report.checks["7 records-kept"] += 1
        assert self.emulator is not None
        # In unreadable/'s folder of the same kind, under its own name, or numbered beside
        # what was set aside there before (the same record cut short at an earlier step).
        folder = self.emulator_dir / "unreadable" / path.parent.relative_to(self.emulator_dir)
        moved = dict(self.emulator.store.records.set_aside)
        kept = moved.get(path)
        if kept is None or kept.parent != folder or not kept.exists() or kept.read_bytes() != cut:
            where = "not set aside" if kept is None else f"{kept} holds other bytes or is missing"
            self.violate(
                "7 records-kept",
                f"{path} cut short: {where} (set aside: {sorted(moved.items())})",
            )

    def plant(self, set_name: str) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        body = {"secrets": [{"secretKey": "PLANTED", "secretValue": "not-a-secret"}]}
        requests.put(
            f"{self.url}/v1/secrets/{set_name}", json=body, headers=headers, timeout=30
        ).raise_for_status()

    # -- the run -------------------------------------------------------------------------------

    def run(self, steps: int, *, keep_going: bool = False) -> Report:
        started = time.monotonic()
        try:
            self.setup()
            for number in range(1, steps + 1):
                try:
                    self.step(number)
                except Exception as exc:  # the runner's own failure: reported, and the end
                    self.violate("runner", f"{type(exc).__name__}: {exc}")
                    break
                self.report.steps = number
                if self.report.violations and not keep_going:
                    break
        finally:
            self.report.seconds = time.monotonic() - started
            self.close()
        return self.report

    def close(self) -> None:
        for stack in self.stacks.values():
            for pid in processes_of(stack.env["PULUMI_HOME"]):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        self.stop_emulator()
        logging.getLogger("pcc_provider.emulator").removeHandler(self._emulator_log)
        self._emulator_log.close()
        (self.root / "logs" / "summary.json").write_text(
            json.dumps(self.report.to_json(), indent=2) + "\n"
        )


def decode_runs(text: str) -> list[str]:
    """The text of each base64 run of `text` that decodes to UTF-8."""
    found = []
    for run in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", text):
        try:
            found.append(base64.b64decode(run + "=" * (-len(run) % 4)).decode())
        except ValueError:
            continue
    return found


def weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def tail(output: str, lines: int = 25) -> str:
    return "\n".join(output.splitlines()[-lines:])
