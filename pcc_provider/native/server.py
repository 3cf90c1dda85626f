"""The `pulumi-resource-pipecat` plugin: the engine's requests onto the existing providers.

Each resource kind (pcc_provider.kinds) is served by the same provider class as its dynamic
resource (BuildProvider, ...), which takes and returns plain dicts in the schema's camelCase
names. This module only translates: engine values to dicts and back, the kind's description
doing in `check` what the Python constructor does in a program (defaults, what the kind
derives, validation in the schema's names), and the provider's one-line errors as the gRPC
error the engine shows.

Worked around here (SDK defects measured on 3.235-3.272; contract tests for 1 and 3 in
tests/emulator/test_native_provider.py, 4 under the engine in tests/engine/test_native_yaml.py):
1. an unknown value cannot be encoded as `PropertyValue.computed()`: the rpc UNKNOWN sentinel
   string is what the engine reads as unknown (and what arrives for unknown inputs);
2. DiffConfig with a detailed diff fails: the provider keeps the default DiffConfig;
3. `PropertyValue` refuses ints: numbers go out as floats;
4. errors arrive as `Unexpected <class ...>: msg` or with a traceback: the servicer below
   aborts the call with the message alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import signal
import sys
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from pulumi.provider.experimental import server as sdk_server
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    GetSchemaRequest,
    GetSchemaResponse,
    InvokeRequest,
    InvokeResponse,
    PropertyDiff,
    PropertyDiffKind,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)
from pulumi.runtime.proto import provider_pb2_grpc
from pulumi.runtime.rpc import UNKNOWN

import pcc_provider
from pcc_provider import api, cancel, functions_profiles, kinds, ownership
from pcc_provider.config import ProviderConfig, Setting
from pcc_provider.description import SCHEMA, Description
from pcc_provider.errors import PipecatError
from pcc_provider.native import schema
from pcc_provider.plugin import exit_now, exit_with_the_engine
from pcc_provider.resource import PRODUCTION, Progress, Timings
from pcc_provider.secrets import Declared, Program

T = TypeVar("T")

# Blocking calls (HTTP, hashing, waiting for builds) run here, not on the event loop nor on
# asyncio's default executor (cpus + 4 threads): one thread per resource in flight, for
# programs with many resources. Idle threads cost nothing until used.
POOL_SIZE = 256


def plain(values: Mapping[str, PropertyValue]) -> tuple[dict[str, Any], set[str]]:
    """Engine values as plain Python (the providers' dicts), and the names that were secret."""
    secret = {name for name, value in values.items() if value.contains_secret()}
    return {name: _plain(value) for name, value in values.items()}, secret


def _plain(value: PropertyValue) -> Any:
    inner = value.value
    if isinstance(inner, Mapping):
        return {k: _plain(v) for k, v in inner.items()}
    if isinstance(inner, Sequence) and not isinstance(inner, str):
        return [_plain(v) for v in inner]
    if isinstance(inner, float) and inner.is_integer():
        return int(inner)  # the engine has only floats; ids, sizes and counts are ints
    return inner


def engine_values(
    props: Mapping[str, Any], secret: Collection[str] = (), internal: Collection[str] = ()
) -> dict[str, Any]:
    """Plain values as engine values; UNKNOWN stays the sentinel the engine reads as unknown.
    `internal`: the private keys to keep (the others are the dynamic door's, as __urn)."""
    return {
        name: _engine_value(value).with_secret(name in secret)
        for name, value in props.items()
        if not name.startswith("__") or name in internal
    }


def _engine_value(value: Any) -> PropertyValue:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return PropertyValue(value)
    if isinstance(value, int | float):
        return PropertyValue(float(value))
    if isinstance(value, Mapping):
        return PropertyValue({str(k): _engine_value(v) for k, v in value.items()})
    if isinstance(value, Sequence):
        return PropertyValue([_engine_value(v) for v in value])
    raise TypeError(f"cannot send {type(value).__name__} to the engine")


class NativeError(PipecatError):
    """A request this provider cannot serve; str() is for the user."""


class Door:
    """One resource kind: its description and its provider, which the engine's requests go to."""

    def __init__(self, described: Description, timings: Timings = PRODUCTION) -> None:
        self.described = described
        self.provider = described.provider(timings=timings)
        self.provider.door = SCHEMA  # its messages name the inputs as the schema does
        self.inputs = tuple(f.name for f in described.inputs)
        # Kept in the engine's values although private (`__...`): the kind's internal inputs.
        self.internal = tuple(f.name for f in described.internal)

    def check(
        self,
        urn: str,
        olds: dict[str, Any],
        news: dict[str, Any],
        region: str | None,
        declared: Mapping[str, Declared],
    ) -> tuple[dict[str, Any], list[CheckFailure]]:
        """What the Python constructor does in a program: defaults, what the kind derives
        (a build's digest, an agent's bindings, a set's revision), validation."""
        if any(name in news for name in self.described.imported):
            # The check of `pulumi import` (a program never gives these): the object as it
            # was found; the program that names it is checked at its preview.
            return dict(news), []
        props = self.described.defaults(news, region)
        found: list[tuple[str, str]] = []
        if self.described.derive is not None:
            progress = Progress(urn)
            props, found, warnings = self.described.derive(props, declared, progress)
            for warning in warnings:
                progress.warn(warning)
        # With the URN, as every other call: a check may look for this resource's claims.
        result = self.provider.check(olds, {**props, "__urn": urn})
        failures = [CheckFailure(*failure) for failure in found]
        failures += [CheckFailure(f.property, f.reason) for f in result.failures or []]
        for failure in failures:
            if not failure.property:
                # A problem of no one property: the engine would print "property  value".
                raise NativeError(failure.reason)
        return dict(result.inputs or props), failures

    def moved(self, state: dict[str, Any]) -> bool:
        """Whether the state was written by an earlier version in names of its own."""
        return any(name in state for name in self.described.legacy)

    def preview_outputs(self, props: dict[str, Any]) -> dict[str, Any]:
        return {**props, **{name: UNKNOWN for name in self.described.output_names}}


def property_diff(old: Any, new: Any, replace: bool = False) -> PropertyDiff:
    kinds = {
        (None, False): PropertyDiffKind.ADD,
        ("delete", False): PropertyDiffKind.DELETE,
        ("update", False): PropertyDiffKind.UPDATE,
        (None, True): PropertyDiffKind.ADD_REPLACE,
        ("delete", True): PropertyDiffKind.DELETE_REPLACE,
        ("update", True): PropertyDiffKind.UPDATE_REPLACE,
    }
    change = None if old is None else "delete" if new is None else "update"
    return PropertyDiff(kinds[change, replace], input_diff=True)


class PipecatProvider(Provider):
    """The `pipecat` provider: configuration, then each request to the resource's door."""

    def __init__(
        self, pool: ThreadPoolExecutor | None = None, timings: Timings = PRODUCTION
    ) -> None:
        self.pool = pool or ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="pipecat")
        self.sets = Program()  # the sets this program declared, for its agents
        self.cancel_requested: asyncio.Event | None = None  # made on the server's loop
        # Each kind's module is imported at the first request for it, not at the start: a
        # program of Builds starts the plugin without the other kinds (the engine waits for
        # the start of every plugin it needs, preview or not).
        self.timings = timings
        self.kinds = {kind.token: kind for kind in kinds.KINDS if kind.native}
        self.doors: dict[str, Door] = {}
        self.function_kinds = {kind.token: kind for kind in kinds.FUNCTIONS}
        self.region: str | None = None
        self.config: ProviderConfig | None = None

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(call, *args))

    async def _run_until_cancelled(self, what: str, call: Callable[..., T], *args: Any) -> T:
        """_run, but a Cancel from the engine (one Ctrl-C) answers at once.

        The call's own waits end within cancel.STEP (pcc_provider/cancel.py), so that the
        plugin can exit as soon as the engine closes it: a build or deployment goes on in
        Pipecat Cloud, an upload in progress stops, and the next `pulumi up` takes it up
        again (a build in flight is reattached to, an agent or set left by an interrupted
        up is recovered)."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.pool, functools.partial(call, *args))
        cancelled = asyncio.ensure_future(self._cancelled().wait())
        try:
            waiting: set[asyncio.Future[Any]] = {work, cancelled}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
        if work.done() and not isinstance(work.exception(), cancel.Cancelled):
            return work.result()  # what it made is recorded, even when a Cancel came too
        if not work.done():
            # Its outcome (cancel.Cancelled, most likely) is nobody's to report.
            work.add_done_callback(lambda done: done.cancelled() or done.exception())
        raise NativeError(
            f"cancelled while {what}: it goes on in Pipecat Cloud, and the next "
            "`pulumi up` takes it up again"
        )

    def _cancelled(self) -> asyncio.Event:
        if self.cancel_requested is None:
            self.cancel_requested = asyncio.Event()
        return self.cancel_requested

    async def cancel(self) -> None:
        self._cancelled().set()
        cancel.request()  # every wait in the pool's threads ends within cancel.STEP

    def _door(self, urn: str) -> Door:
        token = urn.split("::")[2].split("$")[-1]
        door = self.doors.get(token)
        if door is None:
            kind = self.kinds.get(token)
            if kind is None:
                raise NativeError(f"pipecat: unknown resource type {token}")
            door = self.doors[token] = Door(kind.description(), self.timings)
            if self.config is not None:
                door.provider.config = self.config
        return door

    async def get_schema(self, request: GetSchemaRequest) -> GetSchemaResponse:
        return GetSchemaResponse(json.dumps(schema.schema()))

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        given, _ = plain(request.args)

        def setting(declared: Setting) -> Any:
            return given.get(declared.name)

        self.config = ProviderConfig.read(setting)
        for door in self.doors.values():
            door.provider.config = self.config
        self.region = self.config.region  # as resource.region_for
        return ConfigureResponse(
            accept_secrets=True, supports_preview=True, accept_outputs=False, accept_resources=False
        )

    def _settings_problem(self) -> str | None:
        return (self.config or ProviderConfig.read()).problem()

    async def check(self, request: CheckRequest) -> CheckResponse:
        door = self._door(request.urn)
        olds, _ = plain(request.old_inputs)
        news, secret = plain(request.new_inputs)
        if (problem := self._settings_problem()) is not None:
            raise api.ApiError(problem)
        props, failures = await self._run(
            door.check, request.urn, olds, news, self.region, self.sets.declared
        )
        if door.described.declares and not failures:
            self._declare(request.urn, door.described.declares, props)
        # Kept secret in the state's inputs too, even when the program gave plain values; with
        # the create's claim, which the engine keeps in a pending create (ownership.STAMP).
        secret |= door.described.secret_in(props)
        inputs = engine_values(props, secret, internal=(ownership.STAMP, *door.internal))
        return CheckResponse(inputs, failures)

    def _declare(self, urn: str, kind: str, props: dict[str, Any]) -> None:
        """Record a set of this program for the agents that bind it (secrets.Program)."""
        name, revision = props.get("setName"), props.get("revision")
        if isinstance(name, str) and name != UNKNOWN:
            known = Declared(kind, props["region"], revision) if isinstance(revision, str) else None
            self.sets.declare(name, urn, known, SCHEMA)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        door = self._door(request.urn)
        state, _ = plain(request.old_state)
        olds, news = door.described.current(state), plain(request.new_inputs)[0]
        for name in request.ignore_changes:
            if name in olds:
                news[name] = olds[name]
        result = await self._run(
            door.provider.diff,
            request.resource_id,
            {**olds, "__urn": request.urn},  # the create's claim is settled
            news,
        )
        if not result.changes and door.moved(state):
            # A state the dynamic door wrote, in its own names: an update with nothing to send
            # rewrites it in the native names (`update`), so that outputs other resources
            # read (a set's setName) are known.
            return DiffResponse(changes=True, replaces=[], detailed_diff={})
        replaces = list(result.replaces or [])
        detailed: dict[str, PropertyDiff] = {}
        if result.changes:
            # Every input that differs, by its name: what replaces, and what updates in place;
            # inside a map (a set's secrets), by key: `~ secrets.OPENAI_API_KEY`.
            # Only the declared inputs: what the program can change (not status and the like).
            for name in sorted({*door.inputs, *replaces}):
                old, new = olds.get(name), news.get(name)
                if name not in replaces and old == new:
                    continue
                replace = name in replaces
                if isinstance(old, dict) and isinstance(new, dict) and not replace:
                    for key in sorted(set(old) | set(new)):
                        if old.get(key) != new.get(key):
                            detailed[f"{name}.{key}"] = property_diff(old.get(key), new.get(key))
                    continue
                detailed[name] = property_diff(old, new, replace)
            # An internal input is shown as the input whose change it is, if any.
            for f in door.described.internal:
                if f.shown_as and olds.get(f.name) != news.get(f.name):
                    detailed.setdefault(
                        f.shown_as, PropertyDiff(PropertyDiffKind.UPDATE, input_diff=True)
                    )
        return DiffResponse(
            changes=bool(result.changes),
            replaces=replaces,
            delete_before_replace=bool(result.delete_before_replace),
            detailed_diff=detailed,
        )

    async def create(self, request: CreateRequest) -> CreateResponse:
        door = self._door(request.urn)
        props, secret = plain(request.properties)
        secret |= door.described.secret_in(props)
        if request.preview:
            return CreateResponse(
                "", engine_values(door.preview_outputs(props), secret, door.internal)
            )
        core = {**props, "__urn": request.urn}
        result = await self._run_until_cancelled("creating", door.provider.create, core)
        return CreateResponse(
            str(result.id), engine_values(result.outs or {}, secret, door.internal)
        )

    async def read(self, request: ReadRequest) -> ReadResponse:
        door = self._door(request.urn)
        props, secret = plain(request.properties)
        result = await self._run(
            door.provider.read, request.resource_id, {**props, "__urn": request.urn}
        )
        read = result.outs or {}
        outs = engine_values(read, secret | door.described.secret_in(read), door.internal)
        # Not what is unset (a set's values after an import: the program gives them).
        names = (*door.inputs, *door.described.imported)
        ins = {n: outs[n] for n in names if read.get(n) is not None}
        return ReadResponse(result.id or "", outs, ins)

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        door = self._door(request.urn)
        olds, secret = plain(request.olds)
        news, secret_news = plain(request.news)
        secret |= secret_news | door.described.secret_in(news)
        moved = door.moved(olds)
        olds = door.described.current(olds)
        if moved:
            unchanged = await self._run(door.provider.diff, request.resource_id, olds, news)
            if not unchanged.changes:
                # Only the names of the state change (`diff`): nothing to ask Pipecat Cloud.
                given = {k: v for k, v in news.items() if v is not None}
                return UpdateResponse(engine_values({**olds, **given}, secret, door.internal))
        if request.preview:
            return UpdateResponse(
                engine_values(door.preview_outputs({**olds, **news}), secret, door.internal)
            )
        result = await self._run_until_cancelled(
            "updating",
            door.provider.update,
            request.resource_id,
            olds,
            {**news, "__urn": request.urn},
        )
        outs = result.outs or {**olds, **news}
        return UpdateResponse(engine_values(outs, secret, door.internal))

    async def _agent_profiles(self) -> InvokeResponse:
        """getAgentProfiles, with the provider's config (written before the functions of
        pcc_provider.lookups; to be described there too)."""
        if (problem := self._settings_problem()) is not None:
            raise api.ApiError(problem)
        config = self.config or ProviderConfig.read()

        def listed() -> list[dict[str, Any]]:
            with api.Client(
                config.api_key, config.api_url, organization=config.organization
            ) as client:
                return functions_profiles.profiles(client)

        try:
            found = await self._run(listed)
        except PipecatError as exc:
            raise NativeError(f"getAgentProfiles: {exc}") from None
        return InvokeResponse(engine_values({"profiles": found}))

    async def delete(self, request: DeleteRequest) -> None:
        door = self._door(request.urn)
        props, _ = plain(request.properties)
        await self._run_until_cancelled(
            "deleting",
            door.provider.delete,
            request.resource_id,
            {**props, "__urn": request.urn},
        )

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        """A function (pcc_provider.lookups): the same read as the Python door's, with its
        messages in the schema's names."""
        if request.tok == functions_profiles.TOKEN:
            return await self._agent_profiles()
        kind = self.function_kinds.get(request.tok)
        if kind is None:
            raise NativeError(f"pipecat: unknown function {request.tok}")
        function = kind.function()
        given, _ = plain(request.args)
        config = self.config or ProviderConfig.read()
        # An error, not `failures`: the engine shows an error's message on one line, and
        # failures as a bulleted list with an empty property "()".
        found = await self._run(function.call, config, given, SCHEMA)
        return InvokeResponse(engine_values(found))


class Servicer(sdk_server.ProviderServicer):
    """The SDK's servicer, with the provider's error as the whole message (defect 4).

    As in the dynamic door (pcc_provider.plugin): an exception of ours is a message for the
    user, shown alone; anything else is a bug and keeps its traceback."""


def _one_line_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(self: Servicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except Exception as exc:
            ours = _ours(exc)
            message = str(ours) if ours is not None else traceback.format_exc()
            await context.abort(grpc.StatusCode.UNKNOWN, message)

    return call


def _ours(exc: BaseException | None) -> PipecatError | None:
    """The exception of ours behind `exc`, if any. SDKs since 3.260 re-raise every error of a
    provider as a new Exception carrying the traceback in its message, from within their
    handler, so ours is that one's __context__."""
    for _ in range(3):
        if exc is None or isinstance(exc, PipecatError):
            return exc
        exc = exc.__context__
    return None


for _name in (
    "Invoke",
    "CheckConfig",
    "Configure",
    "Check",
    "Diff",
    "Create",
    "Read",
    "Update",
    "Delete",
    "GetSchema",
    "Invoke",
):
    setattr(Servicer, _name, _one_line_errors(getattr(sdk_server.ProviderServicer, _name)))


# What stops the plugin: SIGINT, with which the engine closes its plugins, SIGTERM, and on
# Windows the CTRL_BREAK_EVENT the engine sends there (Python's SIGBREAK).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)
)


def main() -> None:
    """`pulumi-resource-pipecat <engine address>`: serve until the engine stops us.

    The SDK's `server.main`, with our servicer. Progress (pcc_provider.resource) reaches the
    engine at sys.argv[1], the address the engine starts every provider plugin with.

    A stop signal (STOP_SIGNALS) ends the process at once, also when its parent started it
    with the signal ignored, and also while calls are in flight: a create polling its build
    would otherwise keep it for as long as the build takes (the interpreter waits for the
    pool's threads on its way out). What they started goes on in Pipecat Cloud, and the next
    `pulumi up` takes it up again."""
    if sys.argv[1:2] == ["recover"]:
        # `pulumi-resource-pipecat recover`: for programs without the Python package (YAML,
        # TypeScript, Go), the command the refusals of an interrupted create name.
        from pcc_provider import recovery

        sys.exit(recovery.main(sys.argv[2:]))
    parser = argparse.ArgumentParser(description="the pipecat Pulumi provider plugin")
    parser.add_argument("engine", help="the Pulumi engine's address")
    engine = parser.parse_known_args()[0].engine
    exit_with_the_engine()  # a killed engine tells its plugins nothing

    provider = PipecatProvider()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in STOP_SIGNALS:
            try:
                loop.add_signal_handler(signum, stop.set)
            except NotImplementedError:  # Windows' event loop: the handler runs in between
                signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
        server = grpc.aio.server(options=sdk_server._GRPC_CHANNEL_OPTIONS)  # type: ignore[attr-defined]
        servicer = Servicer(sys.argv[1:], pcc_provider.__version__, provider, engine)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
        port = server.add_insecure_port(address="127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await stop.wait()
        exit_now(0)  # not server.stop(): the calls it would cancel have nothing to clean up

    with contextlib.suppress(KeyboardInterrupt):  # a SIGINT before the handlers are in place
        asyncio.run(serve())
    exit_now(0)
