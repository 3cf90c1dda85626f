"""The state of one emulated Pipecat Cloud organisation: uploads, builds, agents, secret sets.

No HTTP here (app.py and storage.py speak HTTP). Every entity is one JSON file in the state
directory, replaced atomically on change, so a restarted emulator carries on where it stopped.
Build and deployment progress is derived from timestamps whenever it is read, never from a
background thread, so it also advances while the emulator is down.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import os
import posixpath
import re
import secrets
import tarfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pcc_provider.emulator import spec

# The regions of the official API's example, with the AWS region each one builds in.
REGIONS: dict[str, tuple[str, str]] = {
    "us-west": ("US West (Oregon)", "us-west-2"),
    "us-east": ("US East (Virginia)", "us-east-1"),
    "eu-central": ("Europe (Frankfurt)", "eu-central-1"),
    "ap-south": ("Asia Pacific (Mumbai)", "ap-south-1"),
}
# The organization properties a user may set (`PATCH /properties`), as the API documents them.
PROPERTY_SCHEMA: dict[str, dict[str, Any]] = {
    "defaultRegion": {
        "type": "string",
        "description": "Default region for new service deployments",
        "default": spec.DEFAULT_REGION,
        "availableValues": list(REGIONS),
    },
}

# CPU and memory per profile, as the spec's agentProfile description gives them.
_PROFILE_RESOURCES = {
    "agent-1x": ("500m", "1Gi"),
    "agent-2x": ("1000m", "2Gi"),
    "agent-3x": ("1500m", "3Gi"),
}
AGENT_PROFILES = {p: _PROFILE_RESOURCES.get(p, ("500m", "1Gi")) for p in spec.AGENT_PROFILES}
MAX_DOCKERFILE_BYTES = 1024 * 1024
# The revision phases and health states agent_json reports are the spec's (RevisionInfo.phase,
# RevisionHealth.state): checked once here rather than at each place that writes one.
if not {"Creating", "Validating", "Active", "Draining", "Failed"} <= set(
    spec.REVISION_PHASES
) or not {"running", "waiting"} <= set(spec.HEALTH_STATES):
    raise ImportError("the emulator reports a revision phase or health state the spec lacks")
# Shown instead of the ECR URI in a build-based deployment's manifest, as the API documents.
REDACTED_IMAGE = "[redacted]"

# The set name rule of the API's /secrets paths (from the spec); the key rule is the official
# CLI's (the spec gives none).
SECRET_SET_NAME_RE = spec.SECRET_SET_NAME_RE
SECRET_KEY_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

_FAIL_LINE = re.compile(r"^RUN\s+exit\s+1$", re.IGNORECASE)
_TIMEOUT_LINE = re.compile(r"^RUN\s+sleep\s+infinity$", re.IGNORECASE)
# A deployment fails from its content alone: a build whose Dockerfile starts the agent with
# `CMD exit N` (or ENTRYPOINT, shell or exec form) crash-loops with exit code N; an image whose
# reference contains "crashloop" crash-loops with exit code 1; one containing "does-not-exist"
# cannot be pulled, and its revision ends in phase Failed.
_CRASH_STEP = re.compile(r"^(?:CMD|ENTRYPOINT)\b.*\bexit\W+(\d+)", re.IGNORECASE)
CRASH_IMAGE_WORD = "crashloop"
MISSING_IMAGE_WORD = "does-not-exist"


class ModelError(Exception):
    """A request the emulated service refuses; `kind` picks the HTTP status in app.py."""

    kind = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ModelError):
    kind = "bad_request"


class NotFound(ModelError):
    kind = "not_found"


class Conflict(ModelError):
    kind = "conflict"


@dataclass
class Config:
    """Runtime knobs; changed live by POST /_emulator/config. Not persisted: each build and
    deployment records the durations it was created with."""

    build_seconds: float = 3.0
    upload_ttl_seconds: float = 900.0
    max_upload_bytes: int = 500 * 1024 * 1024
    agent_ready_seconds: float = 1.0
    secret_ready_seconds: float = 0.5
    agent_delete_seconds: float = 0.0  # how long a deleted agent is still seen


@dataclass
class Upload:
    id: str
    region: str
    bucket: str
    key: str
    created_at: float
    expires_at: float
    size: int | None = None  # set once an object has been stored under `key`
    md5: str | None = None


@dataclass
class Build:
    id: str
    region: str
    context_hash: str
    dockerfile_path: str
    context_size: int
    created_at: float
    duration: float
    outcome: str  # the final status: success, failed or timeout
    error_message: str | None
    image_size: int | None
    steps: list[str]  # the Dockerfile's instructions, for the logs
    failed_step: int | None  # index into steps of the step that fails or hangs

    @property
    def started_at(self) -> float:
        # A short queueing phase, so that clients see `pending` before `building`.
        return self.created_at + min(1.0, 0.2 * self.duration)

    @property
    def completed_at(self) -> float:
        return self.created_at + self.duration

    def status(self, now: float) -> str:
        if now < self.started_at:
            return "pending"
        if now < self.completed_at:
            return "building"
        return self.outcome


@dataclass
class Deployment:
    id: str
    created_at: float
    ready_at: float
    image: str
    build_id: str | None
    settings: dict[str, Any]
    # The version of each secret set the deployment bound, so tests can see a rollout.
    bound_sets: dict[str, Any] = field(default_factory=dict)
    # Why this deployment never becomes ready: "crash:<exit code>" or "pull"; None if healthy.
    fault: str | None = None

    def healthy_at(self, now: float) -> bool:
        return self.fault is None and self.ready_at <= now


@dataclass
class Agent:
    id: str
    name: str
    region: str
    created_at: float
    updated_at: float
    deployments: list[Deployment] = field(default_factory=list)
    gone_at: float | None = None  # set by a delete: when the agent disappears

    @property
    def current(self) -> Deployment:
        return self.deployments[-1]


@dataclass
class SecretSet:
    """A secret set; an image pull secret keeps `host` and one value under "secretValue"."""

    name: str
    region: str
    type: str  # "secret" or "imagePullSecret"
    values: dict[str, str]
    host: str | None
    version: int  # counts the changes, for the deployments that bind it
    changed_at: float
    ready_at: float  # provisioning of the latest change ends here
    error_message: str | None  # set: that provisioning fails

    def status(self, now: float) -> str:
        if now < self.ready_at:
            return "pending"
        return "failed" if self.error_message else "ready"


@dataclass(frozen=True)
class ArchiveReport:
    dockerfile: str | None  # the Dockerfile's text, None when it is not in the archive


class InvalidArchive(Exception):
    pass


def iso(ts: float) -> str:
    """RFC 3339 with milliseconds and Z, as the real API writes timestamps."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _log_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y/%m/%d %H:%M:%S")


def inspect_archive(path: Path, dockerfile_path: str) -> ArchiveReport:
    """Check that `path` is a gzip-compressed tar and read `dockerfile_path` out of it.

    Streams through the archive, so a 500 MB context never sits in memory. A Dockerfile that
    is a symlink inside the context is followed, as docker build follows it.
    """
    with path.open("rb") as f:
        if f.read(2) != b"\x1f\x8b":
            raise InvalidArchive("the build context is not gzip-compressed")
    wanted = _normalize_member(dockerfile_path)
    for _ in range(8):  # a few symlink hops at most
        found, link = _read_member(path, wanted)
        if found is not None or link is None:
            return ArchiveReport(dockerfile=found)
        wanted = link
    return ArchiveReport(dockerfile=None)


def _read_member(path: Path, wanted: str) -> tuple[str | None, str | None]:
    """(the text of regular file `wanted`, None) or (None, where symlink `wanted` points)."""
    text: str | None = None
    link: str | None = None
    try:
        with gzip.open(path, "rb") as gz:
            # Stream mode: one pass, the member is read as it goes by.
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for member in tar:
                    if text is not None or _normalize_member(member.name) != wanted:
                        continue
                    if member.isfile():
                        extracted = tar.extractfile(member)
                        if extracted is not None:
                            raw = extracted.read(MAX_DOCKERFILE_BYTES)
                            text, link = raw.decode("utf-8", "replace"), None
                    elif member.issym():
                        parent = posixpath.dirname(wanted)
                        target = posixpath.normpath(posixpath.join(parent, member.linkname))
                        if not target.startswith("../") and target != "..":
                            link = _normalize_member(target)
            # tar stops at its end marker; reading on checks the rest and the gzip CRC, so a
            # truncated or corrupted upload is refused as the build service's untar would.
            while gz.read(1024 * 1024):
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InvalidArchive(f"the build context is not a valid tar.gz archive ({exc})") from exc
    return text, link


def _normalize_member(name: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def dockerfile_steps(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    steps: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        steps.append((pending + line).strip())
        pending = ""
    if pending.strip():
        steps.append(pending.strip())
    return steps


def valid_dockerfile_path(path: str) -> bool:
    if not path or len(path) > 1024 or "\x00" in path or path.startswith(("/", "\\")):
        return False
    return ".." not in path.replace("\\", "/").split("/")


class Store:
    """All state, on disk under `state_dir`, with an in-memory index guarded by one lock."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(state_dir)
        self.config = config or Config()
        self.clock = clock
        self.lock = threading.RLock()
        for sub in ("uploads", "objects", "builds", "agents", "partial", "secrets"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Secret values are stored in plaintext: only their owner may read them.
        self.root.chmod(0o700)
        # Leftovers of uploads that were cut short when the emulator stopped.
        for leftover in (self.root / "partial").iterdir():
            leftover.unlink(missing_ok=True)
        identity = self._load_identity()
        self.secret: bytes = bytes.fromhex(identity["secret"])
        self.organization_id: str = identity["organizationId"]
        self.account_id: str = identity["accountId"]
        self.uploads: dict[str, Upload] = {u.id: u for u in self._load_all("uploads", _upload_from)}
        self.builds: dict[str, Build] = {b.id: b for b in self._load_all("builds", _build_from)}
        self.agents: dict[str, Agent] = {a.name: a for a in self._load_all("agents", _agent_from)}
        self.secret_sets: dict[str, SecretSet] = {
            s.name: s for s in self._load_all("secrets", _secret_set_from)
        }
        # Set name -> error message: that set's next provisioning fails (POST /_emulator/...).
        self.failing_sets: dict[str, str] = {}

    # -- persistence -------------------------------------------------------------------------

    def _load_identity(self) -> dict[str, str]:
        path = self.root / "emulator.json"
        if path.exists():
            data: dict[str, str] = json.loads(path.read_text())
            return data
        identity = {
            # Signs upload policies; persisted so URLs handed out before a restart still work.
            "secret": secrets.token_hex(32),
            "organizationId": "org_" + secrets.token_hex(6),
            "accountId": str(100000000000 + secrets.randbelow(900000000000)),
        }
        self._write_json(path, identity)
        return identity

    def _write_json(self, path: Path, data: Any) -> None:
        # Write beside the target, then rename: readers and restarts never see half a file.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        # Owner-only from the start: records hold secret values and the signing key.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)

    def _save(self, kind: str, name: str, entity: Any) -> None:
        self._write_json(self.root / kind / f"{name}.json", dataclasses.asdict(entity))

    def _remove(self, kind: str, name: str) -> None:
        (self.root / kind / f"{name}.json").unlink(missing_ok=True)

    def _load_all(self, kind: str, parse: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
        for path in sorted((self.root / kind).glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                yield parse(json.loads(path.read_text()))
            except (ValueError, TypeError, KeyError):
                continue  # an unreadable record is skipped rather than fatal

    # -- organization properties -------------------------------------------------------------

    def properties(self) -> dict[str, Any]:
        """The organization's configurable properties, with their defaults filled in."""
        path = self.root / "properties.json"
        stored: Any = {}
        # An unreadable file means the defaults, as an unreadable record is skipped elsewhere.
        with self.lock, contextlib.suppress(ValueError, OSError):
            stored = json.loads(path.read_text())
        region = stored.get("defaultRegion") if isinstance(stored, dict) else None
        return {"defaultRegion": region if region in REGIONS else spec.DEFAULT_REGION}

    def default_region(self) -> str:
        """Where an agent or build goes when a request names no region (organization APIs)."""
        region: str = self.properties()["defaultRegion"]
        return region

    def update_properties(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and apply `changes` (messages as the API documents them); return all."""
        if not changes:
            raise BadRequest("No properties provided")
        for name, value in changes.items():
            if name not in PROPERTY_SCHEMA:
                raise BadRequest(f"Property '{name}' is not a valid property")
            if name == "defaultRegion" and (not isinstance(value, str) or value not in REGIONS):
                raise BadRequest(
                    f"Region '{value}' is not available. Available regions: {', '.join(REGIONS)}"
                )
        with self.lock:
            updated = {**self.properties(), **changes}
            self._write_json(self.root / "properties.json", updated)
        return updated

    def property_schema(self) -> dict[str, Any]:
        """Each property with its metadata and current value (`/properties/schema`)."""
        current = self.properties()
        return {
            name: {**meta, "readOnly": False, "currentValue": current[name]}
            for name, meta in PROPERTY_SCHEMA.items()
        }

    # -- uploads -----------------------------------------------------------------------------

    def bucket_for(self, region: str) -> str:
        return f"daily-co-pcc-build-context-emulator-{REGIONS[region][1]}"

    def known_bucket(self, bucket: str) -> str | None:
        """The AWS region a bucket name of ours lives in, else None."""
        for _, aws_region in REGIONS.values():
            if bucket == f"daily-co-pcc-build-context-emulator-{aws_region}":
                return aws_region
        return None

    def create_upload(self, region: str) -> Upload:
        if region not in REGIONS:
            raise BadRequest(f"Cloud build is not enabled for region '{region}'")
        now = self.clock()
        upload_id = str(uuid.uuid4())
        upload = Upload(
            id=upload_id,
            region=region,
            bucket=self.bucket_for(region),
            key=f"{self.organization_id}/{upload_id}.tar.gz",
            created_at=now,
            expires_at=now + self.config.upload_ttl_seconds,
        )
        with self.lock:
            self.uploads[upload_id] = upload
            self._save("uploads", upload_id, upload)
        return upload

    def upload_for_key(self, key: str) -> Upload | None:
        match = re.fullmatch(r"[^/]+/([0-9a-f-]{36})\.tar\.gz", key)
        if not match:
            return None
        with self.lock:
            upload = self.uploads.get(match.group(1))
        return upload if upload is not None and upload.key == key else None

    def partial_file(self) -> Path:
        """Where an upload in flight is written before it is known to be acceptable."""
        return self.root / "partial" / uuid.uuid4().hex

    def object_path(self, upload_id: str) -> Path:
        return self.root / "objects" / f"{upload_id}.tar.gz"

    def complete_upload(self, upload: Upload, partial: Path, size: int, md5: str) -> None:
        with self.lock:
            # Like S3, a second POST to the same key replaces the object.
            os.replace(partial, self.object_path(upload.id))
            upload.size = size
            upload.md5 = md5
            self._save("uploads", upload.id, upload)

    # -- builds ------------------------------------------------------------------------------

    def create_build(self, upload_id: str, region: str, dockerfile_path: str) -> tuple[Build, bool]:
        """The build for an upload: (an existing successful build, True) or (a new one, False)."""
        with self.lock:
            upload = self.uploads.get(upload_id)
        if upload is None:
            raise BadRequest(f"Upload not found: {upload_id}")
        if upload.size is None or upload.md5 is None:
            raise BadRequest(f"Upload {upload_id} has no context archive: upload it first")
        if region != upload.region:
            raise BadRequest(
                f"Region '{region}' does not match the region of the upload '{upload.region}'"
            )
        context_hash = upload.md5[:16]
        cached = self._cached_build(context_hash, region, dockerfile_path)
        if cached is not None:
            return cached, True
        try:
            report = inspect_archive(self.object_path(upload_id), dockerfile_path)
        except InvalidArchive as exc:
            raise BadRequest(f"Invalid build context: {exc}") from exc
        except FileNotFoundError as exc:
            raise BadRequest(f"Upload {upload_id} has no context archive") from exc
        now = self.clock()
        build = self._plan_build(upload, context_hash, dockerfile_path, report, now)
        with self.lock:
            # Checked again under the lock: another request may have finished meanwhile.
            cached = self._cached_build(context_hash, region, dockerfile_path)
            if cached is not None:
                return cached, True
            self.builds[build.id] = build
            self._save("builds", build.id, build)
        return build, False

    def _cached_build(self, context_hash: str, region: str, dockerfile_path: str) -> Build | None:
        now = self.clock()
        with self.lock:
            hits = [
                b
                for b in self.builds.values()
                if b.context_hash == context_hash
                and b.region == region
                and b.dockerfile_path == dockerfile_path
                and b.status(now) == "success"
            ]
        return max(hits, key=lambda b: b.created_at) if hits else None

    def _plan_build(
        self,
        upload: Upload,
        context_hash: str,
        dockerfile_path: str,
        report: ArchiveReport,
        now: float,
    ) -> Build:
        size = upload.size or 0
        outcome, error, failed_step, steps = "success", None, None, []
        if report.dockerfile is None:
            outcome = "failed"
            error = (
                "failed to solve: failed to read dockerfile: "
                f"open {dockerfile_path}: no such file or directory"
            )
        else:
            steps = dockerfile_steps(report.dockerfile)
            for index, step in enumerate(steps):
                if _FAIL_LINE.match(step):
                    outcome, failed_step = "failed", index
                    error = (
                        'failed to solve: process "/bin/sh -c exit 1" did not complete '
                        "successfully: exit code: 1"
                    )
                    break
                if _TIMEOUT_LINE.match(step):
                    outcome, failed_step = "timeout", index
                    error = "Build timed out"
                    break
        return Build(
            id=str(uuid.uuid4()),
            region=upload.region,
            context_hash=context_hash,
            dockerfile_path=dockerfile_path,
            context_size=size,
            created_at=now,
            duration=max(0.0, float(self.config.build_seconds)),
            outcome=outcome,
            error_message=error,
            # A plausible image: a base layer, the context, and a little per-context spread.
            image_size=180_000_000 + 2 * size + int(context_hash[:4], 16) * 1000
            if outcome == "success"
            else None,
            steps=steps,
            failed_step=failed_step,
        )

    def get_build(self, build_id: str) -> Build:
        with self.lock:
            build = self.builds.get(build_id.lower())
        if build is None:
            raise NotFound("Build not found")
        return build

    def finish_build(self, build_id: str) -> Build:
        """Let a build in flight end now, as planned (success, failed or timeout)."""
        with self.lock:
            build = self.builds.get(build_id.lower())
            if build is None:
                raise NotFound("Build not found")
            now = self.clock()
            if build.status(now) in ("pending", "building"):
                build.duration = max(0.0, now - build.created_at)
                self._save("builds", build.id, build)
        return build

    def delete_build(self, build_id: str) -> None:
        with self.lock:
            if self.builds.pop(build_id.lower(), None) is None:
                raise NotFound("Build not found")
            self._remove("builds", build_id.lower())

    def list_builds(
        self,
        status: str | None,
        region: str | None,
        context_hash: str | None,
        dockerfile_path: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Build], int]:
        now = self.clock()
        with self.lock:
            builds = list(self.builds.values())
        matches = [
            b
            for b in builds
            if (status is None or b.status(now) == status)
            and (region is None or b.region == region)
            and (context_hash is None or b.context_hash == context_hash)
            and (dockerfile_path is None or b.dockerfile_path == dockerfile_path)
        ]
        matches.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return matches[offset : offset + limit], len(matches)

    def image_uri(self, build: Build) -> str:
        aws_region = REGIONS[build.region][1]
        # Builds of other Dockerfiles over the same context are other images, so they get
        # other tags (the GitHub deploy action relies on it); `Dockerfile` keeps the bare hash.
        tag = build.context_hash
        if build.dockerfile_path != "Dockerfile":
            tag += "-" + hashlib.sha256(build.dockerfile_path.encode()).hexdigest()[:8]
        return (
            f"{self.account_id}.dkr.ecr.{aws_region}.amazonaws.com/"
            f"pipecat-cloud/{self.organization_id}:{tag}"
        )

    def build_json(self, build: Build, base_url: str) -> dict[str, Any]:
        now = self.clock()
        status = build.status(now)
        updated = build.created_at
        body: dict[str, Any] = {
            "id": build.id,
            "organizationId": self.organization_id,
            "status": status,
            "region": build.region,
            "contextHash": build.context_hash,
            "dockerfilePath": build.dockerfile_path,
            "contextSizeBytes": build.context_size,
            "logsUrl": f"{base_url}/v1/builds/{build.id}/logs",
            "createdAt": iso(build.created_at),
        }
        if status != "pending":
            body["startedAt"] = iso(build.started_at)
            updated = build.started_at
        if status in ("success", "failed", "timeout"):
            body["completedAt"] = iso(build.completed_at)
            body["buildDurationSeconds"] = round(build.completed_at - build.started_at)
            updated = build.completed_at
            if status == "success":
                body["imageUri"] = self.image_uri(build)
                body["imageSizeBytes"] = build.image_size
            elif build.error_message:
                body["errorMessage"] = build.error_message
        body["updatedAt"] = iso(updated)
        return body

    def build_logs(self, build: Build) -> list[str]:
        """The log lines written so far: they appear over the build's duration."""
        now = self.clock()
        return [line for at, line in self._log_schedule(build) if at <= now]

    def _log_schedule(self, build: Build) -> list[tuple[float, str]]:
        start, end = build.started_at, build.completed_at
        image = self.image_uri(build)
        df = build.dockerfile_path
        head = [
            "Running on CodeBuild On-demand",
            "Entering phase: DOWNLOAD_SOURCE",
            "Entering phase: INSTALL",
            "Entering phase: PRE_BUILD",
            "Entering phase: BUILD",
            f"Running command docker buildx build --platform linux/arm64 -f {df} -t {image} .",
        ]
        body: list[str] = [f"#1 [internal] load build definition from {df}"]
        tail: list[str] = []
        if build.outcome == "failed" and not build.steps:
            body.append(
                f"#1 ERROR: failed to read dockerfile: open {df}: no such file or directory"
            )
            tail = [
                f"ERROR: {build.error_message}",
                "Command did not exit successfully docker buildx build exit status 1",
                "Phase complete: BUILD State: FAILED",
            ]
        else:
            body.append("#1 DONE 0.1s")
            total = len(build.steps)
            last = build.failed_step if build.failed_step is not None else total - 1
            for index, step in enumerate(build.steps[: last + 1]):
                body.append(f"#{index + 2} [{index + 1}/{total}] {step}")
                if index == build.failed_step and build.outcome == "failed":
                    body.append(
                        f'#{index + 2} ERROR: process "/bin/sh -c exit 1" did not complete '
                        "successfully: exit code: 1"
                    )
                elif index != build.failed_step:
                    body.append(f"#{index + 2} DONE 0.{(index * 37) % 10}s")
            if build.outcome == "success":
                tail = [
                    f"#{total + 2} exporting to image",
                    f"#{total + 2} naming to {image} done",
                    "Phase complete: BUILD State: SUCCEEDED",
                    "Entering phase: POST_BUILD",
                    f"Running command docker push {image}",
                    "Phase complete: POST_BUILD State: SUCCEEDED",
                ]
            elif build.outcome == "failed":
                tail = [
                    f"ERROR: {build.error_message}",
                    "Command did not exit successfully docker buildx build exit status 1",
                    "Phase complete: BUILD State: FAILED",
                ]
            else:
                tail = ["Build timed out", "Phase complete: BUILD State: TIMED_OUT"]
        lines = head + body + tail
        span = max(0.0, end - start)
        schedule: list[tuple[float, str]] = []
        for index, text in enumerate(lines):
            # Spread over the building phase; the outcome lines land exactly at completion.
            at = start + span * index / max(1, len(lines) - 1)
            at = min(at, end)
            prefix = f"[Container] {_log_time(at)} " if not text.startswith("#") else ""
            schedule.append((at, prefix + text))
        return schedule

    # -- agents ------------------------------------------------------------------------------

    def _deployment(self, source: dict[str, Any], settings: dict[str, Any]) -> Deployment:
        now = self.clock()
        return Deployment(
            id=str(uuid.uuid4()),
            created_at=now,
            ready_at=now + max(0.0, float(self.config.agent_ready_seconds)),
            image=source["image"],
            build_id=source.get("buildId"),
            settings=settings,
            fault=self._deployment_fault(source),
        )

    def _deployment_fault(self, source: dict[str, Any]) -> str | None:
        build_id = source.get("buildId")
        if build_id is None:
            image = str(source["image"]).lower()
            if MISSING_IMAGE_WORD in image:
                return "pull"
            return "crash:1" if CRASH_IMAGE_WORD in image else None
        with self.lock:
            build = self.builds.get(build_id)
        for step in build.steps if build is not None else []:
            match = _CRASH_STEP.match(step)
            if match:
                return f"crash:{int(match.group(1))}"
        return None

    def _resolve_source(
        self, region: str, image: str | None, build_id: str | None
    ) -> dict[str, Any]:
        if image is not None and build_id is not None:
            raise BadRequest("Cannot specify both image and buildId. Use one or the other.")
        if image is not None:
            return {"image": image}
        if build_id is None:
            raise BadRequest("Either image or buildId is required for service creation")
        with self.lock:
            build = self.builds.get(build_id.lower())
        if build is None:
            raise BadRequest("Build not found")
        if build.region != region:
            raise BadRequest(
                f"Build is in region '{build.region}' but service is in region '{region}'. "
                "Builds must be in the same region as the service."
            )
        status = build.status(self.clock())
        if status != "success":
            raise BadRequest(
                f"Build is not ready (status: {status}). Only successful builds can be deployed."
            )
        return {"image": self.image_uri(build), "buildId": build.id}

    def create_agent(
        self,
        name: str,
        region: str,
        image: str | None,
        build_id: str | None,
        settings: dict[str, Any],
    ) -> Agent:
        if region not in REGIONS:
            raise BadRequest(f"Invalid region '{region}'")
        source = self._resolve_source(region, image, build_id)
        with self.lock:
            if self._live_agent(name) is not None:
                raise BadRequest("Service already exists")
            bound = self._bind_sets(region, settings)
            now = self.clock()
            agent = Agent(
                id=str(uuid.uuid4()),
                name=name,
                region=region,
                created_at=now,
                updated_at=now,
                deployments=[self._deployment(source, settings)],
            )
            agent.current.bound_sets = bound
            self.agents[name] = agent
            self._save("agents", name, agent)
        return agent

    def _live_agent(self, name: str) -> Agent | None:
        """The agent of that name, unless a delete of it has completed by now. Call locked."""
        agent = self.agents.get(name)
        if agent is not None and agent.gone_at is not None and agent.gone_at <= self.clock():
            del self.agents[name]
            self._remove("agents", name)
            return None
        return agent

    def get_agent(self, name: str, message: str = "Not found") -> Agent:
        with self.lock:
            agent = self._live_agent(name)
        if agent is None:
            raise NotFound(message)
        return agent

    def update_agent(
        self,
        name: str,
        image: str | None,
        build_id: str | None,
        changes: dict[str, Any],
        force: bool,
    ) -> Agent:
        with self.lock:
            agent = self.get_agent(name, "Service not found")
            current = agent.current
            if image is None and build_id is None:
                source: dict[str, Any] = {"image": current.image, "buildId": current.build_id}
            else:
                source = self._resolve_source(agent.region, image, build_id)
            settings = {**current.settings, **changes}
            unchanged = (
                source["image"] == current.image
                and source.get("buildId") == current.build_id
                and settings == current.settings
            )
            if unchanged and not force:
                return agent  # nothing to roll out: the same deployment stays desired
            bound = self._bind_sets(agent.region, settings)
            agent.deployments = [*agent.deployments[-1:], self._deployment(source, settings)]
            agent.current.bound_sets = bound
            agent.updated_at = self.clock()
            self._save("agents", name, agent)
        return agent

    def delete_agent(self, name: str) -> None:
        """Deleted at once, or, with `agent_delete_seconds`, still seen for that long."""
        with self.lock:
            agent = self._live_agent(name)
            if agent is None:
                raise NotFound("Not found")
            if agent.gone_at is None:
                agent.gone_at = self.clock() + max(0.0, self.config.agent_delete_seconds)
                self._save("agents", name, agent)
            self._live_agent(name)

    def list_agents(self, region: str | None) -> list[Agent]:
        with self.lock:
            agents = [a for a in map(self._live_agent, list(self.agents)) if a is not None]
        return sorted(
            (a for a in agents if region is None or a.region == region),
            key=lambda a: (a.created_at, a.name),
        )

    def _manifest(self, agent: Agent, dep: Deployment) -> dict[str, Any]:
        s = dep.settings
        cpu, memory = AGENT_PROFILES[s["agentProfile"]]
        spec: dict[str, Any] = {
            "dailyNodeType": s["nodeType"],
            "image": REDACTED_IMAGE if dep.build_id else dep.image,
            "autoScaling": {
                "minReplicas": s["autoScaling"]["minAgents"],
                "maxReplicas": s["autoScaling"]["maxAgents"],
            },
            "envFromSecretNames": [s["secretSet"]] if s.get("secretSet") else [],
            "resources": {"cpu": cpu, "memory": memory},
            "krispViva": {"audioFilters": s["krispViva"]["audioFilter"] is not None},
        }
        if s.get("imagePullSecretSet"):
            spec["imagePullSecretName"] = s["imagePullSecretSet"]
        if s.get("maxSessionDuration") is not None:
            spec["maxSessionDurationSeconds"] = s["maxSessionDuration"]
        return {
            "id": dep.id,
            "manifest": {
                "apiVersion": "pipecatcloud.daily.co/v1",
                "kind": "PCService",
                "metadata": {
                    "name": agent.name,
                    "namespace": self.organization_id.replace("_", "-"),
                },
                "spec": spec,
            },
            "serviceId": agent.id,
            "createdAt": iso(dep.created_at),
            "updatedAt": iso(dep.created_at),
        }

    def _reconciled(self, agent: Agent, now: float) -> Deployment | None:
        ready = [d for d in agent.deployments if d.healthy_at(now)]
        return ready[-1] if ready else None

    def _revision(self, dep: Deployment, now: float, previous: bool) -> dict[str, Any]:
        replicas = max(1, int(dep.settings["autoScaling"]["minAgents"]))
        if dep.fault is not None and not previous:
            return self._failing_revision(dep, now, replicas)
        if previous or dep.ready_at <= now:
            phase = "Draining" if previous else "Active"
            started = dep.ready_at
        elif now < (dep.created_at + dep.ready_at) / 2:
            phase, started = "Creating", dep.created_at
        else:
            phase, started = "Validating", (dep.created_at + dep.ready_at) / 2
        revision: dict[str, Any] = {
            "deploymentID": dep.id,
            "phase": phase,
            "readyReplicas": replicas if phase in ("Active", "Draining") else 0,
            "phaseStartedAt": iso(started),
        }
        if phase != "Creating":
            ready = phase in ("Active", "Draining")
            revision["health"] = {
                "ready": ready,
                "state": "running",
                "restartCount": 0,
                "replicasStarted": replicas,
            }
        return revision

    def _failing_revision(self, dep: Deployment, now: float, replicas: int) -> dict[str, Any]:
        """A revision that never gets ready: it is created, then its health says why.

        A crash loop stays in Validating (the service keeps restarting it); an image that
        cannot be pulled ends in phase Failed once it would have been ready.
        """
        half = (dep.created_at + dep.ready_at) / 2
        if now < half:
            return {
                "deploymentID": dep.id,
                "phase": "Creating",
                "readyReplicas": 0,
                "phaseStartedAt": iso(dep.created_at),
            }
        failed = dep.fault == "pull" and now >= dep.ready_at
        health: dict[str, Any] = {"ready": False, "state": "waiting", "restartCount": 0}
        if dep.fault == "pull":
            health.update(
                replicasStarted=0,
                reason="ImagePullBackOff",
                message=f'Back-off pulling image "{dep.image}": not found',
            )
        else:
            code = int(str(dep.fault).partition(":")[2] or 1)
            health.update(
                replicasStarted=replicas,
                restartCount=1 + int((now - half) // 2),
                reason="CrashLoopBackOff",
                lastExitCode=code,
                lastTerminationReason="Error",
                message=(
                    "Traceback (most recent call last):\n"
                    '  File "/app/bot.py", line 1, in <module>\n'
                    f"SystemExit: {code}"
                ),
            )
        return {
            "deploymentID": dep.id,
            "phase": "Failed" if failed else "Validating",
            "readyReplicas": 0,
            "phaseStartedAt": iso(dep.ready_at if failed else half),
            "health": health,
        }

    def agent_json(self, agent: Agent) -> dict[str, Any]:
        now = self.clock()
        current = agent.current
        s = current.settings
        reconciled = self._reconciled(agent, now)
        ready = current.healthy_at(now)
        body: dict[str, Any] = {
            "name": agent.name,
            "region": agent.region,
            "ready": ready,
            "available": reconciled is not None,
            "createdAt": iso(agent.created_at),
            "updatedAt": iso(agent.updated_at),
            "desiredDeploymentId": current.id,
            "activeDeploymentId": current.id,
            "activeDeploymentReady": ready,
            "autoScaling": {
                "maxReplicas": s["autoScaling"]["maxAgents"],
                "minReplicas": s["autoScaling"]["minAgents"],
            },
            "activeSessionCount": 0,
            "deployment": self._manifest(agent, current),
            "agentProfile": s["agentProfile"],
            "krispViva": {"audioFilter": s["krispViva"]["audioFilter"]},
            "currentRevision": self._revision(current, now, previous=False),
            "previousRevision": None,
        }
        if reconciled is not None:
            body["reconciledDeploymentId"] = reconciled.id
        if not ready and reconciled is not None and reconciled is not current:
            body["previousRevision"] = self._revision(reconciled, now, previous=True)
        return body

    def agent_list_item(self, agent: Agent, with_deployment: bool) -> dict[str, Any]:
        now = self.clock()
        reconciled = self._reconciled(agent, now)
        item: dict[str, Any] = {
            "id": agent.id,
            "name": agent.name,
            "region": agent.region,
            "desiredDeploymentId": agent.current.id,
            "activeDeploymentId": agent.current.id,
            "organizationId": self.organization_id,
            "createdAt": iso(agent.created_at),
            "updatedAt": iso(agent.updated_at),
            "deletedAt": None,
        }
        if reconciled is not None:
            item["reconciledDeploymentId"] = reconciled.id
        if with_deployment:
            item["deployment"] = self._manifest(agent, agent.current)
        return item

    # -- secret sets -------------------------------------------------------------------------

    def put_secret_set(
        self,
        name: str,
        region: str | None,
        values: dict[str, str],
        host: str | None,
    ) -> SecretSet:
        """Create a set or change it: regular secrets are merged key by key, an image pull
        secret (`host` given) is replaced. Provisioning starts again either way."""
        kind = "secret" if host is None else "imagePullSecret"
        if region is not None and region not in REGIONS:
            raise BadRequest("Invalid region or organization does not have access")
        with self.lock:
            now = self.clock()
            current = self.secret_sets.get(name)
            if current is None:
                # The spec: a set named with no region goes to the organization's default.
                where = region or self.default_region()
                current = SecretSet(name, where, kind, {}, None, 0, now, now, None)
            elif current.type != kind:
                raise BadRequest(
                    "Cannot update existing regular secrets to image pull secrets"
                    if kind == "imagePullSecret"
                    else "Cannot update an image pull secret with regular secrets"
                )
            elif region is not None and region != current.region:
                raise BadRequest(
                    f"Secret already exists in region '{current.region}'. "
                    f"Cannot change region to '{region}'."
                )
            if host is None:
                current.values.update(values)
            else:
                current.values, current.host = dict(values), host
            self._provision(current, now)
        return current

    def _provision(self, secret_set: SecretSet, now: float) -> None:
        secret_set.version += 1
        secret_set.changed_at = now
        secret_set.ready_at = now + max(0.0, float(self.config.secret_ready_seconds))
        secret_set.error_message = self.failing_sets.pop(secret_set.name, None)
        self.secret_sets[secret_set.name] = secret_set
        self._save("secrets", secret_set.name, secret_set)

    def get_secret_set(self, name: str) -> SecretSet:
        with self.lock:
            found = self.secret_sets.get(name)
        if found is None:
            raise NotFound("Set not found")
        return found

    def list_secret_sets(self) -> list[SecretSet]:
        with self.lock:
            return sorted(self.secret_sets.values(), key=lambda s: s.name)

    def delete_secret_set(self, name: str) -> None:
        with self.lock:
            if self.secret_sets.pop(name, None) is None:
                raise NotFound("Set not found")
            self._remove("secrets", name)

    def delete_secret(self, name: str, key: str) -> None:
        with self.lock:
            found = self.get_secret_set(name)
            if found.type == "imagePullSecret":
                raise BadRequest("Cannot delete keys from an image pull secret")
            if found.values.pop(key, None) is None:
                raise NotFound("Secret not found")
            self._provision(found, self.clock())

    def fail_secret_set(self, name: str, message: str) -> None:
        """The next provisioning of `name` fails with `message`."""
        with self.lock:
            self.failing_sets[name] = message

    def secret_set_json(self, secret_set: SecretSet, with_keys: bool) -> dict[str, Any]:
        status = secret_set.status(self.clock())
        body: dict[str, Any] = {"region": secret_set.region, "status": status}
        if not with_keys:
            body = {"name": secret_set.name, "type": secret_set.type, **body}
        if status == "failed":
            body["errorMessage"] = secret_set.error_message
        if with_keys:
            body["secrets"] = [{"fieldName": k} for k in sorted(secret_set.values)]
        return body

    def _bind_sets(self, region: str, settings: dict[str, Any]) -> dict[str, Any]:
        """The versions of the sets a deployment binds: 404 for a set missing (as the spec
        documents for the deploy operations), 409 for one not ready."""
        bound: dict[str, Any] = {}
        now = self.clock()
        for field_name, kind in (
            ("secretSet", "secret"),
            ("imagePullSecretSet", "imagePullSecret"),
        ):
            name = settings.get(field_name)
            if not name:
                continue
            found = self.secret_sets.get(name)
            if found is None or found.type != kind:
                what = "Secret set" if kind == "secret" else "Image pull secret"
                raise NotFound(f"{what} '{name}' not found")
            if found.region != region:
                raise BadRequest(
                    f"Secret set '{name}' is in region '{found.region}' but service is in "
                    f"region '{region}'. Secrets must be in the same region as the service."
                )
            status = found.status(now)
            if status != "ready":
                raise Conflict(f"Secret set '{name}' is not ready (status: {status})")
            bound[field_name] = {"name": name, "version": found.version}
        return bound


def _upload_from(data: dict[str, Any]) -> Upload:
    return Upload(**data)


def _build_from(data: dict[str, Any]) -> Build:
    return Build(**data)


def _secret_set_from(data: dict[str, Any]) -> SecretSet:
    return SecretSet(**data)


def _agent_from(data: dict[str, Any]) -> Agent:
    deployments = [Deployment(**d) for d in data.pop("deployments")]
    return Agent(**data, deployments=deployments)
