"""One Ctrl-C: the engine asks the provider to stop, and every wait of this process ends.

On the first Ctrl-C the engine calls each provider's Cancel, answers the calls in flight as
failed, and then closes its plugins (SIGINT, and SIGKILL 5 s later). A thread of ours still
polling a build, a deployment or a set would keep the plugin alive until that kill, so every
wait asks here at least every STEP seconds and raises Cancelled once Cancel came: the
plugin then exits as soon as the engine lets it go. Nothing is undone: a build or deployment
goes on in Pipecat Cloud, an upload in progress stops (no build was started from it), and
the claim of a create stays (ownership.py), so the next `pulumi up` takes it all up again.

Per process and for good: a provider process is asked to cancel only while it is being
shut down. No Pulumi, no HTTP.
"""

from __future__ import annotations

import threading

from pcc_provider.errors import PipecatError

# The longest a wait goes without looking: a Cancel stops it within this.
STEP = 0.25

_requested = threading.Event()


class Cancelled(PipecatError):
    """The engine cancelled the deployment (one Ctrl-C); str() is for the user."""


def request() -> None:
    """Cancel every wait of this process, now and to come."""
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def check(what: str = "") -> None:
    """Cancelled if the deployment was cancelled: before starting anything new."""
    if _requested.is_set():
        raise Cancelled(
            f"cancelled{f' while {what}' if what else ''}: what was in flight goes on in "
            "Pipecat Cloud, and the next `pulumi up` takes it up again"
        )


def sleep(seconds: float, what: str = "") -> None:
    """time.sleep, but Cancelled as soon as the deployment is cancelled."""
    if _requested.wait(max(seconds, 0.0)):
        check(what)


def reset() -> None:
    """For tests that cancel in this process."""
    _requested.clear()
