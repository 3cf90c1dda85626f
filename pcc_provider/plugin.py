"""How pcc_provider adapts the Pulumi SDK's dynamic-provider plugin: more than four calls at
once, our errors shown as the one line they are, and an exit when the engine is gone.

The SDK's plugin (`python -m pulumi.dynamic`) serves the engine's calls on a gRPC server
built on `ThreadPoolExecutor(max_workers=4)`. A create that waits minutes for a build holds
one of those four threads, so a fifth build, and every check, diff or create of any other
resource behind it, waits for one of the first four to finish. The SDK offers no setting
for this, so the provider raises the pool's limit from inside the plugin the first time it
is configured there: the pool is the one whose worker thread runs that call.

This relies on three things that are not public: that the SDK serves calls on a
`concurrent.futures.ThreadPoolExecutor`, that its worker threads hold a weak reference to
their pool as their target's first argument (`Thread._args`), and that the pool reads its
`_max_workers` whenever it may add a thread (CPython 3.8 to 3.14). If one stops being true,
the lift finds nothing to raise and changes nothing, calls go four at a time again (slower,
still correct), and test_plugin_serves_more_than_four_calls_at_once
(tests/engine/test_concurrency.py) fails, saying so.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from pcc_provider import cancel

# Above the engine's own bound on concurrent steps (`--parallel`, 4 x cores by default), so
# the engine decides; the pool only adds a thread when all of its threads are busy.
CONCURRENT_CALLS = 256

_lifted = False
_lock = threading.Lock()


def serving_pool() -> ThreadPoolExecutor | None:
    """The thread pool whose worker runs the calling thread, if any.

    A pool's worker thread runs `_worker(weakref to its pool, ...)`: the first argument of
    the thread's target (CPython 3.8 to 3.14).
    """
    args = getattr(threading.current_thread(), "_args", None)
    if isinstance(args, tuple) and args and isinstance(args[0], weakref.ref):
        pool = args[0]()
        if isinstance(pool, ThreadPoolExecutor):
            return pool
    return None


def allow_concurrent_calls(limit: int = CONCURRENT_CALLS) -> bool:
    """Raise the limit of the pool serving this call to `limit`; True if it is raised.

    Called on every configure (once per provider and plugin process); cheap.
    """
    global _lifted
    with _lock:
        if not _lifted:
            pool = serving_pool()
            if pool is not None and isinstance(getattr(pool, "_max_workers", None), int):
                pool._max_workers = max(pool._max_workers, limit)
                _lifted = True
        return _lifted


_keys: dict[Hashable, threading.Lock] = {}


@contextmanager
def one_at_a_time(key: Hashable, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Calls in this process with the same key run one after the other; `waiting` is
    called first when this one has to wait for another.

    Two resources of one program that want the same image must not both start a build:
    the second waits for the first, then finds its build.
    """
    with _lock:
        lock = _keys.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        if waiting is not None:
            waiting()
        while not lock.acquire(timeout=cancel.STEP):
            cancel.check("waiting for another Build of the same image")
    try:
        yield
    finally:
        lock.release()


def report_errors_plainly() -> None:
    """Show the errors our providers raise on purpose as the one line they are.

    Pulumi SDKs since 3.260 report any exception a dynamic provider raises with its whole
    traceback (the provider server's `_abort_with_traceback` formats it). An exception of
    ours (defined in pcc_provider) is a message for the user, so only its text is shown;
    anything else is a bug and keeps its traceback. Older SDKs show the message alone anyway.
    """
    server = sys.modules.get("__main__")
    if getattr(server, "_abort_with_traceback", None) is None:
        return
    if getattr(server, "traceback", None) is not traceback:
        return  # already done, or a server we do not know

    setattr(server, "traceback", PlainTraceback())  # noqa: B010


class PlainTraceback:
    """The traceback module, but `format_exc` gives an exception of ours as its one line.
    Every other name is the module's own, whatever else the server calls."""

    @staticmethod
    def format_exc(*args: Any, **kwargs: Any) -> str:
        exc = sys.exc_info()[1]
        if exc is not None and type(exc).__module__.startswith("pcc_provider."):
            return str(exc)
        return traceback.format_exc(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(traceback, name)


def engine_address() -> str | None:
    """The engine's gRPC address: the engine starts every provider plugin with it as the
    last argument, after any flags of its own (`-v=9`, `--tracing …`)."""
    for arg in reversed(sys.argv[1:]):
        if re.fullmatch(r"[\w.\-\[\]:]+:\d+", arg):
            return arg
    return None


_watching = False


def exit_with_the_engine(interval: float = 1.0) -> None:
    """Exit this plugin process once the engine that started it stops answering.

    A killed `pulumi` (SIGKILL, a CI runner's timeout) tells its plugins nothing, and a
    plugin waiting for a build would run on for its whole timeout. Pulumi's own plugins and
    hosts ask the engine's health service every so often (rpcutil.Healthcheck) and exit
    when it fails; this does the same, from a daemon thread, once per process.
    """
    global _watching
    address = engine_address()
    with _lock:
        if _watching or address is None:
            return
        _watching = True
    threading.Thread(
        target=_watch_engine, args=(address, interval), name="pcc-engine-watch", daemon=True
    ).start()


def _watch_engine(address: str, interval: float) -> None:
    import grpc

    # Raw bytes both ways: an empty HealthCheckRequest is b"", and the answer is not read.
    check = grpc.insecure_channel(address).unary_unary("/grpc.health.v1.Health/Check")
    while True:
        time.sleep(interval)
        try:
            check(b"")
        except grpc.RpcError as exc:
            # An engine without a health service is alive; anything else (no one listening)
            # means it is gone, as rpcutil.Healthcheck decides.
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                os._exit(1)
