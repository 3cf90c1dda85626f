"""The emulated service's entities: what each one is at a given time, and what content fails it.

Uploads, builds, agents (with their deployments and sessions) and secret sets are plain
dataclasses, saved as they are (persistence.py). Nothing here reads the clock: a build's or a
set's status, a deployment's health, a session's state, is asked for at a time `now`. What
makes a build fail (a Dockerfile line `RUN exit 1`, `RUN sleep infinity` for a timeout), a
deployment never get ready (`CMD exit N`, an image named `crashloop` or `does-not-exist`) or
its sessions' bot misbehave (`ENV PCC_EMULATOR_BOT=crash|hang|ends:N`, an image named
`bot-crash`, `bot-hang`, `bot-ends-N`) is decided here from the content alone.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from pcc_provider.emulator import spec

# The regions of the official API's example, with the AWS region each one builds in.
REGIONS: dict[str, tuple[str, str]] = {
    "us-west": ("US West (Oregon)", "us-west-2"),
    "us-east": ("US East (Virginia)", "us-east-1"),
    "eu-central": ("Europe (Frankfurt)", "eu-central-1"),
    "ap-south": ("Asia Pacific (Mumbai)", "ap-south-1"),
}
# The CPU architectures each region schedules on, its default first (pcc 1.4.0 reads them as
# `supported_architectures` / `default_architecture` of `regions list`). Daily-hosted nodes are
# arm (the spec's nodeType "arm"); the emulator's US regions take amd64 images too, so that a
# deploy can pin either and one the region lacks is refused as the API does.
ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "us-west": ("arm64", "amd64"),
    "us-east": ("arm64", "amd64"),
    "eu-central": ("arm64",),
    "ap-south": ("arm64",),
}
# `websocketAuth` values (docs.pipecat.ai/pipecat-cloud/guides/websocket-authentication), the
# default first.
WEBSOCKET_AUTH = ("none", "token")
# pcc 1.4.0's K8S_QUANTITY_PATTERN, which "mirrors the server-side k8s quantity validation".
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
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
# The revision phases and health states render.py reports are the spec's (RevisionInfo.phase,
# RevisionHealth.state): checked once here rather than at each place that writes one.
if not {"Creating", "Validating", "Active", "Draining", "Failed"} <= set(
    spec.REVISION_PHASES
) or not {"running", "waiting"} <= set(spec.HEALTH_STATES):
    raise ImportError("the emulator reports a revision phase or health state the spec lacks")

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


@dataclass(frozen=True)
class Organization:
    """The one organization an emulator is: its ids, made once and kept (persistence.py)."""

    organization_id: str
    account_id: str


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
    # The commit a build of an agent's GitHub source built (github.py); None for an upload's.
    commit_sha: str | None = None

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


@dataclass(frozen=True)
class BuildOutcome:
    """How a build of a Dockerfile ends, read from its text alone."""

    outcome: str  # success, failed or timeout
    error_message: str | None
    steps: list[str]
    failed_step: int | None


def build_outcome(dockerfile: str | None, dockerfile_path: str) -> BuildOutcome:
    """A missing Dockerfile fails; `RUN exit 1` fails at that step; `RUN sleep infinity` hangs
    there until the build times out; anything else succeeds."""
    if dockerfile is None:
        error = (
            "failed to solve: failed to read dockerfile: "
            f"open {dockerfile_path}: no such file or directory"
        )
        return BuildOutcome("failed", error, [], None)
    steps = dockerfile_steps(dockerfile)
    for index, step in enumerate(steps):
        if _FAIL_LINE.match(step):
            error = (
                'failed to solve: process "/bin/sh -c exit 1" did not complete '
                "successfully: exit code: 1"
            )
            return BuildOutcome("failed", error, steps, index)
        if _TIMEOUT_LINE.match(step):
            return BuildOutcome("timeout", "Build timed out", steps, index)
    return BuildOutcome("success", None, steps, None)


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


def bucket_for(region: str) -> str:
    """The S3 bucket build contexts of `region` are uploaded to."""
    return f"daily-co-pcc-build-context-emulator-{REGIONS[region][1]}"


def bucket_region(bucket: str) -> str | None:
    """The AWS region a bucket name of ours lives in, else None."""
    for _, aws_region in REGIONS.values():
        if bucket == f"daily-co-pcc-build-context-emulator-{aws_region}":
            return aws_region
    return None


def image_uri(build: Build, organization: Organization) -> str:
    aws_region = REGIONS[build.region][1]
    # Builds of other Dockerfiles over the same context are other images, so they get
    # other tags (the GitHub deploy action relies on it); `Dockerfile` keeps the bare hash.
    tag = build.context_hash
    if build.dockerfile_path != "Dockerfile":
        tag += "-" + hashlib.sha256(build.dockerfile_path.encode()).hexdigest()[:8]
    return (
        f"{organization.account_id}.dkr.ecr.{aws_region}.amazonaws.com/"
        f"pipecat-cloud/{organization.organization_id}:{tag}"
    )


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
    # Once it is ready, its min_agents replicas warm one after another, this far apart.
    warm_seconds: float = 0.0
    # A custom agent profile's sizing, as this deployment snapshotted it: a later change of
    # the profile applies to the next deployment only (pcc `agent profiles update`).
    resources: dict[str, str] | None = None

    def healthy_at(self, now: float) -> bool:
        return self.fault is None and self.ready_at <= now

    def ready_replicas(self, now: float) -> int:
        """Its warm replicas at `now`: none before it is ready (nor ever, if it fails), then
        one more each `warm_seconds`, up to min_agents (a scale-to-zero agent keeps none)."""
        wanted = int(self.settings["autoScaling"]["minAgents"])
        if not self.healthy_at(now) or wanted <= 0:
            return 0
        if self.warm_seconds <= 0:
            return wanted
        return min(wanted, int((now - self.ready_at) / self.warm_seconds))


def deployment_fault(image: str, build_steps: list[str] | None) -> str | None:
    """Why a deployment never gets ready, or None: from its image reference, or, when it
    deploys a build, from that build's Dockerfile steps (`build_steps`)."""
    if build_steps is None:
        lowered = image.lower()
        if MISSING_IMAGE_WORD in lowered:
            return "pull"
        return "crash:1" if CRASH_IMAGE_WORD in lowered else None
    for step in build_steps:
        match = _CRASH_STEP.match(step)
        if match:
            return f"crash:{int(match.group(1))}"
    return None


# How a session's bot behaves is decided from the deployment's content too, as its faults are:
# a build's Dockerfile step `ENV PCC_EMULATOR_BOT=<how>` (or `ENV PCC_EMULATOR_BOT <how>`; the
# last one wins, as in Docker), else an image reference containing `bot-crash`, `bot-hang` or
# `bot-ends-N`. <how> is `crash`, `hang` or `ends:N`; anything else runs normally.
BOT_ENV_NAME = "PCC_EMULATOR_BOT"
_BOT_ENDS_WORD = re.compile(r"bot-ends-(\d+)")
BOT_CRASH_WORD = "bot-crash"
BOT_HANG_WORD = "bot-hang"
# When a session's bot starts, from its creation: on a warm replica, or after a cold start.
WARM_START_SECONDS = 1
COLD_START_SECONDS = 3
CRASH_SECONDS = 1.0  # a crashing bot dies this long after its session is created
START_TIMEOUT_SECONDS = 60.0  # a bot that never starts is given up on after this long
# An agent's maxSessionDuration when it sets none (the spec's default).
DEFAULT_MAX_SESSION_SECONDS = 7200


@dataclass(frozen=True)
class Bot:
    """How the bot of a deployment behaves once a session starts it."""

    kind: str  # "runs", "crash", "hang" or "ends"
    seconds: int | None = None  # with "ends": it ends `completed` this long after it started

    def __str__(self) -> str:
        return f"ends:{self.seconds}" if self.kind == "ends" else self.kind


def bot_behaviour(image: str, build_steps: list[str] | None) -> Bot:
    """How a deployment's bot behaves: from its build's Dockerfile steps (`build_steps`) when
    it deploys a build, else from its image reference. The default runs until stopped."""
    if build_steps is not None:
        how: str | None = None
        for step in build_steps:
            how = _env_value(step, BOT_ENV_NAME) or how
        return _bot_from(how or "")
    lowered = image.lower()
    if BOT_CRASH_WORD in lowered:
        return Bot("crash")
    if BOT_HANG_WORD in lowered:
        return Bot("hang")
    ends = _BOT_ENDS_WORD.search(lowered)
    return Bot("ends", int(ends.group(1))) if ends else Bot("runs")


def _env_value(step: str, name: str) -> str | None:
    """The value a Dockerfile `ENV` step gives `name` (`ENV K=V ...` or `ENV K V`), or None."""
    parts = step.split(None, 1)
    if len(parts) != 2 or parts[0].upper() != "ENV":
        return None
    rest = parts[1]
    try:
        words = shlex.split(rest)
    except ValueError:
        return None
    if "=" not in words[0]:  # the legacy form: one variable, the rest of the line its value
        return " ".join(words[1:]) if words[0] == name else None
    found = None
    for word in words:
        key, _, value = word.partition("=")
        if key == name:
            found = value
    return found


def _bot_from(how: str) -> Bot:
    how = how.strip().lower()
    if how in ("crash", "hang"):
        return Bot(how)
    kind, _, seconds = how.partition(":")
    if kind == "ends" and seconds.isdigit():
        return Bot("ends", int(seconds))
    return Bot("runs")


@dataclass
class Session:
    """A session of an agent, as `pcc agent sessions` lists it: started by `POST
    /v1/public/{agent}/start` (`play`), or recorded by a test through the control API.

    What a started session does is planned when it starts, from its deployment's bot
    (`bot_behaviour`): when its bot starts (`starts_at`; None: never) and when and how it
    ends by itself (`ends_at`, `ends_as`; None: it runs until stopped). Its state at a time
    `now` follows from the plan (`ended`, `state`, ...); a stop or the agent's deletion ends
    it for good (`ended_at`, `end_state`, `stopped_by`). A recorded session keeps the values
    the test gave (`bot_start_seconds`, `completion_status`, an `ended_at` now or `ends_at`
    later). The fields after `completion_status` came later: a record without them loads."""

    id: str
    deployment_id: str
    created_at: float
    ended_at: float | None  # set by a stop, a delete or a test: when it ended; None: see ends_at
    end_state: str | None  # how it ended (`completed`, `agent_error`, ...) when ended_at is set
    bot_start_seconds: int | None  # as recorded by a test; a started session's: starts_at
    cold_start: bool | None
    completion_status: str | None  # as recorded; a played session's follows its end
    starts_at: float | None = None  # when its bot starts; None: never (or as recorded)
    ends_at: float | None = None  # when it ends by itself; None: it runs until stopped
    ends_as: str | None = None  # the end state it ends in at ends_at
    bot: str | None = None  # the behaviour it plays (str(Bot)); None: recorded by a test
    stopped_by: str | None = None  # what ended it early: "stop" or "delete"

    def ended(self, now: float) -> float | None:
        """When it ended, as of `now`; None while it is active."""
        if self.ended_at is not None:
            return self.ended_at
        if self.ends_at is not None and self.ends_at <= now:
            return self.ends_at
        return None

    def active(self, now: float) -> bool:
        return self.ended(now) is None

    def state(self, now: float) -> str:
        """Its end state at `now`: `active` while it runs."""
        if self.ended_at is not None:
            return self.end_state or "unknown"
        if self.ends_at is not None and self.ends_at <= now:
            return self.ends_as or "completed"
        return "active"

    def started(self, now: float) -> float | None:
        """When its bot started, as of `now` (not if the session ended first); else None."""
        if self.starts_at is None or self.starts_at > now:
            return None
        end = self.ended(now)
        return self.starts_at if end is None or self.starts_at <= end else None

    def bot_start(self, now: float) -> int | None:
        """botStartSeconds at `now`: the seconds from its creation to its bot's start."""
        if self.bot_start_seconds is not None:
            return self.bot_start_seconds
        started = self.started(now)
        return None if started is None else round(started - self.created_at)

    def completion(self, now: float) -> str | None:
        """completionStatus at `now`: the recorded one, for a session a test ended; else
        HTTP_COMPLETED once it completed, HTTP_ERROR once its bot failed, None otherwise."""
        recorded = self.ended_at is not None and self.stopped_by is None
        if self.completion_status is not None or recorded:
            return self.completion_status
        return _COMPLETION.get(self.state(now))

    def updated(self, now: float) -> float:
        """updatedAt at `now`: its last change so far."""
        times = (self.created_at, self.started(now), self.ended(now))
        return max(t for t in times if t is not None)

    def stop(self, now: float, by: str) -> bool:
        """End it now as `terminated` (`by`: "stop" or "delete"); False if it had ended."""
        if not self.active(now):
            return False
        self.ended_at, self.end_state, self.stopped_by = now, "terminated", by
        return True


_COMPLETION = {"completed": "HTTP_COMPLETED", "agent_error": "HTTP_ERROR"}


def play(
    session_id: str,
    deployment: Deployment,
    bot: Bot,
    now: float,
    warm: bool,
) -> Session:
    """A session started at `now` on `deployment`, whose bot behaves as `bot`: it starts
    WARM_START_SECONDS later on a warm replica (`warm`), COLD_START_SECONDS after a cold
    start; it ends by itself as `bot` says, or `completed` at the deployment's
    maxSessionDuration."""
    limit = deployment.settings.get("maxSessionDuration") or DEFAULT_MAX_SESSION_SECONDS
    starts_at: float | None = now + (WARM_START_SECONDS if warm else COLD_START_SECONDS)
    ends_at, ends_as = now + float(limit), "completed"
    if bot.kind == "crash":
        starts_at, ends_at, ends_as = None, now + CRASH_SECONDS, "agent_error"
    elif bot.kind == "hang":
        starts_at, ends_at, ends_as = None, now + START_TIMEOUT_SECONDS, "agent_start_timeout"
    elif bot.kind == "ends" and starts_at is not None:
        ends_at = min(ends_at, starts_at + (bot.seconds or 0))
    return Session(
        id=session_id,
        deployment_id=deployment.id,
        created_at=now,
        ended_at=None,
        end_state=None,
        bot_start_seconds=None,
        cold_start=not warm,
        completion_status=None,
        starts_at=starts_at,
        ends_at=ends_at,
        ends_as=ends_as,
        bot=str(bot),
    )


@dataclass
class Agent:
    id: str
    name: str
    region: str
    created_at: float
    updated_at: float
    deployments: list[Deployment] = field(default_factory=list)
    gone_at: float | None = None  # set by a delete: when the agent disappears
    # The body of the last create or update asked of it, as sent (for tests to compare what
    # two clients send; the control API shows it).
    last_request: dict[str, Any] | None = None
    # The GitHub source it was created from (`git` of the create, github.py), else None.
    git: dict[str, Any] | None = None
    sessions: list[Session] = field(default_factory=list)  # oldest first

    @property
    def current(self) -> Deployment:
        return self.deployments[-1]

    def active_sessions(self, now: float) -> list[Session]:
        """Its sessions still active at `now`, oldest first."""
        return [s for s in self.sessions if s.active(now)]

    def reconciled(self, now: float) -> Deployment | None:
        """The latest deployment that is healthy at `now`: the one serving."""
        ready = [d for d in self.deployments if d.healthy_at(now)]
        return ready[-1] if ready else None


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


# -- the organization's own objects (the official CLI's routes) ------------------------------

# The rules the service applies to a custom agent profile (pcc's agent_profiles.py and
# deploy_utils.py mirror them client-side): its name, and k8s quantities for cpu and memory.
PROFILE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass
class AgentProfile:
    """A profile the organization defined (`pcc agent profiles create`). Disabling is how one
    is removed: it stays, and creating the name again enables it with the new sizing."""

    name: str
    display_name: str
    cpu: str
    memory: str
    enabled: bool = True


@dataclass
class SpendLimit:
    """The organization's spend limit, in cents; None: no limit. The emulator spends nothing."""

    limit_cents: int | None = None
    current_spend_cents: int = 0
    blocked_at: float | None = None  # when spend reached the limit


@dataclass
class ApiKey:
    """An organization API key (`pcc organizations keys create`). Revoking keeps the record,
    as the service does (pcc's api.py: "soft-deletes the key by marking it revoked")."""

    id: str
    name: str
    type: str  # "public": the only type pcc 1.4.0 creates
    key: str  # listed in full, as `pcc organizations keys list` shows it
    created_at: float
    revoked_at: float | None = None


@dataclass
class RegistryKey:
    """A registry pull key (`pcc organizations registry-keys mint`). Its material is shown once,
    at mint: only its prefix and a digest are kept."""

    id: str
    name: str
    key_prefix: str
    key_sha256: str
    created_at: float
    revoked_at: float | None = None

    @property
    def status(self) -> str:
        return "revoked" if self.revoked_at is not None else "active"
