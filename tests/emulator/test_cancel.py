"""One Ctrl-C (the engine's Cancel, pcc_provider/cancel.py): every wait of the providers ends
within a second, undoes nothing, and keeps what the next `pulumi up` takes up again.
Called directly against the emulator (no engine); tests/engine/test_native_yaml.py times
the whole `pulumi up` under the real engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from waiting import eventually

from pcc_provider import api, cancel, context, ownership
from pcc_provider.agent import AgentProvider
from pcc_provider.build import BuildProvider, UploadProgress
from pcc_provider.config import ProviderConfig
from pcc_provider.context.cache import image_lock
from pcc_provider.plugin import one_at_a_time
from pcc_provider.resource import Progress
from pcc_provider.secrets import SecretSetProvider

URN = "urn:pulumi:dev::proj::pipecat:index:Agent::bot"
SET_URN = "urn:pulumi:dev::proj::pipecat:index:SecretSet::creds"
# The bound each wait is held to: cancel.STEP, with room for a loaded machine.
WITHIN = 1.0

pytestmark = pytest.mark.usefixtures("cache")


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    """A Cancel is for good in a provider process: each test starts without one."""
    cancel.reset()
    yield
    cancel.reset()


def cancelled_within(call: Callable[[], Any], started: Callable[[], bool]) -> BaseException:
    """Run `call` in a thread until `started()`, cancel, and return what it raised, which it
    must within WITHIN seconds of the Cancel."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()

    def waiting() -> bool:
        assert worker.is_alive(), raised
        return started()

    eventually(waiting, timeout=30, what="the call to start waiting")
    time.sleep(0.3)  # well into the wait: between two looks
    cancel.request()
    asked = time.monotonic()
    worker.join(WITHIN + 5)
    took = time.monotonic() - asked
    assert not worker.is_alive(), "the wait went on after the Cancel"
    assert took < WITHIN, f"the wait ended {took:.2f}s after the Cancel"
    assert len(raised) == 1, raised
    return raised[0]


def test_a_build_wait_ends_and_the_next_create_takes_the_build_up(
    bot_context: Path, emulator: EmulatorHandle
) -> None:
    emulator.configure(buildSeconds=30)
    provider = BuildProvider(ProviderConfig(api_key=API_KEY, api_url=emulator.api_url))
    props = {
        "context": str(bot_context),
        "dockerfile": "Dockerfile",
        "region": "us-west",
        "exclude": [],
        "buildTimeout": 60,
        "contentDigest": context.content_digest(context.select(bot_context)),
        "__urn": None,
    }
    raised = cancelled_within(
        lambda: provider.create(dict(props)),
        lambda: bool(emulator.api("GET", "/builds").json()["builds"]),
    )
    assert isinstance(raised, cancel.Cancelled), raised
    (build,) = emulator.api("GET", "/builds").json()["builds"]
    assert build["status"] in ("pending", "building")  # it goes on in Pipecat Cloud

    cancel.reset()  # the next `pulumi up`
    emulator.finish(build["id"])
    again = provider.create(dict(props))
    assert again.id == build["id"] and again.outs["status"] == "success"
    assert emulator.calls("POST /v1/builds") == 1  # not built, nor uploaded, a second time


def test_an_agent_deploy_wait_ends_and_keeps_the_agent_and_its_claim(
    emulator: EmulatorHandle,
) -> None:
    emulator.configure(agentReadySeconds=30)
    provider = AgentProvider(ProviderConfig(api_key=API_KEY, api_url=emulator.api_url))
    props = {"serviceName": "bot", "region": "us-west", "image": "example/agent:1"}
    props |= {"deployTimeout": 60, "__urn": URN}
    raised = cancelled_within(
        lambda: provider.create(dict(props)),
        lambda: emulator.api("GET", "/agents/bot").status_code == 200,
    )
    assert isinstance(raised, cancel.Cancelled), raised
    assert emulator.api("GET", "/agents/bot").status_code == 200  # not deleted
    assert ownership.claimed(URN, "agent", "bot") is not None  # the next `up` takes it up


def test_a_set_provisioning_wait_ends_and_keeps_the_set_and_its_claim(
    emulator: EmulatorHandle,
) -> None:
    emulator.configure(secretReadySeconds=30)
    provider = SecretSetProvider(ProviderConfig(api_key=API_KEY, api_url=emulator.api_url))
    props = {"setName": "bot-secrets", "region": "us-west", "secrets": {"A": "value-a"}}
    props |= {"keys": ["A"], "readyTimeout": 60, "__urn": SET_URN}
    raised = cancelled_within(
        lambda: provider.create(dict(props)),
        lambda: emulator.api("GET", "/secrets/bot-secrets").status_code == 200,
    )
    assert isinstance(raised, cancel.Cancelled), raised
    assert emulator.api("GET", "/secrets/bot-secrets").json()["status"] == "pending"
    assert ownership.claimed(SET_URN, "secretSet", "bot-secrets") is not None


def test_an_upload_in_progress_stops(bot_context: Path, emulator: EmulatorHandle) -> None:
    client = api.Client(API_KEY, emulator.api_url)
    upload = client.create_upload("us-west")
    report = UploadProgress(Progress(None), 1)

    def progress(sent: int, total: int) -> None:
        cancel.request()  # the Cancel comes while the body is being sent
        report(sent, total)

    with (
        context.archive(context.select(bot_context)) as (archive, _),
        pytest.raises(cancel.Cancelled),
    ):
        client.upload(upload, archive, progress)
    assert emulator.stats()["uploadedBytes"] == 0


def test_waiting_for_another_build_of_the_same_image_ends() -> None:
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with one_at_a_time("image"):
            held.set()
            release.wait(30)

    threading.Thread(target=holder, daemon=True).start()
    held.wait(5)
    try:
        raised = cancelled_within(lambda: one_at_a_time("image").__enter__(), lambda: True)
        assert isinstance(raised, cancel.Cancelled)
    finally:
        release.set()


def test_waiting_for_another_stacks_upload_of_the_same_image_ends() -> None:
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with image_lock("image", lambda: None):
            held.set()
            release.wait(30)

    threading.Thread(target=holder, daemon=True).start()
    held.wait(5)
    try:
        raised = cancelled_within(
            lambda: image_lock("image", lambda: None).__enter__(), lambda: True
        )
        assert isinstance(raised, cancel.Cancelled)
    finally:
        release.set()
