"""One look for many waiters: the resources of one provider process that wait on Pipecat Cloud
share their polling. No Pulumi.

Per API URL, key and kind (agents, secret sets) one `Lookout` thread looks for every waiter
of that kind. A look lists the kind once (`GET /agents`, `GET /secrets`) and compares each
waiter's entry with what its last detail showed; only the waiters whose entry moved (another
desired or reconciled deployment, another status, gone) get a detail call (`GET
/agents/{name}`, `GET /secrets/{name}`). The list of agents does not show a deployment's
health or its warm replicas, so each look also details one more agent waiter in turn, the one
detailed least recently: a crash loop or warm replicas are seen within (waiters x 1.5 s). A
kind with a single waiter is looked at with that waiter's detail alone, as before.

Looks come 0.5, 0.75 and 1.125 s after a lookout starts, then every 1.5 s while anyone waits,
so a change is seen within 2 s of it. Calls per look, N waiters of a kind:
    N = 1: 1 (the detail)
    N ≥ 2: 1 list + (agents: 1 in turn) + the agents whose entry moved since their last detail
which is at most 40 lists and 40 details in turn a minute per kind, whatever N, plus one
detail per change of an agent's state (reconciled, gone). A set's list entry says all its wait
needs (status, errorMessage, region): a set that moved is told its entry, with no detail.
A Retry-After heard by any call pauses every call of the process to that API and key
(api.Pause), looks included; the row of each waiter says so meanwhile (resource.quiet_watch
reads the pause).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from pcc_provider import api, cancel

FIRST_LOOK = 0.5  # seconds after a lookout starts
LOOK_EVERY = 1.5  # at most this far apart: a change is seen within 2 s


Entry = Mapping[str, Any]
Detail = Callable[[api.Client], dict[str, Any] | None]


@dataclass(frozen=True)
class Kind:
    """What a lookout lists, and what in a listed entry counts as a move."""

    name: str
    listing: Callable[[api.Client], dict[str, Entry]]  # name -> entry
    signature: Callable[[Entry | None], Hashable]  # of an entry, or of None (not listed)
    in_turn: int  # waiters detailed in turn at each look, besides those that moved
    # Whether a listed entry says all a wait needs: a waiter that moved is told its entry,
    # with no detail call (a lone waiter is still looked at with its detail).
    entry_suffices: bool = False


def _agents(client: api.Client) -> dict[str, Entry]:
    return {str(a.get("name")): a for a in client.list_agents()}


def _sets(client: api.Client) -> dict[str, Entry]:
    return {str(s.get("name")): s for s in client.list_secret_sets()}


AGENTS = Kind(
    "agents",
    _agents,
    # The list carries the deployment ids; health and replicas only the detail does.
    lambda e: (
        None if e is None else (e.get("desiredDeploymentId"), e.get("reconciledDeploymentId"))
    ),
    in_turn=1,
)
SECRET_SETS = Kind(
    "secret sets",
    _sets,
    # The list carries all a wait needs: the status, and why it failed.
    lambda e: None if e is None else (e.get("status"), e.get("errorMessage")),
    in_turn=0,
    entry_suffices=True,
)


class Waiter:
    """One resource waiting: what the lookout last saw of it, handed over look by look."""

    def __init__(
        self,
        name: str,
        detail: Detail | None,
        seen: Entry | None,
        every: float,
        absence_suffices: bool = False,
    ) -> None:
        self.name = name
        self.detail = detail  # None: the list entry is all there is (an image pull secret)
        # A delete's wait: gone from the list is gone, with no detail call to confirm it (a
        # create's wait must confirm: a list may not show a new object yet).
        self.absence_suffices = absence_suffices
        self.every = every
        self.confirmed: Hashable = None  # the signature its last detail was taken at
        self.detailed_at = time.monotonic()
        self.latest: dict[str, Any] | None = dict(seen) if seen is not None else None
        self._news: list[tuple[dict[str, Any] | None, api.ApiError | None]] = []
        self._ready = threading.Condition()

    def tell(self, found: dict[str, Any] | None, error: api.ApiError | None = None) -> None:
        with self._ready:
            if error is None:
                self.latest = found
            self._news.append((found, error))
            self._ready.notify_all()

    def next(self, stopped: Callable[[], bool]) -> dict[str, Any] | None:
        """What the next look saw of it (None: it is gone); the look's ApiError, if it failed;
        cancel.Cancelled within cancel.STEP of a Cancel from the engine."""
        with self._ready:
            while not self._news:
                cancel.check(f"waiting for {self.name}")
                if stopped():
                    raise api.ApiError("stopped looking (the provider is shutting down)")
                self._ready.wait(cancel.STEP)
            found, error = self._news.pop(0)
            self._news.clear()  # only the latest look matters
        if error is not None:
            raise error
        return found


class Lookout:
    """The poller of one kind for one API URL and key, in a thread while anyone waits."""

    _all: ClassVar[dict[tuple[Hashable, str], Lookout]] = {}
    _lock = threading.Lock()  # guards _all and every lookout's waiters

    def __init__(self, kind: Kind, client: api.Client) -> None:
        self.kind = kind
        self.client = client  # its own: the waiters' clients close when they are done
        self.waiters: list[Waiter] = []
        self.done = False
        self.last_answer = time.monotonic()

    @classmethod
    @contextmanager
    def waiting(
        cls,
        kind: Kind,
        client: api.Client,
        name: str,
        detail: Detail | None,
        seen: Entry | None,
        every: float = FIRST_LOOK,
        absence_suffices: bool = False,
    ) -> Iterator[tuple[Lookout, Waiter]]:
        """Register a waiter for `name` with the lookout of its kind, URL and key (started if
        none runs); `seen`: what the caller knows of it now (its last answer)."""
        waiter = Waiter(name, detail, seen, every, absence_suffices)
        waiter.confirmed = kind.signature(seen)
        ident = (client.identity, kind.name)
        with cls._lock:
            lookout = cls._all.get(ident)
            if lookout is None:
                lookout = cls._all[ident] = Lookout(kind, client.twin())
                thread = threading.Thread(
                    target=lookout._run,
                    args=(ident, every),
                    name=f"lookout-{kind.name}",
                    daemon=True,
                )
                thread.start()
            lookout.waiters.append(waiter)
        try:
            yield lookout, waiter
        finally:
            with cls._lock:
                lookout.waiters.remove(waiter)

    def _run(self, ident: tuple[Hashable, str], interval: float) -> None:
        try:
            while True:
                time.sleep(interval)
                with Lookout._lock:
                    waiters = list(self.waiters)
                    if not waiters:
                        # Nobody waits: this lookout ends; the next waiter starts another.
                        del Lookout._all[ident]
                        self.done = True
                        return
                self.look(waiters)
                interval = min(max(interval, min(w.every for w in waiters)) * 1.5, LOOK_EVERY)
        finally:
            with Lookout._lock:
                if Lookout._all.get(ident) is self:  # it failed: the next waiter starts another
                    del Lookout._all[ident]
                self.done = True
            self.client.close()

    def look(self, waiters: list[Waiter]) -> None:
        """One look: a list (or a lone waiter's detail), then details for what moved."""
        lone = len(waiters) == 1 and waiters[0].detail is not None
        entries: dict[str, Entry] = {}
        if not lone:
            try:
                entries = self.kind.listing(self.client)
            except api.ApiError as exc:
                for waiter in waiters:
                    waiter.tell(None, exc)
                return
            except Exception as exc:  # a waiter must hear of it rather than wait for ever
                for waiter in waiters:
                    waiter.tell(None, _broken(f"looking at the {self.kind.name} failed", exc))
                return
            finally:
                self.last_answer = self.client.last_answer
        moved = [
            w for w in waiters if lone or self.kind.signature(entries.get(w.name)) != w.confirmed
        ]
        rest = sorted(
            (w for w in waiters if w not in moved and w.detail is not None),
            key=lambda w: w.detailed_at,
        )
        for waiter in waiters:
            if waiter in moved or waiter in rest[: self.kind.in_turn]:
                self._detail(waiter, entries.get(waiter.name), listed=not lone)
            else:
                waiter.tell(waiter.latest)  # unchanged: the row goes on counting

    def _detail(self, waiter: Waiter, entry: Entry | None, listed: bool = True) -> None:
        """`listed`: whether this look listed the kind (a lone waiter's look lists nothing,
        so its missing entry says nothing)."""
        signature = self.kind.signature(entry)
        if not listed:
            told = False
        elif entry is not None:
            told = self.kind.entry_suffices
        else:
            told = waiter.absence_suffices
        if waiter.detail is None or told:
            waiter.confirmed = signature
            waiter.tell(dict(entry) if entry is not None else None)
            return
        try:
            found = waiter.detail(self.client)
        except api.ApiError as exc:
            waiter.tell(None, exc)  # not confirmed: detailed again at the next look
            return
        except Exception as exc:
            waiter.tell(None, _broken(f"looking at {waiter.name} failed", exc))
            return
        finally:
            self.last_answer = self.client.last_answer
        waiter.detailed_at = time.monotonic()
        # A lone waiter's detail stands for the list: what it showed is what it moved to.
        waiter.confirmed = signature if entry is not None else self.kind.signature(found)
        waiter.tell(found)


def _broken(what: str, exc: Exception) -> api.ApiError:
    """Not an answer of the API's (a bug, an error of the kind's own): not one that passes
    (not errors.Transient), so a waiter fails with it at once."""
    return api.ApiError(f"{what}: {exc}")


def fetcher(lookout: Lookout, waiter: Waiter) -> Callable[[], dict[str, Any] | None]:
    """For resource.poll: the next look's news of this waiter."""
    return lambda: waiter.next(lambda: lookout.done)
