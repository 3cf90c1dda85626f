"""The functions (data sources): what a stack reads of Pipecat Cloud without owning it, made
by `pcc`, the GitHub deploy action or another team. Each is described once
(pcc_provider.function) and listed in pcc_provider.kinds.FUNCTIONS.

    from pcc_provider import get_agent, get_build
    bot = get_agent(service_name="bot")
    pulumi.export("image", bot.image)

Each reads where `pcc` reads it: an agent through the organization's API
(`GET /organizations/{org}/services/{name}`, which names the build an agent runs, where the
public API redacts it), a secret set's type there too (the public API cannot read an image
pull secret by name), sessions as `pcc agent sessions` lists them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Required, TypedDict, Unpack
from urllib.parse import quote

import pulumi

from pcc_provider import agent, api, build, secrets
from pcc_provider.description import Door, Field, region_problem
from pcc_provider.function import Missing, describe_function

_SERVICE_NAME = Field("the agent's name, as `pcc agent list` shows it.")


def _org(client: api.Client, path: str, **params: Any) -> dict[str, Any]:
    given = {k: v for k, v in params.items() if v is not None}
    return client._org_call("GET", path, repeatable=True, params=given or None)


def _example(python: str, yaml: str, typescript: str) -> dict[str, str]:
    return {"python": python, "yaml": yaml, "typescript": typescript}


# -- getAgent --------------------------------------------------------------------------------


class GetAgentArgs(TypedDict):
    service_name: Required[Annotated[str, _SERVICE_NAME]]


@dataclass(frozen=True)
class GetAgentResult:
    """An agent as Pipecat Cloud runs it: its region, the build or image it runs, its
    settings (by the Agent's input names), its active deployment and status."""

    service_name: Annotated[str, "The agent's name."]
    region: Annotated[str, "The agent's region."]
    build_id: Annotated[str | None, "The build it runs (unset when deployed from an image)."]
    image: Annotated[
        str | None, "The image it runs: the one it was deployed from, or its build's image."
    ]
    secret_set: Annotated[str | None, "The secret set it binds."]
    image_pull_secret_set: Annotated[str | None, "The image pull secret set it binds."]
    min_agents: Annotated[int | None, "Auto-scaling: the fewest agents kept warm."]
    max_agents: Annotated[int | None, "Auto-scaling: the most agents."]
    agent_profile: Annotated[str | None, "Its profile (agent-1x, agent-2x, agent-3x)."]
    krisp_viva_audio_filter: Annotated[str | None, "Krisp VIVA's audio filter (unset: off)."]
    max_session_duration: Annotated[int | None, "The longest session, in seconds."]
    active_deployment_id: Annotated[str | None, "The deployment it serves."]
    ready: Annotated[bool, "Whether its active deployment is ready."]
    phase: Annotated[
        str | None, "Its current revision's phase (Creating, Validating, Active, Failed...)."
    ]
    active_session_count: Annotated[int | None, "Its sessions running now."]
    created_at: Annotated[str | None, "When it was created (ISO 8601)."]
    updated_at: Annotated[str | None, "When it was last deployed (ISO 8601)."]


def _read_agent(client: api.Client, args: Mapping[str, Any], door: Door) -> dict[str, Any]:
    name = args["serviceName"]
    try:
        found = _org(client, f"/services/{quote(name, safe='')}")
    except api.NotFound:
        raise Missing(f"no agent named {name!r} (`pcc agent list` lists them)") from None
    body = found.get("body")
    if not isinstance(body, dict):
        # pcc's `_agent` reads the agent under "body", and nothing without it.
        raise Missing(f"no agent named {name!r} (`pcc agent list` lists them)")
    deployment = body.get("deployment")
    deployment = deployment if isinstance(deployment, dict) else {}
    held = agent.observed(body)
    build_id = deployment.get("buildId")
    image = held.get("image")
    if not (isinstance(image, str) and agent.IMAGE_REFERENCE.fullmatch(image)):
        image = None  # redacted: the build's image is the one it runs
        if isinstance(build_id, str) and build_id:
            with contextlib.suppress(api.NotFound):  # a build gone leaves the image unknown
                image = client.get_build(build_id).get("imageUri")
    revision = body.get("currentRevision")
    return {
        **held,
        "serviceName": body.get("name") or name,
        "buildId": build_id,
        "image": image,
        "activeDeploymentId": body.get("activeDeploymentId"),
        "ready": bool(body.get("ready")),
        "phase": revision.get("phase") if isinstance(revision, dict) else None,
        "activeSessionCount": body.get("activeSessionCount"),
        "createdAt": body.get("createdAt"),
        "updatedAt": body.get("updatedAt"),
    }


GET_AGENT = describe_function(
    "getAgent",
    GetAgentArgs,
    GetAgentResult,
    _read_agent,
    example=_example(
        'bot = get_agent(service_name="bot")\npulumi.export("image", bot.image)',
        "variables:\n  bot:\n    fn::invoke:\n      function: pipecat:index:getAgent\n"
        "      arguments: {serviceName: bot}\noutputs:\n  image: ${bot.image}",
        'const bot = pipecat.getAgentOutput({ serviceName: "bot" });\n'
        "export const image = bot.image;",
    ),
)


@GET_AGENT.shown
def get_agent(
    *, opts: pulumi.InvokeOptions | None = None, **args: Unpack[GetAgentArgs]
) -> GetAgentResult:
    return GET_AGENT.plain(args)


@GET_AGENT.shown
def get_agent_output(
    *, opts: pulumi.InvokeOptions | None = None, **args: pulumi.Input[Any]
) -> pulumi.Output[GetAgentResult]:
    return GET_AGENT.output(args)


# -- getBuild --------------------------------------------------------------------------------


class GetBuildArgs(TypedDict, total=False):
    build_id: Annotated[str | None, Field("the build's id. Give this, or context_hash.")]
    context_hash: Annotated[
        str | None,
        Field(
            "a context's hash (a Build's context_hash, `pcc-provider hash`): the newest "
            "successful build of it, in `region` with `dockerfile`, as a Build reuses one."
        ),
    ]
    region: Annotated[
        str | None,
        Field(
            'with context_hash: the region (default: config `pipecat:region`, else "us-west").',
            check=region_problem,
        ),
    ]
    dockerfile: Annotated[
        str,
        Field(
            'with context_hash: the Dockerfile\'s path in the context (default "Dockerfile").',
            default="Dockerfile",
        ),
    ]


@dataclass(frozen=True)
class GetBuildResult:
    """A build: by its id, or the newest successful build of a context hash, region and
    Dockerfile (the one a Build of that context would reuse)."""

    build_id: Annotated[str, "The build's id."]
    status: Annotated[str, "pending, building, success, failed or timeout."]
    region: Annotated[str, "The region it was built in."]
    context_hash: Annotated[str | None, "Its context's hash."]
    dockerfile_path: Annotated[str | None, "The Dockerfile's path in the context."]
    image_uri: Annotated[str | None, "The image it produced, once successful."]
    image_size_bytes: Annotated[int | None, "The image's size, once built."]
    context_size_bytes: Annotated[int | None, "The uploaded context's size."]
    build_duration_seconds: Annotated[int | None, "How long it took, once done."]
    error_message: Annotated[str | None, "Why it failed, if it did."]
    created_at: Annotated[str | None, "When it was created (ISO 8601)."]
    completed_at: Annotated[str | None, "When it ended (ISO 8601)."]


def _build_rules(given: Mapping[str, Any], door: Door) -> list[tuple[str, str]]:
    by = [k for k in ("buildId", "contextHash") if given.get(k)]
    if len(by) == 1:
        return []
    said = "not both" if by else "one of them"
    return [("buildId", f"give {door['buildId']} or {door['contextHash']}, {said}")]


def _read_build(client: api.Client, args: Mapping[str, Any], door: Door) -> dict[str, Any]:
    build_id, context_hash = args.get("buildId"), str(args.get("contextHash"))
    if build_id:
        try:
            found = client.get_build(build_id)
        except api.NotFound:
            raise Missing(f"no build {build_id} (`pcc build list` lists them)") from None
    else:
        region, dockerfile = args["region"], args["dockerfile"]
        newest = build.BuildProvider._find(client, context_hash, region, dockerfile, False)
        if newest is None:
            raise Missing(
                f"no successful build of {door['contextHash']} {context_hash} in {region} "
                f"with {door['dockerfile']} {dockerfile}"
            )
        found = newest
    return {
        "buildId": found.get("id"),
        "status": found.get("status"),
        "region": found.get("region"),
        "contextHash": found.get("contextHash"),
        "dockerfilePath": found.get("dockerfilePath"),
        "imageUri": found.get("imageUri"),
        "imageSizeBytes": found.get("imageSizeBytes"),
        "contextSizeBytes": found.get("contextSizeBytes"),
        "buildDurationSeconds": found.get("buildDurationSeconds"),
        "errorMessage": client.vetted(str(found["errorMessage"]))
        if found.get("errorMessage")
        else None,
        "createdAt": found.get("createdAt"),
        "completedAt": found.get("completedAt"),
    }


GET_BUILD = describe_function(
    "getBuild",
    GetBuildArgs,
    GetBuildResult,
    _read_build,
    rules=_build_rules,
    example=_example(
        'image = get_build(build_id="8f0c...")\npulumi.export("imageUri", image.image_uri)',
        "variables:\n  image:\n    fn::invoke:\n      function: pipecat:index:getBuild\n"
        "      arguments: {contextHash: 3f2a..., region: us-west}\n"
        "outputs:\n  imageUri: ${image.imageUri}",
        'const image = pipecat.getBuildOutput({ buildId: "8f0c..." });\n'
        "export const imageUri = image.imageUri;",
    ),
)


@GET_BUILD.shown
def get_build(
    *, opts: pulumi.InvokeOptions | None = None, **args: Unpack[GetBuildArgs]
) -> GetBuildResult:
    return GET_BUILD.plain(args)


@GET_BUILD.shown
def get_build_output(
    *, opts: pulumi.InvokeOptions | None = None, **args: pulumi.Input[Any]
) -> pulumi.Output[GetBuildResult]:
    return GET_BUILD.output(args)


# -- getSecretSet ----------------------------------------------------------------------------


class GetSecretSetArgs(TypedDict):
    set_name: Required[
        Annotated[
            str,
            Field(
                "the set's name, as `pcc secrets list` shows it (a secret set or an image "
                "pull secret).",
                check=secrets.set_name_problem,
            ),
        ]
    ]


@dataclass(frozen=True)
class GetSecretSetResult:
    """A secret set or image pull secret: its region, type, status and the names of its keys.
    Never a value: Pipecat Cloud gives none back."""

    set_name: Annotated[str, "The set's name."]
    region: Annotated[str, "The set's region."]
    type: Annotated[str, "secret, or imagePullSecret."]
    status: Annotated[str | None, "Its provisioning: pending, ready or failed."]
    keys: Annotated[
        list[str],
        "The names of its keys, sorted (none for an image pull secret, whose value has no name).",
    ]


def _read_secret_set(client: api.Client, args: Mapping[str, Any], door: Door) -> dict[str, Any]:
    name = args["setName"]
    # pcc's `secrets list` reads the organization's sets, image pull secrets among them: the
    # public API answers 400 to an image pull secret read by name.
    listed = _org(client, "/secrets").get("sets")
    if not isinstance(listed, list):
        raise api.NotTheApi(f"GET /secrets answered without a list of sets: {api.FIX_URL}")
    found = next((s for s in listed if isinstance(s, dict) and s.get("name") == name), None)
    if found is None:
        raise Missing(f"no secret set named {name!r} (`pcc secrets list` lists them)")
    kind = found.get("type") or "secret"
    keys: list[str] = []
    status = found.get("status")
    if kind != "imagePullSecret":
        held = _org(client, f"/secrets/{quote(name, safe='')}")
        keys = sorted(
            str(s["fieldName"])
            for s in held.get("secrets") or []
            if isinstance(s, dict) and s.get("fieldName")
        )
        status = held.get("status") or status
    return {
        "setName": name,
        "region": found.get("region"),
        "type": kind,
        "status": status,
        "keys": keys,
    }


GET_SECRET_SET = describe_function(
    "getSecretSet",
    GetSecretSetArgs,
    GetSecretSetResult,
    _read_secret_set,
    example=_example(
        'creds = get_secret_set(set_name="bot-secrets")\npulumi.export("keys", creds.keys)',
        "variables:\n  creds:\n    fn::invoke:\n      function: pipecat:index:getSecretSet\n"
        "      arguments: {setName: bot-secrets}\noutputs:\n  keys: ${creds.keys}",
        'const creds = pipecat.getSecretSetOutput({ setName: "bot-secrets" });\n'
        "export const keys = creds.keys;",
    ),
)


@GET_SECRET_SET.shown
def get_secret_set(
    *, opts: pulumi.InvokeOptions | None = None, **args: Unpack[GetSecretSetArgs]
) -> GetSecretSetResult:
    return GET_SECRET_SET.plain(args)


@GET_SECRET_SET.shown
def get_secret_set_output(
    *, opts: pulumi.InvokeOptions | None = None, **args: pulumi.Input[Any]
) -> pulumi.Output[GetSecretSetResult]:
    return GET_SECRET_SET.output(args)


# -- getRegions ------------------------------------------------------------------------------


class NoArgs(TypedDict):
    pass


@dataclass(frozen=True)
class GetRegionsResult:
    """The regions the organization may deploy to, as `pcc regions list` shows them."""

    regions: Annotated[list[str], "Their codes (us-west, ...), as the API lists them."]
    display_names: Annotated[dict[str, str], "Each code's display name."]


def _read_regions(client: api.Client, args: Mapping[str, Any], door: Door) -> dict[str, Any]:
    listed = _org(client, "/regions").get("regions")
    if not isinstance(listed, list):
        raise api.NotTheApi(f"GET /regions answered without a list of regions: {api.FIX_URL}")
    regions = [r for r in listed if isinstance(r, dict) and isinstance(r.get("code"), str)]
    return {
        "regions": [r["code"] for r in regions],
        "displayNames": {r["code"]: str(r.get("display_name") or r["code"]) for r in regions},
    }


GET_REGIONS = describe_function(
    "getRegions",
    NoArgs,
    GetRegionsResult,
    _read_regions,
    example=_example(
        'pulumi.export("regions", get_regions().regions)',
        "variables:\n  regions:\n    fn::invoke:\n      function: pipecat:index:getRegions\n"
        "outputs:\n  regions: ${regions.regions}",
        "export const regions = pipecat.getRegionsOutput().regions;",
    ),
)


@GET_REGIONS.shown
def get_regions(*, opts: pulumi.InvokeOptions | None = None) -> GetRegionsResult:
    return GET_REGIONS.plain({})


@GET_REGIONS.shown
def get_regions_output(
    *, opts: pulumi.InvokeOptions | None = None
) -> pulumi.Output[GetRegionsResult]:
    return GET_REGIONS.output({})


# -- getOrganizationProperties ---------------------------------------------------------------


@dataclass(frozen=True)
class GetOrganizationPropertiesResult:
    """The organization's properties, as `pcc organizations properties list` shows them."""

    organization: Annotated[str, "The organization, as `pcc organizations list` names it."]
    default_region: Annotated[
        str | None, "Where an agent or build that names no region goes (defaultRegion)."
    ]
    properties: Annotated[dict[str, Any], "Every property, by its API name."]


def _read_properties(client: api.Client, args: Mapping[str, Any], door: Door) -> dict[str, Any]:
    properties = _org(client, "/properties").get("properties")
    if not isinstance(properties, dict):
        raise api.NotTheApi(f"GET /properties answered without properties: {api.FIX_URL}")
    return {
        "organization": client.organization(),
        "defaultRegion": properties.get("defaultRegion"),
        "properties": properties,
    }


GET_ORGANIZATION_PROPERTIES = describe_function(
    "getOrganizationProperties",
    NoArgs,
    GetOrganizationPropertiesResult,
    _read_properties,
    example=_example(
        'pulumi.export("defaultRegion", get_organization_properties().default_region)',
        "variables:\n  org:\n    fn::invoke:\n"
        "      function: pipecat:index:getOrganizationProperties\n"
        "outputs:\n  defaultRegion: ${org.defaultRegion}",
        "export const defaultRegion = pipecat.getOrganizationPropertiesOutput().defaultRegion;",
    ),
)


@GET_ORGANIZATION_PROPERTIES.shown
def get_organization_properties(
    *, opts: pulumi.InvokeOptions | None = None
) -> GetOrganizationPropertiesResult:
    return GET_ORGANIZATION_PROPERTIES.plain({})


@GET_ORGANIZATION_PROPERTIES.shown
def get_organization_properties_output(
    *, opts: pulumi.InvokeOptions | None = None
) -> pulumi.Output[GetOrganizationPropertiesResult]:
    return GET_ORGANIZATION_PROPERTIES.output({})


# -- getAgentSessions ------------------------------------------------------------------------


class GetAgentSessionsArgs(TypedDict, total=False):
    service_name: Required[Annotated[str, _SERVICE_NAME]]
    end_state: Annotated[
        str | None,
        Field(
            "only the sessions that ended so (completed, agent_error, terminated, ...; active: "
            "those running), as `pcc agent sessions --end-state` filters them."
        ),
    ]


@dataclass(frozen=True)
class GetAgentSessionsResult:
    """An agent's sessions, counted, as `pcc agent sessions` lists them: for dashboards and
    checks."""

    service_name: Annotated[str, "The agent's name."]
    total: Annotated[int, "The sessions listed."]
    active: Annotated[int, "Those running now."]
    cold_starts: Annotated[int, "Those that met a cold start."]
    by_end_state: Annotated[
        dict[str, int], "How many ended in each state (active: running), as pcc names them."
    ]
    session_ids: Annotated[list[str], "Their ids, newest first."]


def _end_state(session: Mapping[str, Any]) -> str:
    """How a session ended, as pcc's `_session_status_display` reads it."""
    state = session.get("endState")
    if isinstance(state, str) and state:
        return state
    return "completed" if session.get("endedAt") else "active"


def _read_sessions(client: api.Client, args: Mapping[str, Any], door: Door) -> dict[str, Any]:
    name = args["serviceName"]
    try:
        answer = _org(
            client, f"/services/{quote(name, safe='')}/sessions", endState=args.get("endState")
        )
    except api.NotFound:
        raise Missing(f"no agent named {name!r} (`pcc agent list` lists them)") from None
    listed = answer.get("sessions")
    if not isinstance(listed, list):
        raise api.NotTheApi(f"GET .../sessions answered without a list of sessions: {api.FIX_URL}")
    sessions = [s for s in listed if isinstance(s, dict)]
    states: dict[str, int] = {}
    for session in sessions:
        states[_end_state(session)] = states.get(_end_state(session), 0) + 1
    return {
        "serviceName": name,
        "total": len(sessions),
        "active": states.get("active", 0),
        "coldStarts": sum(1 for s in sessions if s.get("coldStart") is True),
        "byEndState": states,
        "sessionIds": [str(s.get("sessionId")) for s in sessions if s.get("sessionId")],
    }


GET_AGENT_SESSIONS = describe_function(
    "getAgentSessions",
    GetAgentSessionsArgs,
    GetAgentSessionsResult,
    _read_sessions,
    example=_example(
        'sessions = get_agent_sessions(service_name="bot")\n'
        'pulumi.export("active", sessions.active)',
        "variables:\n  sessions:\n    fn::invoke:\n      function: pipecat:index:getAgentSessions\n"
        "      arguments: {serviceName: bot}\noutputs:\n  active: ${sessions.active}",
        'const sessions = pipecat.getAgentSessionsOutput({ serviceName: "bot" });\n'
        "export const active = sessions.active;",
    ),
)


@GET_AGENT_SESSIONS.shown
def get_agent_sessions(
    *, opts: pulumi.InvokeOptions | None = None, **args: Unpack[GetAgentSessionsArgs]
) -> GetAgentSessionsResult:
    return GET_AGENT_SESSIONS.plain(args)


@GET_AGENT_SESSIONS.shown
def get_agent_sessions_output(
    *, opts: pulumi.InvokeOptions | None = None, **args: pulumi.Input[Any]
) -> pulumi.Output[GetAgentSessionsResult]:
    return GET_AGENT_SESSIONS.output(args)
