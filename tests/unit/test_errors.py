"""One error hierarchy: every exception the package defines for its users derives from
PipecatError, which is all the doors look at to show an error as its one line; the errors that
may pass are marked Transient, which is all a wait looks at to tolerate one."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import pcc_provider
from pcc_provider import api
from pcc_provider.errors import PipecatError, Transient

PACKAGE = Path(pcc_provider.__file__).parent

# Exceptions no user sees as such, each with why.
INTERNAL = {
    "pcc_provider.__main__.Stopped": "a stop signal unwinding the command, not an error",
    "pcc_provider.deployment.Problem": "one mistake of a deploy file, reported as DeployFileError",
    # And their subclasses (BadRequest, NotFound, ...).
    "pcc_provider.emulator.errors.ServiceError": "answered over HTTP as the API's error body",
    "pcc_provider.emulator.app.DropConnection": "the emulator closing a connection on purpose",
    "pcc_provider.emulator.storage.S3Error": "answered over HTTP as storage's XML error",
    "pcc_provider.emulator.archive.InvalidArchive": "answered over HTTP as a 400",
    "pcc_provider.emulator.persistence.UnreadableRecord": "a record set aside with a warning",
}


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class the package's modules define, by its dotted name. Only modules
    that define a class are imported (native/__main__ starts the plugin when imported)."""
    found: dict[str, type[BaseException]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        if not any(isinstance(node, ast.ClassDef) for node in ast.walk(tree)):
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == name:
                found[f"{name}.{cls.__qualname__}"] = cls
    return found


def test_the_walk_finds_the_exceptions_of_every_layer() -> None:
    found = defined_exceptions()
    for name in (
        "pcc_provider.api.ApiError",
        "pcc_provider.build.BuildError",
        "pcc_provider.native.server.NativeError",
        "pcc_provider.context.selection.ContextError",
        "pcc_provider.__main__.Stopped",
        *INTERNAL,
    ):
        assert name in found, name


def internal(name: str, cls: type[BaseException]) -> bool:
    """Listed in INTERNAL, itself or through a class it derives from."""
    return name in INTERNAL or any(
        f"{base.__module__}.{base.__qualname__}" in INTERNAL for base in cls.__mro__
    )


def test_every_error_a_user_may_see_is_a_pipecat_error() -> None:
    found = defined_exceptions()
    stray = [
        name
        for name, cls in found.items()
        if not internal(name, cls) and not issubclass(cls, PipecatError)
    ]
    assert stray == [], f"derive these from PipecatError, or list them in INTERNAL: {stray}"
    # And the internal ones are not: a door would show their bare text.
    assert not [name for name in INTERNAL if issubclass(found[name], PipecatError)]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (api.NoAnswer("GET /builds failed: connection refused"), True),
        (api.Unavailable("GET /builds answered 503", status=503), True),
        (api.Unavailable("GET /builds answered 429", status=429), True),
        (api.GatewayError("GET /builds answered 502 with an HTML page", status=502), True),
        (api.NotTheApi("GET /builds answered 200 with an HTML page", status=200), True),
        (api.ApiError("POST /agents answered 400: bad", status=400), False),
        (api.NotFound("GET /builds/x answered 404", status=404), False),
        (api.AuthError("Pipecat Cloud refused the API key (401)", status=401), False),
    ],
)
def test_what_may_pass_is_marked_transient(error: api.ApiError, transient: bool) -> None:
    assert isinstance(error, Transient) is transient
    assert isinstance(error, PipecatError)
    # Hidden (a secret echoed) it stays the same kind, so a wait judges it the same.
    assert type(error.hiding(["x"])) is type(error)


def test_the_native_door_finds_ours_behind_the_sdks_re_raise() -> None:
    from pcc_provider.native.server import _ours

    ours = api.Unavailable("GET /builds answered 503", status=503)
    try:
        try:
            raise ours
        except api.ApiError:
            # What SDKs since 3.260 do: a new Exception, from within their handler.
            raise Exception("Traceback (most recent call last): ...")  # noqa: B904
    except Exception as wrapped:
        assert _ours(wrapped) is ours
    # A bug is nobody's message: it keeps its traceback.
    try:
        try:
            {}["key"]
        except KeyError:
            raise Exception("Traceback (most recent call last): ...")  # noqa: B904
    except Exception as wrapped:
        assert _ours(wrapped) is None
