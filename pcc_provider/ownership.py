"""Which objects in Pipecat Cloud a stack may change: the ones it created, the ones its
program adopts on purpose, and the ones its own interrupted `pulumi up` provably left.

Names are shared by every stack and by `pcc`, and the API gives no labels, so a found object
of the declared name is never taken to be ours from its name or settings alone. Proof that
an interrupted `up` of this very resource made it comes from a claim: before a create calls
the API, it writes down in this user's cache folder that this resource (its URN, which names
the project and the stack) is creating the object NAME in REGION, from time T, with these
key names (never values). The claim is removed once the engine shows that its state has
the object (the next diff of that resource, or its delete) or the create has definitely not
made anything; not when the create returns, since an engine killed meanwhile never records
what it returned. A claim still there on the next create
is what an interrupted `up` (killed, cancelled, or its answer lost) left, and an object found
then is this resource's only if it matches the claim: same region, created after T (agents),
the same key names (secret sets).

A claim in the cache folder does not travel: on another machine (a fresh CI runner) a found
object would be refused. What travels with the stack is its state, and the engine keeps an
interrupted create there as a pending operation, with the inputs its check returned; no
provider call ever sees it. So check adds the claim to the inputs of a create (`STAMP`:
kind, name, region, time, and for a set its key names and whether the name was free), and
`pcc-provider recover` (recovery.py) turns the pending creates of the stack's state into
claims on the machine it runs on: the next `up` there recovers what they prove, as on the
machine that was interrupted.

Pure: no Pulumi, no HTTP.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pcc_provider.context.cache import cache_dir, private_dir

# Seconds the service's clock may be behind this machine's when judging whether an agent was
# created after a claim's start. Small on purpose: an agent made just before the claim and
# within this margin would be taken as ours.
CLOCK_SKEW = 5.0


# The input that carries a create's claim into the stack's state (pending operations):
# internal (`__`), so the engine's display never shows it.
STAMP = "__claim"

# The kinds whose claims a creation time proves (what a create finds must be made after the
# claim began), not a name found free: names of keys are not unique, agents' are checked by
# their settings and time.
TIMED = frozenset({"agent", "apiKey", "registryKey"})
# Where a key's claim says it is made: in the organization, which has no region.
ORGANIZATION = "organization"


@dataclass(frozen=True)
class Claim:
    """This resource is creating `name` in `region` since `started` (this machine's clock)."""

    urn: str
    kind: str
    name: str
    region: str
    started: float
    keys: list[str] = field(default_factory=list)

    def covers(self, created_at: object, skew: float = CLOCK_SKEW) -> bool:
        """Whether an object created at `created_at` was created after this claim began."""
        return created_after(created_at, self.started, skew)


def stamp(
    kind: str, name: str, region: str, keys: Sequence[str] = (), free: bool | None = None
) -> dict[str, Any]:
    """The claim a create of these inputs would make, as it travels in the stack's state.
    `free`: for a set, whether no set of the name existed just now (only then does it prove
    anything, as `claim` is only written then)."""
    made: dict[str, Any] = {"kind": kind, "name": name, "region": region, "started": time.time()}
    made["keys"] = sorted(keys)
    if free is not None:
        made["free"] = free
    return made


def from_stamp(urn: str, stamped: object) -> Claim | None:
    """The claim a pending create of `urn` carries (`stamp`), if it proves anything: an
    agent's or a key's always (what it finds must be created after it), a set's only if the
    name was free then."""
    if not urn or not isinstance(stamped, dict):
        return None
    kind, name, region = (stamped.get(k) for k in ("kind", "name", "region"))
    started, keys = stamped.get("started"), stamped.get("keys") or []
    if not all(isinstance(v, str) and v for v in (kind, name, region)):
        return None
    if not isinstance(started, int | float) or isinstance(started, bool):
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None
    if kind not in TIMED and stamped.get("free") is not True:
        return None
    return Claim(urn, str(kind), str(name), str(region), float(started), sorted(keys))


def created_after(created_at: object, started: float, skew: float = CLOCK_SKEW) -> bool:
    """Whether `created_at` (the API's ISO time) is after `started` (this machine's clock),
    give or take `skew` seconds; False when it cannot be read (then nothing is taken as ours)."""
    try:
        created = datetime.fromisoformat(str(created_at)).timestamp()
    except ValueError:
        return False
    return created >= started - skew


def _path(urn: str, kind: str, name: str) -> Path:
    digest = hashlib.sha256(f"{urn}\0{kind}\0{name}".encode("utf-8", "surrogateescape"))
    return cache_dir() / "claims" / f"{digest.hexdigest()}.json"


def claimed(urn: str, kind: str, name: str) -> Claim | None:
    """The claim an earlier create of this resource left, if any."""
    if not urn:
        return None
    try:
        path = _path(urn, kind, name)
        # O_NONBLOCK and O_NOFOLLOW: a FIFO or a link planted here must neither hang nor
        # redirect the read; the folder is private to this user (private_dir).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as source:
            data = json.loads(source.read(64 * 1024))
        claim = Claim(**data)
    except (OSError, ValueError, TypeError):
        return None
    if (claim.urn, claim.kind, claim.name) != (urn, kind, name):
        return None
    return claim


def claim(urn: str, kind: str, name: str, region: str, keys: Sequence[str] = ()) -> Claim:
    """Write down that this resource is about to create `name`, unless an earlier claim for
    the same object stands (its earlier start is the one that bounds the object's creation).

    Without a usable cache folder nothing is written: an interrupted `up` then cannot be
    recovered automatically, and the next create says how to adopt what it left.
    """
    earlier = claimed(urn, kind, name)
    if earlier is not None and earlier.region == region:
        return earlier
    made = Claim(urn, kind, name, region, time.time(), sorted(keys))
    if urn:
        with contextlib.suppress(OSError):
            _write(made)
    return made


def _write(made: Claim) -> None:
    _write_private(_path(made.urn, made.kind, made.name), asdict(made))


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write `data` at `path` in the private claims folder, whole or not at all."""
    private_dir(cache_dir())
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as sink:
        json.dump(data, sink)
    os.replace(tmp, path)


def restore(made: Claim) -> bool:
    """Write down a claim brought from the stack's state (`from_stamp`), unless one for the
    same object stands here already; True if written."""
    earlier = claimed(made.urn, made.kind, made.name)
    if earlier is not None and earlier.region == made.region:
        return False
    _write(made)  # OSError: the caller says the claim could not be written
    return True


def release(urn: str, kind: str, name: str) -> None:
    """The create is settled: the object is in the state, or it was never made."""
    if urn:
        with contextlib.suppress(OSError):
            _path(urn, kind, name).unlink()


# -- what one resource holds for a whole organization ------------------------------------------
# An organization has one set of properties: the resource that declares them holds them, and
# a second declaration, of this stack or another, is refused while the hold stands. The hold
# keeps what the organization had before, for the delete to put back. Like a claim it lives
# in this user's cache folder: another machine does not see it.


@dataclass(frozen=True)
class Hold:
    """`urn` holds `kind` of the organization `scope` (its API URL and name) since `started`;
    `before`: what the organization had before it set anything."""

    urn: str
    kind: str
    scope: str
    started: float
    before: dict[str, Any] = field(default_factory=dict)


def _hold_path(kind: str, scope: str) -> Path:
    digest = hashlib.sha256(f"hold\0{kind}\0{scope}".encode("utf-8", "surrogateescape"))
    return cache_dir() / "claims" / f"{digest.hexdigest()}.json"


def holding(kind: str, scope: str) -> Hold | None:
    """The hold on `kind` of `scope`, if any."""
    try:
        fd = os.open(_hold_path(kind, scope), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as source:
            held = Hold(**json.loads(source.read(64 * 1024)))
    except (OSError, ValueError, TypeError):
        return None
    return held if (held.kind, held.scope) == (kind, scope) else None


def hold(urn: str, kind: str, scope: str, before: dict[str, Any]) -> Hold:
    """Take the hold (an earlier one of the same resource stands, with what it saw before)."""
    earlier = holding(kind, scope)
    if earlier is not None and earlier.urn == urn:
        return earlier
    made = Hold(urn, kind, scope, time.time(), before)
    if urn:
        with contextlib.suppress(OSError):
            _write_private(_hold_path(kind, scope), asdict(made))
    return made


def let_go(urn: str, kind: str, scope: str) -> None:
    """`urn` no longer holds it (deleted); another resource's hold is left as it is."""
    held = holding(kind, scope)
    if held is not None and held.urn == urn:
        with contextlib.suppress(OSError):
            _hold_path(kind, scope).unlink()
