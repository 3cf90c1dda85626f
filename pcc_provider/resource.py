"""What the Build and Agent resources share: credentials, names, and progress on the display."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pulumi
from pulumi.dynamic import ConfigureRequest, Resource, ResourceProvider

from pcc_provider import api
from pcc_provider.plugin import allow_concurrent_calls, report_errors_plainly

DEFAULT_REGION = "us-west"
# Failed polls in a row tolerated while waiting, when the error may pass (5xx, 429, network).
TRANSIENT_TRIES = 5
T = TypeVar("T")


def snake(name: str) -> str:
    """imageUri -> image_uri; names like __provider pass through."""
    if name.startswith("_"):
        return name
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def camel(name: str) -> str:
    """image_uri -> imageUri; names like __provider pass through."""
    if name.startswith("_"):
        return name
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def api_settings(config: Callable[[str], Any]) -> tuple[str, str]:
    """(key, url) from stack config `pipecat:apiKey` / `pipecat:apiUrl`, else the environment."""
    key = config("pipecat:apiKey") or os.environ.get("PIPECAT_API_KEY") or ""
    url = config("pipecat:apiUrl") or os.environ.get("PIPECAT_API_URL") or api.DEFAULT_API_URL
    return str(key), str(url)


def region_for(region: str | None) -> str:
    """The region a resource is in: the one given, else config `pipecat:region`, else us-west."""
    if region is not None:
        return region
    return pulumi.Config("pipecat").get("region") or DEFAULT_REGION


def region_problem(region: Any) -> str | None:
    """An empty region, which every Pipecat Cloud call would refuse."""
    if not isinstance(region, str) or region.strip():
        return None
    return (
        'region is empty: pass region="us-west" (or another region) '
        "or run `pulumi config set pipecat:region us-west`"
    )


def settings_problem(config: pulumi.Config) -> str | None:
    """At preview: no key configured anywhere, or an API URL the key must not go to."""
    if config.get_secret("apiKey") is None and not os.environ.get("PIPECAT_API_KEY"):
        return api.NO_KEY
    url = config.get("apiUrl") or os.environ.get("PIPECAT_API_URL") or api.DEFAULT_API_URL
    return api.url_problem(url)


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
            "existing build with Build.get(...), or use `pulumi import` with the native "
            "`pipecat` provider (coming)"
        )


class ApiResource(Resource):
    """A dynamic resource named in the API's terms (imageUri) in the state, diffs and wire,
    and in Python's (image_uri) in programs."""

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

    def __init__(self) -> None:
        super().__init__()
        self._settings: tuple[str, str] | None = None

    def configure(self, req: ConfigureRequest) -> None:
        self._settings = api_settings(req.config.get)
        # In the SDK's plugin: a create waiting for a build must not hold a call slot that
        # other resources need, and our errors are one line (pcc_provider/plugin.py).
        allow_concurrent_calls()
        report_errors_plainly()

    def _client(self) -> api.Client:
        key, url = self._settings or api_settings(lambda _: None)
        return api.Client(key, url)


def poll(
    current: T,
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    describe: Callable[[T, float], str],
    expired: Callable[[T], Exception],
    progress: Progress,
    interval: float = 0.5,
    interval_max: float = 1.5,
) -> T:
    """Fetch until done, backing off, showing `describe` as the live status.

    The default schedule (0.5 s, x1.5, at most 1.5 s apart) notices the end within 2 s of
    it, at 40 calls a minute per waiting resource (benchmarks/build_latency.py).

    Raises `expired(latest)` once `timeout` seconds have passed.
    """
    start = time.monotonic()
    while not done(current):
        elapsed = time.monotonic() - start
        if elapsed >= timeout:
            raise expired(current)
        progress.status(describe(current, elapsed))
        time.sleep(min(interval, max(timeout - elapsed, 0.05)))
        interval = min(interval * 1.5, interval_max)
        current = fetch()
    return current


class Patience:
    """While waiting, an API error that may pass (a 5xx, 429 or lost connection) is
    tolerated TRANSIENT_TRIES times in a row: the poll goes on with what it saw last."""

    def __init__(self) -> None:
        self.misses = 0

    def call(self, fetch: Callable[[], T], last: T) -> T:
        try:
            value = fetch()
        except api.ApiError as exc:
            passing = exc.status is None or exc.status == 429 or exc.status >= 500
            if not passing or self.misses >= TRANSIENT_TRIES:
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
        address = sys.argv[1] if len(sys.argv) > 1 else ""
        if self.urn and re.fullmatch(r"[\w.\-\[\]:]+:\d+", address):
            import grpc
            from pulumi.runtime.proto import engine_pb2_grpc

            self._engine = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))

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
