"""The API's JSON for each entity as it stands at a time `now`: pure functions, no clock, no I/O.

Every route table renders through these, so the public API and the official CLI's
organization API always agree on what an entity looks like.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pcc_provider.emulator.entities import (
    AGENT_PROFILES,
    PROPERTY_SCHEMA,
    REGIONS,
    Agent,
    AgentProfile,
    ApiKey,
    Build,
    Deployment,
    Organization,
    RegistryKey,
    SecretSet,
    Session,
    SpendLimit,
    Upload,
    image_uri,
)
from pcc_provider.emulator.errors import ServiceError
from pcc_provider.emulator.spec import DEFAULT_AGENT_PROFILE

# Shown instead of the ECR URI in a build-based deployment's manifest, as the API documents.
REDACTED_IMAGE = "[redacted]"


def iso(ts: float) -> str:
    """RFC 3339 with milliseconds and Z, as the real API writes timestamps."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _log_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y/%m/%d %H:%M:%S")


# -- organization ----------------------------------------------------------------------------


def regions_json() -> list[dict[str, Any]]:
    return [{"code": code, "display_name": display} for code, (display, _) in REGIONS.items()]


def property_schema_json(current: dict[str, Any]) -> dict[str, Any]:
    """Each property with its metadata and `current` value (`/properties/schema`)."""
    return {
        name: {**meta, "readOnly": False, "currentValue": current[name]}
        for name, meta in PROPERTY_SCHEMA.items()
    }


# -- uploads and builds ----------------------------------------------------------------------


def upload_json(upload: Upload, base_url: str, fields: dict[str, str]) -> dict[str, Any]:
    """The answer to an upload-url request: where to POST the context, with which `fields`."""
    return {
        "uploadId": upload.id,
        "uploadUrl": f"{base_url}/_storage/{upload.bucket}",
        "uploadFields": fields,
        "expiresAt": iso(upload.expires_at),
    }


def build_json(
    build: Build, now: float, organization: Organization, base_url: str
) -> dict[str, Any]:
    status = build.status(now)
    updated = build.created_at
    body: dict[str, Any] = {
        "id": build.id,
        "organizationId": organization.organization_id,
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
            body["imageUri"] = image_uri(build, organization)
            body["imageSizeBytes"] = build.image_size
        elif build.error_message:
            body["errorMessage"] = build.error_message
    body["updatedAt"] = iso(updated)
    return body


def build_logs(build: Build, now: float, organization: Organization) -> list[str]:
    """The log lines written by `now`: they appear over the build's duration."""
    return [line for at, line in _log_schedule(build, organization) if at <= now]


def _log_schedule(build: Build, organization: Organization) -> list[tuple[float, str]]:
    start, end = build.started_at, build.completed_at
    image = image_uri(build, organization)
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
        body.append(f"#1 ERROR: failed to read dockerfile: open {df}: no such file or directory")
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


# -- agents ----------------------------------------------------------------------------------


def _manifest(agent: Agent, dep: Deployment, organization: Organization) -> dict[str, Any]:
    s = dep.settings
    cpu, memory = _sizing(s, dep.resources)
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
                "namespace": organization.organization_id.replace("_", "-"),
            },
            "spec": spec,
        },
        "serviceId": agent.id,
        "createdAt": iso(dep.created_at),
        "updatedAt": iso(dep.created_at),
    }


def _revision(dep: Deployment, now: float, previous: bool) -> dict[str, Any]:
    replicas = max(1, int(dep.settings["autoScaling"]["minAgents"]))
    if dep.fault is not None and not previous:
        return _failing_revision(dep, now, replicas)
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
        "readyReplicas": dep.ready_replicas(now) if phase in ("Active", "Draining") else 0,
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


def _failing_revision(dep: Deployment, now: float, replicas: int) -> dict[str, Any]:
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


def agent_json(agent: Agent, now: float, organization: Organization) -> dict[str, Any]:
    current = agent.current
    s = current.settings
    reconciled = agent.reconciled(now)
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
        "activeSessionCount": len(agent.active_sessions(now)),
        "deployment": _manifest(agent, current, organization),
        # Null for an agent sized by explicit resources (pcc 1.4.0: "there is no profile").
        "agentProfile": s.get("agentProfile"),
        "krispViva": {"audioFilter": s["krispViva"]["audioFilter"]},
        "currentRevision": _revision(current, now, previous=False),
        "previousRevision": None,
    }
    if reconciled is not None:
        body["reconciledDeploymentId"] = reconciled.id
    if not ready and reconciled is not None and reconciled is not current:
        body["previousRevision"] = _revision(reconciled, now, previous=True)
    return body


def _sizing(settings: dict[str, Any], custom: dict[str, str] | None = None) -> tuple[str, str]:
    """(cpu, memory): the explicit resources, else a custom profile's as the deployment took
    it (`custom`), else the built-in profile's."""
    explicit = settings.get("resources") or custom
    if explicit:
        return explicit["cpu"], explicit["memory"]
    return AGENT_PROFILES[settings.get("agentProfile") or DEFAULT_AGENT_PROFILE]


def service_json(agent: Agent, now: float, organization: Organization) -> dict[str, Any]:
    """The agent as the organization route reports it: the public shape plus what pcc 1.4.0
    reads there (cli/commands/agent.py `status`): the architecture the deployment pinned at
    `deployment.manifest.spec.arch` (absent: the region's default), the resolved sizing as
    `resources`, and `websocketAuth` as the create and update take it."""
    body = agent_json(agent, now, organization)
    s = agent.current.settings
    arch = s.get("architecture")
    if arch is not None:
        body["deployment"]["manifest"]["spec"]["arch"] = arch
    cpu, memory = _sizing(s, agent.current.resources)
    body["resources"] = {"cpu": cpu, "memory": memory}
    body["websocketAuth"] = s.get("websocketAuth", "none")
    return body


def agent_list_item(
    agent: Agent, now: float, organization: Organization, with_deployment: bool
) -> dict[str, Any]:
    reconciled = agent.reconciled(now)
    item: dict[str, Any] = {
        "id": agent.id,
        "name": agent.name,
        "region": agent.region,
        "desiredDeploymentId": agent.current.id,
        "activeDeploymentId": agent.current.id,
        "organizationId": organization.organization_id,
        "createdAt": iso(agent.created_at),
        "updatedAt": iso(agent.updated_at),
        "deletedAt": None,
    }
    if reconciled is not None:
        item["reconciledDeploymentId"] = reconciled.id
    if with_deployment:
        item["deployment"] = _manifest(agent, agent.current, organization)
    return item


def deployments_json(agent: Agent) -> list[dict[str, Any]]:
    """Each deployment's build (or image), settings and the version of each secret set it
    bound, oldest first."""
    return [
        {
            "id": d.id,
            "createdAt": iso(d.created_at),
            "buildId": d.build_id,
            "image": d.image,
            "boundSets": d.bound_sets,
            "settings": d.settings,
        }
        for d in agent.deployments
    ]


def session_json(
    agent: Agent, session: Session, organization: Organization, now: float
) -> dict[str, Any]:
    """A session as it stands at `now`, as the sessions list and getSession answer it (the
    spec's fields), with the derived `endState` pcc 1.4.0 shows (`active` while it runs)."""
    ended = session.ended(now)
    return {
        "sessionId": session.id,
        "serviceId": agent.id,
        "organizationId": organization.organization_id,
        "deploymentId": session.deployment_id,
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated(now)),
        "endedAt": iso(ended) if ended is not None else None,
        "endState": session.state(now),
        "botStartSeconds": session.bot_start(now),
        "coldStart": session.cold_start,
        "completionStatus": session.completion(now),
    }


def session_start_json(
    agent: Agent,
    session: Session,
    organization: Organization,
    base_url: str,
    start: dict[str, Any],
) -> dict[str, Any]:
    """The answer to a start (StartResponse): the session's id, a Daily room and its token
    when `createDailyRoom`, a WebSocket URL and its token for `transport: websocket` (with
    the `body` base64-encoded, as the spec says), ICE servers when asked for. The room and
    the URLs are made up: nothing listens there."""
    tag = hashlib.sha256(session.id.encode()).hexdigest()
    answer: dict[str, Any] = {"sessionId": session.id}
    if start["createDailyRoom"]:
        answer["dailyRoom"] = f"https://pcc-emulator.daily.co/{tag[:20]}"
        answer["dailyToken"] = _token({"r": tag[:20], "o": True}, tag)
    if start["transport"] == "websocket":
        host = base_url.split("://", 1)[-1]
        answer["wsUrl"] = f"ws://{host}/ws/generic/{agent.name}.{organization.organization_id}"
        answer["token"] = _token({"sh": f"{agent.name}.{organization.organization_id}"}, tag)
        if start["body"] is not None:
            answer["body"] = base64.b64encode(json.dumps(start["body"]).encode()).decode()
    if start["enableDefaultIceServers"]:
        answer["iceConfig"] = {"iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}]}
    return answer


def _token(claims: dict[str, Any], tag: str) -> str:
    """A token-shaped string (claims, then a made-up signature): not a credential."""
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{encoded}.{tag[20:52]}"


# -- agent logs ------------------------------------------------------------------------------

# What a bot that fails at start writes before it dies: a bot reading a secret its secret set
# lacks, the usual first crash of a new deploy.
CRASH_TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/app/runner.py", line 88, in run_bot',
    "    await bot(runner_args)",
    '  File "/app/bot.py", line 31, in bot',
    '    llm = OpenAILLMService(api_key=os.environ["OPENAI_API_KEY"])',
    '  File "<frozen os>", line 679, in __getitem__',
    "KeyError: 'OPENAI_API_KEY'",
)
SERVER_STARTUP = (
    "INFO:     Started server process [1]",
    "INFO:     Waiting for application startup.",
    "INFO:     Application startup complete.",
    "INFO:     Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)",
)


@dataclass(frozen=True)
class LogLine:
    """One line of an agent's logs: written at `micros` (microseconds since the epoch), by a
    deployment, for a session or not."""

    micros: int
    text: str
    deployment_id: str
    session_id: str | None = None


def agent_log_lines(
    agent: Agent,
    now: float,
    deployment_id: str | None = None,
    session_id: str | None = None,
    text: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[LogLine]:
    """The agent's log lines written by `now`, oldest first: each deployment's server
    starting once it is ready (or its crash, for one that crash-loops), and each session's
    life: the start request, the runner, the bot starting, and how it ended (for a bot that
    fails at start, the traceback it died with, its last line last). Only those of
    `deployment_id`, of `session_id`, containing `text` (any case), written from `since`
    to `until` (seconds), if given."""
    batches: list[tuple[float, str, str | None, tuple[str, ...]]] = []
    for dep in agent.deployments:
        if dep.fault is None:
            batches.append((dep.ready_at, dep.id, None, SERVER_STARTUP))
        elif dep.fault.startswith("crash:"):
            code = dep.fault.partition(":")[2]
            crashed = (dep.created_at + dep.ready_at) / 2
            # The lines its revision's health message quotes (_failing_revision).
            said = (CRASH_TRACEBACK[0], '  File "/app/bot.py", line 1, in <module>')
            batches.append((crashed, dep.id, None, (*said, f"SystemExit: {code}")))
    for session in agent.sessions:
        batches.extend(_session_batches(session, now))
    lines: list[LogLine] = []
    for at, dep_id, sid, texts in sorted(batches, key=lambda b: b[0]):
        if at > now or deployment_id not in (None, dep_id) or session_id not in (None, sid):
            continue
        # A batch's lines a microsecond apart, so that their timestamps keep their order.
        first = round(at * 1_000_000)
        lines.extend(LogLine(first + i, said, dep_id, sid) for i, said in enumerate(texts))
    return [
        line
        for line in lines
        if (text is None or text.lower() in line.text.lower())
        and (since is None or line.micros >= since * 1_000_000)
        and (until is None or line.micros <= until * 1_000_000)
    ]


def _session_batches(
    session: Session, now: float
) -> list[tuple[float, str, str | None, tuple[str, ...]]]:
    sid, dep = session.id, session.deployment_id
    batches: list[tuple[float, str, str | None, tuple[str, ...]]] = [
        (
            session.created_at,
            dep,
            sid,
            (
                f"INFO | Session {sid}: start request received",
                f"INFO | Runner: calling bot() of /app/bot.py for session {sid}",
            ),
        )
    ]
    started = session.started(now)
    if started is not None:
        kind = "cold" if session.cold_start else "warm"
        seconds = round(started - session.created_at)
        batches.append(
            (started, dep, sid, (f"INFO | Session {sid}: bot started ({kind} start, {seconds} s)",))
        )
    ended = session.ended(now)
    if ended is None:
        return batches
    state = session.state(now)
    if state == "agent_error" and session.bot == "crash":
        said: tuple[str, ...] = (
            f"ERROR | Session {sid}: bot() raised an exception",
            *CRASH_TRACEBACK,
        )
    elif state == "agent_start_timeout":
        said = (f"ERROR | Session {sid}: the bot did not start in time (agent_start_timeout)",)
    elif state == "terminated":
        why = "the agent was deleted" if session.stopped_by == "delete" else "stop requested"
        said = (f"WARNING | Session {sid}: terminated ({why})",)
    elif state == "completed":
        said = (f"INFO | Session {sid}: bot finished, session completed",)
    else:
        said = (f"INFO | Session {sid}: session ended ({state})",)
    batches.append((ended, dep, sid, said))
    return batches


def agent_logs_json(lines: list[LogLine], order: str, offset: int, limit: int) -> dict[str, Any]:
    """A page of log lines (getLogs): newest first unless `order` is `asc`, with the total."""
    ordered = lines if order == "asc" else lines[::-1]
    return {
        "total": {"value": len(lines), "relation": "eq"},
        "logs": [
            {
                "log": line.text,
                "timestamp": _iso_micro(line.micros),
                "deploymentId": line.deployment_id,
            }
            for line in ordered[offset : offset + limit]
        ],
    }


def _iso_micro(micros: int) -> str:
    seconds, fraction = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction:06d}Z"


# -- secret sets -----------------------------------------------------------------------------


def secret_set_json(secret_set: SecretSet, now: float, with_keys: bool) -> dict[str, Any]:
    status = secret_set.status(now)
    body: dict[str, Any] = {"region": secret_set.region, "status": status}
    if not with_keys:
        body = {"name": secret_set.name, "type": secret_set.type, **body}
    if status == "failed":
        body["errorMessage"] = secret_set.error_message
    if with_keys:
        body["secrets"] = [{"fieldName": k} for k in sorted(secret_set.values)]
    return body


def error(refused: ServiceError) -> dict[str, str]:
    """The API's error body (ErrorResponse in its spec)."""
    return {"error": refused.message, "code": refused.code}


# -- agent profiles and the spend limit (the official CLI's routes) --------------------------


def agent_profile_json(
    name: str, display: str, cpu: str, memory: str, custom: bool, enabled: bool
) -> dict[str, Any]:
    """A profile as `pcc agent profiles list` reads it (snake_case, unlike the rest)."""
    return {
        "api_name": name,
        "display_name": display,
        "resources": {"cpu": cpu, "memory": memory},
        "custom": custom,
        "enabled": enabled,
    }


def agent_profiles_json(custom: list[AgentProfile]) -> list[dict[str, Any]]:
    """The platform catalog, then the organization's own profiles."""
    catalog = [
        agent_profile_json(name, name, cpu, memory, False, True)
        for name, (cpu, memory) in AGENT_PROFILES.items()
    ]
    return catalog + [custom_profile_json(p) for p in custom]


def custom_profile_json(p: AgentProfile) -> dict[str, Any]:
    return agent_profile_json(p.name, p.display_name, p.cpu, p.memory, True, p.enabled)


def spend_limit_json(limit: SpendLimit, now: float) -> dict[str, Any]:
    """What `pcc spend-limit show` reads: the limit, this month's spend and period, whether
    new sessions are blocked."""
    day = datetime.fromtimestamp(now, UTC)
    start = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return {
        "limitCents": limit.limit_cents,
        "currentSpendCents": limit.current_spend_cents,
        "periodStart": iso(start.timestamp()),
        "periodEnd": iso(end.timestamp()),
        "blocked": limit.blocked_at is not None,
        "blockedAt": iso(limit.blocked_at) if limit.blocked_at is not None else None,
    }


# -- organization keys -----------------------------------------------------------------------


def api_key_json(key: ApiKey) -> dict[str, Any]:
    """An API key as `pcc organizations keys list` reads it (key["metadata"]["name"], key["key"],
    key["createdAt"], key["revoked"]; key["id"] to revoke), and `create` reads its answer."""
    return {
        "id": key.id,
        "key": key.key,
        "type": key.type,
        "metadata": {"name": key.name},
        "createdAt": iso(key.created_at),
        "revoked": key.revoked_at is not None,
    }


def registry_key_json(key: RegistryKey) -> dict[str, Any]:
    """A registry key as `pcc organizations registry-keys list` reads it: never its material."""
    return {
        "id": key.id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "created_at": iso(key.created_at),
        "last_used_at": None,
        "status": key.status,
        "revoked": key.revoked_at is not None,
        "region": None,  # no self-hosted regions here: no key is a region's pull credential
    }


def registry_key_minted(key: RegistryKey, material: str, host: str) -> dict[str, Any]:
    """The answer to a mint, which `registry-keys mint` reads (key, username, registry_host):
    the only one that carries the material."""
    return {
        "id": key.id,
        "name": key.name,
        "key": material,
        "username": "pcc",
        "registry_host": host,
    }
