"""`pcc-provider recover`: on the machine that runs the next `pulumi up`, take up what an
interrupted `pulumi up` of the stack left, wherever that ran.

A create in flight when `pulumi up` is killed leaves, in the stack's state, a pending
create holding the inputs its check returned, among them the create's claim
(ownership.STAMP). No provider call ever sees pending operations (Pulumi 3.259), and
`pulumi refresh --import-pending-creates URN ID` drops the operation without importing
anything, so this command reads them (`pulumi stack export`) and writes each claim that
proves something into this machine's cache folder, where the next create of that resource
finds it, as it would on the machine that was interrupted (ownership.py). For each pending
create of ours:

- its resource is in the state by now (recovered, or created again): done with. Once every
  pending operation of the stack is such a one, they are cleared (`pulumi stack import`,
  which clears them all), and the engine's warning about them ends;
- a `pulumi up` or `pulumi destroy` of the stack succeeded after it began: not claimed (what
  it made may have been deleted since, and its name taken by someone else);
- a set whose name was taken when its create began: not claimed (the set found may be
  someone else's);
- otherwise: claimed here. The next `pulumi up` takes the object up only if it matches: an
  agent created since, with the program's settings; a set in the claimed region with the
  claimed keys. Anything else is still refused.

The rest of the state is untouched, and so is any other pending operation.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pcc_provider import ownership
from pcc_provider.errors import PipecatError

# How messages name each kind of claim.
KINDS = {
    "agent": "agent",
    "secretSet": "secret set",
    "imagePullSecret": "image pull secret",
    "agentProfile": "agent profile",
    "spendLimit": "spend limit of",
    "apiKey": "API key",
    "registryKey": "registry key",
}
# What the history is read in.
PAGE_SIZE = 50


def command() -> str:
    """How to run this command, as the process asked names it (for the refusals of a create):
    the native plugin names itself (`.../pulumi-resource-pipecat recover`: programs in YAML,
    TypeScript or Go may have no Python package), else the package's `pcc-provider`, by its
    path beside the Python that runs the program when it is there."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is not None and program.stem == "pulumi-resource-pipecat":
        return f"{shlex.quote(os.path.abspath(program))} recover"
    if program is not None and program.parts[-2:] == ("native", "__main__.py"):
        # `python -m pcc_provider.native`, as `pcc-provider plugin`'s archive runs it.
        return f"{shlex.quote(sys.executable)} -m pcc_provider recover"
    beside = Path(sys.executable).parent / "pcc-provider"
    return f"{shlex.quote(str(beside))} recover" if beside.is_file() else "pcc-provider recover"


def advice(urn: str) -> str:
    """What a refusal adds for an object this stack's interrupted `up` may have left on
    another machine."""
    stack = urn.removeprefix("urn:pulumi:").split("::", 1)[0] if "::" in urn else ""
    where = f" --stack {stack}" if stack else ""
    return (
        "if an interrupted `pulumi up` of this stack made it on another machine (`pulumi up` "
        f"warns `interrupted while creating`), run `{command()}{where}` in the project's "
        "folder, then `pulumi up`"
    )


@dataclass(frozen=True)
class Finding:
    """One pending create of ours and what becomes of it."""

    urn: str
    verdict: str  # claimed, done, later, unproven
    line: str
    claim: ownership.Claim | None = None


def review(deployment: Mapping[str, Any], succeeded: Sequence[float]) -> list[Finding]:
    """What becomes of each pending create of ours in a deployment (`stack export`), given
    when each `pulumi up` or `pulumi destroy` of the stack that succeeded began. Pure."""
    # Each URN's objects in the state, by id (an agent's or a set's id is its name). A
    # replacement's create has the URN of the resource it replaces: only the object it was
    # making, in the state, means it is done with.
    in_state: dict[Any, set[Any]] = {}
    for held in deployment.get("resources") or []:
        if isinstance(held, dict):
            held_by = in_state.setdefault(held.get("urn"), set())
            held_by.add(held.get("id"))
            # A key's id is the service's: its claim names it by its name, an output.
            outputs = held.get("outputs")
            named = outputs.get("name") if isinstance(outputs, dict) else None
            if ours(held.get("type")) and isinstance(named, str):
                held_by.add(named)
    found: list[Finding] = []
    for op in deployment.get("pending_operations") or []:
        resource = op.get("resource") if isinstance(op, dict) else None
        if not isinstance(resource, dict) or op.get("type") != "creating":
            continue
        urn, stamped = resource.get("urn"), _stamp(op)
        if not isinstance(urn, str) or not ours(resource.get("type")):
            continue  # another provider's
        kind = KINDS.get(str(stamped.get("kind")), stamped.get("kind"))
        what = f"{kind} {stamped.get('name')}" if stamped else urn
        if urn in in_state and (not stamped or stamped.get("name") in in_state[urn]):
            # Objects named by the program (agents, sets): the one in the state is the one
            # that create was making. A build in flight was reattached to, or replaced.
            found.append(
                Finding(urn, "done", f"{what}: in the state since: its pending create is done with")
            )
            continue
        if not stamped:
            continue  # a build (reattached to by the next `up`), or made before claims travelled
        started = stamped.get("started")
        claim = ownership.from_stamp(urn, stamped)
        if isinstance(started, int | float) and any(t > started for t in succeeded):
            line = (
                f"{what}: not claimed: a `pulumi up` or `pulumi destroy` of this stack "
                "succeeded after that create began, so what it made may have gone since "
                "and its name been taken"
            )
            found.append(Finding(urn, "later", line))
        elif claim is None:
            line = (
                f"{what}: not claimed: a set of that name already existed when that create "
                "began, so the one found may be someone else's"
            )
            found.append(Finding(urn, "unproven", line))
        else:
            line = (
                f"{what}: claimed on this machine: the next `pulumi up` takes it up if it is "
                "what that create made"
            )
            found.append(Finding(urn, "claimed", line, claim))
    return found


def _urn(op: object) -> object:
    resource = op.get("resource") if isinstance(op, dict) else None
    return resource.get("urn") if isinstance(resource, dict) else None


def _stamp(op: object) -> dict[str, Any]:
    """The claim a pending operation's inputs carry (ownership.STAMP); empty if none."""
    resource = op.get("resource") if isinstance(op, dict) else None
    inputs = resource.get("inputs") if isinstance(resource, dict) else None
    stamped = inputs.get(ownership.STAMP) if isinstance(inputs, dict) else None
    return stamped if isinstance(stamped, dict) else {}


def ours(type_: object) -> bool:
    """A resource type of pcc-provider's, in either door."""
    return isinstance(type_, str) and type_.startswith(
        ("pipecat:", "pulumi-python:dynamic/pipecat:")
    )


def _started(entry: Mapping[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(entry.get("startTime"))).timestamp()
    except ValueError:
        return None


class PulumiFailed(PipecatError):
    """A `pulumi` command this one runs failed; str() is for the user."""


def _runner(pulumi: str, cwd: str | None) -> Callable[..., str]:
    def run(*args: str) -> str:
        argv = [pulumi, *args, "--non-interactive", *(["--cwd", cwd] if cwd else [])]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise PulumiFailed(f"cannot run {pulumi}: {exc.strerror}") from None
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise PulumiFailed(f"`pulumi {' '.join(args)}` failed: {' '.join(said[-3:])}")
        return done.stdout

    return run


def _succeeded_since(run: Callable[..., str], stack: list[str], since: float) -> list[float]:
    """When each `pulumi up` or `pulumi destroy` that succeeded after `since` began (the
    history, newest first, read page by page until it is older)."""
    starts: list[float] = []
    page = 1
    while True:
        size = ["--page-size", str(PAGE_SIZE), "--page", str(page)]
        entries = json.loads(run("stack", "history", "--output", "json", *size, *stack) or "[]")
        times = [(entry, _started(entry)) for entry in entries if isinstance(entry, dict)]
        starts += [
            t
            for entry, t in times
            if t is not None
            and entry.get("result") == "succeeded"
            and entry.get("kind") in ("update", "destroy")
        ]
        if len(entries) < PAGE_SIZE or all(t is not None and t < since for _, t in times):
            return starts
        page += 1


def recover(stack: str | None, cwd: str | None, pulumi: str = "pulumi") -> int:
    run = _runner(pulumi, cwd)
    stack_args = ["--stack", stack] if stack else []
    try:
        exported = json.loads(run("stack", "export", *stack_args))
        deployment = exported.get("deployment") or {}
        stamps = [_stamp(op) for op in deployment.get("pending_operations") or []]
        starts = [float(s["started"]) for s in stamps if isinstance(s.get("started"), int | float)]
        succeeded = _succeeded_since(run, stack_args, min(starts)) if starts else []
    except PulumiFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    findings = review(deployment, succeeded)
    if not findings:
        print("nothing to recover: no interrupted create of pcc-provider's in the stack's state")
        return 0
    failed = 0
    for finding in findings:
        if finding.claim is not None:
            try:
                ownership.restore(finding.claim)
            except OSError as exc:
                what = finding.line.split(":")[0]
                print(f"error: {what}: cannot write its claim: {exc}", file=sys.stderr)
                failed = 1
                continue
        print(finding.line)
    done = {f.urn for f in findings if f.verdict == "done"}
    pending = deployment.get("pending_operations") or []
    if done and all(_urn(op) in done and op.get("type") == "creating" for op in pending):
        # `pulumi stack import` clears every pending operation (3.259): only when none is
        # left that still says something.
        try:
            _import(run, stack_args, exported)
            print("cleared them from the stack's state")
        except PulumiFailed as exc:
            print(f"error: they stay in the stack's state: {exc}", file=sys.stderr)
            failed = 1
    elif done:
        print(
            "the pending creates done with are cleared once the others are too: `pulumi stack "
            "import` clears them all at once"
        )
    if any(f.verdict == "claimed" for f in findings):
        print("now run `pulumi up` on this machine")
    if any(f.verdict in ("later", "unproven") for f in findings):
        print(
            "what was not claimed is refused by the next `pulumi up` if it exists: if it is "
            "this stack's, pass adopt_existing=True (adoptExisting) once, or delete it"
        )
    return failed


def _import(run: Callable[..., str], stack: list[str], exported: Mapping[str, Any]) -> None:
    """`pulumi stack import` of the export as it is, which clears its pending operations,
    from a file only this user can read (it holds the state's secrets, encrypted as the
    export gives them). Like any `stack import`, not while another command changes the
    stack: its changes since the export would be lost."""
    with tempfile.TemporaryDirectory(prefix="pcc-recover-") as folder:
        path = Path(folder) / "stack.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as sink:
            json.dump(exported, sink)
        run("stack", "import", "--file", str(path), *stack)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", "-s", help="the stack (default: the selected one)")
    parser.add_argument("--cwd", "-C", help="the project's folder (default: this one)")
    parser.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI to run")


def main(argv: Sequence[str]) -> int:
    """`pulumi-resource-pipecat recover ...`: the same command from the plugin."""
    parser = argparse.ArgumentParser(prog=command(), description=__doc__.split("\n\n")[0])
    arguments(parser)
    args = parser.parse_args(argv)
    return recover(args.stack, args.cwd, args.pulumi)
