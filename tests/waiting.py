"""Waiting in tests for what happens in another thread or process: one `eventually()`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

Seen = TypeVar("Seen")


def eventually(
    look: Callable[[], Seen],
    *,
    what: str,
    until: Callable[[Seen], object] = bool,
    timeout: float = 10.0,
    every: float = 0.05,
) -> Seen:
    """What `look()` returns once `until` holds for it (by default: once it is truthy), looking
    every `every` seconds. After `timeout` seconds it fails naming `what` was awaited and the
    last value seen; an exception from `look` (an assert that a process still runs) ends the
    wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        seen = look()
        if until(seen):
            return seen
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; last seen: {seen!r}")
        time.sleep(every)
