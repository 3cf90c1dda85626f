"""What the emulator does to traffic besides answering it: request counts and injected faults.

The app counts each request under its route ("<METHOD> <path template>") and, before
handling one, takes the next fault queued for its route; the control API reads and changes
both. Nothing here speaks HTTP.
"""

from __future__ import annotations

import base64
import html
import json
import shlex
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _unicode_escaped(value: str) -> str:
    units = value.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


# The forms an echo fault writes what it echoes in: how a service, or an error page or proxy
# in front of it, may quote a request. Tests draw the same forms from here.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "verbatim": lambda v: v,
    "json": lambda v: json.dumps(v)[1:-1],  # JSON-escaped, as inside a JSON string
    "html": html.escape,  # &quot; &lt; &amp; &#x27;: an error page's
    "html-numeric": lambda v: "".join(f"&#{ord(c)};" for c in v),  # every character
    "percent": lambda v: "".join(f"%{b:02X}" for b in v.encode()),  # every byte
    "unicode": _unicode_escaped,  # every character as \\uXXXX
    "hex": lambda v: v.encode().hex(),
    "upper": str.upper,
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "shell": shlex.quote,  # a quote in it spliced in as '"'"'
    "truncated": lambda v: v[: max(8, len(v) // 2)] + "...",
}
# What an echo fault echoes: the raw request body (as before encodings), each string value in
# the request's JSON body, or the bearer token the request carried.
ECHOES = ("body", "values", "key")


def echoed(message: str, body: str, token: str, echoes: str, encoding: str) -> str:
    """The text of an echo fault's error: `message`, then what it echoes, encoded."""
    if echoes == "key":
        parts = [token]
    elif echoes == "values":
        try:
            parts = list(_strings(json.loads(body)))
        except ValueError:
            parts = [body]
    else:
        parts = [body]
    encode = ENCODINGS[encoding]
    return f"{message}: {', '.join(encode(p) for p in parts if p)}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@dataclass
class Fault:
    route: str
    status: int
    drop: bool
    remaining: int
    # The Retry-After header's value, sent as given ("-5", "soon" and HTTP-dates too);
    # None: no header. A 429 has one unless told otherwise.
    retry_after: int | str | None
    acted: bool = False  # the request is handled, then its answer is dropped
    # json (the API's error shape), html, malformed, echo, or endless: a list answered as
    # usual but from its first page whatever the offset asked, reporting `total`
    body: str = "json"
    echoes: str = "body"  # with echo: what it quotes (ECHOES)
    encoding: str = "verbatim"  # with echo: in which form (ENCODINGS)
    message: str = "Fault injected by the emulator"
    delay: float = 0.0  # seconds before answering (or, with hold, before dropping)
    hold: bool = False  # no answer at all: held for `delay` seconds or until released
    total: int | float | str | None = None  # what an endless list says its total is

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"route": self.route, "times": self.remaining}
        if self.acted:
            body["actThenDrop"] = True
        elif self.drop:
            body["drop"] = True
        elif self.hold:
            body["hold"] = self.delay
        elif self.status:
            body["status"] = self.status
            if self.retry_after is not None:
                body["retryAfter"] = self.retry_after
            if self.body != "json":
                body["body"] = self.body
            if self.body == "endless":
                body["total"] = self.total
            if self.body == "echo":
                body.update(echoes=self.echoes, encoding=self.encoding)
        if self.delay and not self.hold:
            body["delay"] = self.delay
        return body


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.uploaded_bytes = 0
        self.upload_authorization_headers = 0
        # Requests a queued fault changed: a fault that never met its route did nothing, and a
        # chaos run counts what fired, not what it queued.
        self.faults_fired = 0
        # Sessions still active when their agent was deleted, by agent name: live calls cut.
        self.cut: dict[str, int] = {}

    def count(self, key: str, *, upload_authorization: bool = False) -> None:
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            if upload_authorization:
                self.upload_authorization_headers += 1

    def fired(self) -> None:
        with self.lock:
            self.faults_fired += 1

    def sessions_cut(self, agent_name: str, count: int) -> None:
        with self.lock:
            self.cut[agent_name] = self.cut.get(agent_name, 0) + count

    def stored(self, size: int) -> None:
        with self.lock:
            self.uploaded_bytes += size

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(sorted(self.requests.items())),
                "uploadedBytes": self.uploaded_bytes,
                "uploadAuthorizationHeaders": self.upload_authorization_headers,
                "faultsFired": self.faults_fired,
                "sessionsCut": sum(self.cut.values()),
                "sessionsCutByAgent": dict(sorted(self.cut.items())),
            }

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.uploaded_bytes = 0
            self.upload_authorization_headers = 0
            self.faults_fired = 0
            self.cut.clear()


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: deque[Fault] = deque()
        self.released = threading.Event()  # set by clearing the faults: held requests end

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.queue.append(fault)

    def take(self, route: str) -> Fault | None:
        """The fault the next request to `route` suffers, if any; queued faults run in order."""
        with self.lock:
            for fault in self.queue:
                if fault.route == route:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.queue.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self.lock:
            self.queue.clear()
        self.release()

    def release(self) -> None:
        """End the waits of the requests held or delayed now (the queue stays)."""
        with self.lock:
            self.released.set()
            self.released = threading.Event()

    def wait(self, fault: Fault) -> None:
        """Sleep `fault.delay` seconds, or less if the faults are cleared meanwhile."""
        self.released.wait(fault.delay)

    def to_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.to_json() for f in self.queue]
