"""The names already taken in Pipecat Cloud, for the checks that refuse at preview a create
the `up` would refuse (an agent of the name that this stack did not create), and for the
creates that must know whether a name is free before they write. No Pulumi.

Under an engine, a plugin serves one `pulumi preview` or `up`: the first check of a kind lists
that kind once, and every other check of the run reads that list, so a program of many
agents costs one list call, not one call per resource. Outside an engine (a provider called
in-process) every check lists afresh: nothing tells one run from the next there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from pcc_provider.plugin import engine_address

_lock = threading.Lock()
_listed: dict[tuple[Any, ...], dict[str, Mapping[str, Any]]] = {}
# (URN, name) of each object the engine has shown this process to be in its state under that
# URN: a replacement's second check (the engine checks the new inputs again, without the old
# ones) must not take the stack's own object for someone else's.
_held: set[tuple[str, str]] = set()


def hold(urn: Any, name: Any) -> None:
    """The engine's state holds object `name` under `urn` (it diffs or reads it)."""
    if isinstance(urn, str) and urn and isinstance(name, str):
        _held.add((urn, name))


def held(urn: str, name: str) -> bool:
    return (urn, name) in _held


def listed(
    identity: tuple[Any, ...], kind: str, fetch: Callable[[], Iterable[Mapping[str, Any]]]
) -> dict[str, Mapping[str, Any]]:
    """Each object of `kind` by name, as `fetch` (a whole-list call of a client whose
    `identity` it is) lists them: once per run under an engine. Concurrent checks wait for
    the one call in flight rather than make their own."""
    if engine_address() is None:
        return _by_name(fetch())
    key = (*identity, kind)
    with _lock:
        if key not in _listed:
            _listed[key] = _by_name(fetch())
        return _listed[key]


# How long a fresh list waits for more asks before it starts: the creates of a program's sets
# reach the provider one by one over a second or two, and share a list only if they wait.
GATHER = 0.25


class _Fresh:
    """One list call for every ask made while it gathers (GATHER seconds, before it starts):
    an answer is always from a call that began after the ask, as fresh as a look-up of the
    one name, and asks that come together share it. One call at a time; asks that come
    while it runs gather for the next."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = False
        self.gathering: Future[dict[str, Mapping[str, Any]]] | None = None

    def get(self, fetch: Callable[[], Iterable[Mapping[str, Any]]]) -> dict[str, Mapping[str, Any]]:
        with self.lock:
            if self.gathering is None:
                self.gathering = Future()
            mine = self.gathering
            lead = not self.running
            self.running = True
        if lead:
            self._run(fetch)
        return mine.result()

    def _run(self, fetch: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        """The leader lists for each gathering in turn, until no one is gathering."""
        while True:
            time.sleep(GATHER)
            with self.lock:
                future, self.gathering = self.gathering, None
            assert future is not None
            try:
                future.set_result(_by_name(fetch()))
            except BaseException as exc:  # every asker hears of it
                future.set_exception(exc)
            with self.lock:
                if self.gathering is None:
                    self.running = False
                    return


_fresh: dict[tuple[Any, ...], _Fresh] = {}


def fresh(
    identity: tuple[Any, ...], kind: str, fetch: Callable[[], Iterable[Mapping[str, Any]]]
) -> dict[str, Mapping[str, Any]]:
    """Each object of `kind` by name, from a list call that began after this ask: what a
    create that writes over a name (PUT /secrets/{name}) asks before it writes. The creates
    of a program of many sets, which ask together, share one or two calls."""
    with _lock:
        shared = _fresh.setdefault((*identity, kind), _Fresh())
    return shared.get(fetch)


def _by_name(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(item["name"]): item for item in items if isinstance(item.get("name"), str)}
