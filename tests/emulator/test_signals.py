"""Every process of ours exits at once on SIGTERM as on SIGINT, also while a call is in flight
(a create polling a build): both provider plugins (the native `pulumi-resource-pipecat`, and
the SDK's dynamic-provider plugin serving our resources) and the command line. The emulator's
command is tested with the emulator's (tests/emulator/test_emulator.py).

Each plugin runs as the engine starts it, with the address of a stand-in engine: a gRPC
server that answers nothing (so the plugin's engine watch finds it alive, and progress
messages are dropped)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import API_KEY, EmulatorHandle
from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from waiting import eventually

from pcc_provider import context

pytestmark = pytest.mark.emulator(build_seconds=3600)  # a create polls until it is stopped

URN = "urn:pulumi:dev::proj::pipecat:index:Build::image"
DYNAMIC_URN = "urn:pulumi:dev::proj::pulumi-python:dynamic:Resource::image"
POLL = "GET /v1/builds/{buildId}"
EXITS_WITHIN = 2.0  # seconds after the signal


@pytest.fixture
def engine() -> Iterator[str]:
    """A stand-in engine's address: every call to it is UNIMPLEMENTED."""
    server = grpc.server(futures.ThreadPoolExecutor(2))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


# Starts its arguments with SIGINT and SIGTERM at their defaults, as the engine starts its
# plugins: it asks for both signals itself (Go's signal.Notify), so its children start with
# them at default even when its own parent ignored them; this test's process may ignore them
# (`make test` run as a background job of a script), and a shell cannot reset a signal ignored
# on entry.
AS_THE_ENGINE = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def parent_ignoring(signum: int | None, argv: list[str]) -> list[str]:
    """`argv` started with `signum` ignored, as a background job's would be: through a shell's
    `trap ''` (ignored dispositions survive exec), not a preexec_fn, which is unsafe in a
    test process whose gRPC threads may be running (fork skips their handlers). Without a
    signum, started as the engine starts it (AS_THE_ENGINE)."""
    if signum is None:
        return [sys.executable, "-c", AS_THE_ENGINE, *argv]
    name = signal.Signals(signum).name.removeprefix("SIG")
    return ["sh", "-c", f"trap '' {name}; exec \"$@\"", "sh", *argv]


def start(
    argv: list[str], emulator: EmulatorHandle, tmp_path: Path, ignored: int | None
) -> tuple[subprocess.Popen[str], grpc.Channel]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPECAT_")}
    env.update(
        PIPECAT_API_KEY=API_KEY,
        PIPECAT_API_URL=emulator.api_url,
        PCC_PROVIDER_CACHE_DIR=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    proc = subprocess.Popen(
        parent_ignoring(ignored, argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, grpc.insecure_channel(f"127.0.0.1:{port}")


def stops_at_once(
    proc: subprocess.Popen[str], emulator: EmulatorHandle, signum: int, create: Any
) -> None:
    """With the create polling its build, `signum` ends the plugin within EXITS_WITHIN."""
    try:

        def polls() -> int:
            assert proc.poll() is None, proc.communicate()
            return emulator.calls(POLL)

        # The create is waiting for its build.
        eventually(polls, until=lambda n: n >= 2, timeout=30, what="the create to poll its build")
        started = time.monotonic()
        proc.send_signal(signum)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            name = signal.Signals(signum).name
            pytest.fail(f"still running 10 s after {name}; its stderr:\n{err[-3000:]}")
        took = time.monotonic() - started
        assert took < EXITS_WITHIN, f"exited {took:.1f} s after {signal.Signals(signum).name}"
        _, err = proc.communicate()
        assert "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        create.cancel()


def context_dir(tmp_path: Path) -> Path:
    root = tmp_path / "agent"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n")
    (root / "bot.py").write_text("print('hi')\n")
    return root


@pytest.mark.parametrize("ignored", [False, True], ids=["", "ignored-by-parent"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_native_plugin_exits_at_once_with_a_create_in_flight(
    tmp_path: Path, emulator: EmulatorHandle, engine: str, signum: int, ignored: bool
) -> None:
    exe = Path(sys.executable).parent / "pulumi-resource-pipecat"
    proc, channel = start([str(exe), engine], emulator, tmp_path, signum if ignored else None)
    with channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        stub.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True))
        news = struct_pb2.Struct()
        news.update({"context": str(context_dir(tmp_path))})
        checked = stub.Check(provider_pb2.CheckRequest(urn=URN, news=news))
        create = stub.Create.future(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
        stops_at_once(proc, emulator, signum, create)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_dynamic_plugin_exits_at_once_with_a_create_in_flight(
    tmp_path: Path, emulator: EmulatorHandle, engine: str, signum: int
) -> None:
    from pulumi.dynamic.dynamic import serialize_provider

    from pcc_provider.build import BuildProvider

    root = context_dir(tmp_path)
    found = context.digest(context.select(root))
    props = {
        "__provider": serialize_provider(BuildProvider()),
        "context": str(root),
        "dockerfile": "Dockerfile",
        "region": "us-west",
        "exclude": [],
        "buildTimeout": 3600,
        "contextHash": found.context_hash,
        "contentDigest": found.content_digest,
    }
    argv = [sys.executable, "-m", "pulumi.dynamic", engine]
    proc, channel = start(argv, emulator, tmp_path, None)
    with channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        stub.Configure(provider_pb2.ConfigureRequest(acceptSecrets=False))
        properties = struct_pb2.Struct()
        properties.update(props)
        create = stub.Create.future(
            provider_pb2.CreateRequest(urn=DYNAMIC_URN, properties=properties)
        )
        stops_at_once(proc, emulator, signum, create)


# A command at work (`hash` of a context takes seconds at most, too little to signal reliably).
AT_WORK = """
import sys, time
from pcc_provider import __main__ as cli
cli._hash = lambda args: time.sleep(60)
sys.exit(cli.main(["hash", "."]))
"""


@pytest.mark.parametrize("ignored", [False, True], ids=["", "ignored-by-parent"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_command_exits_at_once_in_one_line(tmp_path: Path, signum: int, ignored: bool) -> None:
    proc = subprocess.Popen(
        parent_ignoring(signum if ignored else None, [sys.executable, "-c", AT_WORK]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # started, and at work
        assert proc.poll() is None, proc.communicate()
        started = time.monotonic()
        proc.send_signal(signum)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 10 s after {signal.Signals(signum).name}")
        assert time.monotonic() - started < EXITS_WITHIN
        assert err == f"stopped ({signal.Signals(signum).name})\n"
        assert proc.returncode == 128 + signum
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
