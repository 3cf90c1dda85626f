"""The names already taken in Pipecat Cloud, for the checks that refuse at preview a create
the `up` would refuse (an agent of the name that this stack did not create). No Pulumi.

Under an engine, a plugin serves one `pulumi preview` or `up`: the first check of a kind lists
that kind once, and every other check of the run reads that list, so a program of many
agents costs one list call, not one call per resource. Outside an engine (a provider called
in-process) every check lists afresh: nothing tells one run from the next there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
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


def _by_name(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(item["name"]): item for item in items if isinstance(item.get("name"), str)}
