"""The Agent resource: a Pipecat Cloud agent (service) deployed from a build or an image.

    image = Build("agent-image", context="agent")
    bot = Agent("bot", service_name="hello-agent", build_id=image.build_id)

Changing the build or any setting updates the agent in place and waits for the new
deployment to be ready; changing the name or region replaces it; destroy deletes it. A
change in the values of a secret set declared in the same program (pcc_provider.secrets), or
in `triggers`, redeploys the same configuration.

When things go wrong: a deployment the service reports as failed (revision phase `Failed`,
health `terminated` or `CrashLoopBackOff`) fails at once with the service's reason; API errors
that may pass (5xx, 429, lost connections) are retried a few times while waiting; an agent is
deleted again only if this resource's create made it (this call, or the interrupted `up` whose
create this call carries on) and its deployment or smoke check definitely failed; an
existing agent of the same name is never taken over silently.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Required, TypedDict, Unpack

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    UpdateResult,
)

from pcc_provider import api, cancel, ownership, recovery, secrets, smoke, taken, watch
from pcc_provider.agent_profile import PROFILE_NAME
from pcc_provider.config import DEFAULT_REGION, ProviderConfig
from pcc_provider.description import (
    PYTHON,
    SCHEMA,
    UNKNOWN,
    Description,
    Door,
    Field,
    describe,
    flag,
    positive_seconds,
    present,
    region_problem,
)
from pcc_provider.errors import PipecatError, Transient
from pcc_provider.resource import (
    ApiResource,
    OwnedObjectProvider,
    Progress,
    StillThere,
    checked,
    refuse_import,
)
from pcc_provider.smoke import SmokeCheck, SmokeFailed

SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])$")
SERVICE_NAME_MAX = 54
PROFILES = ("agent-1x", "agent-2x", "agent-3x")
KRISP_FILTERS = ("tel", "pro")
# pcc 1.4.0 (cli/commands/deploy.py): "exactly the kubernetes.io/arch vocabulary".
ARCHITECTURES = ("amd64", "arm64")
# docs.pipecat.ai/pipecat-cloud/guides/websocket-authentication: none (the default) or token.
WEBSOCKET_AUTH = ("none", "token")
# pcc 1.4.0's K8S_QUANTITY_PATTERN (_utils/deploy_utils.py), "the server-side k8s quantity
# validation": a positive decimal and an optional suffix.
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
DEFAULT_DEPLOY_TIMEOUT = 10 * 60
# Long enough for most voice calls to end by themselves (a support call runs minutes), short
# enough that a destroy blocked by a stuck session fails while someone is still watching.
DEFAULT_DRAIN_TIMEOUT = 15 * 60
ON_ACTIVE_SESSIONS = ("wait", "refuse", "proceed")
ON_ACTIVE_SESSIONS_ENV = "PIPECAT_ON_ACTIVE_SESSIONS"
# A container image reference as an agent reports it; anything else (a redacted one) is not.
IMAGE_REFERENCE = re.compile(r"[a-z0-9][\w.\-/:@]*")
# What claims name agents by (ownership.py).
CLAIM = "agent"


@dataclass(frozen=True)
class Setting:
    """What the API knows of an agent setting (a Field's `setting`): where
    CreateServiceRequest / UpdateServiceRequest take it and where an agent (GET
    /agents/{name}) reports it, and what the service holds for an agent deployed without it.
    The request bodies, drift on refresh and the comparison with a found agent follow."""

    sent: tuple[str, ...]
    # None: the API does not report it (the build of a build-deployed agent is redacted).
    held: tuple[str | int, ...] | None
    # The service's documented default; None: the agent then holds nothing.
    default: Any = None
    # Whether an update sends a setting the program leaves unset (as its default or null),
    # so that removing it from the program undoes it: the API keeps what an update omits.
    # The image source is not: a build and an image exclude each other.
    undone: bool = True
    number: bool = False
    # Only pcc's organization route (`/organizations/{org}/services`) carries it: the public
    # CreateServiceRequest / UpdateServiceRequest have no such field, and the API drops the
    # fields it does not know. A body with one travels there; an agent that sets one is read
    # there too, which is where the service reports it.
    organization: bool = False
    # How an agent reports it when `held` is not one path: from the whole agent.
    observe: Callable[[dict[str, Any]], Any] | None = None
    # Sent on create only: the API ignores it on update (pcc 1.4.0 on `git`); a change
    # replaces the agent instead.
    create_only: bool = False

    def value(self, given: Any) -> Any:
        return int(given) if self.number and given is not None else given

    def same(self, old: Any, new: Any) -> bool:
        """Whether two inputs ask the same of the service: equal, or one unset and the other
        its documented default."""
        if old == new:
            return True
        unset = (None, "")
        return self.default is not None and (
            (old in unset and new == self.default) or (new in unset and old == self.default)
        )


def _service_name(name: Any, door: Door) -> str | None:
    if isinstance(name, str) and len(name) <= SERVICE_NAME_MAX and SERVICE_NAME.fullmatch(name):
        return None
    return (
        f"{door['serviceName']} {name!r} is not a valid agent name: use at most 54 lowercase "
        "letters, digits and hyphens, starting and ending with a letter or digit"
    )


def _one_of(name: str, choices: tuple[str, ...]) -> Any:
    def check(value: Any, door: Door) -> str | None:
        return None if value in choices else f"{door[name]} must be one of {', '.join(choices)}"

    return check


def _profile(value: Any, door: Door) -> str | None:
    # A platform profile, or one of the organization's own (AgentProfile), which the service
    # knows: the name's form is all a program can judge.
    if value in PROFILES or (isinstance(value, str) and PROFILE_NAME.fullmatch(value)):
        return None
    return (
        f"{door['agentProfile']} must be one of {', '.join(PROFILES)}, or the name of an "
        f"AgentProfile, not {value!r}"
    )


def _krisp(value: Any, door: Door) -> str | None:
    if value in KRISP_FILTERS:
        return None
    listed = ", ".join(repr(f) for f in KRISP_FILTERS)
    return f"{door['krispVivaAudioFilter']} must be {listed} or {door.none}"


def _session_limit(value: Any, door: Door) -> str | None:
    if not isinstance(value, int | float) or 60 <= value <= 14400:
        return None
    return f"{door['maxSessionDuration']} must be 60 to 14400 seconds"


def _resources(value: Any, door: Door) -> str | None:
    if (
        isinstance(value, Mapping)
        and set(value) == {"cpu", "memory"}
        and all(isinstance(v, str) and QUANTITY.fullmatch(v) for v in value.values())
    ):
        return None
    return (
        f"{door['resources']} must give exactly cpu and memory as Kubernetes quantities "
        f"(e.g. {door.assign('resources', {'cpu': '2', 'memory': '4Gi'})}), not {value!r}"
    )


GIT_FIELDS = ("repoFullName", "branch", "dockerfilePath", "subdirectory")
# pcc 1.4.0's github_utils ("mirrors the API's isValidRepoFullName"), and its branch rule.
_REPO_PART = re.compile(r"[A-Za-z0-9_.-]+")


def git_problem(git: Any) -> str | None:
    """What is wrong with a GitHub source by pcc 1.4.0's rules (GitSourceConfig), or None."""
    if not isinstance(git, Mapping) or not set(git) <= set(GIT_FIELDS):
        return f"must be an object of {', '.join(GIT_FIELDS)}"
    if any(not isinstance(v, str) for v in git.values()):
        return "must hold strings"
    repo, branch = git.get("repoFullName"), git.get("branch")
    if repo is None or branch is None:
        return "needs both repoFullName and branch"
    parts = repo.split("/")
    if len(parts) != 2 or any(not _REPO_PART.fullmatch(p) or set(p) == {"."} for p in parts):
        return f"repoFullName {repo!r} is not of the form owner/repo"
    if not branch or any(not p or set(p) == {"."} for p in branch.split("/")):
        return f"branch {branch!r} is not a branch name"
    return None


def _git(value: Any, door: Door) -> str | None:
    problem = git_problem(value)
    return None if problem is None else f"{door['git']} {problem}"


def _explicit_resources(agent: dict[str, Any]) -> Any:
    """The cpu and memory an agent was given instead of a profile. Every agent reports its
    resolved sizing (the manifest's `resources`); only one without a profile was given it."""
    if agent.get("agentProfile") is not None:
        return None
    held = _at(agent, (*_SPEC, "resources")) or agent.get("resources")
    return dict(held) if isinstance(held, dict) and held else None


def _not_negative(name: str) -> Any:
    def check(value: Any, door: Door) -> str | None:
        negative = isinstance(value, int | float) and value < 0
        return f"{door[name]} must not be negative" if negative else None

    return check


_SPEC = ("deployment", "manifest", "spec")
_BOUND = (
    "secret sets in that region: a name, or the SecretSet / ImagePullSecret itself. When the "
    "set is declared in the same program, the agent waits until it is ready, and a change in a "
    "SecretSet's values redeploys it."
)
_SCALING = "auto-scaling bounds."


class AgentArgs(TypedDict, total=False):
    """The inputs of an Agent, by their Python names: described once (pcc_provider.description)
    for both doors, the schema, the SDKs and the reference page. A setting the API takes
    carries its Setting."""

    service_name: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "the agent's name (lowercase letters, digits, hyphens; at most 54).",
                replaces=True,
                check=_service_name,
            ),
        ]
    ]
    build_id: Annotated[
        pulumi.Input[str] | None,
        Field(
            "a successful build to deploy, e.g. `Build(...).build_id` or a StackReference "
            "output. Give this or `image`.",
            setting=Setting(("buildId",), None, undone=False),
        ),
    ]
    image: Annotated[
        pulumi.Input[str] | None,
        Field(
            "a container image to deploy instead of a build.",
            setting=Setting(("image",), (*_SPEC, "image"), undone=False),
        ),
    ]
    region: Annotated[
        str | None,
        Field(
            'default: config `pipecat:region`, else "us-west". Builds, secret sets and image '
            "pull secret sets must be in the same region.",
            replaces=True,
            check=region_problem,
        ),
    ]
    secret_set: Annotated[
        pulumi.Input[str] | secrets.SecretSet | None,
        Field(_BOUND, setting=Setting(("secretSet",), (*_SPEC, "envFromSecretNames", 0))),
    ]
    image_pull_secret_set: Annotated[
        pulumi.Input[str] | secrets.ImagePullSecret | None,
        Field(_BOUND, setting=Setting(("imagePullSecretSet",), (*_SPEC, "imagePullSecretName"))),
    ]
    min_agents: Annotated[
        pulumi.Input[int] | None,
        Field(
            _SCALING,
            check=_not_negative("minAgents"),
            setting=Setting(
                ("autoScaling", "minAgents"), ("autoScaling", "minReplicas"), 0, number=True
            ),
        ),
    ]
    max_agents: Annotated[
        pulumi.Input[int] | None,
        Field(
            _SCALING,
            check=_not_negative("maxAgents"),
            setting=Setting(
                ("autoScaling", "maxAgents"), ("autoScaling", "maxReplicas"), 50, number=True
            ),
        ),
    ]
    agent_profile: Annotated[
        pulumi.Input[str] | None,
        Field(
            '"agent-1x" (default on the service), "agent-2x", "agent-3x", or the name of an '
            "enabled AgentProfile of the organization.",
            check=_profile,
            setting=Setting(("agentProfile",), ("agentProfile",), "agent-1x"),
        ),
    ]
    krisp_viva_audio_filter: Annotated[
        str | None,
        Field(
            '"tel", "pro", or None (off).',
            check=_krisp,
            setting=Setting(("krispViva", "audioFilter"), ("krispViva", "audioFilter")),
        ),
    ]
    max_session_duration: Annotated[
        int | None,
        Field(
            "seconds, 60 to 14400.",
            check=_session_limit,
            setting=Setting(
                ("maxSessionDuration",), (*_SPEC, "maxSessionDurationSeconds"), 7200, number=True
            ),
        ),
    ]
    git: Annotated[
        Mapping[str, str] | None,
        Field(
            "a GitHub repository Pipecat Cloud builds the agent from, instead of build_id or "
            'image: `{"repoFullName": "acme/bot", "branch": "main"}`, and optionally '
            "`dockerfilePath` and `subdirectory`. The first deployment runs the build the "
            "create starts; the outputs build_id and image name it. A change replaces the "
            "agent (the API takes a source on create only).",
            check=_git,
            replaces=True,
            setting=Setting(("git",), None, undone=False, organization=True, create_only=True),
        ),
    ]
    websocket_auth: Annotated[
        str | None,
        Field(
            '"none" (default on the service) or "token": whether a WebSocket client must '
            "bring an HMAC session token from `/start`.",
            check=_one_of("websocketAuth", WEBSOCKET_AUTH),
            setting=Setting(("websocketAuth",), ("websocketAuth",), "none", organization=True),
        ),
    ]
    architecture: Annotated[
        str | None,
        Field(
            '"amd64" or "arm64": the CPU architecture the image is built for (default: the '
            "region's). An image of the other one fails with an exec format error.",
            check=_one_of("architecture", ARCHITECTURES),
            setting=Setting(("architecture",), (*_SPEC, "arch"), organization=True),
        ),
    ]
    resources: Annotated[
        Mapping[str, str] | None,
        Field(
            'explicit sizing, `{"cpu": "2", "memory": "4Gi"}` (Kubernetes quantities), '
            "instead of agent_profile; Pipecat Cloud takes it in self-hosted (enterprise) "
            "regions.",
            check=_resources,
            setting=Setting(("resources",), None, organization=True, observe=_explicit_resources),
        ),
    ]
    deploy_timeout: Annotated[
        float,
        Field(
            "seconds to wait for a deployment to become ready (default 600).",
            default=DEFAULT_DEPLOY_TIMEOUT,
            check=positive_seconds("deployTimeout"),
        ),
    ]
    wait_for_capacity: Annotated[
        bool,
        Field(
            "whether a deployment also waits, within deploy_timeout, until min_agents "
            "replicas are warm (`currentRevision.readyReplicas`), so that callers meet no "
            "cold start right after the `up` (default True). A scale-down does not wait.",
            default=True,
            check=flag("waitForCapacity"),
        ),
    ]
    smoke: Annotated[
        SmokeCheck | None,
        Field(
            "a smoke session after each new deployment (SmokeCheck): when its bot errors or "
            "never starts, the agent is deployed back to what it ran before (a new agent is "
            "deleted again) and the `up` fails with the session's last log lines. It costs one "
            "session of run_seconds per deployment."
        ),
    ]
    on_active_sessions: Annotated[
        str,
        Field(
            '"wait" (default): a delete or a replacement that deletes first waits, up to '
            'drain_timeout, for the active sessions (live calls) to end; "refuse": fails at '
            'once while any is active; "proceed": deletes at once, cutting them. The '
            "PIPECAT_ON_ACTIVE_SESSIONS variable overrides it for one `pulumi destroy`.",
            default="wait",
            check=_one_of("onActiveSessions", ON_ACTIVE_SESSIONS),
        ),
    ]
    drain_timeout: Annotated[
        float,
        Field(
            f"seconds a delete waits for active sessions to end (default {DEFAULT_DRAIN_TIMEOUT})"
            ", then fails, deleting nothing.",
            default=DEFAULT_DRAIN_TIMEOUT,
            check=positive_seconds("drainTimeout"),
        ),
    ]
    triggers: Annotated[
        pulumi.Input[Any] | None,
        Field(
            "any values; a change redeploys the agent unchanged, as `pcc deploy --force` does "
            '(e.g. `triggers={"restart": "2026-01-05"}`).'
        ),
    ]
    adopt_existing: Annotated[
        bool,
        Field(
            "take over an agent of this name that already exists and that this stack did not "
            "create (made by `pcc deploy`, say): it is redeployed with these settings and "
            "deleted by `pulumi destroy`. Off by default: such an agent fails the create.",
            default=False,
            check=flag("adoptExisting"),
        ),
    ]


# Computed by the doors from the sets declared in the same program (secrets.bindings). Named
# `__...`, as the engine's own internal properties are, so that no display lists them: a new
# revision shows in a per-property diff as a change of `secretSet`.
REVISION, REGIONS = "__secretRevision", "__setRegions"
INTERNAL = (
    Field(
        "The revision of the bound secret set.", secret=True, name=REVISION, shown_as="secretSet"
    ),
    Field("The regions of the bound sets declared in the program.", name=REGIONS),
)
# A change in these redeploys the same settings (`forceRedeploy`, as `pcc deploy --force`).
ROLLOUT_ON = (REVISION, "triggers")
# Inputs of how the provider deploys and deletes, not of the agent: a change is recorded.
RECORDED = ("deployTimeout", "smoke", "onActiveSessions", "drainTimeout")


def _rules(given: Mapping[str, Any], door: Door) -> list[tuple[str, str]]:
    """The checks of inputs together."""
    found: list[tuple[str, str]] = []
    sources = [k for k in ("buildId", "image") if given.get(k) not in (None, "")]
    if given.get("git") is not None:
        if sources:
            found.append(
                (
                    "git",
                    f"give {door['git']} or {door[sources[0]]}, not both: the image of an "
                    "agent built from GitHub comes from that build",
                )
            )
        if given.get("resources") is not None:
            # pcc 1.4.0: the API refuses the pair ("not yet supported for GitHub-sourced
            # agents").
            found.append(
                (
                    "resources",
                    f"{door['resources']} cannot size an agent built from {door['git']} yet: "
                    f"use {door['agentProfile']}",
                )
            )
    elif len(sources) == 2:
        found.append(("image", f"give either {door['buildId']} or {door['image']}, not both"))
    elif not sources:
        found.append(
            (
                "buildId",
                f"give {door['buildId']} (a Build's {door['buildId']}) or {door['image']}, "
                f"or {door['git']} for an agent Pipecat Cloud builds from GitHub",
            )
        )
    if given.get("agentProfile") is not None and given.get("resources") is not None:
        # As pcc 1.4.0 refuses them ("Cannot specify both 'agent_profile' and 'resources'").
        found.append(
            (
                "resources",
                f"give either {door['agentProfile']} or {door['resources']}, not both",
            )
        )
    low, high = given.get("minAgents"), given.get("maxAgents")
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        found.append(("minAgents", f"{door['minAgents']} must not exceed {door['maxAgents']}"))
    region, set_regions = given.get("region"), given.get(REGIONS)
    for prop in ("secretSet", "imagePullSecretSet"):
        bound = given.get(prop)
        where = set_regions.get(bound) if isinstance(set_regions, dict) else None
        if isinstance(region, str) and where is not None and where != region:
            found.append(
                (
                    prop,
                    f"{door[prop]} {bound!r} is in region {where}, the agent in {region}: "
                    "declare the set in the agent's region, or deploy the agent where it is",
                )
            )
    return found


def _bind(
    args: dict[str, Any], declared: Mapping[str, Any], progress: Any
) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
    """The native door's binding of the sets declared in the program (secrets.bound): the
    revision a changed value rolls out, the regions a set in another region fails."""
    names = [args.get("secretSet"), args.get("imagePullSecretSet")]
    found, tracked = secrets.bound(names, declared)
    regions = {n: d.region for n, d in found.items()} if any(names) else None
    revision = tracked.revision if tracked is not None else None
    return {**args, REVISION: revision, REGIONS: regions}, [], []


def settings() -> list[tuple[str, Setting]]:
    """(input name, Setting) of each setting the API takes, as the description has them."""
    return [(f.name, f.setting) for f in DESCRIPTION.inputs if isinstance(f.setting, Setting)]


class AgentError(PipecatError):
    """A refused or failed deployment; str() is for the user."""


class DeployFailed(AgentError):
    """The deployment definitely did not succeed: the service says it failed, or it was not
    ready within deployTimeout. Only then is an agent this call created deleted again.

    str() is one line; `details` (the agent's own output, say) goes below it; `logs` is the
    command that shows the agent's logs while the agent exists.
    """

    def __init__(self, message: str, details: str = "", logs: str = "") -> None:
        super().__init__(message)
        self.details = details
        self.logs = logs

    def under(self, line: str, gone: bool = False) -> str:
        """`line`, where the agent's logs are, then `details`. The logs of an agent that was
        deleted (`gone`) went with it: only its output in `details` is left."""
        if gone:
            line += ", and its logs with it"
            line += ": its last output is below" if self.details else ""
        elif self.logs:
            line += f"; its logs: {self.logs}"
        return line + (f"\n{self.details}" if self.details else "")


def problems(given: Mapping[str, Any], door: Door = PYTHON) -> list[tuple[str, str]]:
    """(property, reason) for every input the API would refuse, in the door's names.

    A value not known yet (an output of another resource during preview) counts as given
    and is judged once known.
    """
    return DESCRIPTION.problems(given, door)


def request_body(
    inputs: Mapping[str, Any],
    *,
    create: bool,
    before: Mapping[str, Any] | None = None,
    held: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """CreateServiceRequest / UpdateServiceRequest from the resource's inputs.

    A create sends only the settings the program sets, as `pcc deploy` does, so the agent
    holds what the service gives an agent deployed without them. An update states every
    setting, defaults included: the API keeps what an update leaves out, so a setting removed
    from the program must be sent as its default (or null, which drops a set) to be undone.
    A setting only the organization route carries is stated only when it is set, or was
    (`before`, the state's inputs): an agent that never set one stays on the public route.
    `held`: what the agent holds now (`observed`): a setting it holds nothing for stays
    unset, so an agent `pcc deploy` made (imported or adopted) is not pinned to a default
    pcc never set, which would also make a new deployment.
    """
    body: dict[str, Any] = {}
    if create:
        body["serviceName"] = inputs["serviceName"]
        body["region"] = inputs["region"]
    for name, setting in settings():
        given = inputs.get(name)
        if setting.create_only and not create:
            continue
        if given in (None, ""):
            if create or not setting.undone:
                continue
            if setting.organization and (before or {}).get(name) in (None, ""):
                continue
            if name == "agentProfile" and inputs.get("resources"):
                continue  # sized by its resources: a profile would be refused beside them
            # What the agent holds decides, where the read shows it: the public read shows
            # no organization-route setting, and no profile beside explicit resources, which
            # a program dropping the resources must send back (`before` decides those).
            unsized = name == "agentProfile" and (before or {}).get("resources")
            seen = setting.held is not None and not setting.organization and not unsized
            if held is not None and seen and held.get(name) is None:
                continue
            given = setting.default
        *path, last = setting.sent
        at = body
        for part in path:
            at = at.setdefault(part, {})
        at[last] = setting.value(given)
    if create:
        # As `pcc deploy` sends it (its api.py `_deploy`): Krisp's object always, empty
        # without a filter, which is what the service gives an agent without one.
        body.setdefault("krispViva", {})
    return body


def observed(agent: dict[str, Any]) -> dict[str, Any]:
    """The region and the settings an agent holds, by input name (None where it holds none).
    The API redacts the build of a build-deployed agent, and then its image too."""
    held: dict[str, Any] = {"region": agent.get("region")}
    for name, setting in settings():
        if setting.observe is not None:
            held[name] = setting.observe(agent)
        elif setting.held is not None:
            held[name] = _at(agent, setting.held)
    return held


def on_organization_route(props: Mapping[str, Any]) -> bool:
    """Whether an agent with these inputs is read on the organization route: it sets a field
    only that route reports, or nothing is known of it yet (`pulumi import`)."""
    organization = [n for n, s in settings() if s.organization]
    return "serviceName" not in props or any(props.get(n) not in (None, "") for n in organization)


def send(client: api.Client, name: str, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """A create or update on the route that carries every field of `body`: pcc's
    organization route for one only it carries (as pcc deploy sends it), else the public one."""
    if not any(s.sent[0] in body for _, s in settings() if s.organization):
        return client.create_agent(body) if create else client.update_agent(name, body)
    return client.create_service(body) if create else client.update_service(name, body)


def built(client: api.Client, name: str) -> dict[str, Any]:
    """{buildId, image} of the build an agent built from GitHub runs: the organization route
    names the build of a cloud-built deployment (`deployment.buildId`, as `pcc agent status`
    reads it), and the build its image."""
    found = client.get_service(name)
    deployment = found.get("deployment")
    build_id = deployment.get("buildId") if isinstance(deployment, dict) else None
    if not isinstance(build_id, str):
        return {"buildId": None, "image": None}
    return {"buildId": build_id, "image": client.get_build(build_id).get("imageUri")}


def look(client: api.Client, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """The agent as the route that reports these inputs' settings reports it."""
    return client.get_service(name) if on_organization_route(props) else client.get_agent(name)


def _at(found: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(part, int):
            found = found[part] if isinstance(found, list) and len(found) > part else None
        else:
            found = found.get(part) if isinstance(found, dict) else None
    return found


def compared(inputs: Mapping[str, Any]) -> list[str]:
    """The settings whose change is an update. An agent built from GitHub runs the build its
    create started: its build_id and image are outputs then, not what the program asks."""
    names = [name for name, _ in settings()]
    if inputs.get("git") is not None:
        names = [n for n in names if n not in ("buildId", "image")]
    return names


def differs(key: str, held: Any, asked: Any) -> bool:
    """Whether an agent holding `held` for a setting differs from a program asking `asked`.
    A setting the program leaves unset matches what the service holds for an agent
    deployed without it: nothing, or its documented default."""
    default = next((s.default for name, s in settings() if name == key), None)
    if default is not None:
        if asked is None:
            return held not in (None, default)
        return bool(held != asked)
    return bool(held != (asked or None))


def capacity(agent: Mapping[str, Any], wanted: str | None) -> tuple[int, int]:
    """(warm, needed): the ready replicas of the agent's current revision (0 while it is
    another deployment's), and the minimum it is scaled to (`autoScaling.minReplicas`)."""
    revision = agent.get("currentRevision")
    warm = 0
    ours = isinstance(revision, dict) and revision.get("deploymentID") in (None, wanted)
    if isinstance(revision, dict) and (ours or not wanted):
        warm = int(revision.get("readyReplicas") or 0)
    scaling = agent.get("autoScaling")
    needed = scaling.get("minReplicas") if isinstance(scaling, dict) else None
    return warm, int(needed or 0)


def waits_for_capacity(news: Mapping[str, Any], olds: Mapping[str, Any] | None = None) -> bool:
    """Whether a deployment waits for min_agents warm replicas: by default, unless the
    program opts out, or it scales down (fewer replicas cannot be colder ones)."""
    if news.get("waitForCapacity") is False:
        return False
    if olds is None:
        return True
    before, after = olds.get("minAgents"), news.get("minAgents")
    return not (isinstance(before, int) and isinstance(after, int) and after < before)


class AgentProvider(OwnedObjectProvider):
    what, error, adopt, claim = "agent", AgentError, "adoptExisting", CLAIM
    named_by = "serviceName"
    watched = watch.AGENTS

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        try:
            return client.get_agent(name)
        except api.NotFound:
            return None

    def _find_for(
        self, client: api.Client, name: str, props: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        try:
            return look(client, name, props)
        except api.NotFound:
            return None

    def _remove(self, client: api.Client, name: str) -> None:
        client.delete_agent(name)

    def _timeout(self, props: Mapping[str, Any]) -> float:
        return float(props.get("deployTimeout") or DEFAULT_DEPLOY_TIMEOUT)

    def _stranger(self, state: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
        """Agents record when they were made: another createdAt is another agent. A state from
        before createdAt was recorded proves nothing either way."""
        recorded = state.get("createdAt")
        if not recorded or found.get("createdAt") == recorded:
            return None
        return f"this stack's was created at {recorded}, this one at {found.get('createdAt')}"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(prop, reason) for prop, reason in problems(news, self.door)]
        # A build from another region, or one that did not succeed, is refused at preview
        # when its id is known; asked only when the build changes, so an unchanged stack
        # previews without calling the API.
        build_id = news.get("buildId")
        if (
            not failures
            and isinstance(build_id, str)
            and build_id not in (UNKNOWN, olds.get("buildId"))
        ):
            reason = self._build_problem(build_id, news.get("region") or DEFAULT_REGION)
            if reason:
                failures.append(CheckFailure("buildId", reason))
        if not failures and isinstance(news.get("smoke"), Mapping) and not self._public_key(news):
            failures.append(CheckFailure("smoke", self._no_public_key()))
        if not failures and (refused := self._taken(olds, news)):
            failures.append(CheckFailure("serviceName", refused))
        return CheckResult(news if failures else self._stamped(olds, news), failures)

    def _taken(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> str | None:
        """The refusal the create would meet, said at preview: an agent of the name exists,
        this stack did not create it, and the program does not adopt it. Asked only of an
        agent about to be created under a new name, from one list of agents per run
        (taken.py), so that a build is not made first for a deployment refused after."""
        name, urn = news.get("serviceName"), news.get("__urn")
        if (
            not isinstance(name, str)
            or name == UNKNOWN
            or name == olds.get("serviceName")
            or news.get("adoptExisting")
        ):
            return None
        urn = urn if isinstance(urn, str) and urn != UNKNOWN else ""
        if ownership.claimed(urn, CLAIM, name) is not None or taken.held(urn, name):
            # What an interrupted `up` of this resource left (the create decides), or the
            # stack's own agent, which a replacement checks again as if new.
            return None
        try:
            with self._client() as client:
                found = taken.listed(client.identity, "agents", client.list_agents).get(name)
        except api.ApiError:
            return None  # not reachable now: the create will say what is wrong
        if found is None:
            return None
        where = found.get("region")
        elsewhere = f" in region {where}" if where and where != news.get("region") else ""
        imports = (
            f", or import it (`pulumi import {DESCRIPTION.token} <resource name> {name}`)"
            if self.door is SCHEMA
            else ""
        )
        return (
            f"an agent named {name} already exists{elsewhere} and this stack did not create it: "
            f"pick another {self.door['serviceName']}, delete it (`pcc agent delete {name}`), "
            f"pass {self.door.assign('adoptExisting', True)} to take it over{imports}"
            + (f"; {recovery.advice(urn)}" if urn else "")
        )

    def _build_problem(self, build_id: str, region: str) -> str | None:
        try:
            with self._client() as client:
                build = client.get_build(build_id)
        except api.NotFound:
            return f"build {build_id} does not exist"
        except api.ApiError:
            return None  # not reachable now: the create will say what is wrong
        if build.get("region") != region:
            return (
                f"build {build_id} is in region {build.get('region')}, the agent in {region}: "
                "build in the agent's region, or deploy the agent where the build is"
            )
        if build.get("status") != "success":
            return f"build {build_id} is {build.get('status')}: only successful builds deploy"
        return None

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds = DESCRIPTION.current(olds)
        # The engine diffs what its state holds: the create's claim is settled (ownership.py).
        self._settled(olds, olds.get("serviceName") or _id)
        taken.hold(olds.get("__urn"), olds.get("serviceName") or _id)
        replaces = [k for k in DESCRIPTION.replace_on if olds.get(k) != news.get(k)]
        # A setting unset on one side and its documented default on the other is the same
        # agent (the service gives an agent deployed without it the default): an imported
        # agent pcc left without a session limit and a program that writes 7200 agree.
        sent = compared(news)
        updates = [
            k
            for k, s in settings()
            if k in sent and olds.get(k) != news.get(k) and not s.same(olds.get(k), news.get(k))
        ]
        updates += [k for k in ROLLOUT_ON if olds.get(k) != news.get(k)]
        # Unset (a state from before the input) is its default: no change.
        updates += [k for k in RECORDED if _or_default(olds, k) != _or_default(news, k)]
        # Unset (a state from before the input) is its default, True: no change.
        if (olds.get("waitForCapacity") is False) != (news.get("waitForCapacity") is False):
            updates.append("waitForCapacity")
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            # Names are unique: a replacement that keeps the name must delete the old agent
            # first. A new name creates the new agent first, so the old one serves until then.
            delete_before_replace=bool(replaces) and "serviceName" not in replaces,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, progress = props["serviceName"], self._progress(props)
        urn = props.get("__urn") or ""
        with self._client(progress=progress) as client:
            with self.reported(name, props):
                progress.status(f"creating agent {name}")
                agent, ours = self._create(client, name, props, progress)
            try:
                agent = self._wait(client, name, agent, props, progress, waits_for_capacity(props))
                self._smoked(client, name, props, progress)
            except DeployFailed as exc:
                undone, gone = self._undo(client, name, props, ours)
                raise AgentError(exc.under(f"agent {name}: {exc}{undone}", gone)) from None
            except SmokeFailed as failed:
                # A new agent whose bot fails serves no caller: deleted again if this
                # resource's create made it (a taken-over one is left as the ownership rules
                # say).
                undone, _ = self._undo(client, name, props, ours)
                raise AgentError(smoke_failure(name, failed, undone.removeprefix("; "))) from None
            except api.NotFound:
                # Deleted behind our back: nothing is left, so the next `pulumi up` creates it.
                ownership.release(urn, CLAIM, name)
                raise AgentError(
                    f"agent {name} was deleted while it deployed: run `pulumi up` again to "
                    "create it again"
                ) from None
            except api.ApiError as exc:
                # Not a verdict on the deployment: the agent is kept, with its claim, and the
                # next `pulumi up` carries on with it.
                raise AgentError(
                    f"agent {name}: {exc}; the agent exists and was left as it is: "
                    "run `pulumi up` again to carry on"
                ) from None
            outs = self._outputs(props, agent)
            if props.get("git") is not None:
                with self.reported(name, props):
                    outs.update(built(client, name))
        # The claim stays until the engine shows it has the agent in its state (diff, delete):
        # an engine killed while this call ran never records it, and only the claim lets the
        # next `up` recover the agent instead of refusing it as someone else's.
        return CreateResult(name, outs)

    def _undo(
        self, client: api.Client, name: str, props: dict[str, Any], ours: bool
    ) -> tuple[str, bool]:
        """After a definite failure: delete the agent if this resource's create made it
        (`ours`: so that the next `pulumi up` starts clean), never one it found. (What was
        done, whether it is gone.)"""
        if not ours:
            return "; the agent existed before this update, so it was left as it is", False
        try:
            self._delete(client, name, props, self._progress(props))
            self._settled(props, name)
            return "; the agent was deleted again", True
        except (api.ApiError, StillThere):
            return f"; deleting it again failed too: delete it (`pcc agent delete {name}`)", False

    def _create(
        self, client: api.Client, name: str, props: dict[str, Any], progress: Progress
    ) -> tuple[dict[str, Any], bool]:
        """(the agent, whether this resource's create made it: this call, or the interrupted
        `up` whose create it carries on)."""
        urn = props.get("__urn") or ""
        cancel.check(f"creating agent {name}")  # nothing made yet: nothing to take up again
        # An earlier create of this resource that never saved its result (ownership.py).
        earlier = ownership.claimed(urn, CLAIM, name)
        # Written before the call: if this `up` is interrupted, the next one can prove that
        # the agent it finds is the one this call made.
        ownership.claim(urn, CLAIM, name, props["region"])
        started = time.time()
        try:
            return send(client, name, request_body(props, create=True), create=True), True
        except api.ApiError as exc:
            # The answer was lost or is in doubt (a gateway's 5xx): the agent may exist now.
            lost = isinstance(exc, Transient)
            if not lost and not (exc.status == 400 and "already exists" in str(exc).lower()):
                ownership.release(urn, CLAIM, name)  # refused: nothing was made
                raise
            try:
                existing = look(client, name, props)
            except api.NotFound:
                raise exc from None
        differences = _differences(existing, props)
        # The build cannot be compared (the API redacts it), so whatever is found is sent
        # this create's settings: the same configuration makes no new deployment, another
        # build does, and the wait below is for the deployment this answer names.
        skew = self.timings.clock_skew
        created = existing.get("createdAt")
        if lost and not differences and ownership.created_after(created, started, skew):
            return send(
                client, name, _taking_over(props, differences, existing), create=False
            ), True
        if (
            earlier is not None
            and not differences
            and existing.get("region") == earlier.region
            and earlier.covers(created, skew)
        ):
            # With these settings, created since an earlier create of this very resource
            # began, which never saved its result: what an interrupted `up` of this stack left.
            progress.warn(
                f"agent {name} was created by an interrupted `pulumi up` of this stack "
                f"(at {existing.get('createdAt')}): carrying on with it"
            )
            # This resource's create made it: a definite failure deletes it again, as it
            # would have the interrupted one's (so no bot that crashes is left serving).
            return send(
                client, name, _taking_over(props, differences, existing), create=False
            ), True
        ownership.release(urn, CLAIM, name)  # what exists is not this resource's
        if existing.get("region") != props.get("region"):
            raise api.ApiError(
                f"an agent named {name} already exists in region {existing.get('region')}: "
                f"pick another {self.door['serviceName']}, or delete that agent first"
            )
        if not props.get("adoptExisting"):
            how = (
                f"it differs in {', '.join(differences)}"
                if differences
                else f"created at {existing.get('createdAt')} by someone else"
            )
            raise api.ApiError(
                f"an agent named {name} already exists and this stack did not create it "
                f"({how}): pick another {self.door['serviceName']}, delete it first "
                f"(`pcc agent delete {name}`), or pass {self.door.assign('adoptExisting', True)} "
                "to take it over" + (f"; {recovery.advice(urn)}" if urn else "")
            )
        agent = send(client, name, _taking_over(props, differences, existing), create=False)
        # Said after the update: only its answer tells whether a new deployment was made (the
        # API hides the build, so the same settings may still deploy another one).
        redeployed = agent.get("desiredDeploymentId") != existing.get("desiredDeploymentId")
        how = (
            "redeployed with this program's settings"
            if redeployed
            else "its deployment already runs this program's settings: not redeployed"
        )
        progress.warn(
            f"agent {name} already exists: {self.door.assign('adoptExisting', True)} takes it "
            f"over ({how}), and `pulumi destroy` will delete it"
        )
        return agent, False

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        olds = DESCRIPTION.current(olds)
        forced = any(olds.get(k) != news.get(k) for k in ROLLOUT_ON)
        sent = compared(news)
        if not forced and all(s.same(olds.get(k), news.get(k)) for k, s in settings() if k in sent):
            kept = ("adoptExisting", "waitForCapacity", *RECORDED)
            return UpdateResult({**olds, **{k: news.get(k) for k in kept}})
        progress = self._progress(news, olds)
        try:
            with self._client(progress=progress) as client:
                progress.status(f"updating agent {id_}")
                with self.reported(id_, news):
                    found = self._ensure_ours(client, id_, olds, news)
                    held = observed(found) if found is not None else None
                    body = request_body(news, create=False, before=olds, held=held)
                    if forced:
                        # The same settings would not roll out: a set's new values or a
                        # trigger must.
                        body["forceRedeploy"] = True
                    try:
                        agent = send(client, id_, body, create=False)
                    except Transient:
                        landed = self._deployed_anyway(client, id_, found, news, progress)
                        if landed is None:
                            raise
                        agent = landed
                    warmth = waits_for_capacity(news, olds)
                    agent = self._wait(client, id_, agent, news, progress, warmth)
                    try:
                        self._smoked(client, id_, news, progress)
                    except SmokeFailed as failed:
                        back = self._revert(client, id_, olds, news, progress)
                        raise AgentError(smoke_failure(id_, failed, back)) from None
        except DeployFailed as exc:
            raise AgentError(
                exc.under(
                    f"agent {id_}: {exc}; the agent is left as it is (the service goes on "
                    "serving its previous deployment while it can)"
                )
            ) from None
        outs = self._outputs(news, agent)
        if news.get("git") is not None:
            outs.update(buildId=olds.get("buildId"), image=olds.get("image"))
        return UpdateResult(outs)

    def _deployed_anyway(
        self,
        client: api.Client,
        name: str,
        before: Mapping[str, Any] | None,
        props: Mapping[str, Any],
        progress: Progress,
    ) -> dict[str, Any] | None:
        """After an update whose answer is in doubt (lost, a gateway's 5xx), with a smoke
        check: the agent, if the update made a new deployment all the same (its desired
        deployment moved on), so that it is awaited and proven like any other, and rolled
        back if its bot fails; None otherwise (the doubt is the error then)."""
        if not isinstance(props.get("smoke"), Mapping) or before is None:
            return None
        try:
            now = self._find(client, name)
        except api.ApiError:
            return None
        if now is None or now.get("desiredDeploymentId") == before.get("desiredDeploymentId"):
            return None
        progress.status(
            f"agent {name}: the answer to its update was lost, but it made deployment "
            f"{now.get('desiredDeploymentId')}: waiting for it"
        )
        return now

    def _smoked(
        self, client: api.Client, name: str, props: Mapping[str, Any], progress: Progress
    ) -> None:
        """The smoke session of a new deployment, if the program asks for one: SmokeFailed
        when its bot errs or never starts."""
        check = props.get("smoke")
        if not isinstance(check, Mapping):
            return
        key = self._public_key(props)
        if not key:
            raise SmokeFailed(f"the session could not start: {self._no_public_key()}")
        verdict = smoke.run(
            client,
            name,
            check,
            key,
            progress.status,
            self.door,
            poll_interval=self.timings.poll_interval_max,
        )
        progress.info(f"agent {name}: {verdict}")

    def _public_key(self, props: Mapping[str, Any]) -> str:
        check = props.get("smoke")
        given = check.get("publicApiKey") if isinstance(check, Mapping) else None
        if isinstance(given, str) and given:
            return given  # or UNKNOWN at a preview, where it counts as given
        return (self.config or ProviderConfig.read()).public_api_key

    def _no_public_key(self) -> str:
        return (
            f"a smoke check starts its session with a public API key: give "
            f"{self.door['smoke']}.{self.door['publicApiKey']} (an ApiKey's key, say) or run "
            "`pulumi config set --secret pipecat:publicApiKey <key>` (a key of "
            "`pcc organizations keys create`)"
        )

    def _revert(
        self,
        client: api.Client,
        name: str,
        olds: dict[str, Any],
        news: dict[str, Any],
        progress: Progress,
    ) -> str:
        """Deploy back what the agent ran before this update (the state's inputs) and wait
        for it: what it runs now, in words."""
        progress.status(f"agent {name}: the smoke session failed, deploying back what it ran")
        try:
            current = self._find(client, name)
            held = observed(current) if current is not None else None
            body = request_body(olds, create=False, before=news, held=held)
            body["forceRedeploy"] = True  # the same settings (a trigger's change) too
            agent = send(client, name, body, create=False)
            agent = self._wait(client, name, agent, olds, progress, waits_for_capacity(olds))
        except (DeployFailed, api.ApiError) as exc:
            return (
                f"deploying back what it ran before failed too ({self._hide(exc, olds, news)}):"
                " the agent serves the deployment that failed its check"
            )
        was = f"build {olds['buildId']}" if olds.get("buildId") else f"image {olds.get('image')}"
        return f"the agent is back on {was} (deployment {agent.get('desiredDeploymentId')})"

    def _before_delete(
        self,
        client: api.Client,
        name: str,
        found: dict[str, Any],
        props: Mapping[str, Any],
        progress: Progress,
    ) -> None:
        """No live call is cut: with active sessions, wait for them to end (up to
        drainTimeout), refuse, or proceed, as the inputs (or PIPECAT_ON_ACTIVE_SESSIONS)
        say. An agent without sessions costs nothing more: the count is in the look the
        delete made anyway."""
        active = _active(found)
        if not active:
            return
        mode = os.environ.get(ON_ACTIVE_SESSIONS_ENV) or props.get("onActiveSessions") or "wait"
        calls = f"{active} active session{'s' if active != 1 else ''}"
        if mode == "proceed":
            progress.warn(f"agent {name}: deleting it with {calls} (onActiveSessions: proceed)")
            return
        proceed = (
            f"set {self.door.assign('onActiveSessions', 'proceed')} (and `pulumi up`), or run "
            f"with {ON_ACTIVE_SESSIONS_ENV}=proceed, to delete it anyway"
        )
        if mode == "refuse":
            raise AgentError(
                f"agent {name} has {calls}: not deleted ({self.door['onActiveSessions']} is "
                f"refuse); wait for them to end, or {proceed}"
            )
        timeout = float(props.get("drainTimeout") or DEFAULT_DRAIN_TIMEOUT)
        self._watch(
            client,
            name,
            found,
            active,
            _active,
            lambda left: left == 0,
            timeout=timeout,
            describe=lambda left, took: (
                f"agent {name}: waiting for {left} active session{'s' if left != 1 else ''} "
                f"to end before deleting it ({took:.0f}/{timeout:g} s)"
            ),
            expired=lambda left: AgentError(
                f"agent {name} still has {left} active session{'s' if left != 1 else ''} after "
                f"{timeout:g} s ({self.door['drainTimeout']}): nothing was deleted; {proceed}"
            ),
            progress=progress,
        )
        progress.info(f"agent {name}: its {calls} ended; deleting it")

    def _observed(
        self, name: str, props: dict[str, Any], found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # A setting changed outside Pulumi becomes the input it now is, so that after a
        # refresh the engine's diff (old inputs => program's inputs) names it with both values
        # and the next update restores it. Region and image cannot drift (the region is
        # fixed, the image of a build-deployed agent is redacted).
        drift = {
            k: held
            for k, held in observed(found).items()
            if k not in ("region", "image") and differs(k, held, props.get(k))
        }
        if "serviceName" not in props:
            # `pulumi import` (native provider): nothing is known but the name, so the inputs
            # are what the agent holds, with our own inputs' defaults. An image-deployed
            # agent names its image; a build-deployed one's is redacted by the public API,
            # and read where pcc reads it (api.Client.agent_build).
            image = observed(found)["image"]
            if isinstance(image, str) and IMAGE_REFERENCE.fullmatch(image):
                drift["image"] = image
            elif build := self._build_of(name, props.get("__urn")):
                drift["buildId"] = build
            # The inputs of how the provider deploys, at their defaults.
            drift.update({k: _or_default({}, k) for k in (*RECORDED, "adoptExisting")})
            drift.update(waitForCapacity=True)
            drift.pop("smoke", None)
        outs = self._outputs({"serviceName": name, **props, **drift}, found)
        made = DESCRIPTION.output_names
        inputs = {k: v for k, v in outs.items() if k not in made and not k.startswith("__")}
        return outs, inputs

    def _build_of(self, name: str, urn: str | None) -> str | None:
        """The build agent `name` runs, None when it cannot be read (the key's organization
        unknown, say): the import then says so, and the program gives the build."""
        try:
            with self._client(True) as client:
                return client.agent_build(name)
        except api.ApiError as exc:
            Progress(urn).warn(
                f"agent {name}: its build could not be read ({exc}): give "
                f"{self.door['buildId']} in the program"
            )
            return None

    def _wait(
        self,
        client: api.Client,
        name: str,
        agent: dict[str, Any],
        props: dict[str, Any],
        progress: Progress,
        warmth_wanted: bool = True,
    ) -> dict[str, Any]:
        """Until the deployment this call requested is reconciled and ready, and, with
        `warmth_wanted`, until its current revision has min_agents ready replicas (callers
        would meet cold starts otherwise).

        DeployFailed as soon as the service reports that deployment failed, or at the timeout.
        api.NotFound if the agent is deleted meanwhile.
        """
        timeout = float(props.get("deployTimeout") or DEFAULT_DEPLOY_TIMEOUT)
        wanted = agent.get("desiredDeploymentId")

        def reconciled(a: dict[str, Any]) -> bool:
            return bool(
                a.get("ready")
                and a.get("desiredDeploymentId")
                and a.get("reconciledDeploymentId") == a.get("desiredDeploymentId")
                and (wanted is None or a.get("desiredDeploymentId") == wanted)
            )

        def warm(a: dict[str, Any]) -> bool:
            have, need = capacity(a, wanted) if warmth_wanted else (0, 0)
            return have >= need

        def waiting_on(a: dict[str, Any]) -> str:
            if reconciled(a):
                have, need = capacity(a, wanted)
                return f"{have}/{need} warm"
            return _reason(a)

        def looked(found: dict[str, Any] | None) -> dict[str, Any]:
            if found is None:
                raise api.NotFound(f"agent {name} is gone", status=404)
            failure = deploy_failure(found, wanted, name)
            if failure:
                raise DeployFailed(*failure)
            return found

        agent = self._watch(
            client,
            name,
            agent,
            agent,
            looked,
            lambda a: reconciled(a) and warm(a),
            timeout=timeout,
            describe=lambda a, took: f"deploying agent {name} ({took:.0f}s): {waiting_on(a)}",
            expired=lambda a: DeployFailed(
                f"not ready after {timeout:g}s ({self.door['deployTimeout']}): {waiting_on(a)}"
            ),
            progress=progress,
        )
        have, need = capacity(agent, wanted)
        warmth = f", {have}/{need} warm" if warmth_wanted and need else ""
        progress.info(
            f"agent {name} is ready (deployment {agent.get('desiredDeploymentId')}){warmth}"
        )
        return agent

    @staticmethod
    def _outputs(props: dict[str, Any], agent: dict[str, Any]) -> dict[str, Any]:
        # Not the create's claim (ownership.STAMP): it is for the pending create alone.
        made = DESCRIPTION.output_names
        outs = {k: v for k, v in props.items() if k not in made and k != ownership.STAMP}
        outs.update(
            serviceName=agent.get("name") or props.get("serviceName"),
            region=agent.get("region") or props.get("region"),
            ready=bool(agent.get("ready")),
            desiredDeploymentId=agent.get("desiredDeploymentId"),
            reconciledDeploymentId=agent.get("reconciledDeploymentId"),
            createdAt=agent.get("createdAt"),
            updatedAt=agent.get("updatedAt"),
        )
        return outs


def deploy_failure(
    agent: dict[str, Any], wanted: str | None, name: str
) -> tuple[str, str, str] | None:
    """(why, the agent's output, the command that shows its logs) when the service reports
    that the deployment `wanted` failed: its current revision is in phase Failed, or its code
    terminated or crash-loops."""
    revision = agent.get("currentRevision")
    if not isinstance(revision, dict):
        return None
    deployment = revision.get("deploymentID") or wanted
    if wanted and deployment != wanted:
        return None  # a revision of another deployment
    raw = revision.get("health")
    health: dict[str, Any] = raw if isinstance(raw, dict) else {}
    crashed = health.get("state") == "terminated" or health.get("reason") == "CrashLoopBackOff"
    if revision.get("phase") != "Failed" and not crashed:
        return None
    what = str(health.get("reason") or health.get("state") or "phase Failed")
    notes = [
        f"exit code {health['lastExitCode']}" if health.get("lastExitCode") is not None else "",
        str(health.get("lastTerminationReason") or ""),
        f"restarted {health['restartCount']}x" if health.get("restartCount") else "",
    ]
    notes = [n for n in notes if n and n != what]
    if notes:
        what += f" ({', '.join(notes)})"
    message = str(health.get("message") or "").strip()
    last_line = message.splitlines()[-1] if message else ""
    hint = f"`pcc agent logs {name}" + (f" --deployment {deployment}`" if deployment else "`")
    summary = f"deployment {deployment} failed: {what}"
    if last_line:
        summary += f": {last_line}"
    # Where its logs are depends on whether the agent is kept: DeployFailed.under says.
    summary += "; fix the agent and run `pulumi up` again"
    details = ""
    if message and message != last_line:
        # The whole output (a traceback, say) under the one-line summary, at most 20 lines.
        details = "\n".join("    " + line for line in message.splitlines()[-20:])
    return summary, details, hint


def _or_default(props: Mapping[str, Any], name: str) -> Any:
    """An input as given, or its default where it is unset (a state from before it)."""
    given = props.get(name)
    if given is not None:
        return given
    return next((f.default for f in DESCRIPTION.inputs if f.name == name), None)


def _active(agent: Mapping[str, Any] | None) -> int:
    """The agent's active sessions (`activeSessionCount`); none once it is gone."""
    count = agent.get("activeSessionCount") if agent is not None else 0
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def smoke_failure(name: str, failed: SmokeFailed, outcome: str) -> str:
    """The paragraph a failed smoke check ends the `up` with: what failed, the session, what
    the agent runs now, then the bot's last log lines."""
    session = f"smoke session {failed.session}" if failed.session else "smoke check"
    said = f"agent {name}: {session} failed: {failed}; {outcome}"
    if "back on" in outcome:
        said += (
            "; the stack keeps its previous inputs, so `pulumi preview` shows this update "
            "again: fix the bot and run `pulumi up`"
        )
    if failed.logs:
        said += "; the bot's last log lines:\n" + "\n".join("    " + line for line in failed.logs)
    return said


def _differences(agent: dict[str, Any], props: dict[str, Any]) -> list[str]:
    """The settings (by API name) in which an existing agent differs from what a create with
    `props` would make. A build-deployed agent's build cannot be compared: the API redacts it."""
    seen = observed(agent)
    if not props.get("image"):
        del seen["image"]
    return sorted(k for k, held in seen.items() if differs(k, held, props.get(k)))


def _taking_over(
    props: dict[str, Any], differences: list[str], existing: dict[str, Any]
) -> dict[str, Any]:
    """The update that gives a found agent this create's settings. One that differs in
    nothing is sent only what the program sets, so it keeps what the service gave it for
    the rest (a `pcc deploy` agent has no session limit) and is not redeployed; one that
    differs is sent no default for a setting it holds nothing for either."""
    if differences:
        return request_body(props, create=False, held=observed(existing))
    body = request_body(props, create=True)
    del body["serviceName"], body["region"]
    return body


def _reason(agent: dict[str, Any]) -> str:
    """What the agent is waiting on, in the API's own words where it gives any."""
    revision = agent.get("currentRevision") or {}
    health = revision.get("health") if isinstance(revision, dict) else None
    for source, key in ((health, "message"), (health, "reason"), (revision, "phase")):
        if isinstance(source, dict) and source.get(key):
            return str(source[key]).strip().splitlines()[-1]
    if agent.get("reconciledDeploymentId") != agent.get("desiredDeploymentId"):
        return "the new deployment is not reconciled yet"
    return "not ready yet"


class Agent(ApiResource, module="pipecat", name="Agent"):
    """A Pipecat Cloud agent."""

    # Described once for the schema, the SDKs and the reference page; Output[X | None] may
    # stay unset, any other is always there.
    service_name: Annotated[pulumi.Output[str], "The agent's name in Pipecat Cloud."]
    region: Annotated[pulumi.Output[str], "The region the agent runs in."]
    build_id: Annotated[
        pulumi.Output[str | None], "The build the agent runs, if deployed from one."
    ]
    image: Annotated[pulumi.Output[str | None], "The image the agent runs, if given as an image."]
    ready: Annotated[pulumi.Output[bool], "Whether the current deployment is ready."]
    desired_deployment_id: Annotated[
        pulumi.Output[str | None], "The deployment the agent should run (its latest)."
    ]
    reconciled_deployment_id: Annotated[
        pulumi.Output[str | None], "The deployment the agent runs now."
    ]
    created_at: Annotated[pulumi.Output[str | None], "When the agent was created (ISO 8601)."]
    updated_at: Annotated[pulumi.Output[str | None], "When the agent last changed (ISO 8601)."]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[AgentArgs],
    ) -> None:
        refuse_import("Agent", resource_name, opts)
        given: dict[str, Any] = dict(args)
        for name in ("secret_set", "image_pull_secret_set"):
            bound = given.get(name)
            if isinstance(bound, secrets.SecretSet | secrets.ImagePullSecret):
                given[name] = bound.set_name
        given[REVISION], given[REGIONS] = secrets.bindings(
            given.get("secret_set"), given.get("image_pull_secret_set")
        )
        # What can be judged before any output is known fails the preview at once.
        props = checked("Agent", resource_name, DESCRIPTION, given)
        if "smoke" in DESCRIPTION.secret_in(props):
            # Its public key is kept secret in the state, also one given as plain text.
            props["smoke"] = pulumi.Output.secret(props["smoke"])
        super().__init__(AgentProvider(), resource_name, props, opts)


DESCRIPTION: Description = describe(
    "Agent",
    AgentArgs,
    Agent,
    provider=AgentProvider,
    derive=_bind,
    internal=INTERNAL,
    rules=_rules,
    # An agent is imported as found, also one whose build could not be read.
    imported=("createdAt",),
    # Before 0.1.0 the internal inputs had plain names, which every display listed.
    renamed={"secretRevision": REVISION, "setRegions": REGIONS},
    example={
        "python": """\
from pcc_provider import Agent

bot = Agent("bot", service_name="bot", build_id=image.build_id, secret_set=creds,
            min_agents=1, max_agents=5)""",
        "yaml": """\
resources:
  bot:
    type: pipecat:index:Agent
    properties:
      serviceName: bot
      buildId: ${image.buildId}
      secretSet: ${creds.setName}
      minAgents: 1
      maxAgents: 5""",
        "typescript": """\
const bot = new pipecat.Agent("bot", {
    serviceName: "bot",
    buildId: image.buildId,
    secretSet: creds.setName,
    minAgents: 1,
    maxAgents: 5,
});""",
    },
)
present(Agent)
