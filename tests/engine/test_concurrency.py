"""Many resources at once: the SDK's dynamic-provider plugin serves more than four calls
together (pcc_provider/plugin.py), and concurrent builds are neither started twice nor lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from concurrency_provider import AT_ONCE, RendezvousProvider
from conftest import EmulatorHandle
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from pulumi_stack import VENV_BIN, Stack

TESTS = Path(__file__).resolve().parent.parent  # where concurrency_provider.py is


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The SDK's own dynamic-provider plugin, started as the engine starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env["PULUMI_PYTHON_CMD"] = sys.executable
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [str(VENV_BIN / "pulumi-resource-pulumi-python")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: the wrapper script runs Python as a child
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the wrapper and the Python it started
        proc.wait()


def rendezvous_check(plugin: provider_pb2_grpc.ResourceProviderStub) -> Callable[[bool], None]:
    """A Check of a RendezvousProvider resource; with `wait`, it returns once AT_ONCE are in."""
    provider = serialize_provider(RendezvousProvider())

    def check(wait: bool) -> None:
        news = struct_pb2.Struct()
        news.update({"__provider": provider, "wait": wait})
        request = provider_pb2.CheckRequest(
            urn="urn:pulumi:dev::proj::pulumi-python:dynamic:Rendezvous::r",
            olds=struct_pb2.Struct(),
            news=news,
        )
        plugin.Check(request, timeout=90)

    return check


def test_plugin_serves_more_than_four_calls_at_once(
    plugin: provider_pb2_grpc.ResourceProviderStub,
) -> None:
    check = rendezvous_check(plugin)
    check(False)  # loads and configures the provider, as the engine's first call does
    try:
        with ThreadPoolExecutor(AT_ONCE) as pool:
            list(pool.map(check, [True] * AT_ONCE))
    except grpc.RpcError as exc:
        pytest.fail(
            "the Pulumi SDK's dynamic-provider plugin no longer lets pcc_provider/plugin.py "
            "raise its limit of concurrent calls; builds now go four at a time (see "
            f"docs/performance.md, Concurrency): {exc.details()}"
        )


def test_a_burst_of_first_calls_is_served_at_once(
    plugin: provider_pb2_grpc.ResourceProviderStub,
) -> None:
    """The plugin's first calls all at once, as a `destroy`'s deletes come: those that
    arrived before the first of them configured the provider (and raised the limit) are
    served together too, not four at a time."""
    check = rendezvous_check(plugin)
    try:
        with ThreadPoolExecutor(AT_ONCE) as pool:
            list(pool.map(check, [True] * AT_ONCE))
    except grpc.RpcError as exc:
        pytest.fail(
            "calls that reached the dynamic-provider plugin before it was configured went "
            f"four at a time (pcc_provider/plugin.py, _serve_the_queued): {exc.details()}"
        )


MANY = """
import pulumi
from pcc_provider import Build
for name in "abcdef":
    pulumi.export(name, Build(name, context=name).build_id)
# The same image as "a": one of the two waits for the other's build, not starting its own.
pulumi.export("a_again", Build("a_again", context="a").build_id)
"""


@pytest.mark.engine
def test_many_builds_at_once_none_twice_none_lost(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(buildSeconds=10)  # long enough to overlap on a busy machine
    files = {f"{n}/Dockerfile": f"FROM python:3.12-slim\nLABEL name={n}\n" for n in "abcdef"}
    stack = cloud_stack(MANY, files=files)
    stack.up()

    outputs = stack.outputs()
    assert outputs["a_again"] == outputs["a"]
    ids = {outputs[n] for n in "abcdef"}
    assert len(ids) == 6
    builds = [b for b in emulator.api("GET", "/builds").json()["builds"] if b["id"] in ids]
    assert sorted(b["status"] for b in builds) == ["success"] * 6
    assert emulator.calls("POST /v1/builds") == 6
    assert emulator.calls("POST /_storage/{bucket}") == 6
    # More than four at once: every build was created before any finished.
    assert max(b["createdAt"] for b in builds) < min(b["completedAt"] for b in builds)
    # Whichever of the two came first built the image; the other reused it.
    by_name = {r["urn"].rsplit("::", 1)[1]: r for r in stack.resources()}
    assert sorted(by_name[n]["outputs"]["source"] for n in ("a", "a_again")) == ["existing", "new"]
