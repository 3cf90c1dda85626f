"""Daily's GitHub deploy action (`daily-co/pipecat-cloud-deploy-action` v2.0.3) against the
emulator: its request sequences, replayed with plain HTTP calls in the order and shape it sends
them, each test asserting what the action reads from the answers.

Written from reading the action's source, not copied from it. What it does, in short:
- cloud build: it archives the context itself (a tar of regular files in code-point order,
  mtime 0, uid/gid 0, mode 644/755, ended by two zero blocks with no padding to a 10 KiB record;
  gzip level 6 with mtime 0), its contextHash is the MD5 of that .tar.gz (16 hex);
- it looks the hash up: `GET /v1/builds?contextHash=&dockerfilePath=&[region=&]status=success
  &limit=1`, reusing `builds[0].id` when there is one;
- else `POST /v1/builds/upload-url` (`{}` without a region input), a multipart POST of
  `uploadFields` + `file` to `uploadUrl`, `POST /v1/builds` `{uploadId, dockerfilePath[,
  region]}`, reading `build.id` and `cached`, then polls `GET /v1/builds/{id}` for `status`;
- deploy: `GET /v1/agents/{name}` (404: create with `POST /v1/agents`, else update with
  `POST /v1/agents/{name}`), then polls the agent for `available`/`ready` and
  `activeDeploymentReady`, failing on `errors`. A non-2xx answer fails the step with the
  body's `error` (or `message`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from conftest import API_KEY, EmulatorHandle
from waiting import eventually

from pcc_provider import context as build_context

# Its API client (@actions/http-client) names it in the User-Agent; its context upload is Node's
# fetch, whose User-Agent is `node`.
USER_AGENT = "pipecat-cloud-deploy-action"
UPLOAD_USER_AGENT = "node"
HEADERS = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
}
# The action's own exclusions when the folder has no .dockerignore (a subset: the names the
# tests' folders could hold). Matched against every path component, never normalized.
ALWAYS_EXCLUDED = (".env", ".env.*", "*.pem", "*.key")
DEFAULT_EXCLUDED = (*ALWAYS_EXCLUDED, ".git", "__pycache__", ".venv", "venv", "node_modules")


@dataclass
class Answer:
    status: int
    body: Any


class Action:
    """The action's HTTP calls: `api_url` is its `api-url` input, to which it appends /v1."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.sent: list[str] = []

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        self.sent.append(f"{method} {path}")
        response = requests.request(
            method,
            f"{self.api_url}/v1{path}",
            headers=HEADERS,
            data=None if body is None else json.dumps(body),
            timeout=30,
        )
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = {"rawBody": response.text}
        return Answer(response.status_code, parsed)

    def cache_lookup(self, context_hash: str, dockerfile: str, region: str = "") -> str | None:
        query = f"contextHash={context_hash}&dockerfilePath={dockerfile}"
        if region:
            query += f"&region={region}"
        answer = self.call("GET", f"/builds?{query}&status=success&limit=1")
        # A failed look-up is not fatal to the action: it builds.
        builds = answer.body.get("builds") if answer.status < 300 else None
        return str(builds[0]["id"]) if builds else None

    def cloud_build(self, folder: Path, dockerfile: str = "Dockerfile", region: str = "") -> str:
        """The build id the action deploys (reused or new); fails as the action would."""
        archive = action_archive(folder)
        found = self.cache_lookup(md5_16(archive), dockerfile, region)
        if found:
            return found
        grant = self.call("POST", "/builds/upload-url", {"region": region} if region else {})
        assert grant.status == 200, f"Failed to get upload URL: {grant.body}"
        fields = grant.body["uploadFields"]
        form: list[tuple[str, Any]] = [(k, (None, v)) for k, v in fields.items()]
        if "Content-Type" not in fields:
            form.append(("Content-Type", (None, "application/gzip")))
        form.append(("file", ("context.tar.gz", archive, "application/gzip")))
        uploaded = requests.post(
            grant.body["uploadUrl"],
            files=form,
            headers={"User-Agent": UPLOAD_USER_AGENT},
            timeout=30,
        )
        assert uploaded.ok, f"Upload failed: HTTP {uploaded.status_code} - {uploaded.text}"
        body: dict[str, Any] = {"uploadId": grant.body["uploadId"], "dockerfilePath": dockerfile}
        if region:
            body["region"] = region
        created = self.call("POST", "/builds", body)
        assert 200 <= created.status < 300, f"Failed to create build: {created.body}"
        build = created.body.get("build") or created.body
        if created.body.get("cached"):
            return str(build["id"])
        polled = eventually(
            lambda: self.call("GET", f"/builds/{build['id']}").body,
            until=lambda polled: (
                (polled.get("build") or polled).get("status") in ("success", "failed", "timeout")
            ),
            timeout=60,
            every=0.2,  # the action's pace
            what=f"build {build['id']} to end",
        )
        assert (polled.get("build") or polled)["status"] == "success", (
            f"Cloud build failed: {polled}"
        )
        return str(build["id"])

    def deploy(self, name: str, **settings: Any) -> Answer:
        existing = self.call("GET", f"/agents/{name}")
        update = existing.status != 404
        payload = {
            "serviceName": name,
            **settings,
            "autoScaling": {"minAgents": 0, "maxAgents": 10},
        }
        return self.call("POST", f"/agents/{name}" if update else "/agents", payload)

    def wait_ready(self, name: str) -> dict[str, Any]:
        def look() -> dict[str, Any]:
            agent = self.call("GET", f"/agents/{name}")
            if agent.status == 404:
                return {}
            assert not agent.body.get("errors"), f"Deployment errors: {agent.body['errors']}"
            return dict(agent.body)

        def ready(agent: dict[str, Any]) -> bool:
            available = agent.get("available") is True or agent.get("ready") is True
            return available and agent.get("activeDeploymentReady") is True

        found: dict[str, Any] = eventually(
            look, until=ready, timeout=60, every=0.2, what=f"deployment of {name} to be ready"
        )
        return found


def _excluded(relative: str, patterns: tuple[str, ...]) -> bool:
    parts = relative.split("/")
    return any(fnmatch.fnmatchcase(part, p) for p in patterns for part in [*parts, relative])


def action_archive(folder: Path) -> bytes:
    """The context as the action archives it (see the module docstring)."""
    ignore = folder / ".dockerignore"
    patterns = DEFAULT_EXCLUDED
    if ignore.exists():
        lines = [line.strip() for line in ignore.read_text().split("\n")]
        patterns = (*[ln for ln in lines if ln and not ln.startswith("#")], *ALWAYS_EXCLUDED)
    files: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(folder):
        for entry in [*dirs, *names]:
            path = Path(root, entry)
            relative = path.relative_to(folder).as_posix()
            if _excluded(relative, patterns) or path.is_symlink():
                if entry in dirs:
                    dirs.remove(entry)
                continue
            if path.is_file():
                files.append((relative, path))
    tar = bytearray()
    for relative, path in sorted(files):
        data = path.read_bytes()
        info = tarfile.TarInfo(relative)
        info.size, info.mtime, info.uid, info.gid = len(data), 0, 0, 0
        info.uname = info.gname = ""
        info.mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
        tar += info.tobuf(tarfile.USTAR_FORMAT)
        tar += data + b"\0" * (-len(data) % 512)
    tar += b"\0" * 1024  # the end of the archive, not padded to a 10 KiB record
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # a gzip stream with mtime 0, as Node's zlib
    return gz.compress(bytes(tar)) + gz.flush()


def md5_16(archive: bytes) -> str:
    return hashlib.md5(archive).hexdigest()[:16]


def bot_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "bot"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM python:3.12\nCOPY bot.py .\n")
    (folder / "Dockerfile.alt").write_text("FROM python:3.13\nCOPY bot.py .\n")
    (folder / "bot.py").write_text("print('hello')\n")
    (folder / ".env").write_text("OPENAI_API_KEY=never-uploaded\n")
    return folder


def build_of(emulator: EmulatorHandle, build_id: str) -> dict[str, Any]:
    body: dict[str, Any] = emulator.api("GET", f"/builds/{build_id}").json()["build"]
    return body


def test_quick_start_without_a_region_builds_and_deploys_in_the_default_region(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    action = Action(emulator.url)
    build_id = action.cloud_build(bot_folder(tmp_path))
    build = build_of(emulator, build_id)
    assert (build["status"], build["region"], build["dockerfilePath"]) == (
        "success",
        "us-west",
        "Dockerfile",
    )
    # The server hashed the bytes the action uploaded to the hash the action computed.
    assert build["contextHash"] == md5_16(action_archive(tmp_path / "bot"))
    created = action.deploy("bot", buildId=build_id)
    assert created.status == 200, created.body
    ready = action.wait_ready("bot")
    assert ready["region"] == "us-west" and ready["activeDeploymentReady"] is True
    assert action.sent[:3] == [
        f"GET /builds?contextHash={build['contextHash']}&dockerfilePath=Dockerfile"
        "&status=success&limit=1",
        "POST /builds/upload-url",
        "POST /builds",
    ]


def test_without_a_region_a_build_goes_to_the_organizations_default_region(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.api("PATCH", "/properties", json={"defaultRegion": "eu-central"})
    action = Action(emulator.url)
    build = build_of(emulator, action.cloud_build(bot_folder(tmp_path)))
    assert build["region"] == "eu-central"
    grant = action.call("POST", "/builds/upload-url", {})
    assert grant.body["uploadUrl"].endswith("-eu-central-1")


def test_a_re_run_reuses_the_build_and_updates_the_agent(
    emulator: EmulatorHandle, tmp_path: Path, cache: Path
) -> None:
    folder = bot_folder(tmp_path)
    first = Action(emulator.url)
    build_id = first.cloud_build(folder)
    assert first.deploy("bot", buildId=build_id).status == 200
    first.wait_ready("bot")

    again = Action(emulator.url)
    assert again.cloud_build(folder) == build_id
    assert again.sent == [
        f"GET /builds?contextHash={md5_16(action_archive(folder))}&dockerfilePath=Dockerfile"
        "&status=success&limit=1"
    ]
    updated = again.deploy("bot", buildId=build_id)
    assert updated.status == 200, updated.body
    assert again.sent[-1] == "POST /agents/bot"
    assert emulator.calls("POST /v1/builds") == 1

    # Where builds are not shared: the action's archive of this folder is not ours, so our
    # resources (and `pcc`, whose archive ours matches) never reuse its build, nor it ours.
    ours = build_context.digest(build_context.select(folder, "Dockerfile", ()))
    assert ours.context_hash != build_of(emulator, build_id)["contextHash"]


def test_a_second_dockerfile_in_one_folder_gets_its_own_build_and_image(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    folder = bot_folder(tmp_path)
    action = Action(emulator.url)
    # With a region input, so that only the Dockerfile is in question here.
    main = action.cloud_build(folder, "Dockerfile", region="us-west")
    # Same context bytes, other Dockerfile: the look-up must not answer with `main`.
    hash_ = md5_16(action_archive(folder))
    assert action.cache_lookup(hash_, "Dockerfile.alt", region="us-west") is None
    alt = action.cloud_build(folder, "Dockerfile.alt", region="us-west")
    assert alt != main
    main_build, alt_build = build_of(emulator, main), build_of(emulator, alt)
    assert alt_build["dockerfilePath"] == "Dockerfile.alt"
    assert alt_build["contextHash"] == main_build["contextHash"]
    assert alt_build["imageUri"] != main_build["imageUri"]
    # And each re-run finds its own.
    assert Action(emulator.url).cloud_build(folder, "Dockerfile.alt", region="us-west") == alt
    assert Action(emulator.url).cloud_build(folder, "Dockerfile", region="us-west") == main


def test_an_image_deploy_with_pull_credentials(emulator: EmulatorHandle) -> None:
    pull = {"isImagePullSecret": True, "host": "https://ghcr.io", "secretValue": "dXNlcjpwYXNz"}
    assert emulator.api("PUT", "/secrets/ghcr-creds", json=pull).status_code == 202
    action = Action(emulator.url)
    emulator.advance(0.5)  # the set provisions (0.5 s in the emulator)
    created = action.deploy(
        "img-bot", image="ghcr.io/acme/bot:v1", imagePullSecretSet="ghcr-creds", region="us-west"
    )
    assert created.status == 200, created.body
    assert action.sent == ["GET /agents/img-bot", "POST /agents"]
    ready = action.wait_ready("img-bot")
    assert ready["activeDeploymentReady"] is True
    spec = ready["deployment"]["manifest"]["spec"]
    assert (spec["image"], spec["imagePullSecretName"]) == ("ghcr.io/acme/bot:v1", "ghcr-creds")
    assert spec["autoScaling"] == {"minReplicas": 0, "maxReplicas": 10}


def test_a_missing_secret_set_fails_the_deploy_with_404(emulator: EmulatorHandle) -> None:
    action = Action(emulator.url)
    refused = action.deploy("bot", image="ghcr.io/acme/bot:v1", secretSet="no-such-set")
    # The action fails the step with "Failed to create deployment: <error>".
    assert refused.status == 404
    assert refused.body["error"] == "Secret set 'no-such-set' not found"
    assert emulator.api("GET", "/agents/bot").status_code == 404
