"""What the Build and Agent resources share: credentials, names, and progress on the display."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import pulumi
from pulumi.dynamic import ConfigureRequest, ReadResult, Resource, ResourceProvider

from pcc_provider import api, cancel, ownership, watch
from pcc_provider.config import API_KEY, ProviderConfig, Setting
from pcc_provider.description import (
    PYTHON,
    UNKNOWN,
    Description,
    Door,
    camel,
    object_type,
    snake,
)
from pcc_provider.errors import PipecatError, Transient
from pcc_provider.plugin import (
    allow_concurrent_calls,
    engine_address,
    exit_with_the_engine,
    report_errors_plainly,
)

# What a refused key means where the engine passes the config recorded at the last `up`.
RECORDED_KEY_REFUSED = (
    "that is the key recorded at the last `pulumi up`, which `pulumi refresh` and "
    "`pulumi destroy` use: after a key rotation run `pulumi up` first, pass --run-program "
    "to refresh or destroy, or set PIPECAT_API_KEY to the current key"
)
CONFIG_KEY_REFUSED = (
    "the key in the stack config (pipecat:apiKey) is wrong or revoked: set a valid private "
    "key with `pulumi config set --secret pipecat:apiKey <key>`"
)
ENV_KEY_REFUSED = (
    "the key in PIPECAT_API_KEY is wrong or revoked: set it to a valid private key (or "
    "unset it and `pulumi config set --secret pipecat:apiKey <key>`)"
)
BOTH_KEYS_REFUSED = (
    "so was the one in PIPECAT_API_KEY: set PIPECAT_API_KEY to a valid private key, or "
    "`pulumi config set --secret pipecat:apiKey <key>` and run `pulumi up` first"
)
T = TypeVar("T")


@dataclass(frozen=True)
class Timings:
    """How a provider paces its waits on Pipecat Cloud. A provider takes them (tests pass short
    ones) and hands them down to its polls, its patience with errors that may pass and the
    calls of its clients."""

    # The first pause between polls of a build (and the first look of a lookout, watch.py);
    # backing off x1.5 to poll_interval_max, the end is seen within 2 s, at 40 calls a minute
    # per waiting resource (benchmarks/build_latency.py).
    poll_interval: float = 0.5
    poll_interval_max: float = 1.5
    # Failed polls in a row tolerated while waiting, when the error may pass (errors.Transient)...
    transient_tries: int = 5
    # ... and for at most this long: with a silent API each try takes minutes (request_timeout).
    transient_seconds: float = 120.0
    # After this long without an answer, a waiting row says so, and updates it as time goes on.
    quiet_seconds: float = 10.0
    # How soon a waiting row shows a Retry-After's wait.
    quiet_tick: float = 0.25
    # Presigned upload URLs tried: an expired or refused one is replaced by a fresh one.
    upload_attempts: int = 3
    # (connect, read) seconds of each API call (api.TIMEOUT says why).
    request_timeout: tuple[float, float] = api.TIMEOUT
    # The longest a Retry-After is waited (api.RETRY_AFTER_MAX says why).
    retry_after_max: float = api.RETRY_AFTER_MAX
    # How far Pipecat Cloud's clock may be behind ours when an agent found is judged made
    # after a create began (ownership.CLOCK_SKEW says why).
    clock_skew: float = ownership.CLOCK_SKEW


PRODUCTION = Timings()


def in_program(config: pulumi.Config) -> Callable[[Setting], Any]:
    """The settings as the program's stack config holds them (a secret as an Output: whether
    it is set is all a program may know)."""
    return lambda s: config.get_secret(s.name) if s.secret else config.get(s.name)


def region_for(region: str | None) -> str:
    """The region a resource is in: the one given, else config `pipecat:region`, else us-west."""
    if region is not None:
        return region
    return ProviderConfig.read(in_program(pulumi.Config("pipecat"))).region


def settings_problem(config: pulumi.Config) -> str | None:
    """At preview: no key configured anywhere, or an API URL the key must not go to."""
    return ProviderConfig.read(in_program(config)).problem()


def checked(
    kind: str, resource_name: str, description: Description, given: Mapping[str, Any]
) -> dict[str, Any]:
    """What a Python constructor does with its keywords before anything is declared: the
    inputs by their schema names, with their defaults (the region's from config), or the
    first problem with them, or with the key and API URL, in one line. Values not known yet
    (Outputs) are judged by the provider once known."""
    internal = {f.python for f in description.internal}
    problem = description.unknown({k: v for k, v in given.items() if k not in internal}, PYTHON)
    raw = {camel(k): v for k, v in given.items()}
    for f in description.inputs:
        # An object's keys as the schema names them (SmokeCheck(run_seconds=...)), also for
        # the Outputs handed on below.
        if (shape := object_type(f.type)) is not None and isinstance(raw.get(f.name), Mapping):
            raw[f.name] = shape.named(raw[f.name])
    seen = {k: _known_now(v) for k, v in raw.items()}
    args, failures = description.check(seen, PYTHON, region_for(raw.get("region")))
    found = [problem] if problem else [reason for _, reason in failures]
    found += [p for p in [settings_problem(pulumi.Config("pipecat"))] if p]
    if found:
        raise pulumi.RunError(f"{kind} {resource_name!r}: {found[0]}")
    outputs = {name: None for name in description.output_names}  # the attributes to resolve
    # The Outputs themselves, not the stand-ins they were judged by.
    return {**outputs, **args, **{k: v for k, v in raw.items() if _known_now(v) is not v}}


def _known_now(value: Any) -> Any:
    """`value` with UNKNOWN for each Output in it (in a dict or list too): what it is now."""
    if isinstance(value, pulumi.Output):
        return UNKNOWN
    if isinstance(value, Mapping):
        inner = {k: _known_now(v) for k, v in value.items()}
        changed = any(inner[k] is not v for k, v in value.items())
        return inner if changed else value
    if isinstance(value, list):
        items = [_known_now(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def resource_urn(
    type_: str, resource_name: str, opts: pulumi.ResourceOptions | None
) -> pulumi.Input[str]:
    """The URN a resource will get, so its provider can show progress on its row."""
    parent = opts.parent if opts else None
    if parent is None:
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{resource_name}"

    def child(parent_urn: str) -> str:
        prefix, parent_type, _ = parent_urn.rsplit("::", 2)
        if parent_type == "pulumi:pulumi:Stack":
            return f"{prefix}::{type_}::{resource_name}"
        return f"{prefix}::{parent_type}${type_}::{resource_name}"

    urn = parent.urn.apply(child)
    # Without the parent as a dependency: depending on a component means depending on its
    # children, this resource among them, which the SDK refuses as a cycle.
    known_urn = cast(Awaitable[str], urn.future())
    return pulumi.Output(set(), known_urn, urn.is_known(), urn.is_secret())


def refuse_import(kind: str, resource_name: str, opts: pulumi.ResourceOptions | None) -> None:
    """Stop the program in one line when it asks to import: the SDK's dynamic provider
    plugin cannot read a resource it did not create (it fails with `KeyError: '__provider'`)."""
    if opts is not None and opts.import_:
        raise pulumi.RunError(
            f"{kind} {resource_name!r}: opts.import_ is not supported by pcc_provider's Python "
            "resources: take an existing agent or set over with adopt_existing=True, use an "
            "existing build with Build.get(...), or import it with the native `pipecat` "
            f"provider (`pulumi import pipecat:index:{kind} <name> <id>`)"
        )


class PipecatResource(Resource):
    """A dynamic resource of ours: its provider is told the resource's URN (`__urn`), for the
    progress on its row and for its ownership claims."""

    def __init__(
        self,
        provider: ResourceProvider,
        resource_name: str,
        props: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        type_ = f"pulumi-python:{self._resource_type_name}"
        # The SDK names the attributes as the props are named.
        props = {self.attribute(name): value for name, value in props.items()}
        props.setdefault("__urn", resource_urn(type_, resource_name, opts))
        super().__init__(provider, resource_name, props, opts)

    @staticmethod
    def attribute(name: str) -> str:
        """The attribute a property (by its schema name) is given."""
        return name


class ApiResource(PipecatResource):
    """A dynamic resource named in the API's terms (imageUri) in the state, diffs and wire,
    and in Python's (image_uri) in programs."""

    attribute = staticmethod(snake)

    def translate_output_property(self, prop: str) -> str:
        return snake(prop)

    def translate_input_property(self, prop: str) -> str:
        return camel(prop)


class ApiProvider(ResourceProvider):
    """A dynamic provider that talks to Pipecat Cloud.

    It holds nothing secret when serialized into the state: the key is read in the provider
    process, from the stack config the engine passes to `configure`, or the environment.
    """

    serialize_as_secret_always = False
    description: ClassVar[Description]  # what it serves (pcc_provider.description.describe)
    door: Door = PYTHON  # how its messages name inputs: the native door gives SCHEMA
    # Class defaults, which an instance unpickled from a state an earlier version wrote (the
    # SDK pickles the provider into the state) goes by: it has none of these attributes.
    timings = PRODUCTION
    config: ProviderConfig | None = None  # set by `configure`, in the engine's plugin
    _from_config = False  # whether the key came from the stack config, not the environment

    def __init__(self, config: ProviderConfig | None = None, timings: Timings = PRODUCTION) -> None:
        super().__init__()
        if config is not None:
            self.config = config
        if timings != PRODUCTION:
            self.timings = timings

    def configure(self, req: ConfigureRequest) -> None:
        def given(setting: Setting) -> Any:
            return req.config.get(f"pipecat:{setting.name}")

        self.config = ProviderConfig.read(given)
        self._from_config = bool(given(API_KEY))
        # In the SDK's plugin: a create waiting for a build must not hold a call slot that
        # other resources need, our errors are one line, and the plugin exits when the
        # engine is gone (pcc_provider/plugin.py).
        allow_concurrent_calls()
        report_errors_plainly()
        exit_with_the_engine()

    def _client(self, recorded: bool = False, progress: Progress | None = None) -> api.Client:
        """`recorded`: for refresh and destroy, where the engine configures this provider
        with the config of the last `up`: a key rotated since is refused, and the current
        one in PIPECAT_API_KEY, if any, is tried instead. `progress`: the row a wait on a
        Retry-After shows on."""
        config = self.config or ProviderConfig.read()
        key, url = config.api_key, config.api_url
        current = os.environ.get("PIPECAT_API_KEY") or None
        other = current if current and current != key else None
        if recorded and self._from_config:
            recorded_refused = "that is the key recorded at the last `pulumi up`, and "
            refused = RECORDED_KEY_REFUSED if not other else recorded_refused + BOTH_KEYS_REFUSED
        elif self._from_config:
            refused = (
                CONFIG_KEY_REFUSED if not other else f"{CONFIG_KEY_REFUSED}; {BOTH_KEYS_REFUSED}"
            )
        else:
            refused = ENV_KEY_REFUSED
        notice = progress.status if progress is not None else None
        return api.Client(
            key,
            url,
            fallback_key=other,
            refused=refused,
            notice=notice,
            timeout=self.timings.request_timeout,
            retry_after_max=self.timings.retry_after_max,
            organization=config.organization,
        )


class StillThere(PipecatError):
    """A deleted object that has not gone within its timeout."""


class NotOurs(PipecatError):
    """The object found under the state's name is another one: it is left alone."""


class OwnedObjectProvider(ApiProvider):
    """A provider of an object a stack owns in Pipecat Cloud (an agent, a set): how it is read
    or forgotten, checked before a change, deleted and awaited until gone, and how a failure
    reads, written once for every kind. A kind says how to find, compare and remove one.

    The ownership rule (ownership.py): an object found under the recorded name that is not the
    one the state records (deleted, then made again by someone else) is never changed or
    deleted: update refuses, refresh and destroy forget it with a warning.
    """

    what: ClassVar[str]  # how messages name the kind: "agent", "secret set"
    error: ClassVar[type[Exception]]  # the kind's one-line error
    # Errors of the kind that carry a reason only: `reported` puts the object's name first.
    reasons: ClassVar[tuple[type[Exception], ...]] = ()
    adopt: ClassVar[str]  # the input that takes over an object on purpose
    claim: ClassVar[str]  # what ownership claims call this kind (ownership.py)
    named_by: ClassVar[str]  # the input that names the object
    watched: ClassVar[watch.Kind]  # what the waits of this kind share (watch.py)

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        """The object as the API reports it, None when it does not exist."""
        raise NotImplementedError

    def _remove(self, client: api.Client, name: str) -> None:
        """Ask for the deletion (api.NotFound when already gone)."""
        raise NotImplementedError

    def _find_for(
        self, client: api.Client, name: str, props: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """`_find` for a refresh of an object with the state's inputs `props` (a kind may
        read some of them where only another route reports them)."""
        return self._find(client, name)

    def _detail(self, name: str) -> watch.Detail | None:
        """How a lookout reads one object in detail; None: its list entry is all there is."""
        return lambda client: self._find(client, name)

    def _stranger(self, state: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
        """Why the object found under the state's name is not the state's, or None."""
        raise NotImplementedError

    def _observed(
        self, name: str, props: dict[str, Any], found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(outputs, inputs) of a refresh: what the object now holds, as the state's."""
        raise NotImplementedError

    def _timeout(self, props: Mapping[str, Any]) -> float:
        raise NotImplementedError

    def _stamped(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        """The checked inputs `news`, with the claim a create of them makes as it travels in
        the stack's state (ownership.STAMP) when the engine may create from them (a new
        resource, or one this kind replaces), so that an interrupted create can be recovered
        on another machine (recovery.py). Without one otherwise."""
        inputs = {k: v for k, v in news.items() if k != ownership.STAMP}
        replace_on = self.description.replace_on
        creating = not olds or any(olds.get(k) != inputs.get(k) for k in replace_on)
        name, region = inputs.get(self.named_by), self._claimed_where(inputs)
        if not creating or not _known(name) or not _known(region):
            return inputs
        facts = self._claim_facts(str(name), inputs)
        if facts is None:
            return inputs
        inputs[ownership.STAMP] = ownership.stamp(self.claim, str(name), str(region), **facts)
        return inputs

    def _claim_facts(self, name: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        """What else the kind's claim records (ownership.stamp); None: no claim to make."""
        return {}

    def _claimed_where(self, inputs: Mapping[str, Any]) -> Any:
        """Where a claim says the object is made: its region."""
        return inputs.get("region")

    def _settled(self, props: Mapping[str, Any], name: str) -> None:
        """The engine shows that its state holds the object (it reads, diffs or deletes it):
        the claim of the create that made it is done with (ownership.py)."""
        ownership.release(props.get("__urn") or "", self.claim, name)

    def _hide(self, said: Exception, *props: Mapping[str, Any]) -> str:
        """An error of a call for the object with these inputs, as it may be shown. The client
        withholds what the service said if it echoes the API key; a kind that sends other
        secrets (a set's values) withholds it if it echoes those too (pcc_provider.redaction)."""
        return str(said)

    @staticmethod
    def _progress(props: Mapping[str, Any], *more: Mapping[str, Any]) -> Progress:
        urns = [p.get("__urn") for p in (props, *more)]
        return Progress(next((u for u in urns if u), None))

    @contextmanager
    def reported(self, name: str, *props: Mapping[str, Any]) -> Iterator[None]:
        """An API error (or a reason of the kind) inside, as the kind's error in one line that
        names the object: `agent bot: <why>`. `props`: the inputs of the call (an update's
        new and old ones), whose secrets it must not show."""
        caught: tuple[type[Exception], ...] = (api.ApiError, StillThere, NotOurs, *self.reasons)
        try:
            yield
        except caught as exc:
            raise self.error(f"{self.what} {name}: {self._hide(exc, *props)}") from None

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        progress = self._progress(props)
        with self.reported(id_, props), self._client(True, progress) as client:
            found = self._find_for(client, id_, props)
        # Also when what is found is forgotten: a claim left behind would let a later create
        # of this resource take a newcomer of the name for what an interrupted `up` made.
        self._settled(props, id_)
        if found is None:
            return ReadResult("", {})  # deleted outside Pulumi: refresh drops it
        stranger = self._stranger(props, found)
        if stranger:
            progress.warn(
                f"{self.what} {id_} is not the one this stack created ({stranger}): forgotten, "
                f"and left as it is; pass {self.door.assign(self.adopt, True)} to take it over"
            )
            return ReadResult("", {})
        outs, inputs = self._observed(id_, props, found)
        return ReadResult(id_, outs, inputs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        progress = self._progress(props)
        with self.reported(id_, props), self._client(True, progress) as client:
            found = self._find(client, id_)
            stranger = self._stranger(props, found) if found is not None else None
            if found is None:
                pass  # already gone
            elif stranger:
                progress.warn(
                    f"{self.what} {id_} was not deleted: it is not the one this stack created "
                    f"({stranger}); it is forgotten and left as it is"
                )
            else:
                self._before_delete(client, id_, found, props, progress)
                self._delete(client, id_, props, progress)
        self._settled(props, id_)

    def _before_delete(
        self,
        client: api.Client,
        name: str,
        found: dict[str, Any],
        props: Mapping[str, Any],
        progress: Progress,
    ) -> None:
        """What must hold before a destroy deletes the object the stack owns (an agent's
        live calls end); it raises to delete nothing."""

    def _ensure_ours(
        self, client: api.Client, name: str, olds: Mapping[str, Any], news: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Before an update: the object as found; NotOurs for a stranger the program does
        not adopt (raise it within `reported`)."""
        found = self._find(client, name)
        stranger = self._stranger(olds, found) if found is not None else None
        if stranger and not news.get(self.adopt):
            raise NotOurs(
                f"it is not the one this stack created ({stranger}): it was left as it is. "
                "Run `pulumi refresh` to forget it, or pass "
                f"{self.door.assign(self.adopt, True)} to take "
                "it over"
            )
        return found

    def _delete(
        self, client: api.Client, name: str, props: Mapping[str, Any], progress: Progress
    ) -> bool:
        """Delete, then wait until gone: a replacement of the same name is created right
        after, and the service deletes asynchronously. False if it was gone already;
        StillThere at the timeout."""
        try:
            self._remove(client, name)
        except api.NotFound:
            return False
        timeout = self._timeout(props)
        self._watch(
            client,
            name,
            {"name": name},
            True,
            lambda found: found is not None,
            lambda exists: not exists,
            timeout=timeout,
            describe=lambda _, took: f"deleting {self.what} {name} ({took:.0f}s)",
            expired=lambda _: StillThere(f"it still exists after {timeout:g}s"),
            progress=progress,
            gone=True,
        )
        return True

    def _watch(
        self,
        client: api.Client,
        name: str,
        seen: Mapping[str, Any],
        start: T,
        looked: Callable[[dict[str, Any] | None], T],
        done: Callable[[T], bool],
        *,
        timeout: float,
        describe: Callable[[T, float], str],
        expired: Callable[[T], Exception],
        progress: Progress,
        gone: bool = False,
    ) -> T:
        """Poll the object as the lookout of its kind sees it (watch.py) until `done`, from
        `start`. `seen`: what the caller knows of it now; `looked`: what a poll makes of the
        next look (None: it is gone). `gone`: a delete's wait, which the list's not showing
        it ends. An API error that may pass is tolerated a few times (Patience): the poll
        goes on with what it saw last."""
        patience = Patience(self.timings)
        every = self.timings.poll_interval
        detail = self._detail(name)
        with watch.Lookout.waiting(
            self.watched, client, name, detail, seen, every, absence_suffices=gone
        ) as (lookout, waiter):
            next_look = watch.fetcher(lookout, waiter)
            latest = [start]

            def fetch() -> T:
                latest[0] = patience.call(lambda: looked(next_look()), latest[0])
                return latest[0]

            return poll(
                start,
                fetch,
                done,
                timeout=timeout,
                describe=describe,
                expired=expired,
                progress=progress,
                timings=self.timings,
                interval=0,  # the lookout paces the looks
                answered=lambda: lookout.last_answer,
                rate_limited=client.pause.describe,
            )


def _known(value: Any) -> bool:
    """A string input known now (not the engine's placeholder for an unknown one)."""
    from pulumi.runtime.rpc import UNKNOWN

    return isinstance(value, str) and bool(value) and value != UNKNOWN


def poll(
    current: T,
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    describe: Callable[[T, float], str],
    expired: Callable[[T], Exception],
    progress: Progress,
    timings: Timings,
    interval: float | None = None,
    answered: Callable[[], float] | None = None,
    rate_limited: Callable[[], str | None] | None = None,
) -> T:
    """Fetch until done, backing off, showing `describe` as the live status.

    `answered`: when Pipecat Cloud last answered (time.monotonic()), so that a row waiting
    on a silent API counts from then rather than from the latest request. `rate_limited`:
    what a Retry-After the fetches wait on is (the client's `pause.describe`), for the row.

    The schedule is the timings' (0.5 s, x1.5, at most 1.5 s apart: Timings says why). Agents
    and sets pass `interval=0`: their `fetch` waits for the next look of a shared lookout
    (watch.py), which keeps that schedule for all of them at once.

    Raises `expired(latest)` once `timeout` seconds have passed, and cancel.Cancelled
    within cancel.STEP of a Cancel from the engine (one Ctrl-C).
    """
    start = time.monotonic()
    interval = timings.poll_interval if interval is None else interval
    while not done(current):
        elapsed = time.monotonic() - start
        if elapsed >= timeout:
            raise expired(current)
        shown = describe(current, elapsed)
        cancel.check("waiting")
        progress.status(shown)
        cancel.sleep(min(interval, max(timeout - elapsed, 0.05)), "waiting")
        interval = min(interval * 1.5, timings.poll_interval_max)
        with quiet_watch(progress, shown, timings, answered, rate_limited):
            current = fetch()
    return current


@contextmanager
def quiet_watch(
    progress: Progress,
    shown: str,
    timings: Timings,
    answered: Callable[[], float] | None = None,
    rate_limited: Callable[[], str | None] | None = None,
) -> Iterator[None]:
    """While the body waits on Pipecat Cloud, keep the row moving: while a Retry-After holds
    the calls, it says so (`rate_limited`); after timings.quiet_seconds without an answer, it says
    how long the API has been silent."""
    done = threading.Event()
    start = time.monotonic()
    since = answered or (lambda: start)

    def watch() -> None:
        quiet_seconds = timings.quiet_seconds
        told, limited_at, quiet_at = None, 0.0, start + quiet_seconds
        while not done.wait(min(timings.quiet_tick, quiet_seconds / 2)):
            now = time.monotonic()
            limited = rate_limited() if rate_limited is not None else None
            if limited:
                if limited != told:
                    progress.status(f"{shown}; {limited}")
                # The API answered (to ask for the wait): any silence counts from its end.
                told, limited_at, quiet_at = limited, now, now + quiet_seconds
                continue
            told = None
            if now >= quiet_at:
                quiet = now - max(min(since(), start), limited_at)
                progress.status(f"{shown}; no answer from Pipecat Cloud for {quiet:.0f}s")
                quiet_at = now + quiet_seconds / 2

    watcher = threading.Thread(target=watch, name="quiet-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()


class Patience:
    """While waiting, an API error that may pass (a 5xx, 429, lost connection, or an answer
    not in the API's shape, as a proxy gives: errors.Transient) is tolerated
    timings.transient_tries times in a row, within timings.transient_seconds: the poll goes on
    with what it saw last."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings
        self.misses = 0
        self.failing_since = 0.0

    def call(self, fetch: Callable[[], T], last: T) -> T:
        try:
            value = fetch()
        except Transient:
            if self.misses == 0:
                self.failing_since = time.monotonic()
            failing_for = time.monotonic() - self.failing_since
            tries, seconds = self.timings.transient_tries, self.timings.transient_seconds
            if self.misses >= tries or failing_for > seconds:
                raise
            self.misses += 1
            return last
        self.misses = 0
        return value


class Progress:
    """Messages on the resource's row of the `pulumi up` display.

    The engine starts a provider plugin with its own address as the first argument; a log
    request carrying the resource's URN shows beside that resource, and an ephemeral one
    only as its live status.
    """

    def __init__(self, urn: str | None) -> None:
        self.urn = urn or ""
        self._engine: Any = None
        address = engine_address()
        if self.urn and address:
            import grpc
            from pulumi.runtime.proto import engine_pb2_grpc

            self._engine = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))
        elif self.urn:
            # In a program (a Build hashing its context in its constructor): the program's
            # own client of the engine, if it runs under one.
            from pulumi.runtime import settings

            self._engine = settings.get_engine()

    def _log(self, message: str, severity: str, ephemeral: bool) -> None:
        if self._engine is None:
            return
        from pulumi.runtime.proto import engine_pb2

        try:
            self._engine.Log(
                engine_pb2.LogRequest(
                    severity=getattr(engine_pb2, severity),
                    message=message,
                    urn=self.urn,
                    ephemeral=ephemeral,
                )
            )
        except Exception:  # progress must never fail a deployment
            self._engine = None

    def status(self, message: str) -> None:
        self._log(message, "INFO", ephemeral=True)

    def info(self, message: str) -> None:
        self._log(message, "INFO", ephemeral=False)

    def warn(self, message: str) -> None:
        self._log(message, "WARNING", ephemeral=False)
