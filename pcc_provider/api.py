"""Pipecat Cloud REST client: auth, retries, typed errors, streamed upload. No Pulumi.

    client = Client(api_key, api_url)
    build = client.get_build(build_id)

Retries follow what is safe to repeat. Calls marked repeatable (reads, deletes,
`PUT /secrets/{setName}`, which sets the same values again, and `POST /builds/upload-url`,
which only issues a presigned URL) are retried on connection
errors, 429 (honouring Retry-After) and 502/503/504. Calls that create something
(`POST /builds`, `POST /agents…`) are retried only where the service has not acted: a
refused connection, 429 or 503. A Retry-After heard by any call pauses every call of the
process to the same API with the same key until it has passed (`Pause`): the rate limit is
the key's, not the call's. It waits RETRY_AFTER_MAX at most, and one that is neither seconds
nor an HTTP-date ("-5", "soon", "1e9") is ignored, as HTTP says: the usual backoff applies.
A client's `notice` hears of each such wait, for the resource's row.

A paged list (the builds) ends when a page brings nothing new or the total is reached, and
fails in one line past PAGES_MAX pages: a service that ignores `offset` or reports a total
that never comes (or is not a number) does not keep a call paging for ever.

Only Pipecat Cloud saying so means "gone": NotFound is a 404 in the API's error shape from a
URL whose `GET /builds` answers as the API does. Anything else not in the API's shape (an
HTML page, not JSON) is NotTheApi, named in the message but never quoted. What may pass on its
own is errors.Transient: Unavailable (429, 5xx), NoAnswer (none at all), GatewayError (a
proxy's 5xx page) and NotTheApi; a wait tolerates those a few times (resource.Patience).

What the service says in an error (its message and code, a redirect's Location, storage's
reason) is quoted only if it echoes no secret (pcc_provider.redaction): the client vets each
error it raises against its keys, and a caller that sent other secrets vets it against those
with `ApiError.hiding`.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import quote, urlsplit

from pcc_provider import redaction
from pcc_provider.errors import PipecatError, Transient

# requests and urllib3 load with the first Client: a preview (the program, and the plugin's
# check and diff) makes none, and their import is most of ours (benchmarks/noop_preview.py).
if TYPE_CHECKING:
    import requests
    from urllib3.util.retry import Retry

DEFAULT_API_URL = "https://api.pipecat.daily.co/v1"
TERMINAL_STATUSES = frozenset({"success", "failed", "timeout"})
IN_FLIGHT_STATUSES = frozenset({"pending", "building"})
NO_KEY = (
    "no Pipecat Cloud API key: run `pulumi config set --secret pipecat:apiKey <key>` "
    "or set PIPECAT_API_KEY"
)
# Plain HTTP would put the key on the wire in clear: only for a local emulator.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# (connect, read) seconds. For an upload the read timeout starts once the body is sent.
# Every API call answers within seconds; a server silent for 30 s is stuck, and with the
# read retries of a repeatable call the caller hears of it within about two minutes.
TIMEOUT = (10.0, 30.0)
RETRY_AFTER_MAX = 60  # a Retry-After of an hour must not stall a deployment
PAGE_SIZE = 100
# A list longer than this many pages fails: 10,000 builds of one image is no real list.
PAGES_MAX = 100


class ApiError(PipecatError):
    """A refused or failed API call; str() is one line meant for the user. `status`: the
    HTTP status of the answer, if there was one (messages show it).

    `said`: the service's own words the message quotes (made by `quoting`), which `hiding`
    withholds when they echo a secret."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.said = ""
        self._around = (message, "")

    @classmethod
    def quoting(cls, before: str, said: str, after: str = "", **kwargs: Any) -> Self:
        """`before + said + after`, where `said` is what the service said."""
        error = cls(before + said + after, **kwargs)
        error.said, error._around = said, (before, after)
        return error

    def hiding(self, secrets: Iterable[str]) -> ApiError:
        """This error, or, if what the service said echoes one of `secrets` in any form, the
        same error with redaction.withheld(status) in its place (and no code)."""
        if not self.said or not redaction.echoes(self.said, secrets):
            return self
        before, after = self._around
        return type(self)(before + redaction.withheld(self.status) + after, status=self.status)


class AuthError(ApiError):
    """401: the key is missing, wrong or revoked."""


class NotFound(ApiError):
    """404: no such build or agent."""


class NotTheApi(Transient, ApiError):
    """An answer not in the API's shape (an HTML page, not JSON, a JSON body of another
    shape): a proxy or gateway between us, or a pipecat:apiUrl that is not the API."""


class Unavailable(Transient, ApiError):
    """429 or 5xx: the service, or a proxy in front of it, is busy or failing for now."""


class NoAnswer(Unavailable):
    """No answer at all (refused or lost connection, timeout): a call that creates may have
    acted all the same."""


class GatewayError(NotTheApi, Unavailable):
    """A 5xx page not in the API's shape: a proxy or gateway answering for the API, which
    says nothing of whether pipecat:apiUrl is right."""


class UploadRefused(ApiError):
    """The storage upload target refused the archive (for example, the URL expired)."""


@dataclass(frozen=True)
class Upload:
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_at: str


class Pause:
    """When the calls of this process to one API with one key may go again, after a
    Retry-After (a 429's, a 503's). Shared by every Client of the process with that URL and
    key, so that one rate-limited call slows them all: waiters of every kind, builds, creates."""

    _all: ClassVar[dict[tuple[str, str], Pause]] = {}
    _made = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.until = 0.0  # time.monotonic()
        self.asked = 0.0  # what the Retry-After that set `until` asked for, in seconds
        self.waiting = 0.0  # ... and what is waited for it (capped)

    @classmethod
    def of(cls, api_url: str, key: str) -> Pause:
        # By a digest: the key itself stays in its Client alone.
        ident = (api_url, hashlib.sha256(key.encode()).hexdigest())
        with cls._made:
            return cls._all.setdefault(ident, cls())

    def heard(self, seconds: float, most: float = RETRY_AFTER_MAX) -> None:
        """A Retry-After of `seconds` (uncapped): the pause lasts `most` seconds at most."""
        waiting = min(seconds, most)
        until = time.monotonic() + waiting
        with self._lock:
            if until >= self.until:
                self.until, self.asked, self.waiting = until, seconds, waiting

    def describe(self) -> str | None:
        """What the row of a call waiting on this pause says, while it lasts."""
        with self._lock:
            until, asked, waiting = self.until, self.asked, self.waiting
        if until <= time.monotonic():
            return None
        said = f"rate-limited by Pipecat Cloud: waiting {waiting:.0f} s"
        return said + (f" (it asked for {asked:.0f} s)" if asked > waiting else "")

    def wait(self) -> None:
        """Sleep until the latest Retry-After heard has passed."""
        while True:
            left = self.until - time.monotonic()
            if left <= 0:
                return
            time.sleep(left)


def retry_after(value: str | None) -> float | None:
    """The seconds a Retry-After header asks to wait, uncapped (an HTTP-date passed: 0); None
    when there is none, or it is neither delay-seconds nor an HTTP-date (RFC 9110 10.2.3),
    which a client ignores: "-5", "soon", "1e9"."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]+", text):
        return float(min(int(text), 10**9))
    try:
        date = email.utils.parsedate_tz(text)
        if date is None:
            return None
        return max(float(email.utils.mktime_tz(date)) - time.time(), 0.0)
    except (ValueError, OverflowError):  # a date out of range
        return None


def _retry(
    methods: frozenset[str], statuses: frozenset[int], read: int
) -> Callable[[Callable[[float], None] | None, float], Retry]:
    return lambda heard, most: _policy(
        heard,
        total=6,
        connect=4,
        read=read,
        status=5,
        other=0,
        allowed_methods=methods,
        status_forcelist=statuses,
        backoff_factor=0.5,
        backoff_max=20,
        backoff_jitter=0.5,
        respect_retry_after_header=True,
        retry_after_max=most,
        raise_on_status=False,
    )


def _policy(heard: Callable[[float], None] | None = None, **settings: Any) -> Retry:
    """urllib3's Retry, reading Retry-After as `retry_after` does (urllib3 fails the call on
    an invalid one: "Invalid Retry-After header"); `heard` is told each Retry-After (uncapped)
    it is about to sleep for."""
    from urllib3.util.retry import Retry

    class Heeding(Retry):
        def get_retry_after(self, response: Any) -> float | None:
            asked = retry_after(response.headers.get("Retry-After"))
            return None if asked is None else min(asked, self.retry_after_max)

        def sleep_for_retry(self, response: Any) -> bool:
            asked = retry_after(response.headers.get("Retry-After"))
            if asked and heard is not None:
                heard(asked)
            return bool(super().sleep_for_retry(response))

    return Heeding(**settings)


_REPEATABLE = _retry(
    frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "POST", "PUT"}),
    frozenset({429, 502, 503, 504}),
    read=2,
)
# read=0: a request that was sent but got no answer may have acted; it is not repeated.
_CREATING = _retry(frozenset({"POST"}), frozenset({429, 503}), read=0)


# Storage: only refused connections. A streamed body cannot be replayed, so a failed
# upload is retried by the caller with a fresh URL and a fresh stream.
# It sends no Retry-After that the API's pause should hear.
def _storage_retry() -> Retry:
    return _policy(total=3, connect=3, read=0, status=0, other=0, backoff_factor=0.5)


def _session(retry: Retry) -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "pcc-provider"
    return session


class _Bearer:  # an auth callable for requests
    """Adds the key per request, so it lives on no session that could reach storage."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


def url_problem(api_url: str) -> str | None:
    """Why `api_url` is no place to send the key, if it is not."""
    parts = urlsplit(api_url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    return (
        f"the Pipecat Cloud API URL {api_url!r} must be https:// (http:// only on localhost): "
        "fix pipecat:apiUrl or PIPECAT_API_URL"
    )


NO_ORGANIZATION = (
    "set pipecat:organization (or PIPECAT_ORG) to the organization to use, as "
    "`pcc organizations list` names it"
)
FIX_URL = (
    f"set pipecat:apiUrl (or PIPECAT_API_URL) to the API's base URL, {DEFAULT_API_URL} "
    "(with /v1) unless you use another"
)
REFUSED = (
    "set a valid private key with `pulumi config set --secret pipecat:apiKey <key>` "
    "or PIPECAT_API_KEY"
)


# The API URLs whose list of builds answered as Pipecat Cloud's does, in this process: a yes
# holds for every client of the URL (a program of many sets would otherwise ask once each).
_ANSWERED_AS_THE_API: set[str] = set()


class Client:
    """`fallback_key`, if given, is tried once when Pipecat Cloud refuses `api_key` (a key
    rotated since it was recorded); `refused` is what a refused key's message says to do;
    `notice` hears, in one line, of each wait a Retry-After makes a call of this client take
    ("rate-limited by Pipecat Cloud: waiting 60 s (it asked for 3600 s)"); `timeout` is each
    call's (connect, read) seconds, and `retry_after_max` the longest a Retry-After is waited."""

    def __init__(
        self,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        *,
        fallback_key: str | None = None,
        refused: str = REFUSED,
        notice: Callable[[str], None] | None = None,
        timeout: tuple[float, float] = TIMEOUT,
        retry_after_max: float = RETRY_AFTER_MAX,
        organization: str | None = None,
    ) -> None:
        if not api_key:
            raise AuthError(NO_KEY)
        problem = url_problem(api_url)
        if problem:
            raise ApiError(problem)
        self.api_url = api_url.rstrip("/")
        self._given = (api_key, fallback_key, refused)  # for `twin`
        self._keys = tuple(k for k in (api_key, fallback_key) if k)  # never shown in an error
        self.pause = Pause.of(self.api_url, api_key)
        self._auth = _Bearer(api_key)
        self._fallback = _Bearer(fallback_key) if fallback_key and fallback_key != api_key else None
        self._refused = refused
        self._organization = organization or None
        self._is_api: bool | None = None
        self.last_answer = time.monotonic()  # when Pipecat Cloud last answered anything
        self.notice = notice
        self.timeout, self.retry_after_max = timeout, retry_after_max
        self._repeatable = _session(_REPEATABLE(self._heard, retry_after_max))
        self._creating = _session(_CREATING(self._heard, retry_after_max))
        self._storage = _session(_storage_retry())  # no auth: the key must never reach storage

    def __repr__(self) -> str:
        return f"Client(api_url={self.api_url!r})"

    def twin(self) -> Client:
        """A new client with the same URL, keys and messages: one a poller thread owns (its
        waits show on no row: each waiter's shows its client's `pause`)."""
        key, fallback, refused = self._given
        return Client(
            key,
            self.api_url,
            fallback_key=fallback,
            refused=refused,
            timeout=self.timeout,
            retry_after_max=self.retry_after_max,
            organization=self._organization,
        )

    @property
    def identity(self) -> tuple[str, str, str]:
        """What tells the key and URL of this client apart, without the key itself."""
        key, fallback, refused = self._given
        digest = hashlib.sha256(f"{key}\0{fallback or ''}".encode()).hexdigest()
        return self.api_url, digest, refused

    def vetted(self, said: str, secrets: Iterable[str] = (), status: int | None = None) -> str:
        """What the service said (a set's errorMessage), as it may be shown: withheld if it
        echoes the keys of this client or `secrets` (pcc_provider.redaction)."""
        return redaction.vetted(said, [*self._keys, *secrets], status)

    def close(self) -> None:
        for session in (self._repeatable, self._creating, self._storage):
            session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _heard(self, seconds: float) -> None:
        """A Retry-After, about to be slept on: an answer, and a pause for every call."""
        self.last_answer = time.monotonic()
        self.pause.heard(seconds, self.retry_after_max)
        self._tell()

    def _tell(self) -> None:
        said = self.pause.describe()
        if said and self.notice is not None:
            self.notice(said)

    def _call(
        self,
        method: str,
        path: str,
        *,
        repeatable: bool,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        """The JSON object a call answers; ApiError for anything else."""
        try:
            return self._answer(method, path, repeatable=repeatable, params=params, json=json)
        except AuthError:
            if self._fallback is None:
                raise
            # A refused key did nothing: the same call is safe to make with the other key.
            self._auth, self._fallback = self._fallback, None
            return self._answer(method, path, repeatable=repeatable, params=params, json=json)

    def _answer(
        self,
        method: str,
        path: str,
        *,
        repeatable: bool,
        params: dict[str, Any] | None,
        json: Any,
        key: str | None = None,
    ) -> dict[str, Any]:
        """`key`: another key than the client's for this call (a public key's session start),
        hidden from its errors as the client's are."""
        import requests

        session = self._repeatable if repeatable else self._creating
        hidden = (*self._keys, key) if key else self._keys
        url = f"{self.api_url}{path}"
        self._tell()  # if a pause holds this call
        self.pause.wait()
        try:
            # Redirects are not followed: one could carry the key elsewhere, or turn a
            # POST into a GET.
            response = session.request(
                method,
                url,
                params=params,
                json=json,
                auth=_Bearer(key) if key else self._auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise NoAnswer(f"{method} {url} failed: {_reason(exc)}") from None
        self.last_answer = time.monotonic()
        after = retry_after(response.headers.get("Retry-After"))
        if response.status_code in (429, 503) and after:
            # Retries ran out: the pause holds all the same.
            self.pause.heard(after, self.retry_after_max)
        if response.status_code >= 300:
            error = _error(method, url, response, self._refused)
            if isinstance(error, NotFound) and not self._answers_as_the_api():
                # A server that answers every unknown path so (the emulator, a framework's
                # default) would otherwise have a mistyped URL read as "all deleted".
                raise NotTheApi(
                    f"{method} {url} answered 404, but {self.api_url}/builds does not answer "
                    f"as Pipecat Cloud's API does: {FIX_URL}",
                    status=404,
                )
            raise error.hiding(hidden)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise NotTheApi(
                f"{method} {url} answered {response.status_code} with "
                f"{_what(response)}, not the JSON object Pipecat Cloud's API answers: {FIX_URL}",
                status=response.status_code,
            )
        return data

    def _answers_as_the_api(self) -> bool:
        """Whether the list of builds answers a JSON page of builds, checked before a 404 is
        taken to mean the object is gone. A yes is kept for the process's life; a no is not:
        one malformed answer from the right URL must not brand it for good (a wait that
        polls on sees the next answer), and a wrong URL only fails again."""
        if self.api_url in _ANSWERED_AS_THE_API:
            return True
        if self._is_api is None:
            self._is_api = False  # meanwhile: the probe's own 404 is no object's
            try:
                page = self._answer(
                    "GET", "/builds", repeatable=True, params={"limit": 1}, json=None
                )
                is_api = isinstance(page.get("builds"), list)
            except ApiError as exc:
                if isinstance(exc, Unavailable):
                    self._is_api = None
                    raise  # says nothing about the URL: the caller sees why
                is_api = False
            self._is_api = True if is_api else None
            if is_api:
                _ANSWERED_AS_THE_API.add(self.api_url)
            return is_api
        return self._is_api

    @staticmethod
    def _member(data: dict[str, Any], key: str, what: str) -> dict[str, Any]:
        member = data.get(key)
        if not isinstance(member, dict) or not member.get("id"):
            raise NotTheApi(f"{what} answered without a {key}: {FIX_URL}")
        return member

    # -- builds ---------------------------------------------------------------------------

    def list_builds(
        self,
        *,
        context_hash: str | None = None,
        region: str | None = None,
        status: str | None = None,
        dockerfile_path: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every matching build, newest first, page by page.

        `dockerfile_path` is a filter the service applies though the spec does not list it
        (Daily's deploy action relies on it): a caller must still check each answer's.
        """
        params: dict[str, Any] = {
            k: v
            for k, v in (
                ("contextHash", context_hash),
                ("region", region),
                ("status", status),
                ("dockerfilePath", dockerfile_path),
            )
            if v
        }
        offset, seen = 0, set[str]()
        for _ in range(PAGES_MAX):
            page = self._call(
                "GET",
                "/builds",
                repeatable=True,
                params={**params, "limit": PAGE_SIZE, "offset": offset},
            )
            builds = [b for b in page.get("builds") or [] if isinstance(b, dict)]
            # A service that ignores `offset` answers the same page again: that is the end.
            new = [b for b in builds if _identity(b) not in seen]
            seen.update(_identity(b) for b in new)
            yield from new
            offset += len(builds)
            total = page.get("total")
            if not new:
                return
            # A total that is not a count says nothing: the pages tell when the list ends.
            if isinstance(total, int) and not isinstance(total, bool) and offset >= total:
                return
        raise ApiError(
            f"GET {self.api_url}/builds did not end within {PAGES_MAX} pages ({len(seen)} "
            f"builds of {PAGE_SIZE} a page), each bringing builds not seen before: stopped there"
        )

    def get_build(self, build_id: str) -> dict[str, Any]:
        if not build_id:
            raise NotFound("no build id given", status=404)
        data = self._call("GET", f"/builds/{build_id}", repeatable=True)
        return self._member(data, "build", f"GET /builds/{build_id}")

    def build_logs(self, build_id: str) -> list[str]:
        logs = self._call("GET", f"/builds/{build_id}/logs", repeatable=True).get("logs")
        return [str(line) for line in logs] if isinstance(logs, list) else []

    def create_upload(self, region: str) -> Upload:
        data = self._call("POST", "/builds/upload-url", repeatable=True, json={"region": region})
        fields = data.get("uploadFields")
        if not data.get("uploadId") or not data.get("uploadUrl") or not isinstance(fields, dict):
            raise ApiError("POST /builds/upload-url answered without an upload URL")
        return Upload(
            str(data["uploadId"]),
            str(data["uploadUrl"]),
            {str(k): str(v) for k, v in fields.items()},
            str(data.get("expiresAt", "")),
        )

    def upload(
        self,
        upload: Upload,
        archive: Path,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """POST the archive to the presigned target, streamed from disk.

        The fields go first, exactly as issued (their names are case-sensitive), then the file.
        """
        import requests
        from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

        with archive.open("rb") as stream:
            encoder = MultipartEncoder(
                fields=[
                    *upload.fields.items(),
                    ("file", ("context.tar.gz", stream, "application/gzip")),
                ]
            )
            total = encoder.len
            body: MultipartEncoder | MultipartEncoderMonitor = encoder
            if progress is not None:
                report = progress
                body = MultipartEncoderMonitor(encoder, lambda m: report(m.bytes_read, total))
            try:
                response = self._storage.post(
                    upload.url,
                    data=body,
                    headers={"Content-Type": encoder.content_type},
                    timeout=(self.timeout[0], 300.0),
                    allow_redirects=False,  # a redirect would resend a half-read stream
                )
            except requests.RequestException as exc:
                raise UploadRefused(f"upload to {upload.url} failed: {_reason(exc)}") from None
        if response.status_code >= 300:
            raise UploadRefused.quoting(
                f"storage refused the upload ({response.status_code}): ",
                _storage_reason(response),
                status=response.status_code,
            ).hiding(self._keys)

    def create_build(
        self, upload_id: str, region: str, dockerfile_path: str
    ) -> tuple[dict[str, Any], bool]:
        """POST /builds: (build, cached)."""
        data = self._call(
            "POST",
            "/builds",
            repeatable=False,
            json={"uploadId": upload_id, "region": region, "dockerfilePath": dockerfile_path},
        )
        return self._member(data, "build", "POST /builds"), bool(data.get("cached"))

    # -- the organization-scoped API --------------------------------------------------------
    # What the public routes cannot carry (agent profiles, keys, the spend limit, properties,
    # and an agent's build) `pcc` reads and writes under /organizations/{org} (its config.py).

    def organization(self) -> str:
        """The organization those routes name: the one configured, else the only one the key
        belongs to (`GET /organizations`, as pcc lists them)."""
        if self._organization is None:
            listed = self._call("GET", "/organizations", repeatable=True).get("organizations")
            if not isinstance(listed, list):
                raise NotTheApi(
                    f"GET {self.api_url}/organizations answered without a list of "
                    f"organizations: {FIX_URL}"
                )
            names = sorted(
                {
                    o["name"]
                    for o in listed
                    if isinstance(o, dict) and isinstance(o.get("name"), str)
                }
            )
            if len(names) != 1:
                belongs = f"{len(names)} organizations ({', '.join(names)})" if names else "none"
                raise ApiError(f"{NO_ORGANIZATION}: the API key belongs to {belongs}")
            self._organization = names[0]
        return self._organization

    def _org_call(
        self,
        method: str,
        path: str,
        *,
        repeatable: bool,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        """`_call` on the organization's route `path` ("/agent-profiles")."""
        scoped = f"/organizations/{quote(self.organization(), safe='')}{path}"
        return self._call(method, scoped, repeatable=repeatable, params=params, json=json)

    # -- agents ---------------------------------------------------------------------------

    def create_agent(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/agents", repeatable=False, json=spec)

    def list_agents(self) -> list[dict[str, Any]]:
        """Every agent of the organization, all regions: names and deployment ids."""
        return self._list("/agents", "services", "agents")

    def get_agent(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/agents/{name}", repeatable=True)

    def update_agent(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/agents/{name}", repeatable=False, json=spec)

    def delete_agent(self, name: str) -> None:
        self._call("DELETE", f"/agents/{name}", repeatable=True)

    # -- sessions -------------------------------------------------------------------------
    # Started as a client starts one (and `pcc agent start`): the public route, with a public
    # key; followed and stopped on the private routes of the OpenAPI.

    def start_session(self, name: str, body: dict[str, Any], public_key: str) -> dict[str, Any]:
        """{sessionId, ...}. Not repeated: a retry of a lost answer would start a second one."""
        path = f"/public/{quote(name, safe='')}/start"
        return self._answer("POST", path, repeatable=False, params=None, json=body, key=public_key)

    def get_session(self, name: str, session_id: str) -> dict[str, Any]:
        path = f"/agents/{quote(name, safe='')}/sessions/{quote(session_id, safe='')}"
        return self._call("GET", path, repeatable=True)

    def stop_session(self, name: str, session_id: str) -> None:
        path = f"/agents/{quote(name, safe='')}/sessions/{quote(session_id, safe='')}"
        self._call("DELETE", path, repeatable=True)

    def session_logs(self, name: str, session_id: str, limit: int = 20) -> list[str]:
        """The last `limit` lines a session logged, oldest first."""
        params = {"sessionId": session_id, "limit": limit, "order": "desc"}
        found = self._call(
            "GET", f"/agents/{quote(name, safe='')}/logs", repeatable=True, params=params
        )
        entries = found.get("logs")
        lines = (
            [e.get("log") for e in entries if isinstance(e, dict)]
            if isinstance(entries, list)
            else []
        )
        return [str(line) for line in reversed(lines) if line is not None]

    # An agent's create and update as `pcc deploy` sends them (its api.py `_deploy`): the
    # organization's `services`, which carry what the public routes do not (websocketAuth,
    # architecture, resources); an update is a PUT with the name in the body.

    def create_service(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._org_call("POST", "/services", repeatable=False, json=spec)

    def update_service(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"serviceName": name, **spec}
        return self._org_call("PUT", "/services", repeatable=False, json=body)

    def get_service(self, name: str) -> dict[str, Any]:
        """The agent as `pcc agent status` reads it: wrapped in `body` (pcc's `_agent`, which
        takes an answer without one for no agent)."""
        found = self._org_call("GET", f"/services/{quote(name, safe='')}", repeatable=True).get(
            "body"
        )
        if not isinstance(found, dict):
            raise NotFound(f"agent {name} is not found", status=404)
        return found

    def agent_build(self, name: str) -> str | None:
        """The build an agent's deployment runs, None for one deployed from an image. The
        public API redacts it; the organization's route shows it, where `pcc agent status`
        reads it (`deployment.buildId`)."""
        deployment = self.get_service(name).get("deployment")
        build = deployment.get("buildId") if isinstance(deployment, dict) else None
        return build if isinstance(build, str) and build else None

    # -- secret sets ----------------------------------------------------------------------
    # PUT sets values (idempotent, so repeatable); the values travel only in its body.

    def put_secret_set(self, name: str, values: dict[str, str], region: str) -> None:
        secrets = [{"secretKey": k, "secretValue": v} for k, v in values.items()]
        body = {"secrets": secrets, "region": region}
        self._call("PUT", f"/secrets/{name}", repeatable=True, json=body)

    def put_image_pull_secret(self, name: str, host: str, value: str, region: str) -> None:
        body = {"isImagePullSecret": True, "host": host, "secretValue": value, "region": region}
        self._call("PUT", f"/secrets/{name}", repeatable=True, json=body)

    def get_secret_set(self, name: str) -> dict[str, Any]:
        """{region, status, errorMessage?, secrets: [{fieldName}]}; 400 for an image pull secret."""
        return self._call("GET", f"/secrets/{name}", repeatable=True)

    def list_secret_sets(self) -> list[dict[str, Any]]:
        return self._list("/secrets", "sets", "sets")

    def _list(
        self, path: str, member: str, what: str, *, organization: bool = False
    ) -> list[dict[str, Any]]:
        """A whole, unpaged list (`organization`: on the organization's route). An answer
        without one is refused, never read as empty: "no sets" would have refresh forget
        every image pull secret."""
        call = self._org_call if organization else self._call
        items = call("GET", path, repeatable=True).get(member)
        if not isinstance(items, list):
            where = f"/organizations/{self.organization()}{path}" if organization else path
            raise NotTheApi(
                f"GET {self.api_url}{where} answered without a list of {what}: {FIX_URL}"
            )
        return [item for item in items if isinstance(item, dict)]

    def delete_secret_set(self, name: str) -> None:
        self._call("DELETE", f"/secrets/{name}", repeatable=True)

    def delete_secret(self, name: str, key: str) -> None:
        self._call("DELETE", f"/secrets/{name}/{key}", repeatable=True)

    # -- the organization's agent profiles, spend limit and properties ----------------------
    # As pcc 1.4.0 calls them (api.py); profiles and the limit only under /organizations/{org}.

    def list_agent_profiles(self) -> list[dict[str, Any]]:
        """The platform catalog and the organization's own (`custom`), disabled ones too:
        [{api_name, display_name, resources: {cpu, memory}, custom, enabled}]."""
        items = self._org_call("GET", "/agent-profiles", repeatable=True).get("agentProfiles")
        if not isinstance(items, list):
            raise NotTheApi(f"GET /agent-profiles answered without a list of profiles: {FIX_URL}")
        return [item for item in items if isinstance(item, dict)]

    def create_agent_profile(self, name: str, display_name: str, cpu: str, memory: str) -> None:
        resources = {"cpu": cpu, "memory": memory}
        body = {"apiName": name, "displayName": display_name, "resources": resources}
        self._org_call("POST", "/agent-profiles", repeatable=False, json=body)

    def update_agent_profile(self, name: str, changes: dict[str, Any]) -> None:
        """`changes`: any of displayName, resources {cpu, memory}, enabled (False: disabled,
        which is how pcc removes one)."""
        self._org_call(
            "PATCH", f"/agent-profiles/{quote(name, safe='')}", repeatable=True, json=changes
        )

    def get_spend_limit(self) -> dict[str, Any]:
        """{limitCents (None: no limit), currentSpendCents, periodStart, periodEnd, blocked}."""
        return self._org_call("GET", "/spend-limit", repeatable=True)

    def put_spend_limit(self, cents: int | None) -> dict[str, Any]:
        """Set the limit, in cents; None clears it."""
        return self._org_call("PUT", "/spend-limit", repeatable=True, json={"limitCents": cents})

    def get_properties(self) -> dict[str, Any]:
        """The organization's properties by name (defaultRegion, ...)."""
        found = self._call("GET", "/properties", repeatable=True).get("properties")
        if not isinstance(found, dict):
            raise NotTheApi(f"GET {self.api_url}/properties answered without properties: {FIX_URL}")
        return found

    def update_properties(self, changes: dict[str, Any]) -> None:
        self._call("PATCH", "/properties", repeatable=True, json=changes)

    # -- the organization's keys (pcc organizations keys, registry-keys) --------------------
    # A create is not repeated: each POST makes another key.

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every API key, revoked ones too: {id, key, metadata: {name}, createdAt, revoked}."""
        return self._list("/apiKeys", "public", "API keys", organization=True)

    def create_api_key(self, name: str, key_type: str) -> dict[str, Any]:
        return self._org_call(
            "POST", "/apiKeys", repeatable=False, json={"name": name, "type": key_type}
        )

    def revoke_api_key(self, key_id: str) -> None:
        self._org_call("DELETE", f"/apiKeys/{quote(key_id, safe='')}", repeatable=True)

    def list_registry_keys(self) -> list[dict[str, Any]]:
        """Every registry key, revoked ones too; never their material."""
        return self._list("/registry-keys", "registry_keys", "registry keys", organization=True)

    def mint_registry_key(self, name: str) -> dict[str, Any]:
        """{id, name, key, username, registry_host}: the only answer that carries the key."""
        return self._org_call("POST", "/registry-keys", repeatable=False, json={"name": name})

    def revoke_registry_key(self, key_id: str) -> None:
        self._org_call("DELETE", f"/registry-keys/{quote(key_id, safe='')}", repeatable=True)


def _identity(entry: dict[str, Any]) -> str:
    """What tells the entries of a list apart: the id, else the whole entry."""
    ident = entry.get("id")
    return f"id:{ident}" if isinstance(ident, str) and ident else repr(sorted(entry.items()))


def _reason(exc: requests.RequestException) -> str:
    # requests' messages nest urllib3's; the innermost reason is the useful part.
    reason = exc.args[0] if exc.args else exc
    inner = getattr(reason, "reason", None)
    return str(inner or reason).splitlines()[0]


def _what(response: requests.Response) -> str:
    """What a body that is not the API's JSON is, in a few words (never the body itself)."""
    text = response.text.lstrip()[:200].lower()
    if "html" in response.headers.get("Content-Type", "") or text.startswith(
        ("<!doctype", "<html")
    ):
        return "an HTML page"
    if not text:
        return "an empty body"
    try:
        response.json()
    except ValueError:
        return "a body that is not JSON"
    return "JSON not in the API's error shape"


def _error(method: str, url: str, response: requests.Response, refused: str) -> ApiError:
    status = response.status_code
    message, code = "", None
    try:
        body = response.json()
    except ValueError:
        body = None
    # The API's error shape (ErrorResponse in its spec): {"error": str, "code": str}.
    shaped = (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("code"), str)
    )
    if isinstance(body, dict):
        message = str(body.get("error") or body.get("message") or "")
        code = body.get("code") if isinstance(body.get("code"), str) else None
    if status == 401:
        if not message:
            return AuthError(
                f"Pipecat Cloud refused the API key (401): {refused}", status=status, code=code
            )
        return AuthError.quoting(
            "Pipecat Cloud refused the API key (401: ",
            message,
            f"): {refused}",
            status=status,
            code=code,
        )
    if 300 <= status < 400:
        where = response.headers.get("Location")
        return ApiError.quoting(
            f"{method} {url} answered {status}, a redirect to ",
            repr(where),
            f", not followed: {FIX_URL}",
            status=status,
        )
    if not shaped and message and status != 404:
        pass  # JSON with a message: the API speaking, if not quite in its documented shape
    elif not shaped and status >= 500:
        # A proxy or gateway in front of the API answering for it: its page says nothing
        # more, and the call may pass on its own.
        return GatewayError(
            f"{method} {url} answered {status} with {_what(response)}, not Pipecat Cloud's "
            "API: a proxy or gateway error; try again later, and if it persists check "
            "pipecat:apiUrl",
            status=status,
        )
    elif not shaped:
        return NotTheApi(
            f"{method} {url} answered {status} with {_what(response)}, which does not look "
            f"like Pipecat Cloud's API: {FIX_URL}",
            status=status,
        )
    said = " ".join(part for part in (message, f"[{code}]" if code else "") if part)
    cls = NotFound if status == 404 and shaped else ApiError
    if status == 429 or status >= 500:
        cls = Unavailable  # the API busy or failing: it may pass
    head = f"{method} {url} answered {status}"
    if not said:
        return cls(head, status=status, code=code)
    return cls.quoting(f"{head}{': ' if message else ' '}", said, status=status, code=code)


def _storage_reason(response: requests.Response) -> str:
    # S3 answers XML: <Error><Code>AccessDenied</Code><Message>Request has expired</Message>
    text = response.text
    for tag in ("Message", "Code"):
        start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
        if 0 <= start < end:
            return text[start + len(tag) + 2 : end]
    return text.strip().splitlines()[0][:200] if text.strip() else "no reason given"
