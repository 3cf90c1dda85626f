"""The Build resource's input checks and its provider's diff and create, called directly
(no engine) against the emulator: the logic the engine tests in test_build.py rely on."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pulumi
import pytest
import requests
from conftest import API_KEY, EmulatorHandle
from waiting import eventually

from pcc_provider import Build, api, context
from pcc_provider.build import (
    BuildError,
    BuildProvider,
    HashingProgress,
    UploadProgress,
    digest_content,
)
from pcc_provider.config import ProviderConfig

CREATE = "POST /v1/builds"
UPLOAD = "POST /_storage/{bucket}"


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PIPECAT_API_KEY", API_KEY)
    monkeypatch.delenv("PIPECAT_API_URL", raising=False)


# --------------------------------------------------------------------------- bad input

# (Build arguments, files to add to the context, environment, words of the one line)
BAD_INPUTS: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, str | None], str]] = {
    "missing context": ({"context": "nowhere"}, {}, {}, "nowhere"),
    "missing Dockerfile": ({"dockerfile": "Dockerfile.prod"}, {}, {}, "Dockerfile.prod"),
    "Dockerfile outside": ({"dockerfile": "../Dockerfile"}, {}, {}, "outside"),
    "Dockerfile excluded": ({}, {".dockerignore": "Dockerfile\n"}, {}, ".dockerignore"),
    "empty region": ({"region": ""}, {}, {}, "region is empty"),
    "timeout not positive": (
        {"build_timeout": 0},
        {},
        {},
        "build_timeout must be a positive number",
    ),
    "misspelt keyword": (
        {"build_timeot": 5},
        {},
        {},
        "unknown keyword build_timeot (did you mean build_timeout?)",
    ),
    "missing key": ({}, {}, {"PIPECAT_API_KEY": None}, "no Pipecat Cloud API key"),
    "plain-http API URL": (
        {},
        {},
        {"PIPECAT_API_URL": "http://api.example.com/v1"},
        "must be https://",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_before_anything_is_sent(
    case: str, bot_context: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, files, env, words = BAD_INPUTS[case]
    for name, text in files.items():
        (bot_context / name).write_text(text)
    # Whatever the program would send goes to the emulator, unless the case is the URL itself.
    monkeypatch.setenv("PIPECAT_API_URL", emulator.api_url)
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(bot_context.parent)
    with pytest.raises(pulumi.RunError) as raised:
        Build("image", **{"context": "agent", **args})
    message = str(raised.value)
    assert message.startswith("Build 'image': ") and words in message, message
    assert "\n" not in message
    if "PIPECAT_API_URL" not in env:
        assert ProviderConfig.read().api_url == emulator.api_url  # it would be seen there
    assert emulator.stats()["requests"] == {}


def test_a_context_the_program_does_not_know_yet_is_refused(bot_context: Path) -> None:
    # An Output needs an event loop; an earlier asyncio.run() in this worker leaves none.
    asyncio.set_event_loop(asyncio.new_event_loop())
    with pytest.raises(pulumi.RunError, match=r"^Build 'image': context, dockerfile and exclude"):
        Build("image", context=pulumi.Output.from_input(str(bot_context)))  # type: ignore[arg-type]


def test_context_over_the_limit_names_the_largest_file(bot_context: Path) -> None:
    with (bot_context / "weights.bin").open("wb") as f:
        f.truncate(501 * 1024 * 1024)  # sparse: costs no disk
    with pytest.raises(pulumi.RunError, match=r"^Build 'image': .*weights\.bin.*\.dockerignore"):
        Build("image", context=str(bot_context))


# --------------------------------------------------------------------------- progress


class Row:
    """A Progress that records the statuses a resource's row would show."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def status(self, message: str) -> None:
        self.shown.append(message)


@pytest.mark.parametrize(
    ("sent", "size", "shown"),
    [
        (0, 12_345, "uploading context: 12 KB"),
        (12_345, 12_345, "uploading context: 12 KB"),
        (900, 900, "uploading context: 900 B"),
        (1_200_000, 3_400_000, "uploading context: 1.2 of 3.4 MB"),
        (120_000_000, 340_000_000, "uploading context: 120 of 340 MB"),
        (340_000_000, 340_000_000, "uploading context: 340 MB"),
    ],
)
def test_upload_progress_in_units_people_read(sent: int, size: int, shown: str) -> None:
    row = Row()
    UploadProgress(row, size)(sent, size)  # type: ignore[arg-type]
    assert row.shown == [shown]


def test_hashing_shows_its_progress_once_it_takes_a_while(tmp_path: Path) -> None:
    root = tmp_path / "agent"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "model.bin").write_bytes(os.urandom(3 * 1024**2))
    row = Row()
    digest_content(context.select(root), row, after=3600.0)  # type: ignore[arg-type]
    assert row.shown == []  # quicker than `after`: nothing to say

    (root / "model.bin").write_bytes(os.urandom(3 * 1024**2))
    time.sleep(0.15)  # past the window in which a fresh file's digest is not kept
    digest_content(context.select(root), row, after=0.0)  # type: ignore[arg-type]
    counting = r"hashing the build context: (\d\.\d of 3\.1 MB|3\.1 MB)"
    assert row.shown[:-1] and all(re.fullmatch(counting, s) for s in row.shown[:-1]), row.shown
    # The last word: done, not a count that stopped.
    assert re.fullmatch(r"hashed the build context: 3\.1 MB in \d+\.\ds", row.shown[-1])

    row.shown.clear()
    digest_content(context.select(root), row)  # type: ignore[arg-type]
    assert row.shown == []  # unchanged: nothing read


def test_compressing_for_upload_shows_its_progress(tmp_path: Path) -> None:
    """An `up` compresses the context once, for the upload; a big one says so as it goes."""
    root = tmp_path / "agent"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "model.bin").write_bytes(os.urandom(3 * 1024**2))
    row = Row()
    verbs = ("compressing", "compressed")
    report = HashingProgress(row, "the build context", verbs, after=0.0)  # type: ignore[arg-type]
    with context.archive(context.select(root), report):
        report.finish()
    counting = r"compressing the build context: (\d\.\d of 3\.1 MB|3\.1 MB)"
    assert row.shown[:-1] and all(re.fullmatch(counting, s) for s in row.shown[:-1]), row.shown
    assert re.fullmatch(r"compressed the build context: 3\.1 MB in \d+\.\ds", row.shown[-1])


# --------------------------------------------------------------------------- diff

OLD = {
    "context": "agent",
    "dockerfile": "Dockerfile",
    "region": "us-west",
    "contextHash": "0123456789abcdef",
    "contentDigest": "files-sha256:" + "a" * 64,
}


@pytest.mark.parametrize(
    ("change", "replaces"),
    [
        ({}, []),
        ({"context": "moved", "buildTimeout": 60, "exclude": ["x"]}, []),
        ({"contextHash": "fedcba9876543210"}, []),  # another zlib, the same files
        ({"contentDigest": "files-sha256:" + "b" * 64}, ["contentDigest"]),
        ({"region": "eu-central"}, ["region"]),
        ({"dockerfile": "Dockerfile.prod"}, ["dockerfile"]),
    ],
)
def test_only_another_image_is_a_change(change: dict[str, Any], replaces: list[str]) -> None:
    diff = BuildProvider().diff("id", OLD, {**OLD, **change})
    assert diff.replaces == replaces
    assert diff.changes is bool(replaces)


def written_by_an_earlier_version(root: Path, digest: bool = True) -> dict[str, Any]:
    """The state an earlier pcc-provider wrote for `root`: the contextHash as an input, and
    the content digest in its old encoding (or none, before it existed)."""
    selected = context.select(root)
    old = {**OLD, "context": str(root), "contextHash": context.digest(selected).context_hash}
    old["contentDigest"] = context.legacy_content_digest(selected) if digest else None
    return old


def news(root: Path) -> dict[str, Any]:
    """What this version's program sends for `root`."""
    found = context.content_digest(context.select(root))
    return {k: v for k, v in OLD.items() if k != "contextHash"} | {
        "context": str(root),
        "contentDigest": found,
    }


@pytest.mark.parametrize("digest", [True, False], ids=["old digest", "no digest"])
@pytest.mark.usefixtures("cache")
def test_state_of_an_earlier_version_is_not_replaced_for_it(
    bot_context: Path, digest: bool
) -> None:
    old = written_by_an_earlier_version(bot_context, digest)
    unchanged = BuildProvider().diff("id", old, news(bot_context))
    assert (unchanged.changes, unchanged.replaces) == (False, [])
    (bot_context / "bot.py").write_text("print('edited')\n")
    edited = BuildProvider().diff("id", old, news(bot_context))
    assert (edited.changes, edited.replaces) == (True, ["contentDigest"])


@pytest.mark.usefixtures("cache")
def test_state_of_an_earlier_version_is_read_once(
    bot_context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old digest of a content is computed once, then kept: later previews read nothing."""
    old = written_by_an_earlier_version(bot_context)
    BuildProvider().diff("id", old, news(bot_context))
    monkeypatch.setattr(context.cache, "legacy_digest", lambda *_: pytest.fail("read again"))
    again = BuildProvider().diff("id", old, news(bot_context))
    assert (again.changes, again.replaces) == (False, [])


# --------------------------------------------------------------------------- create


def provider(emulator: EmulatorHandle) -> BuildProvider:
    return BuildProvider(ProviderConfig(api_key=API_KEY, api_url=emulator.api_url))


def props(root: Path, timeout: float) -> dict[str, Any]:
    return {
        "context": str(root),
        "dockerfile": "Dockerfile",
        "region": "us-west",
        "exclude": [],
        "buildTimeout": timeout,
        "contentDigest": context.content_digest(context.select(root)),
        "__urn": None,
    }


def stuck_build(emulator: EmulatorHandle, bot_context: Path) -> str:
    """A build of `agent` that stays in flight: started by a create that gave up on it."""
    emulator.configure(buildSeconds=3600)
    with pytest.raises(BuildError, match=r"is still (pending|building) after 0\.2s"):
        provider(emulator).create(props(bot_context, 0.2))
    builds = emulator.api("GET", "/builds").json()["builds"]
    [build] = [b for b in builds if b["status"] in ("pending", "building")]
    return str(build["id"])


def wait_until_older(emulator: EmulatorHandle, build_id: str, seconds: float) -> None:
    from datetime import datetime

    created = emulator.api("GET", f"/builds/{build_id}").json()["build"]["createdAt"]
    age = time.time() - datetime.fromisoformat(created).timestamp()
    time.sleep(max(0.0, seconds - age + 0.05))


def test_a_build_in_flight_younger_than_the_timeout_is_reattached_to(
    bot_context: Path, emulator: EmulatorHandle
) -> None:
    build_id = stuck_build(emulator, bot_context)
    # The emulator ends it while the create waits for it.
    finisher = threading.Timer(0.5, emulator.finish, args=(build_id,))
    finisher.start()
    created = provider(emulator).create(props(bot_context, 60))
    finisher.join()
    assert created.id == build_id and created.outs["source"] == "reattached"
    assert created.outs["status"] == "success"
    assert emulator.calls(UPLOAD) == 1 and emulator.calls(CREATE) == 1


def test_a_build_in_flight_older_than_the_timeout_is_left_for_a_new_one(
    bot_context: Path, emulator: EmulatorHandle
) -> None:
    stuck = stuck_build(emulator, bot_context)
    emulator.configure(buildSeconds=0.2)
    wait_until_older(emulator, stuck, 1.0)
    created = provider(emulator).create(props(bot_context, 1.0))
    assert created.id != stuck and created.outs["source"] == "new"
    assert created.outs["status"] == "success"
    assert emulator.calls(CREATE) == 2 and emulator.calls(UPLOAD) == 2
    # Once a younger build exists, it is the one a later create finds.
    again = provider(emulator).create(props(bot_context, 1.0))
    assert again.id == created.id and again.outs["source"] == "existing"


def test_a_lost_create_answer_is_not_mistaken_for_a_stuck_build(
    bot_context: Path, emulator: EmulatorHandle
) -> None:
    stuck = stuck_build(emulator, bot_context)
    wait_until_older(emulator, stuck, 1.0)
    emulator.fault(CREATE, drop=True, times=1)  # the service never saw the create
    with pytest.raises(BuildError) as raised:
        provider(emulator).create(props(bot_context, 1.0))
    assert "still" not in str(raised.value) and stuck not in str(raised.value)
    assert emulator.calls(CREATE) == 2


def test_a_create_whose_answer_is_lost_finds_the_build_it_started(
    bot_context: Path, emulator: EmulatorHandle
) -> None:
    # The service starts the build, then the connection drops before its answer arrives: the
    # provider looks for the build instead of uploading and building the same content again.
    emulator.fault(CREATE, actThenDrop=True, times=1)
    created = provider(emulator).create(props(bot_context, 60))
    builds = emulator.api("GET", "/builds").json()["builds"]
    assert [b["id"] for b in builds] == [created.id]
    assert created.outs["status"] == "success"
    assert emulator.calls(CREATE) == 1 and emulator.calls(UPLOAD) == 1


def test_a_second_build_of_the_same_image_waits_says_so_and_shares_a_failure(
    bot_context: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two Builds of one program with the same content: the second waits for the first, and
    # when the first fails, the second fails with its error rather than build it again.
    from pcc_provider.resource import Progress

    (bot_context / "Dockerfile").write_text("FROM python:3.12\nRUN exit 1\n")
    emulator.configure(buildSeconds=1)
    shown: list[str] = []
    monkeypatch.setattr(Progress, "status", lambda _self, message: shown.append(message))
    inputs = props(bot_context, 60)
    errors: list[str] = []

    def create() -> None:
        with pytest.raises(BuildError) as raised:
            provider(emulator).create(dict(inputs))
        errors.append(str(raised.value))

    first = threading.Thread(target=create)
    first.start()
    eventually(lambda: emulator.calls(CREATE), timeout=60, what="the first create's build")
    create()  # the second, while the first builds
    first.join()
    assert "waiting for another Build of the same image" in shown
    assert emulator.calls(CREATE) == 1 and emulator.calls(UPLOAD) == 1
    [first_error] = [e for e in errors if not e.startswith("another Build")]
    assert "RUN exit 1" in first_error or "exit code: 1" in first_error
    assert sorted(errors) == sorted(
        [first_error, f"another Build of the same image failed: {first_error}"]
    )


# --------------------------------------------------------------------------- dockerfilePath


def build_of(emulator: EmulatorHandle, bot_context: Path, dockerfile: str) -> str:
    created = provider(emulator).create({**props(bot_context, 60), "dockerfile": dockerfile})
    assert created.outs["dockerfilePath"] == dockerfile
    return created.id


def test_the_look_up_asks_the_service_for_this_dockerfile_only(
    bot_context: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One build per page: each build of another Dockerfile in the answer costs a request.
    monkeypatch.setattr(api, "PAGE_SIZE", 1)
    (bot_context / "Dockerfile.alt").write_text("FROM python:3.12\n")
    (bot_context / "Dockerfile.b").write_text("FROM python:3.13\n")
    mine = build_of(emulator, bot_context, "Dockerfile")
    # Newer builds over the same context (both files are in it), other Dockerfiles.
    others = [
        build_of(emulator, bot_context, "Dockerfile.alt"),
        build_of(emulator, bot_context, "Dockerfile.b"),
    ]
    assert mine not in others
    emulator.reset_stats()
    again = provider(emulator).create(props(bot_context, 60))
    assert (again.id, again.outs["source"]) == (mine, "existing")
    assert emulator.calls("GET /v1/builds") == 1


class FilterIgnoringProxy(BaseHTTPRequestHandler):
    """A service that ignores list-builds' dockerfilePath: drops it, forwards the rest."""

    target = ""

    def _forward(self) -> None:
        parts = urlsplit(self.path)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "dockerfilePath"]
        length = int(self.headers.get("Content-Length") or 0)
        answer = requests.request(
            self.command,
            f"{self.target}{parts.path}?{urlencode(query)}",
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            data=self.rfile.read(length) if length else None,
            timeout=30,
        )
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def filter_ignored(emulator: EmulatorHandle) -> Iterator[str]:
    handler = type("Proxy", (FilterIgnoringProxy,), {"target": emulator.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_a_service_ignoring_the_dockerfile_filter_does_not_get_the_wrong_image_reused(
    bot_context: Path, emulator: EmulatorHandle, filter_ignored: str
) -> None:
    (bot_context / "Dockerfile.alt").write_text("FROM python:3.12\n")
    alt = build_of(emulator, bot_context, "Dockerfile.alt")
    through_proxy = BuildProvider(ProviderConfig(api_key=API_KEY, api_url=filter_ignored))
    created = through_proxy.create(props(bot_context, 60))
    assert created.id != alt and created.outs["source"] == "new"
    assert created.outs["dockerfilePath"] == "Dockerfile"
    # The proxy's answer did hold the other build: only our own check kept it out.
    listed = requests.get(
        f"{filter_ignored}/builds",
        params={"dockerfilePath": "Dockerfile", "status": "success"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    ).json()["builds"]
    assert alt in [b["id"] for b in listed]
