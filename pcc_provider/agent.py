"""The Agent resource: a Pipecat Cloud agent (service) deployed from a build or an image.

    image = Build("agent-image", context="agent")
    bot = Agent("bot", service_name="hello-agent", build_id=image.build_id)

Changing the build or any setting updates the agent in place and waits for the new
deployment to be ready; changing the name or region replaces it; destroy deletes it. A
change in the values of a secret set declared in the same program (pcc_provider.secrets), or
in `triggers`, redeploys the same configuration.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)
from pulumi.runtime.rpc import UNKNOWN

from pcc_provider import api, secrets
from pcc_provider.resource import (
    DEFAULT_REGION,
    ApiProvider,
    ApiResource,
    Progress,
    camel,
    poll,
    resource_urn,
    settings_problem,
    snake,
)

SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])$")
SERVICE_NAME_MAX = 54
PROFILES = ("agent-1x", "agent-2x", "agent-3x")
KRISP_FILTERS = ("tel", "pro")
DEFAULT_DEPLOY_TIMEOUT = 10 * 60

REPLACE_ON = ("serviceName", "region")
# The settings sent to the API, by their API names.
SETTINGS = (
    "buildId",
    "image",
    "secretSet",
    "imagePullSecretSet",
    "agentProfile",
    "maxSessionDuration",
    "minAgents",
    "maxAgents",
    "krispVivaAudioFilter",
)
# A change in these redeploys the same settings (`forceRedeploy`, as `pcc deploy --force`).
ROLLOUT_ON = ("secretRevision", "triggers")
OUTPUTS = ("ready", "desiredDeploymentId", "reconciledDeploymentId", "createdAt", "updatedAt")
# What the service uses for a setting left unset (CreateServiceRequest's documented defaults).
DEFAULTS: dict[str, Any] = {
    "agentProfile": "agent-1x",
    "maxSessionDuration": 7200,
    "minAgents": 0,
    "maxAgents": 50,
}


class AgentError(Exception):
    """A refused or failed deployment; str() is for the user."""


def problems(given: dict[str, Any]) -> list[tuple[str, str]]:
    """(property, reason) for every input the API would refuse.

    A value not known yet (an output of another resource during preview) counts as given
    and is judged once known.
    """
    inputs = {k: v for k, v in given.items() if v != UNKNOWN}
    found: list[tuple[str, str]] = []
    name = inputs.get("serviceName")
    if isinstance(name, str) and (len(name) > SERVICE_NAME_MAX or not SERVICE_NAME.match(name)):
        found.append(
            (
                "serviceName",
                f"service_name {name!r} is not a valid agent name: use at most 54 lowercase "
                "letters, digits and hyphens, starting and ending with a letter or digit",
            )
        )
    sources = [k for k in ("buildId", "image") if given.get(k) not in (None, "")]
    if len(sources) == 2:
        found.append(("image", "give either build_id or image, not both"))
    elif not sources:
        found.append(("buildId", "give build_id (a Build's build_id) or image"))
    region = inputs.get("region")
    if isinstance(region, str) and not region.strip():
        found.append(("region", 'region is empty: pass region="us-west" (or another region)'))
    profile = inputs.get("agentProfile")
    if profile is not None and profile not in PROFILES:
        found.append(("agentProfile", f"agent_profile must be one of {', '.join(PROFILES)}"))
    timeout = inputs.get("deployTimeout")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        found.append(("deployTimeout", "deploy_timeout must be a positive number of seconds"))
    krisp = inputs.get("krispVivaAudioFilter")
    if krisp is not None and krisp not in KRISP_FILTERS:
        found.append(
            ("krispVivaAudioFilter", "krisp_viva_audio_filter must be 'tel', 'pro' or None")
        )
    duration = inputs.get("maxSessionDuration")
    if isinstance(duration, (int, float)) and not 60 <= duration <= 14400:
        found.append(("maxSessionDuration", "max_session_duration must be 60 to 14400 seconds"))
    low, high = inputs.get("minAgents"), inputs.get("maxAgents")
    for prop, value in (("minAgents", low), ("maxAgents", high)):
        if isinstance(value, (int, float)) and value < 0:
            found.append((prop, f"{snake(prop)} must not be negative"))
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        found.append(("minAgents", "min_agents must not exceed max_agents"))
    set_regions = inputs.get("setRegions")  # of the sets declared in the same program
    for prop in ("secretSet", "imagePullSecretSet"):
        bound = inputs.get(prop)
        where = set_regions.get(bound) if isinstance(set_regions, dict) else None
        if isinstance(region, str) and where is not None and where != region:
            found.append(
                (
                    prop,
                    f"{snake(prop)} {bound!r} is in region {where}, the agent in {region}: "
                    "declare the set in the agent's region, or deploy the agent where it is",
                )
            )
    return found


def request_body(inputs: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """CreateServiceRequest / UpdateServiceRequest from the resource's inputs.

    An update states every setting, defaults included: the API keeps what an update leaves
    out, so a setting removed from the program must be sent as its default to be undone.
    """
    body: dict[str, Any] = {}
    if create:
        body["serviceName"] = inputs["serviceName"]
        body["region"] = inputs["region"]
    for key in ("buildId", "image"):
        if inputs.get(key):
            body[key] = inputs[key]
    for key in ("secretSet", "imagePullSecretSet"):
        if inputs.get(key) or not create:
            body[key] = inputs.get(key) or None  # null drops a set, as `pcc deploy` does
    body["agentProfile"] = inputs.get("agentProfile") or DEFAULTS["agentProfile"]
    body["maxSessionDuration"] = int(
        inputs.get("maxSessionDuration") or DEFAULTS["maxSessionDuration"]
    )
    body["autoScaling"] = {
        key: int(inputs[key] if inputs.get(key) is not None else DEFAULTS[key])
        for key in ("minAgents", "maxAgents")
    }
    body["krispViva"] = {"audioFilter": inputs.get("krispVivaAudioFilter")}
    return body


def observed(agent: dict[str, Any]) -> dict[str, Any]:
    """The settings an agent reports, by input name, where it reports them."""
    seen: dict[str, Any] = {}
    scaling = agent.get("autoScaling")
    if isinstance(scaling, dict):
        seen["minAgents"] = scaling.get("minReplicas")
        seen["maxAgents"] = scaling.get("maxReplicas")
    if agent.get("agentProfile"):
        seen["agentProfile"] = agent["agentProfile"]
    krisp = agent.get("krispViva")
    if isinstance(krisp, dict):
        seen["krispVivaAudioFilter"] = krisp.get("audioFilter")
    return {k: v for k, v in seen.items() if v is not None or k == "krispVivaAudioFilter"}


class AgentProvider(ApiProvider):
    poll_interval: ClassVar[float] = 0.5

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(prop, reason) for prop, reason in problems(news)]
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
        return CheckResult(news, failures)

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
        replaces = [k for k in REPLACE_ON if olds.get(k) != news.get(k)]
        updates = [
            k for k in (*SETTINGS, *ROLLOUT_ON, "deployTimeout") if olds.get(k) != news.get(k)
        ]
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace=True,  # the name is unique: the old agent must go first
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, progress = props["serviceName"], Progress(props.get("__urn"))
        with self._client() as client:
            try:
                progress.status(f"creating agent {name}")
                agent = self._create(client, name, props)
            except api.ApiError as exc:
                raise AgentError(f"agent {name}: {exc}") from None
            try:
                agent = self._wait(client, name, agent, props, progress)
            except (api.ApiError, AgentError) as exc:
                # A create that fails must leave nothing behind, or the next `pulumi up`
                # would find the name taken.
                try:
                    client.delete_agent(name)
                    undone = "; the agent was deleted again"
                except api.ApiError:
                    undone = "; deleting it again failed too: delete it before retrying"
                raise AgentError(f"agent {name}: {exc}{undone}") from None
        return CreateResult(name, self._outputs(props, agent))

    @staticmethod
    def _create(client: api.Client, name: str, props: dict[str, Any]) -> dict[str, Any]:
        try:
            return client.create_agent(request_body(props, create=True))
        except api.ApiError as exc:
            if exc.status is not None:
                raise
            # The answer was lost after the request went out: the agent may exist now.
            try:
                return client.get_agent(name)
            except api.NotFound:
                raise exc from None

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        forced = any(olds.get(k) != news.get(k) for k in ROLLOUT_ON)
        if not forced and all(olds.get(k) == news.get(k) for k in SETTINGS):
            return UpdateResult({**olds, "deployTimeout": news.get("deployTimeout")})
        progress = Progress(news.get("__urn") or olds.get("__urn"))
        body = request_body(news, create=False)
        if forced:
            # The same settings would not roll out: a set's new values or a trigger must.
            body["forceRedeploy"] = True
        try:
            with self._client() as client:
                progress.status(f"updating agent {id_}")
                agent = client.update_agent(id_, body)
                agent = self._wait(client, id_, agent, news, progress)
        except api.ApiError as exc:
            raise AgentError(f"agent {id_}: {exc}") from None
        return UpdateResult(self._outputs(news, agent))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            with self._client() as client:
                agent = client.get_agent(id_)
        except api.NotFound:
            return ReadResult("", {})  # deleted outside Pulumi: refresh drops it
        except api.ApiError as exc:
            raise AgentError(f"agent {id_}: {exc}") from None
        # Settings changed outside Pulumi show up as drift, for the ones the program sets.
        drift = {k: v for k, v in observed(agent).items() if props.get(k) is not None}
        return ReadResult(id_, self._outputs({"serviceName": id_, **props, **drift}, agent))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        timeout = float(props.get("deployTimeout") or DEFAULT_DEPLOY_TIMEOUT)
        try:
            with self._client() as client:
                client.delete_agent(id_)
                # Gone means gone: a replacement of the same name is created right after.
                poll(
                    True,
                    lambda: _exists(client, id_),
                    lambda exists: not exists,
                    timeout=timeout,
                    describe=lambda _, took: f"deleting agent {id_} ({took:.0f}s)",
                    expired=lambda _: AgentError(f"agent {id_} still exists after {timeout:g}s"),
                    progress=Progress(props.get("__urn")),
                    interval=self.poll_interval,
                )
        except api.NotFound:
            pass  # already gone
        except api.ApiError as exc:
            raise AgentError(f"agent {id_}: {exc}") from None

    def _wait(
        self,
        client: api.Client,
        name: str,
        agent: dict[str, Any],
        props: dict[str, Any],
        progress: Progress,
    ) -> dict[str, Any]:
        """Until the deployment this call requested is reconciled and ready."""
        timeout = float(props.get("deployTimeout") or DEFAULT_DEPLOY_TIMEOUT)
        wanted = agent.get("desiredDeploymentId")
        agent = poll(
            agent,
            lambda: client.get_agent(name),
            lambda a: bool(
                a.get("ready")
                and a.get("desiredDeploymentId")
                and a.get("reconciledDeploymentId") == a.get("desiredDeploymentId")
                and (wanted is None or a.get("desiredDeploymentId") == wanted)
            ),
            timeout=timeout,
            describe=lambda a, took: f"deploying agent {name} ({took:.0f}s): {_reason(a)}",
            expired=lambda a: AgentError(
                f"not ready after {timeout:g}s (deployTimeout): {_reason(a)}"
            ),
            progress=progress,
            interval=self.poll_interval,
        )
        progress.info(f"agent {name} is ready (deployment {agent.get('desiredDeploymentId')})")
        return agent

    @staticmethod
    def _outputs(props: dict[str, Any], agent: dict[str, Any]) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if k not in OUTPUTS}
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


def _exists(client: api.Client, name: str) -> bool:
    try:
        client.get_agent(name)
        return True
    except api.NotFound:
        return False


def _reason(agent: dict[str, Any]) -> str:
    """What the agent is waiting on, in the API's own words where it gives any."""
    revision = agent.get("currentRevision") or {}
    for key in ("message", "reason", "phase", "status"):
        if isinstance(revision, dict) and revision.get(key):
            return str(revision[key])
    if agent.get("reconciledDeploymentId") != agent.get("desiredDeploymentId"):
        return "the new deployment is not reconciled yet"
    return "not ready yet"


class Agent(ApiResource, module="pipecat", name="Agent"):
    """A Pipecat Cloud agent.

    :param service_name: the agent's name (lowercase letters, digits, hyphens; at most 54).
    :param build_id: a successful build to deploy, e.g. `Build(...).build_id` or a
        StackReference output. Give this or `image`.
    :param image: a container image to deploy instead of a build.
    :param region: default: config `pipecat:region`, else "us-west". Builds, secret sets and
        image pull secret sets must be in the same region.
    :param secret_set, image_pull_secret_set: secret sets in that region: a name, or the
        SecretSet / ImagePullSecret itself. When the set is declared in the same program, the
        agent waits until it is ready, and a change in a SecretSet's values redeploys it.
    :param triggers: any values; a change redeploys the agent unchanged, as
        `pcc deploy --force` does (e.g. `triggers={"restart": "2026-01-05"}`).
    :param min_agents, max_agents: auto-scaling bounds.
    :param agent_profile: "agent-1x" (default on the service), "agent-2x" or "agent-3x".
    :param krisp_viva_audio_filter: "tel", "pro", or None (off).
    :param max_session_duration: seconds, 60 to 14400.
    :param deploy_timeout: seconds to wait for a deployment to become ready (default 600).
    """

    service_name: pulumi.Output[str]
    region: pulumi.Output[str]
    build_id: pulumi.Output[str | None]
    image: pulumi.Output[str | None]
    ready: pulumi.Output[bool]
    desired_deployment_id: pulumi.Output[str]
    reconciled_deployment_id: pulumi.Output[str]
    created_at: pulumi.Output[str]
    updated_at: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        service_name: pulumi.Input[str],
        build_id: pulumi.Input[str] | None = None,
        image: pulumi.Input[str] | None = None,
        region: str | None = None,
        secret_set: pulumi.Input[str] | secrets.SecretSet | None = None,
        image_pull_secret_set: pulumi.Input[str] | secrets.ImagePullSecret | None = None,
        min_agents: pulumi.Input[int] | None = None,
        max_agents: pulumi.Input[int] | None = None,
        agent_profile: str | None = None,
        krisp_viva_audio_filter: str | None = None,
        max_session_duration: int | None = None,
        deploy_timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        triggers: pulumi.Input[Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if isinstance(secret_set, secrets.SecretSet):
            secret_set = secret_set.set_name
        if isinstance(image_pull_secret_set, secrets.ImagePullSecret):
            image_pull_secret_set = image_pull_secret_set.set_name
        secret_revision, set_regions = secrets.bindings(secret_set, image_pull_secret_set)
        config = pulumi.Config("pipecat")
        region = region if region is not None else (config.get("region") or DEFAULT_REGION)
        props: dict[str, Any] = {snake(name): None for name in OUTPUTS}
        props.update(
            service_name=service_name,
            build_id=build_id,
            image=image,
            region=region,
            secret_set=secret_set,
            image_pull_secret_set=image_pull_secret_set,
            min_agents=min_agents,
            max_agents=max_agents,
            agent_profile=agent_profile,
            krisp_viva_audio_filter=krisp_viva_audio_filter,
            max_session_duration=max_session_duration,
            deploy_timeout=deploy_timeout,
            triggers=triggers,
            secret_revision=secret_revision,
            set_regions=set_regions,
        )
        # What can be judged before any output is known fails the preview at once.
        found = problems(
            {camel(k): UNKNOWN if isinstance(v, pulumi.Output) else v for k, v in props.items()}
        )
        complaint = settings_problem(config)
        if complaint:
            found.append(("apiKey", complaint))
        if found:
            raise pulumi.RunError(f"Agent {resource_name!r}: {found[0][1]}")
        props["__urn"] = resource_urn(
            f"pulumi-python:{self._resource_type_name}", resource_name, opts
        )
        super().__init__(AgentProvider(), resource_name, props, opts)
