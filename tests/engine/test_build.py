"""Build resource acceptance: the real Pulumi engine against the emulator.

Each test asserts what a user sees (preview/up output, stack outputs) and what the service
saw (the emulator's request counts).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from context_corpus import official
from pulumi_stack import Stack
from waiting import eventually

pytestmark = pytest.mark.engine

UPLOAD = "POST /_storage/{bucket}"
UPLOAD_URL = "POST /v1/builds/upload-url"
CREATE = "POST /v1/builds"
LIST = "GET /v1/builds"
GET = "GET /v1/builds/{buildId}"

PROGRAM = """
import pulumi
from pcc_provider import Build

cfg = pulumi.Config()
image = Build(
    "image",
    context=cfg.get("context") or "agent",
    dockerfile=cfg.get("dockerfile") or "Dockerfile",
    region=cfg.get("region"),
    exclude=cfg.get_object("exclude"),
    build_timeout=float(cfg.get("timeout") or 120),
)
for name in ("build_id", "image_uri", "context_hash", "content_digest", "status", "region",
             "dockerfile_path", "source", "context_size_bytes", "image_size_bytes", "logs_url"):
    pulumi.export(name, getattr(image, name))
"""

AGENT_FILES = {
    "agent/Dockerfile": "FROM dailyco/pipecat-base:latest\nCOPY ./bot.py bot.py\n",
    "agent/bot.py": "print('hello')\n",
}

IMAGE_URI = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/pipecat-cloud/[\w-]+:[0-9a-f]{16}$"
)


@pytest.fixture
def build_stack(cloud_stack: Callable[..., Stack]) -> Callable[..., Stack]:
    def make(name: str = "dev", files: dict[str, str] | None = None) -> Stack:
        return cloud_stack(PROGRAM, name, files={**AGENT_FILES, **(files or {})})

    return make


def total_calls(emulator: EmulatorHandle) -> int:
    return sum(emulator.stats()["requests"].values())


def test_build_reuse_and_replacement(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = build_stack()
    bot = stack.dir / "agent" / "bot.py"

    # First up: one upload, one new build.
    stack.up()
    first = stack.outputs()
    assert first["source"] == "new"
    assert first["status"] == "success"
    assert IMAGE_URI.match(first["image_uri"]), first["image_uri"]
    assert first["image_uri"].endswith(":" + first["context_hash"])
    assert first["region"] == "us-west" and first["dockerfile_path"] == "Dockerfile"
    assert emulator.calls(UPLOAD) == 1 and emulator.calls(CREATE) == 1

    # Nothing changed: preview says so, and the API hears nothing.
    before = total_calls(emulator)
    preview = stack.preview()
    assert "2 unchanged" in preview.stdout
    assert total_calls(emulator) == before

    # An edit shows the content digest's change as a replacement, without compressing the
    # context (no contextHash is learnt: it is an output, made by the `up`), then builds anew.
    hashes = Path(stack.env["PCC_PROVIDER_CACHE_DIR"]) / "hashes"
    known = sorted(hashes.iterdir())
    bot.write_text("print('hello, again')\n")
    preview = stack.preview()
    digest = re.search(
        r'contentDigest\s*:\s*"(files-sha256:[0-9a-f]{64})"\s*=>\s*"files-sha256:',
        preview.stdout,
    )
    assert digest and digest.group(1) == first["content_digest"], preview.stdout
    assert "+-1 to replace" in preview.stdout
    assert sorted(hashes.iterdir()) == known
    assert total_calls(emulator) == before
    stack.up()
    second = stack.outputs()
    assert second["source"] == "new" and second["build_id"] != first["build_id"]
    assert second["context_hash"] == official(stack.dir / "agent").context_hash
    assert emulator.calls(UPLOAD) == 2

    # Reverting the edit reuses the first build: no upload.
    bot.write_text(AGENT_FILES["agent/bot.py"])
    stack.up()
    third = stack.outputs()
    assert third["source"] == "existing"
    assert third["build_id"] == first["build_id"] and third["image_uri"] == first["image_uri"]
    assert emulator.calls(UPLOAD) == 2

    # Another stack of the same content reuses it too.
    other = Stack(stack.dir, "other", stack.env).init()
    other.config("pipecat:apiUrl", emulator.api_url)
    other.config("pipecat:apiKey", API_KEY, secret=True)
    other.up()
    assert other.outputs()["build_id"] == first["build_id"]
    assert other.outputs()["source"] == "existing"
    assert emulator.calls(UPLOAD) == 2


def test_changes_that_do_not_rebuild(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = build_stack(files={"agent/notes.md": "not needed in the image\n"})
    stack.up()
    first = stack.outputs()

    # A different path to the same files, a new timeout, a new API URL, a rotated key:
    # no rebuild, no call.
    (stack.dir / "agent").rename(stack.dir / "moved")
    stack.config("context", "moved")
    stack.config("timeout", "300")
    stack.config("pipecat:apiUrl", emulator.api_url + "/")
    stack.config("pipecat:apiKey", "pk_rotated", secret=True)
    before = total_calls(emulator)
    preview = stack.preview()
    assert "2 unchanged" in preview.stdout
    stack.up()
    assert total_calls(emulator) == before
    assert stack.outputs()["build_id"] == first["build_id"]
    assert stack.resources()[-1]["inputs"]["context"] == "moved"  # the state follows

    # Excluding a file changes what is uploaded, so it is a new image; so does another
    # region or Dockerfile.
    for key, value in (("exclude", '["notes.md"]'), ("region", "eu-central")):
        stack.config(key, value)
        preview = stack.preview()
        assert "+-1 to replace" in preview.stdout
        stack.pulumi("config", "rm", key, "--stack", stack.name)
    (stack.dir / "moved" / "Dockerfile.prod").write_text("FROM python:3.12-slim\n")
    stack.config("dockerfile", "Dockerfile.prod")
    preview = stack.preview()
    assert re.search(r'dockerfile\s*:\s*"Dockerfile"\s*=>\s*"Dockerfile.prod"', preview.stdout)
    assert "+-1 to replace" in preview.stdout
    assert total_calls(emulator) == before


def build_state(stack: Stack) -> dict[str, Any]:
    [build] = [r for r in stack.resources() if "pipecat:Build" in r["type"]]
    return build


def test_another_machine_plans_no_change(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """The same files on a fresh machine (a CI runner: empty digest cache, its own
    PULUMI_HOME): the same content digest, so no replacement, no rebuild, no agent redeploy.
    A preview deflates nothing (the digest is of the files), so the machine's zlib cannot
    matter here; that another deflate changes the contextHash and not the digest is
    test_context_digest.py's test_another_deflate_changes_the_hash_not_the_digest."""
    stack = build_stack()
    stack.up()
    first = stack.outputs()
    before = total_calls(emulator)

    stack = stack.on_fresh_machine(tmp_path / "runner")
    preview = stack.preview()
    assert "2 unchanged" in preview.stdout, preview.stdout
    stack.up()
    assert total_calls(emulator) == before
    # The build and its outputs did not change; the contextHash is not an input.
    assert "contextHash" not in build_state(stack)["inputs"]
    assert stack.outputs()["build_id"] == first["build_id"]
    assert stack.outputs()["context_hash"] == first["context_hash"]

    # An edit on that machine is a change as anywhere, and preview names the digest.
    bot = stack.dir / "agent" / "bot.py"
    bot.write_text("print('edited')\n")
    preview = stack.preview()
    assert "+-1 to replace" in preview.stdout
    assert re.search(r'contentDigest\s*:\s*"files-sha256:[0-9a-f]{64}"\s*=>', preview.stdout)
    bot.write_text(AGENT_FILES["agent/bot.py"])


def as_an_earlier_version_wrote_it(stack: Stack, digest: str | None) -> None:
    """Rewrite the stack's state as pcc-provider before per-file digests wrote it: the
    contextHash among the Build's inputs, and `digest` as its contentDigest (None: before
    the content digest existed)."""
    state = json.loads(stack.export())
    for resource in state["deployment"]["resources"]:
        if "pipecat:Build" not in resource["type"]:
            continue
        outputs = resource["outputs"]
        resource["inputs"]["contextHash"] = outputs["contextHash"]
        resource["inputs"]["contextSizeBytes"] = outputs["contextSizeBytes"]
        for key in ("inputs", "outputs"):
            if digest is None:
                resource[key].pop("contentDigest", None)
            else:
                resource[key]["contentDigest"] = digest
    old_state = stack.dir / "old-state.json"
    old_state.write_text(json.dumps(state))
    stack.pulumi("stack", "import", "--stack", stack.name, "--file", str(old_state))


@pytest.mark.parametrize("digest", ["old", "none"])
def test_a_stack_of_an_earlier_version_previews_no_change(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle, digest: str
) -> None:
    """After upgrading pcc-provider, a stack whose state an earlier version wrote (its
    content digest in the old encoding, or none at all) previews and updates with no change,
    and an edit still replaces the build."""
    stack = build_stack()
    stack.up()
    first = stack.outputs()
    agent = stack.dir / "agent"
    # The old encoding, written out independently: one SHA-256 over every file in a row.
    old = hashlib.sha256(b"pcc-provider-content-1\n")
    for name in ("Dockerfile", "bot.py"):
        data = (agent / name).read_bytes()
        old.update(b"%s\0-\0%d\n" % (name.encode(), len(data)) + data)
    as_an_earlier_version_wrote_it(stack, "sha256:" + old.hexdigest() if digest == "old" else None)
    before = total_calls(emulator)

    preview = stack.preview()
    assert "2 unchanged" in preview.stdout, preview.stdout
    stack.up()
    assert total_calls(emulator) == before
    assert stack.outputs()["build_id"] == first["build_id"]

    (agent / "bot.py").write_text("print('edited')\n")
    assert "+-1 to replace" in stack.preview().stdout


def test_failed_build_shows_error_and_logs_then_recovers(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = build_stack(files={"agent/Dockerfile": "FROM python:3.12-slim\nRUN exit 1\n"})
    result = stack.up(check=False)
    assert result.returncode != 0
    builds = emulator.api("GET", "/builds").json()["builds"]
    assert len(builds) == 1 and builds[0]["status"] == "failed"
    build_id = builds[0]["id"]
    assert f"build {build_id} failed" in result.output
    assert builds[0]["errorMessage"] in result.output
    # The logs are where a user can read them: pcc's command (the API's URL needs the key).
    assert f"logs: `pcc build logs {build_id}`" in result.output
    assert "last log lines:" in result.output
    assert stack.resources() == [] or all("Build" not in r["type"] for r in stack.resources())

    (stack.dir / "agent" / "Dockerfile").write_text(AGENT_FILES["agent/Dockerfile"])
    stack.up()
    assert stack.outputs()["status"] == "success"


def in_flight(emulator: EmulatorHandle) -> list[str]:
    builds = emulator.api("GET", "/builds").json()["builds"]
    return [b["id"] for b in builds if b["status"] in ("pending", "building")]


def finish_once_polled(emulator: EmulatorHandle, build_id: str, polls_before: int) -> None:
    """End the build once someone polls it beyond `polls_before`: it was in flight when
    they looked, so what they saw was a build to reattach to."""
    eventually(
        lambda: emulator.calls(GET),
        until=lambda polls: polls > polls_before,
        timeout=120,
        every=0.1,
        what=f"a poll of the build beyond the {polls_before} before",
    )
    emulator.finish(build_id)


def test_own_timeout_then_reattach(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(buildSeconds=3600)  # in flight until the test ends it
    stack = build_stack()
    stack.config("timeout", "1")
    result = stack.up(check=False)
    assert result.returncode != 0
    assert "is still building after 1s (build_timeout)" in result.output
    assert "raise build_timeout" in result.output
    assert emulator.calls(UPLOAD) == 1
    [build_id] = in_flight(emulator)

    stack.config("timeout", "60")
    finisher = threading.Thread(
        target=finish_once_polled, args=(emulator, build_id, emulator.calls(GET))
    )
    finisher.start()
    stack.up()
    finisher.join()
    outputs = stack.outputs()
    assert outputs["source"] == "reattached" and outputs["status"] == "success"
    assert outputs["build_id"] == build_id
    assert emulator.calls(UPLOAD) == 1 and emulator.calls(CREATE) == 1


def test_stuck_build_is_left_for_a_new_one(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(buildSeconds=3600)  # never ends by itself: stuck
    stack = build_stack()
    stack.config("timeout", "1")
    assert stack.up(check=False).returncode != 0
    [stuck] = in_flight(emulator)

    # Older than build_timeout: waiting for it could only fail again. A new build starts.
    emulator.configure(buildSeconds=0.5)
    stack.config("timeout", "3")
    created = emulator.api("GET", f"/builds/{stuck}").json()["build"]["createdAt"]
    age = time.time() - datetime.fromisoformat(created).timestamp()
    time.sleep(max(0.0, 3.1 - age))
    up = stack.up()
    assert re.search(
        rf"build {stuck} has been (pending|building) for \d+s, longer than build_timeout \(3s\): "
        "it looks stuck, so a new build starts",
        up.stdout,
    ), up.stdout
    outputs = stack.outputs()
    assert outputs["source"] == "new" and outputs["status"] == "success"
    assert outputs["build_id"] != stuck
    assert emulator.calls(UPLOAD) == 2 and emulator.calls(CREATE) == 2


def test_transient_failures_are_survived(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.fault(LIST, status=503, times=2)
    emulator.fault(UPLOAD_URL, status=429, times=1)
    emulator.fault(UPLOAD_URL, status=502, times=1)
    emulator.fault(GET, drop=True, times=1)
    emulator.fault(GET, status=504, times=1)
    emulator.fault(CREATE, status=503, times=1)
    stack = build_stack()
    stack.up()
    assert stack.outputs()["status"] == "success"
    assert emulator.calls(LIST) == 3  # two 503s, then the answer
    assert emulator.calls(UPLOAD_URL) == 3  # a 429, a 502, then the URL
    assert emulator.calls(CREATE) == 2  # a 503, then the build
    assert emulator.calls(UPLOAD) == 1


def test_refused_upload_url_is_replaced(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(uploadTtlSeconds=0)
    stack = build_stack()
    result = stack.up(check=False)
    assert result.returncode != 0
    assert "expired" in result.output.lower()
    assert emulator.calls(UPLOAD_URL) == 3 and emulator.calls(CREATE) == 0

    emulator.configure(uploadTtlSeconds=900)
    emulator.fault(UPLOAD, status=403, times=1)
    stack.up()
    assert stack.outputs()["status"] == "success"
    assert emulator.calls(UPLOAD_URL) == 5 and emulator.calls(CREATE) == 1


def test_refresh_forgets_a_vanished_build(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = build_stack()
    stack.up()
    build_id = stack.outputs()["build_id"]
    refresh = stack.refresh()
    assert "2 unchanged" in refresh.stdout

    # Destroy only forgets: the build stays in Pipecat Cloud, ready for reuse.
    stack.destroy()
    assert emulator.api("GET", f"/builds/{build_id}").json()["build"]["status"] == "success"
    stack.up()
    assert stack.outputs()["source"] == "existing"

    emulator.vanish(build_id)
    refresh = stack.refresh()
    assert "deleted" in refresh.stdout
    assert [r for r in stack.resources() if "pipecat:Build" in r["type"]] == []


def test_adopt_an_existing_build(
    cloud_stack: Callable[..., Stack], build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    builder = build_stack()
    builder.up()
    built = builder.outputs()
    adopter = cloud_stack(
        "import pulumi\nfrom pcc_provider import Build\n"
        f"b = Build.get('adopted', {built['build_id']!r})\n"
        "pulumi.export('image_uri', b.image_uri)\n",
        project="adopter",
    )
    adopter.up()
    assert adopter.outputs()["image_uri"] == built["image_uri"]


def test_api_key_stays_secret(build_stack: Callable[..., Stack], emulator: EmulatorHandle) -> None:
    stack = build_stack()
    up = stack.up()
    assert API_KEY not in up.output
    export = stack.export()
    assert API_KEY not in export
    for resource in json.loads(export)["deployment"]["resources"]:
        provider = (resource.get("inputs") or {}).get("__provider")
        if isinstance(provider, str):
            assert API_KEY.encode() not in base64.b64decode(provider)
    assert emulator.stats()["uploadAuthorizationHeaders"] == 0
    assert emulator.calls(UPLOAD) == 1


def test_key_from_environment(make_stack: Callable[..., Stack], emulator: EmulatorHandle) -> None:
    stack = make_stack(PROGRAM, files=AGENT_FILES)
    stack.env = {**stack.env, "PIPECAT_API_KEY": API_KEY, "PIPECAT_API_URL": emulator.api_url}
    stack.up()
    assert stack.outputs()["status"] == "success"
    assert API_KEY not in stack.export()


def test_wrong_key_is_one_clear_line(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = build_stack()
    stack.config("pipecat:apiKey", "pk_wrong", secret=True)
    result = stack.up(check=False)
    assert result.returncode != 0
    assert "refused the API key (401" in result.output
    assert "pk_wrong" not in result.output
    assert "Traceback" not in result.output
    assert emulator.calls(UPLOAD) == 0


def test_bad_input_fails_preview_with_one_line(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    # Every bad input is checked directly in test_build_provider.py; here the engine shows
    # the one line a user sees, from the stack's own config.
    stack = build_stack()
    stack.pulumi("config", "rm", "pipecat:apiKey", "--stack", stack.name)
    result = stack.preview(check=False)
    assert result.returncode != 0
    lines = [line for line in result.output.splitlines() if "Build 'image'" in line]
    assert len(lines) == 1 and "no Pipecat Cloud API key" in lines[0], result.output
    assert lines[0].startswith("error: Build 'image': ")
    assert "Traceback" not in result.output
    assert emulator.stats()["requests"] == {}


def test_second_stack_reattaches_to_a_build_in_flight(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    emulator.configure(buildSeconds=3600)  # in flight until the test ends it
    first = build_stack("first")
    second = Stack(first.dir, "second", first.env).init()
    second.config("pipecat:apiUrl", emulator.api_url)
    second.config("pipecat:apiKey", API_KEY, secret=True)

    runner = threading.Thread(target=first.up)
    runner.start()
    [build_id] = eventually(
        lambda: in_flight(emulator), timeout=120, every=0.1, what="the first stack's build"
    )
    lists = emulator.calls(LIST)  # ours included
    looker = threading.Thread(target=second.up)
    looker.start()
    # Once the second stack has listed the builds (and both poll), the build may end.
    eventually(
        lambda: emulator.calls(LIST),
        until=lambda listed: listed != lists,
        timeout=120,
        every=0.1,
        what="the second stack to look for builds",
    )
    finish_once_polled(emulator, build_id, emulator.calls(GET))
    looker.join()
    runner.join()
    assert second.outputs()["source"] == "reattached"
    assert second.outputs()["build_id"] == first.outputs()["build_id"]
    assert emulator.calls(UPLOAD) == 1


def test_progress_shows_build_id_and_the_logs_command(
    build_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = build_stack()
    up = stack.up()
    outputs = stack.outputs()
    build_id = outputs["build_id"]
    assert f"started build {build_id}; logs: `pcc build logs {build_id}`" in up.stdout
    assert f"logs: {outputs['logs_url']}" not in up.stdout


def test_cli_hash_matches_the_planned_hash(build_stack: Callable[..., Stack]) -> None:
    stack = build_stack()
    stack.up()
    cli = subprocess.run(
        ["python", "-m", "pcc_provider", "hash", str(stack.dir / "agent")],
        capture_output=True,
        text=True,
        env=stack.env,
        check=True,
    )
    assert cli.stdout.split()[0] == stack.outputs()["context_hash"]


def test_rows_say_what_is_happening_and_end_with_the_outcome(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    """The Build's row while it hashes (shown at once here), uploads and builds, and its last
    word once created: the outcome, not the last status polled."""
    program = PROGRAM.replace(
        "from pcc_provider import Build\n",
        "from pcc_provider import Build, build\nbuild.HASH_PROGRESS_AFTER = 0\n",
    )
    emulator.configure(buildSeconds=2)
    stack = cloud_stack(program, files=AGENT_FILES)
    output = stack.up().stdout
    rows = [
        line.split(" image ", 1)[1] for line in output.splitlines() if "pipecat:Build image" in line
    ]
    [build_id] = [b["id"] for b in emulator.api("GET", "/builds").json()["builds"]]
    size = len(official(stack.dir / "agent").tarball)
    selected = sum(len(text) for text in AGENT_FILES.values())
    # Before the step starts: the program hashes the context in Build's constructor.
    assert rows[0] == f" hashing the build context: {selected} B", rows
    assert re.fullmatch(rf" hashed the build context: {selected} B in \d+\.\ds", rows[1]), rows
    uploading = rf"creating \(\d+s\) uploading context: {size} B"
    assert any(re.fullmatch(uploading, row) for row in rows), rows
    assert not any(" MB" in row for row in rows), rows
    assert re.fullmatch(rf"created \(\d+s\) build {build_id} succeeded after \d+s", rows[-1]), rows
