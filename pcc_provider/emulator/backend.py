"""The emulated service's operations: create, read, change and delete its entities.

One backend per emulator (as in moto): it holds every entity in memory under one lock, saves
each change through persistence.py, and answers with entities, never with HTTP or JSON (the
route tables render them with render.py). A request the service refuses raises an
errors.ServiceError, which carries the HTTP status and code it is answered with. Build,
deployment and session progress is derived from timestamps whenever it is read, never from a
background thread, so it also advances while the emulator is down, and a test moves it on by
advancing the `Clock`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pcc_provider.emulator import github, spec
from pcc_provider.emulator.archive import InvalidArchive, read_dockerfile
from pcc_provider.emulator.entities import (
    AGENT_PROFILES,
    ARCHITECTURES,
    PROFILE_NAME_RE,
    PROPERTY_SCHEMA,
    QUANTITY_RE,
    REGIONS,
    Agent,
    AgentProfile,
    ApiKey,
    Build,
    Deployment,
    RegistryKey,
    SecretSet,
    Session,
    SpendLimit,
    Upload,
    bot_behaviour,
    bucket_for,
    build_outcome,
    deployment_fault,
    image_uri,
    play,
)
from pcc_provider.emulator.errors import BadRequest, Conflict, NotFound, ServiceError
from pcc_provider.emulator.persistence import (
    Records,
    UnreadableRecord,
    wrong_type,
)
from pcc_provider.emulator.settings import Settings


class Clock:
    """The service's time: this machine's, plus what `advance()` added (the control endpoint
    `POST /_emulator/clock`), so that a test makes a build finish, a deployment get ready or
    an upload URL expire at once instead of waiting for it. It never runs backwards."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the service's time on by `seconds`."""
        if not seconds >= 0:  # NaN too
            raise ValueError(
                f"the clock only moves on: advance it by 0 seconds or more, not {seconds}"
            )
        with self._lock:
            self.offset += seconds


K = TypeVar("K", ApiKey, RegistryKey)  # the organization's revocable keys


class Backend:
    """All state, on disk under `state_dir`, with an in-memory index guarded by one lock."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        settings: Settings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        # Set name -> error message: that set's next provisioning fails (POST /_emulator/...).
        self.failing_sets: dict[str, str] = {}
        # Told (agent name, how many) when deleting an agent cuts sessions still active: the
        # app counts them in its stats.
        self.on_sessions_cut: Callable[[str, int], None] = lambda name, count: None
        # Locks the folder: StateFolderInUse while another emulator has it.
        self.records = Records(state_dir)
        try:
            self._load()
        except BaseException:
            self.records.close()
            raise

    def _load(self) -> None:
        """Read the state folder: what cannot be read is set aside (persistence.py), but an
        unreadable identity stops the start (UnreadableIdentity)."""
        self.secret, self.organization = self.records.identity()
        self.records.check_properties(_check_properties)
        load = self.records.load_all
        self.uploads: dict[str, Upload] = {u.id: u for u in load("uploads", Upload, "id")}
        self.builds: dict[str, Build] = {b.id: b for b in load("builds", Build, "id")}
        self.agents: dict[str, Agent] = {
            a.name: a for a in load("agents", Agent, "name", _check_agent)
        }
        self.secret_sets: dict[str, SecretSet] = {
            s.name: s for s in load("secrets", SecretSet, "name")
        }
        self.profiles: dict[str, AgentProfile] = {
            p.name: p for p in load("profiles", AgentProfile, "name")
        }
        self.spend = self.records.read_single("spend-limit", SpendLimit) or SpendLimit()
        self.api_keys: dict[str, ApiKey] = {k.id: k for k in load("api-keys", ApiKey, "id")}
        self.registry_keys: dict[str, RegistryKey] = {
            k.id: k for k in load("registry-keys", RegistryKey, "id")
        }

    def open(self) -> None:
        """Take the state folder again after `close()`, and read it again as it is now
        (another emulator may have had it meanwhile); harmless when open."""
        with self.lock:
            if self.records.is_open:
                return
            self.records.open()
            try:
                self._load()
            except BaseException:
                self.records.close()
                raise

    def close(self) -> None:
        """Let go of the state folder, for another emulator to take."""
        with self.lock:
            self.records.close()

    # -- organization properties -------------------------------------------------------------

    def properties(self) -> dict[str, Any]:
        """The organization's configurable properties, with their defaults filled in."""
        with self.lock:
            stored = self.records.read_properties()
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
            self.records.write_properties(updated)
        return updated

    # -- uploads -----------------------------------------------------------------------------

    def create_upload(self, region: str) -> Upload:
        if region not in REGIONS:
            raise BadRequest(f"Cloud build is not enabled for region '{region}'")
        now = self.clock.now()
        upload_id = str(uuid.uuid4())
        upload = Upload(
            id=upload_id,
            region=region,
            bucket=bucket_for(region),
            key=f"{self.organization.organization_id}/{upload_id}.tar.gz",
            created_at=now,
            expires_at=now + self.settings.upload_ttl_seconds,
        )
        with self.lock:
            self.uploads[upload_id] = upload
            self.records.save("uploads", upload_id, upload)
        return upload

    def upload_for_key(self, key: str) -> Upload | None:
        match = re.fullmatch(r"[^/]+/([0-9a-f-]{36})\.tar\.gz", key)
        if not match:
            return None
        with self.lock:
            upload = self.uploads.get(match.group(1))
        return upload if upload is not None and upload.key == key else None

    @property
    def root(self) -> Path:
        """The state directory."""
        return self.records.root

    def partial_file(self) -> Path:
        """Where an upload in flight is written before it is known to be acceptable."""
        return self.records.partial_file()

    def object_path(self, upload_id: str) -> Path:
        """Where the context archive of an upload is stored."""
        return self.records.object_path(upload_id)

    def complete_upload(self, upload: Upload, partial: Path, size: int, md5: str) -> None:
        with self.lock:
            self.records.store_object(partial, upload.id)
            upload.size = size
            upload.md5 = md5
            self.records.save("uploads", upload.id, upload)

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
            dockerfile = read_dockerfile(self.records.object_path(upload_id), dockerfile_path)
        except InvalidArchive as exc:
            raise BadRequest(f"Invalid build context: {exc}") from exc
        except FileNotFoundError as exc:
            raise BadRequest(f"Upload {upload_id} has no context archive") from exc
        build = self._plan_build(
            upload, context_hash, dockerfile_path, dockerfile, self.clock.now()
        )
        with self.lock:
            # Checked again under the lock: another request may have finished meanwhile.
            cached = self._cached_build(context_hash, region, dockerfile_path)
            if cached is not None:
                return cached, True
            self.builds[build.id] = build
            self.records.save("builds", build.id, build)
        return build, False

    def _cached_build(self, context_hash: str, region: str, dockerfile_path: str) -> Build | None:
        now = self.clock.now()
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
        dockerfile: str | None,
        now: float,
    ) -> Build:
        size = upload.size or 0
        planned = build_outcome(dockerfile, dockerfile_path)
        return Build(
            id=str(uuid.uuid4()),
            region=upload.region,
            context_hash=context_hash,
            dockerfile_path=dockerfile_path,
            context_size=size,
            created_at=now,
            duration=max(0.0, float(self.settings.build_seconds)),
            outcome=planned.outcome,
            error_message=planned.error_message,
            # A plausible image: a base layer, the context, and a little per-context spread.
            image_size=180_000_000 + 2 * size + int(context_hash[:4], 16) * 1000
            if planned.outcome == "success"
            else None,
            steps=planned.steps,
            failed_step=planned.failed_step,
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
            now = self.clock.now()
            if build.status(now) in ("pending", "building"):
                build.duration = max(0.0, now - build.created_at)
                self.records.save("builds", build.id, build)
        return build

    def delete_build(self, build_id: str) -> None:
        with self.lock:
            if self.builds.pop(build_id.lower(), None) is None:
                raise NotFound("Build not found")
            self.records.remove("builds", build_id.lower())

    def list_builds(
        self,
        status: str | None,
        region: str | None,
        context_hash: str | None,
        dockerfile_path: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Build], int]:
        now = self.clock.now()
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

    # -- agents ------------------------------------------------------------------------------

    def _deployment(self, source: dict[str, Any], settings: dict[str, Any]) -> Deployment:
        now = self.clock.now()
        build_id = source.get("buildId")
        steps: list[str] | None = None
        if build_id is not None:
            with self.lock:
                build = self.builds.get(build_id)
            steps = build.steps if build is not None else []
        return Deployment(
            resources=self._profile_resources(settings.get("agentProfile")),
            id=str(uuid.uuid4()),
            created_at=now,
            ready_at=now + max(0.0, float(self.settings.agent_ready_seconds)),
            image=source["image"],
            build_id=build_id,
            settings=settings,
            fault=deployment_fault(str(source["image"]), steps),
            warm_seconds=max(0.0, float(self.settings.replica_warm_seconds)),
        )

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
        status = build.status(self.clock.now())
        if status != "success":
            raise BadRequest(
                f"Build is not ready (status: {status}). Only successful builds can be deployed."
            )
        return {"image": image_uri(build, self.organization), "buildId": build.id}

    def create_agent(
        self,
        name: str,
        region: str,
        image: str | None,
        build_id: str | None,
        settings: dict[str, Any],
        request: dict[str, Any] | None = None,
    ) -> Agent:
        if region not in REGIONS:
            raise BadRequest(f"Invalid region '{region}'")
        settings = _sized(settings, settings)
        _check_architecture(region, settings)
        source = self._resolve_source(region, image, build_id)
        with self.lock:
            if self._live_agent(name) is not None:
                raise BadRequest("Service already exists")
            bound = self._bind_sets(region, settings)
            now = self.clock.now()
            agent = Agent(
                id=str(uuid.uuid4()),
                name=name,
                region=region,
                created_at=now,
                updated_at=now,
                deployments=[self._deployment(source, settings)],
                last_request=request,
            )
            agent.current.bound_sets = bound
            self.agents[name] = agent
            self.records.save("agents", name, agent)
        return agent

    def create_git_agent(
        self,
        name: str,
        region: str,
        git: dict[str, Any],
        settings: dict[str, Any],
        request: dict[str, Any] | None = None,
    ) -> Agent:
        """An agent from a GitHub source (github.py): a build of the source's placeholder
        context starts now, and the agent's first deployment runs its image once it succeeds."""
        if region not in REGIONS:
            raise BadRequest(f"Invalid region '{region}'")
        settings = _sized(settings, settings)
        _check_architecture(region, settings)
        now = self.clock.now()
        dockerfile = github.dockerfile_of(git)
        commit = github.commit_of(git)
        planned = build_outcome(dockerfile, git["dockerfilePath"])
        build = Build(
            id=str(uuid.uuid4()),
            region=region,
            context_hash=commit[:16],
            dockerfile_path=git["dockerfilePath"],
            context_size=len(dockerfile),
            created_at=now,
            duration=max(0.0, float(self.settings.build_seconds)),
            outcome=planned.outcome,
            error_message=planned.error_message,
            image_size=180_000_000 if planned.outcome == "success" else None,
            steps=planned.steps,
            failed_step=planned.failed_step,
            commit_sha=commit,
        )
        deployment = self._deployment(
            {"image": image_uri(build, self.organization), "buildId": build.id}, settings
        )
        # Ready once the build is done and the deployment has taken its usual time since.
        deployment.ready_at = build.completed_at + (deployment.ready_at - deployment.created_at)
        with self.lock:
            if self._live_agent(name) is not None:
                raise BadRequest("Service already exists")
            bound = self._bind_sets(region, settings)
            agent = Agent(
                id=str(uuid.uuid4()),
                name=name,
                region=region,
                created_at=now,
                updated_at=now,
                deployments=[deployment],
                last_request=request,
                git=git,
            )
            agent.current.bound_sets = bound
            self.builds[build.id] = build
            self.records.save("builds", build.id, build)
            self.agents[name] = agent
            self.records.save("agents", name, agent)
        return agent

    def _live_agent(self, name: str) -> Agent | None:
        """The agent of that name, unless a delete of it has completed by now. Call locked."""
        agent = self.agents.get(name)
        if agent is not None and agent.gone_at is not None and agent.gone_at <= self.clock.now():
            del self.agents[name]
            self.records.remove("agents", name)
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
        request: dict[str, Any] | None = None,
    ) -> Agent:
        with self.lock:
            agent = self.get_agent(name, "Service not found")
            agent.last_request = request
            current = agent.current
            if image is None and build_id is None:
                source: dict[str, Any] = {"image": current.image, "buildId": current.build_id}
            else:
                source = self._resolve_source(agent.region, image, build_id)
            settings = _sized({**current.settings, **changes}, changes)
            _check_architecture(agent.region, settings)
            unchanged = (
                source["image"] == current.image
                and source.get("buildId") == current.build_id
                and settings == current.settings
            )
            if unchanged and not force:
                if request is not None:
                    self.records.save("agents", name, agent)
                return agent  # nothing to roll out: the same deployment stays desired
            bound = self._bind_sets(agent.region, settings)
            agent.deployments = [*agent.deployments[-1:], self._deployment(source, settings)]
            agent.current.bound_sets = bound
            agent.updated_at = self.clock.now()
            self.records.save("agents", name, agent)
        return agent

    def delete_agent(self, name: str) -> None:
        """Deleted at once, or, with `agent_delete_seconds`, still seen for that long. Its
        sessions still active end now, `terminated`: each is a live call cut, and counted
        (`on_sessions_cut`)."""
        with self.lock:
            agent = self._live_agent(name)
            if agent is None:
                raise NotFound("Not found")
            cut = 0
            if agent.gone_at is None:
                now = self.clock.now()
                agent.gone_at = now + max(0.0, self.settings.agent_delete_seconds)
                cut = sum(session.stop(now, "delete") for session in agent.sessions)
                self.records.save("agents", name, agent)
            self._live_agent(name)
            if cut:
                self.on_sessions_cut(name, cut)

    def list_agents(self, region: str | None) -> list[Agent]:
        with self.lock:
            agents = [a for a in map(self._live_agent, list(self.agents)) if a is not None]
        return sorted(
            (a for a in agents if region is None or a.region == region),
            key=lambda a: (a.created_at, a.name),
        )

    # -- sessions ----------------------------------------------------------------------------

    def accepts_public_key(self, token: str) -> bool:
        """Whether `token` is one of the organization's public API keys, not revoked: what the
        public routes (`/v1/public/...`) take, and the private ones refuse."""
        given = token.encode("utf-8", "replace")
        with self.lock:
            keys = [k.key for k in self.api_keys.values() if k.revoked_at is None]
        # Each compared, so that the time taken says nothing of which key came close.
        return sum(hmac.compare_digest(given, k.encode()) for k in keys) > 0

    def start_session(self, name: str) -> tuple[Agent, Session]:
        """A session of the agent on the deployment serving now (the latest healthy one),
        whose bot behaves as that deployment's content says (entities.bot_behaviour).
        Refused: 404 for no such agent, 402 while the spend limit blocks new sessions, 400
        (PCC-1001) when no deployment of the agent is ready."""
        with self.lock:
            agent = self.get_agent(name, "Service not found")
            now = self.clock.now()
            if self.spend.blocked_at is not None:
                raise ServiceError(
                    "Your organization has reached its spend limit: new sessions are rejected "
                    "(in-flight sessions continue to run). Raise or clear the limit to start "
                    "sessions again.",
                    status=402,
                    code="SPEND_LIMIT_REACHED",
                )
            serving = agent.reconciled(now)
            if serving is None or agent.gone_at is not None:
                why = (
                    "it is being deleted"
                    if agent.gone_at is not None
                    else (
                        "no deployment of it is ready yet, or its deployment never gets ready: "
                        "see its status"
                    )
                )
                raise ServiceError(
                    f"Attempt to start agent '{name}' when deployment is not in ready state: {why}",
                    status=400,
                    code="PCC-1001",
                )
            busy = sum(1 for s in agent.active_sessions(now) if s.deployment_id == serving.id)
            warm = serving.ready_replicas(now) > busy
            steps: list[str] | None = None
            if serving.build_id is not None:
                build = self.builds.get(serving.build_id)
                steps = build.steps if build is not None else []
            bot = bot_behaviour(serving.image, steps)
            session = play(str(uuid.uuid4()), serving, bot, now, warm)
            agent.sessions.append(session)
            self.records.save("agents", name, agent)
        return agent, session

    def stop_session(self, name: str, session_id: str) -> tuple[Agent, Session]:
        """End an active session now, `terminated`; one that has ended stays as it ended."""
        with self.lock:
            agent, session = self.get_session(name, session_id)
            if session.stop(self.clock.now(), "stop"):
                self.records.save("agents", name, agent)
        return agent, session

    def get_session(self, name: str, session_id: str) -> tuple[Agent, Session]:
        with self.lock:
            agent = self.get_agent(name, "Service not found")
            for session in agent.sessions:
                if session.id == session_id.lower():
                    return agent, session
        raise NotFound("Session not found")

    def add_session(
        self,
        name: str,
        end_state: str | None,
        seconds: float,
        bot_start_seconds: int | None,
        cold_start: bool | None,
        ends_after: float | None = None,
    ) -> Session:
        """A session of the agent's current deployment, begun `seconds` ago: still active
        when `end_state` is None (ending `completed` by itself `ends_after` seconds from now,
        if given), else ended now in that state (test-only: control.py)."""
        with self.lock:
            agent = self.get_agent(name, "Service not found")
            now = self.clock.now()
            ended = end_state is not None
            session = Session(
                id=str(uuid.uuid4()),
                deployment_id=agent.current.id,
                created_at=now - seconds,
                ended_at=now if ended else None,
                end_state=end_state,
                bot_start_seconds=bot_start_seconds,
                cold_start=cold_start,
                completion_status="HTTP_COMPLETED" if end_state == "completed" else None,
                ends_at=None if ends_after is None else now + ends_after,
                ends_as=None if ends_after is None else "completed",
            )
            agent.sessions.append(session)
            self.records.save("agents", name, agent)
        return session

    def sessions(
        self,
        name: str,
        now: float,
        *,
        status: str | None = None,
        end_state: str | None = None,
        deployment_id: str | None = None,
        start_type: str | None = None,
        created_from: float | None = None,
        created_to: float | None = None,
        bot_start_min: int = 0,
        bot_start_max: int = 0,
    ) -> tuple[Agent, list[Session]]:
        """The agent and its sessions as of `now`, newest first, those given only: `active`
        or `ended` (`status`; `all` or None: all), in `end_state` ("active": those not
        ended), of `deployment_id`, a `cold` or `warm` start (`start_type`), created from
        `created_from` to `created_to`, a bot start of more than `bot_start_min` and less
        than `bot_start_max` seconds (0: no bound)."""
        agent = self.get_agent(name, "Service not found")
        with self.lock:
            held = list(agent.sessions)

        def wanted(s: Session) -> bool:
            bot_start = s.bot_start(now)
            return (
                (status in (None, "all") or s.active(now) == (status == "active"))
                and (end_state is None or s.state(now) == end_state)
                and (deployment_id is None or s.deployment_id == deployment_id)
                and (start_type in (None, "all") or s.cold_start == (start_type == "cold"))
                and (created_from is None or s.created_at >= created_from)
                and (created_to is None or s.created_at <= created_to)
                and (not bot_start_min or (bot_start is not None and bot_start > bot_start_min))
                and (not bot_start_max or (bot_start is not None and bot_start < bot_start_max))
            )

        return agent, [s for s in reversed(held) if wanted(s)]

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
            now = self.clock.now()
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
        secret_set.ready_at = now + max(0.0, float(self.settings.secret_ready_seconds))
        secret_set.error_message = self.failing_sets.pop(secret_set.name, None)
        self.secret_sets[secret_set.name] = secret_set
        self.records.save("secrets", secret_set.name, secret_set)

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
            self.records.remove("secrets", name)

    def delete_secret(self, name: str, key: str) -> None:
        with self.lock:
            found = self.get_secret_set(name)
            if found.type == "imagePullSecret":
                raise BadRequest("Cannot delete keys from an image pull secret")
            if found.values.pop(key, None) is None:
                raise NotFound("Secret not found")
            self._provision(found, self.clock.now())

    def secret_words(self) -> list[str]:
        """What the service holds that no page may show (the dashboard vets every string it
        shows against these, with the API key): each secret value, an image pull secret's
        `username:password` and password too, the public API keys, and the start of each
        registry key (all of its material the service keeps)."""
        with self.lock:
            sets = list(self.secret_sets.values())
            words = [k.key for k in self.api_keys.values()]
            words += [k.key_prefix for k in self.registry_keys.values()]
        for found in sets:
            words += found.values.values()
            if found.type == "imagePullSecret":
                words += _credentials(found.values.get("secretValue", ""))
        return words

    def fail_secret_set(self, name: str, message: str) -> None:
        """The next provisioning of `name` fails with `message`."""
        with self.lock:
            self.failing_sets[name] = message

    def _bind_sets(self, region: str, settings: dict[str, Any]) -> dict[str, Any]:
        """The versions of the sets a deployment binds: 404 for a set missing (as the spec
        documents for the deploy operations), 409 for one not ready."""
        bound: dict[str, Any] = {}
        now = self.clock.now()
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

    # -- agent profiles and the spend limit (the official CLI's routes) ----------------------

    def list_profiles(self) -> list[AgentProfile]:
        """The organization's own profiles, disabled ones too (the catalog is AGENT_PROFILES)."""
        with self.lock:
            return sorted(self.profiles.values(), key=lambda p: p.name)

    def create_profile(self, name: str, display_name: str, cpu: str, memory: str) -> AgentProfile:
        """A new profile, or a disabled one of the name enabled again with this sizing."""
        if not PROFILE_NAME_RE.fullmatch(name):
            raise BadRequest(
                f"Invalid profile name '{name}': use lowercase letters, digits and hyphens, "
                "starting and ending with a letter or digit (max 63 characters)"
            )
        _check_sizing(cpu, memory)
        with self.lock:
            found = self.profiles.get(name)
            if name in AGENT_PROFILES or (found is not None and found.enabled):
                raise Conflict(f"Agent profile '{name}' already exists")
            profile = AgentProfile(name, display_name or name, cpu, memory)
            self.profiles[name] = profile
            self.records.save("profiles", name, profile)
        return profile

    def update_profile(
        self,
        name: str,
        display_name: str | None,
        resources: tuple[str, str] | None,
        enabled: bool | None,
    ) -> AgentProfile:
        if display_name is None and resources is None and enabled is None:
            raise BadRequest("Nothing to update")
        if resources is not None:
            _check_sizing(*resources)
        with self.lock:
            profile = self.profiles.get(name)
            if profile is None:
                raise NotFound(f"Agent profile '{name}' not found")
            if display_name is not None:
                profile.display_name = display_name
            if resources is not None:
                profile.cpu, profile.memory = resources
            if enabled is not None:
                profile.enabled = enabled
            self.records.save("profiles", name, profile)
        return profile

    def _profile_resources(self, name: str | None) -> dict[str, str] | None:
        """The sizing a deployment with profile `name` snapshots: None for the catalog's, and
        for none (an agent sized by explicit resources); a custom profile must exist and be
        enabled."""
        if name is None or name in AGENT_PROFILES:
            return None
        with self.lock:
            profile = self.profiles.get(name)
        if profile is None or not profile.enabled:
            raise BadRequest(
                f"'agentProfile' must be one of {', '.join(AGENT_PROFILES)}, or an enabled "
                f"profile of the organization: '{name}' is neither"
            )
        return {"cpu": profile.cpu, "memory": profile.memory}

    def spend_limit(self) -> SpendLimit:
        with self.lock:
            return self.spend

    def set_spend_limit(self, cents: int | None) -> SpendLimit:
        """Set the limit (None clears it); reaching it blocks new sessions from then."""
        with self.lock:
            spent = self.spend.current_spend_cents
            blocked = cents is not None and spent >= cents
            at = (self.spend.blocked_at or self.clock.now()) if blocked else None
            self.spend = SpendLimit(cents, spent, at)
            self.records.write_single("spend-limit", self.spend)
            return self.spend

    # -- organization keys (pcc organizations keys, registry-keys) ---------------------------

    def create_api_key(self, name: str, key_type: str) -> ApiKey:
        if key_type != "public":
            # pcc 1.4.0 creates public keys only; private keys come from the dashboard.
            raise BadRequest(f"Invalid API key type '{key_type}': only 'public' keys")
        with self.lock:
            made = ApiKey(
                "key_" + uuid.uuid4().hex[:20],
                name,
                key_type,
                "pk_" + secrets.token_hex(24),
                self.clock.now(),
            )
            self.api_keys[made.id] = made
            self.records.save("api-keys", made.id, made)
        return made

    def list_api_keys(self) -> list[ApiKey]:
        with self.lock:
            return sorted(self.api_keys.values(), key=lambda k: (k.created_at, k.id))

    def revoke_api_key(self, key_id: str) -> ApiKey:
        return self._revoke(self.api_keys, "api-keys", key_id, "API key not found")

    def mint_registry_key(self, name: str) -> tuple[RegistryKey, str]:
        """The key and its material, which only this answer carries."""
        material = "pcr_" + secrets.token_urlsafe(32)
        with self.lock:
            made = RegistryKey(
                "rk_" + uuid.uuid4().hex[:20],
                name,
                material[:10],
                hashlib.sha256(material.encode()).hexdigest(),
                self.clock.now(),
            )
            self.registry_keys[made.id] = made
            self.records.save("registry-keys", made.id, made)
        return made, material

    def list_registry_keys(self) -> list[RegistryKey]:
        with self.lock:
            return sorted(self.registry_keys.values(), key=lambda k: (k.created_at, k.id))

    def revoke_registry_key(self, key_id: str) -> RegistryKey:
        return self._revoke(self.registry_keys, "registry-keys", key_id, "Registry key not found")

    def _revoke(self, keys: dict[str, K], kind: str, key_id: str, missing: str) -> K:
        """Revoked, and kept (listed as revoked); revoking a revoked key changes nothing."""
        with self.lock:
            found = keys.get(key_id)
            if found is None:
                raise NotFound(missing)
            if found.revoked_at is None:
                found.revoked_at = self.clock.now()
                self.records.save(kind, found.id, found)
        return found


def _credentials(value: str) -> list[str]:
    """An image pull secret's `username:password` and password, from their base64 (as pcc and
    the provider send them); nothing if the value is not that."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return []
    _, colon, password = decoded.partition(":")
    return [decoded, password] if colon and password else [decoded]


def _check_sizing(cpu: Any, memory: Any) -> None:
    for name, value in (("cpu", cpu), ("memory", memory)):
        if not isinstance(value, str) or not QUANTITY_RE.fullmatch(value):
            raise BadRequest(
                f"Invalid {name} quantity '{value}' (expected e.g. '500m', '2', '4Gi')"
            )


def _sized(settings: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """An agent is sized by a profile or by explicit resources, never both: resources given
    drop the profile, a profile given drops the resources."""
    if changes.get("resources"):
        return {**settings, "agentProfile": None}
    if changes.get("agentProfile") is not None and settings.get("resources"):
        return {**settings, "resources": None}
    return settings


def _check_architecture(region: str, settings: dict[str, Any]) -> None:
    """400 for an architecture the region does not schedule on, naming those it does."""
    arch = settings.get("architecture")
    supported = ARCHITECTURES.get(region, ())
    if arch is not None and arch not in supported:
        raise BadRequest(
            f"Architecture '{arch}' is not supported in region '{region}' "
            f"(supported: {', '.join(supported)})"
        )


def _check_agent(agent: Agent) -> None:
    if not agent.deployments:  # an agent is its deployments: `current` is the last
        raise UnreadableRecord("no deployment")


def _check_properties(stored: Any) -> None:
    """The stored properties: an object of the properties a PATCH may set, each valid."""
    if not isinstance(stored, dict):
        raise wrong_type(stored, dict)
    for name, value in stored.items():
        if name not in PROPERTY_SCHEMA:
            raise UnreadableRecord(f"an unknown property {name}")
        if name == "defaultRegion" and (not isinstance(value, str) or value not in REGIONS):
            raise UnreadableRecord(f"defaultRegion {value!r} is not one of {', '.join(REGIONS)}")
