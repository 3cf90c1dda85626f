"""Answers that are not what Pipecat Cloud says, through the providers called directly against
the emulator (no engine): secret values echoed in any form, a proxy's HTML page, a malformed
poll answer, and an API that stops answering."""

from __future__ import annotations

import base64
import email.utils
import http.server
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import API_KEY, EmulatorHandle
from waiting import eventually

from pcc_provider import api, context
from pcc_provider.build import BuildError, BuildProvider
from pcc_provider.config import ProviderConfig
from pcc_provider.resource import ApiProvider, Progress, Timings
from pcc_provider.secrets import (
    ImagePullSecretProvider,
    SecretSetError,
    SecretSetProvider,
    SetProvider,
)

PARTIAL_MIN = 6  # a run this long of a value in a message is a leak
WITHHELD = "the service's answer echoed a secret value; not shown"

# No common words in it: any run of PARTIAL_MIN of its characters in a message is a leak.
VALUE = "sk-9f8eQ7zPwL\nline-two-XK31"
USERNAME, PASSWORD = "robot", "ghp_Zq81mNvT0rW5yB"
GET_BUILD = "GET /v1/builds/{buildId}"

# The forms a service may echo a value in, each as it would write it.
ECHOES: dict[str, Callable[[str], str]] = {
    "verbatim": lambda v: v,
    "JSON-escaped": lambda v: json.dumps(v)[1:-1],
    "JSON-quoted": json.dumps,
    "repr": repr,
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "URL-encoded": lambda v: quote(v, safe=""),
    "truncated": lambda v: v[:10] + "...",
    "partial": lambda v: "..." + v[3:11] + "...",
}


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PIPECAT_API_KEY", raising=False)
    monkeypatch.delenv("PIPECAT_API_URL", raising=False)


def configured(kind: type[ApiProvider], emulator: EmulatorHandle, **timings: Any) -> Any:
    """A provider of `kind` on the emulator, polling fast; `timings`: others made short."""
    config = ProviderConfig(api_key=API_KEY, api_url=emulator.api_url)
    return kind(config, Timings(poll_interval=0.05, **timings))


def leaks(message: str, values: list[str]) -> list[str]:
    """Every run of PARTIAL_MIN characters of any form of a value found in `message`."""
    found = []
    for form in {echo(v) for v in values for echo in ECHOES.values()}:
        for start in range(len(form) - PARTIAL_MIN + 1):
            run = form[start : start + PARTIAL_MIN]
            if run in message:
                found.append(run)
    return found


def secret_set(**change: Any) -> tuple[type[SetProvider], dict[str, Any], list[str]]:
    props = {
        "setName": "bot-secrets",
        "region": "us-west",
        "secrets": {"OPENAI_API_KEY": VALUE},
        "keys": ["OPENAI_API_KEY"],
        "readyTimeout": 10,
        **change,
    }
    return SecretSetProvider, props, [VALUE]


def image_pull(**change: Any) -> tuple[type[SetProvider], dict[str, Any], list[str]]:
    props = {
        "setName": "ghcr-pull",
        "region": "us-west",
        "host": "ghcr.io",
        "username": USERNAME,
        "password": PASSWORD,
        "readyTimeout": 10,
        **change,
    }
    return ImagePullSecretProvider, props, [PASSWORD]


KINDS = {"secret set": secret_set, "image pull secret": image_pull}


def failure(call: Callable[[], object]) -> str:
    with pytest.raises(SecretSetError) as raised:
        call()
    return str(raised.value)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("echo", list(ECHOES))
def test_no_error_path_shows_a_value_in_any_echo_form(
    kind: str, echo: str, emulator: EmulatorHandle
) -> None:
    kind_of, props, values = KINDS[kind]()
    provider = configured(kind_of, emulator)
    name = props["setName"]
    said = "refused " + " and ".join(ECHOES[echo](v) for v in values)
    # The credentials of an image pull secret go out as base64(user:password): echoed too.
    if kind == "image pull secret":
        said += " for " + ECHOES[echo](base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode())
    messages = {}

    emulator.fault("PUT /v1/secrets/{setName}", status=400, message=said)
    messages["create refused"] = failure(lambda: provider.create(props))
    emulator.fault("PUT /v1/secrets/{setName}", status=400, body="echo")
    messages["create refused, body echoed"] = failure(lambda: provider.create(props))

    emulator.fail_next_provisioning(name, said)
    messages["provisioning failed"] = failure(lambda: provider.create(props))

    created = provider.create(props)
    assert created.id == name
    emulator.fault("PUT /v1/secrets/{setName}", status=422, message=said)
    messages["update refused"] = failure(lambda: provider.update(name, props, props))
    read_route = "GET /v1/secrets" if kind == "image pull secret" else "GET /v1/secrets/{setName}"
    emulator.fault(read_route, status=400, message=said)
    messages["read"] = failure(lambda: provider.read(name, props))
    emulator.fault("DELETE /v1/secrets/{setName}", status=409, message=said)
    messages["delete refused"] = failure(lambda: provider.delete(name, props))

    for path, message in messages.items():
        # What the service said is not shown at all (pcc_provider.redaction), only the call.
        assert f": {WITHHELD}: check this resource's inputs" in message, (path, message)
        assert message.startswith(f"{kind} {name}: "), (path, message)
        assert not leaks(message, values), (path, message, leaks(message, values))


def build_props(root: Path) -> dict[str, Any]:
    found = context.digest(context.select(root))
    return {
        "context": str(root),
        "dockerfile": "Dockerfile",
        "region": "us-west",
        "exclude": [],
        "buildTimeout": 60,
        "contextHash": found.context_hash,
        "contentDigest": found.content_digest,
        "__urn": None,
    }


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    statuses: list[str] = []
    monkeypatch.setattr(Progress, "status", lambda _self, message: statuses.append(message))
    return statuses


def test_a_502_html_page_is_named_not_shown(bot_context: Path, emulator: EmulatorHandle) -> None:
    created = configured(BuildProvider, emulator).create(build_props(bot_context))
    # More than the retries of a read: the page is what the refresh ends with.
    emulator.fault(GET_BUILD, status=502, body="html", times=20)
    with pytest.raises(BuildError) as raised:
        configured(BuildProvider, emulator).read(created.id, created.outs)
    message = str(raised.value)
    assert f"/v1/builds/{created.id} answered 502 with an HTML page" in message
    assert "a proxy or gateway error; try again later" in message
    assert "<" not in message and "\n" not in message


def test_a_malformed_poll_answer_is_waited_out(
    bot_context: Path, emulator: EmulatorHandle, shown: list[str]
) -> None:
    emulator.configure(buildSeconds=1.5)
    emulator.fault(GET_BUILD, status=200, body="malformed", times=2)
    created = configured(BuildProvider, emulator).create(build_props(bot_context))
    assert created.outs["status"] == "success" and created.outs["source"] == "new"
    assert emulator.calls(GET_BUILD) >= 3


def test_a_wait_given_up_says_the_build_goes_on_and_up_reattaches(
    bot_context: Path, emulator: EmulatorHandle, shown: list[str]
) -> None:
    emulator.configure(buildSeconds=3600)
    emulator.fault(GET_BUILD, status=200, body="malformed", times=Timings().transient_tries + 1)
    with pytest.raises(BuildError) as raised:
        configured(BuildProvider, emulator).create(build_props(bot_context))
    message = str(raised.value)
    assert "without the JSON object" not in message
    assert "with a body that is not JSON" in message or "answered without a build" in message
    assert "it goes on in Pipecat Cloud, and the next `pulumi up` reattaches to it" in message
    assert "is pipecat:apiUrl right?" not in message
    # And so it does: the next create finds that build still in flight and waits for it.
    [build] = emulator.api("GET", "/builds").json()["builds"]
    assert build["status"] in ("pending", "building")
    finisher = threading.Timer(0.5, emulator.finish, args=(build["id"],))
    finisher.start()
    again = configured(BuildProvider, emulator).create(build_props(bot_context))
    finisher.join()
    assert again.id == build["id"] and again.outs["source"] == "reattached"
    assert emulator.calls("POST /v1/builds") == 1


def test_a_malformed_answer_to_the_url_check_does_not_fail_a_delete(
    emulator: EmulatorHandle,
) -> None:
    # Found by the chaos run (seed 303, step 198): a 404 is taken for "gone" only once the list
    # of builds answers as the API does; one malformed answer to that check made the client
    # take the right URL for a wrong one for good, so a delete that went through failed, the
    # state kept the set, and the next `up` did not create it again.
    kind, props, _ = secret_set()
    created = configured(kind, emulator).create(props)
    checks = emulator.calls("GET /v1/builds")
    emulator.fault("GET /v1/builds", status=200, body="malformed", times=2)
    configured(SecretSetProvider, emulator).delete(created.id, created.outs)
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404
    # Two bad answers, then the check passes.
    assert emulator.calls("GET /v1/builds") - checks == 3


def test_an_api_that_stops_answering_keeps_the_row_moving(
    bot_context: Path, emulator: EmulatorHandle, shown: list[str]
) -> None:
    emulator.configure(buildSeconds=0.5)
    # Each poll request is held longer than the read timeout, and again on each retry.
    emulator.fault(GET_BUILD, hold=30, times=3)
    provider = configured(BuildProvider, emulator, request_timeout=(5.0, 1.0), quiet_seconds=0.5)
    try:
        created = provider.create(build_props(bot_context))
    finally:
        emulator.clear_faults()  # releases held ones
    assert created.outs["status"] == "success"
    quiet = [s for s in shown if "no answer from Pipecat Cloud for" in s]
    assert quiet and quiet[0].startswith(f"build {created.id} "), shown


def test_a_refused_key_says_where_it_came_from_and_the_other_key_is_tried(
    bot_context: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = BuildProvider(ProviderConfig(api_key="pk_wrong_key_77", api_url=emulator.api_url))
    refused._from_config = True
    with pytest.raises(BuildError) as raised:
        refused.create(build_props(bot_context))
    message = str(raised.value)
    assert "the key in the stack config (pipecat:apiKey) is wrong or revoked" in message
    assert "or PIPECAT_API_KEY" not in message and "pk_wrong_key_77" not in message
    # The same key from the environment, with nothing in the config: that is what is named.
    monkeypatch.setenv("PIPECAT_API_KEY", "pk_wrong_key_77")
    from_env = BuildProvider(ProviderConfig(api_key="pk_wrong_key_77", api_url=emulator.api_url))
    with pytest.raises(BuildError, match="the key in PIPECAT_API_KEY is wrong or revoked"):
        from_env.create(build_props(bot_context))
    # A valid key in the environment beside a refused one in the config: it is used.
    monkeypatch.setenv("PIPECAT_API_KEY", API_KEY)
    created = refused.create(build_props(bot_context))
    assert created.outs["status"] == "success"


def test_an_api_silent_for_long_gives_up_saying_the_build_goes_on(
    bot_context: Path, emulator: EmulatorHandle, shown: list[str]
) -> None:
    emulator.configure(buildSeconds=3600)
    emulator.fault(GET_BUILD, hold=30, times=1000)
    provider = configured(
        BuildProvider, emulator, request_timeout=(5.0, 0.5), transient_seconds=1.0
    )
    try:
        with pytest.raises(BuildError) as raised:
            provider.create(build_props(bot_context))
    finally:
        emulator.clear_faults()  # releases held ones
    message = str(raised.value)
    assert message.startswith("lost track of build "), message
    assert "it goes on in Pipecat Cloud, and the next `pulumi up` reattaches to it" in message


# -- Retry-After: invalid values ignored, long waits capped and shown -----------------------


@pytest.mark.parametrize("value", ["-5", "soon", "1e9"])
@pytest.mark.parametrize(("route", "status"), [("GET /v1/builds", 429), ("POST /v1/builds", 503)])
def test_an_invalid_retry_after_is_ignored_and_the_call_retried(
    bot_context: Path, emulator: EmulatorHandle, value: str, route: str, status: int
) -> None:
    # RFC 9110: a Retry-After that is neither seconds nor an HTTP-date is ignored; the call
    # is retried with the usual backoff. (Before: "Invalid Retry-After header: -5", at once.)
    emulator.fault(route, status=status, retryAfter=value, times=2)
    started = time.monotonic()
    created = configured(BuildProvider, emulator).create(build_props(bot_context))
    assert created.outs["status"] == "success" and created.outs["source"] == "new"
    assert emulator.calls(route) == 3
    assert time.monotonic() - started < 15  # the backoff's seconds, not a long pause


def test_an_http_date_retry_after_is_honoured(bot_context: Path, emulator: EmulatorHandle) -> None:
    soon = email.utils.formatdate(time.time() + 3, usegmt=True)
    emulator.fault("GET /v1/builds", status=429, retryAfter=soon)
    started = time.monotonic()
    created = configured(BuildProvider, emulator).create(build_props(bot_context))
    assert created.outs["status"] == "success"
    assert time.monotonic() - started >= 1.5  # the date is whole seconds: 2 to 3 s away


def test_a_capped_retry_after_shows_on_the_row_as_a_rate_limit_wait(
    bot_context: Path, emulator: EmulatorHandle, shown: list[str]
) -> None:
    emulator.configure(buildSeconds=2)
    # While looking for a build to reuse, then while waiting for the new one.
    emulator.fault("GET /v1/builds", status=429, retryAfter="3600")
    provider = configured(BuildProvider, emulator, retry_after_max=1)  # the cap, 60 s, made short
    emulator.fault(GET_BUILD, status=503, retryAfter="7200")
    created = provider.create(build_props(bot_context))
    assert created.outs["status"] == "success"
    limited = [s for s in shown if "rate-limited" in s]
    assert "rate-limited by Pipecat Cloud: waiting 1 s (it asked for 3600 s)" in limited, shown
    polled = [s for s in limited if s.startswith(f"build {created.id} ")]
    assert polled and polled[0].endswith(
        "; rate-limited by Pipecat Cloud: waiting 1 s (it asked for 7200 s)"
    ), shown


def test_a_capped_retry_after_shows_on_the_row_of_a_waiting_set(
    emulator: EmulatorHandle, shown: list[str]
) -> None:
    emulator.configure(secretReadySeconds=1.5)
    kind, props, _ = secret_set()
    with ThreadPoolExecutor(1) as pool:
        creating = pool.submit(configured(kind, emulator, retry_after_max=1).create, props)
        eventually(
            lambda: emulator.calls("PUT /v1/secrets/{setName}"),
            timeout=30,
            every=0.02,
            what="the set's PUT",
        )
        # The set's wait is looked after by a lookout (watch.py), in a thread of its own.
        emulator.fault("GET /v1/secrets/{setName}", status=429, retryAfter="3600")
        created = creating.result(timeout=30)
    assert created.outs["status"] == "ready"
    assert any(
        s.startswith("provisioning secret set bot-secrets ")
        and s.endswith("; rate-limited by Pipecat Cloud: waiting 1 s (it asked for 3600 s)")
        for s in shown
    ), shown


# -- lists that never end -------------------------------------------------------------------


def failing_context(root: Path) -> Path:
    """A context whose builds fail: none is ever reused, so a look-up pages the whole list."""
    root.mkdir()
    (root / "Dockerfile").write_text("FROM python:3.12-slim\nRUN exit 1\n")
    return root


def bounded(call: Callable[[], Any], seconds: float = 30) -> Any:
    """call(), in a thread: a test of a loop that must end fails rather than hangs."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still going after {seconds:g}s"
    return outcome[0]


@pytest.mark.parametrize("total", [1_000_000_000, "abc"])
def test_a_list_that_ignores_its_offset_ends_when_a_page_brings_nothing_new(
    tmp_path: Path, emulator: EmulatorHandle, total: Any
) -> None:
    props = build_props(failing_context(tmp_path / "failing"))
    with pytest.raises(BuildError):
        configured(BuildProvider, emulator).create(props)  # a failed build of this image
    before = emulator.calls("GET /v1/builds")
    # Before: 14,757 requests in 12 minutes (a huge total), or an int() traceback ("abc").
    emulator.fault("GET /v1/builds", body="endless", total=total, times=1000)
    failed = bounded(lambda: configured(BuildProvider, emulator).create(props))
    assert isinstance(failed, BuildError), failed
    assert str(failed).startswith("build ") and "failed: " in str(failed)  # its own failure
    assert emulator.calls("GET /v1/builds") - before <= 4  # two pages per look-up at most


def test_a_list_longer_than_the_page_bound_fails_in_one_line(
    tmp_path: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "PAGE_SIZE", 1)
    monkeypatch.setattr(api, "PAGES_MAX", 2)
    props = build_props(failing_context(tmp_path / "failing"))
    for _ in range(3):  # three failed builds of this image: three pages of one
        with pytest.raises(BuildError, match="failed: "):
            configured(BuildProvider, emulator).create(props)
    failed = bounded(lambda: configured(BuildProvider, emulator).create(props))
    assert isinstance(failed, BuildError), failed
    message = str(failed)
    assert message.startswith(f"GET {emulator.api_url}/builds did not end within 2 pages"), message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("read", "path", "what"),
    [("list_secret_sets", "/secrets", "sets"), ("list_agents", "/agents", "agents")],
)
def test_a_list_answered_without_its_list_is_refused_not_read_as_empty(
    read: str, path: str, what: str
) -> None:
    # Read as "none", a refresh would forget every set or agent of the stack. The emulator
    # cannot answer a 200 without the list; a server that answers `{}` to everything can.
    class Empty(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        with pytest.raises(api.NotTheApi) as raised:
            getattr(api.Client(API_KEY, url), read)()
    finally:
        server.shutdown()
    assert f"GET {url}{path} answered without a list of {what}" in str(raised.value)
    assert "set pipecat:apiUrl (or PIPECAT_API_URL)" in str(raised.value)
