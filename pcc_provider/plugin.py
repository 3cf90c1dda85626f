"""How pcc_provider adapts the Pulumi SDK's dynamic-provider plugin: more than four calls at
once, our errors shown as the one line they are, and an exit when the engine is gone or
stops the plugin, without waiting for the calls in flight.

The SDK's plugin (`python -m pulumi.dynamic`) serves the engine's calls on a gRPC server
built on `ThreadPoolExecutor(max_workers=4)`. A create that waits minutes for a build holds
one of those four threads, so a fifth build, and every check, diff or create of any other
resource behind it, waits for one of the first four to finish. The SDK offers no setting
for this, so the provider raises the pool's limit from inside the plugin the first time it
is configured there: the pool is the one whose worker thread runs that call.

The pool adds a thread only when a call arrives and none is idle: the calls that arrived
before the limit was raised (a `destroy`'s deletes, all at once, are the first calls of its
plugin) would wait for the first four threads, so the lift also starts a thread for each
call queued, as the pool would have done for it.

This relies on things that are not public: that the SDK serves calls on a
`concurrent.futures.ThreadPoolExecutor`, that its worker threads hold a weak reference to
their pool as their target's first argument (`Thread._args`), that the pool reads its
`_max_workers` whenever it may add a thread, and its queue (`_work_queue`), lock
(`_shutdown_lock`) and the method that adds a thread (`_adjust_thread_count`) (CPython 3.8 to
3.14). If one stops being true, the lift finds nothing to raise and changes nothing, calls go
four at a time again (slower, still correct), and test_plugin_serves_more_than_four_calls_at_once
and test_a_burst_of_first_calls_is_served_at_once (tests/engine/test_concurrency.py) fail,
saying so.
"""

from __future__ import annotations

import contextlib
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
from pcc_provider.errors import PipecatError

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
                _serve_the_queued(pool)
                _lifted = True
        return _lifted


def _serve_the_queued(pool: ThreadPoolExecutor) -> None:
    """A thread for each call already queued (up to the limit): what the pool does for a
    call that arrives when no thread is idle, done now for those that arrived when the pool
    was full. Under the pool's lock, as its submit does: a call arriving meanwhile is either
    counted here or finds the raised limit."""
    queue = getattr(pool, "_work_queue", None)
    lock = getattr(pool, "_shutdown_lock", None)
    add = getattr(pool, "_adjust_thread_count", None)
    if queue is None or lock is None or add is None:
        return
    with lock:
        for _ in range(queue.qsize()):
            add()


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
    ours (a PipecatError) is a message for the user, so only its text is shown;
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
        if isinstance(exc, PipecatError):
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
    """Exit this plugin process once the engine that started it stops answering, and as
    soon as it is told to stop.

    A killed `pulumi` (SIGKILL, a CI runner's timeout) tells its plugins nothing, and a
    plugin waiting for a build would run on for its whole timeout. Pulumi's own plugins and
    hosts ask the engine's health service every so often (rpcutil.Healthcheck) and exit
    when it fails; this does the same, from a daemon thread, once per process.

    Told to stop, the SDK's dynamic-provider plugin stops serving and returns from its main
    (on SIGINT, with which the engine closes its plugins; SIGTERM it leaves at its default,
    which ends the process). The interpreter would then wait for the calls still in flight,
    a create polling its build for as long as the build takes: this exits there and then.
    Only the main thread may catch signals, and the SDK's owns it, so the hook is the one
    the interpreter runs before it waits for threads (`threading._register_atexit`, CPython
    3.9 to 3.14; without it, the process waits for its calls, as before).
    """
    global _watching
    address = engine_address()
    with _lock:
        if _watching or address is None:
            return
        _watching = True
    register = getattr(threading, "_register_atexit", None)
    if callable(register):
        with contextlib.suppress(RuntimeError):  # already on its way out
            register(_exit_without_waiting)
    threading.Thread(
        target=_watch_engine, args=(address, interval), name="pcc-engine-watch", daemon=True
    ).start()


def _exit_without_waiting() -> None:
    # The main thread has ended: an exception it died of has been printed (sys.last_value).
    exit_now(1 if getattr(sys, "last_value", None) is not None else 0)


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
                exit_now(1)


def exit_now(code: int) -> None:
    """End the process without waiting for its threads (calls in flight): what they started
    goes on in Pipecat Cloud, and the next `pulumi up` takes it up again."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
