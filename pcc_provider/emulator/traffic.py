"""What the emulator does to traffic besides answering it: request counts, injected faults and
the request log.

The app counts each request under its route ("<METHOD> <path template>") and, before
handling one, takes the next fault queued for its route; the control API reads and changes
both. It also logs the last requests (`RequestLog`, a ring buffer the dashboard shows): the
route, the URL's variables, the status, the time taken, the client (`client_of`, from the
User-Agent), the fault that fired; never a body, a query or a header. Nothing here speaks
HTTP.
"""

from __future__ import annotations

import base64
import html
import json
import shlex
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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

    def describe(self) -> str:
        """What it does to a request, in a few words: `503`, `503 html`, `drop`, `hold 5 s`."""
        if self.acted:
            what = "act, then drop"
        elif self.drop:
            what = "drop"
        elif self.hold:
            return f"hold {self.delay:g} s"
        elif self.body == "endless":
            what = "endless list"
        elif self.status:
            what = str(self.status) if self.body == "json" else f"{self.status} {self.body}"
        else:
            what = ""
        delay = f"delay {self.delay:g} s" if self.delay else ""
        return ", ".join(w for w in (delay, what) if w)


FIRED_KEPT = 100  # the fired faults Stats keeps (its count counts them all)


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
        # The last faults that fired, oldest first: when (the service's time), where, what.
        self.fired_faults: deque[dict[str, Any]] = deque(maxlen=FIRED_KEPT)
        # The last requests, with their status and client (the dashboard's request log).
        self.log = RequestLog()

    def count(self, key: str, *, upload_authorization: bool = False) -> None:
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            if upload_authorization:
                self.upload_authorization_headers += 1

    def fired(self, fault: Fault, at: float) -> None:
        with self.lock:
            self.faults_fired += 1
            self.fired_faults.append({"at": at, "route": fault.route, "fault": fault.describe()})

    def fired_json(self) -> list[dict[str, Any]]:
        """The last faults that fired, newest first."""
        with self.lock:
            return [dict(f) for f in reversed(self.fired_faults)]

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
            self.fired_faults.clear()
        self.log.clear()


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


# -- the request log -------------------------------------------------------------------------

# The clients the request log tells apart, by the start of their User-Agent (or a word in it),
# first match wins. Only these names are shown, never the header: a client may put anything
# there.
CLIENTS: tuple[tuple[str, str], ...] = (
    ("pcc-provider", "pcc-provider"),  # pcc_provider.api's sessions
    ("PipecatCloudCLI/", "pcc"),  # pipecatcloud 1.4.0's API calls
    ("pipecat-cloud-deploy-action", "GitHub action"),  # its @actions/http-client
    ("python-requests/", "python-requests"),
    ("curl/", "curl"),
)
# Words in a User-Agent: aiohttp's own (pcc's context upload and a few of its calls send no
# User-Agent of their own), Node's fetch (the GitHub action's context upload), a browser.
CLIENT_WORDS: tuple[tuple[str, str], ...] = (
    ("aiohttp/", "aiohttp (pcc)"),
    ("Mozilla/", "browser"),
)
NODE_FETCH = ("node", "undici")  # Node's fetch: its whole User-Agent


def client_of(user_agent: str) -> str:
    """Which client sent a request, named from its User-Agent: one of a few fixed names."""
    if not user_agent:
        return "no User-Agent"
    for prefix, name in CLIENTS:
        if user_agent.startswith(prefix):
            return name
    for word, name in CLIENT_WORDS:
        if word in user_agent:
            return name
    return "node fetch" if user_agent in NODE_FETCH else "other"


LOG_SIZE = 500  # the requests the log keeps
ARG_CHARS = 200  # a URL variable is kept up to this long


@dataclass(frozen=True)
class Logged:
    """One request as the log keeps it: no body, no query, no header but the client's name."""

    at: float  # when it came (the service's time)
    route: str  # "<METHOD> <path template>", or "<METHOD> (unmatched)"
    args: dict[str, str]  # the URL's variables (an unmatched request: its path, as `path`)
    status: int | None  # None: no answer (a fault dropped the connection)
    seconds: float  # from its arrival to its answer (or the connection dropped)
    client: str  # client_of(its User-Agent)
    fault: str | None = None  # what a fault did to it (Fault.describe), if one fired
    id: int = field(default=0, compare=False)  # its place in the log's sequence, from 1

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "route": self.route,
            "args": dict(self.args),
            "status": self.status,
            "seconds": round(self.seconds, 4),
            "client": self.client,
            "fault": self.fault,
        }


class RequestLog:
    """The last LOG_SIZE requests, a ring buffer: the oldest go as new ones come."""

    def __init__(self, size: int = LOG_SIZE) -> None:
        self.lock = threading.Lock()
        self.entries: deque[Logged] = deque(maxlen=size)
        self.count = 0  # requests logged since the last clear, also those gone from the buffer

    def add(self, entry: Logged) -> None:
        args = {k: v[:ARG_CHARS] for k, v in entry.args.items()}
        with self.lock:
            self.count += 1
            self.entries.append(
                Logged(
                    entry.at,
                    entry.route,
                    args,
                    entry.status,
                    entry.seconds,
                    entry.client,
                    entry.fault,
                    self.count,
                )
            )

    def newest(self, limit: int | None = None) -> list[Logged]:
        """The requests kept, newest first (the `limit` newest, if given)."""
        with self.lock:
            kept = list(self.entries)
        kept.reverse()
        return kept if limit is None else kept[:limit]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.count = 0
