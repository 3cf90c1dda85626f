"""The Agent resource: a Pipecat Cloud agent (service) deployed from a build or an image.

    image = Build("agent-image", context="agent")
    bot = Agent("bot", service_name="hello-agent", build_id=image.build_id)

Changing the build or any setting updates the agent in place and waits for the new
deployment to be ready; changing the name or region replaces it; destroy deletes it.
"""

from __future__ import annotations

import re
import time
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

from pcc_provider import api
from pcc_provider.resource import (
    ApiProvider,
    ApiResource,
    Progress,
    camel,
    missing_key,
    resource_urn,
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
OUTPUTS = ("ready", "desiredDeploymentId", "reconciledDeploymentId", "createdAt", "updatedAt")


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
    build_id, image = given.get("buildId"), given.get("image")
    if build_id and image:
        found.append(("image", "give either build_id or image, not both"))
    elif build_id is None and image is None:
        found.append(("buildId", "give build_id (a Build's build_id) or image"))
    region = inputs.get("region")
    if isinstance(region, str) and not region.strip():
        found.append(("region", 'region is empty: pass region="us-west" (or another region)'))
    profile = inputs.get("agentProfile")
    if profile is not None and profile not in PROFILES:
        found.append(("agentProfile", f"agent_profile must be one of {', '.join(PROFILES)}"))
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
    return found


def request_body(inputs: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """CreateServiceRequest / UpdateServiceRequest from the resource's inputs."""
    body: dict[str, Any] = {}
    if create:
        body["serviceName"] = inputs["serviceName"]
        body["region"] = inputs["region"]
    for key in ("buildId", "image", "secretSet", "imagePullSecretSet", "agentProfile"):
        if inputs.get(key):
            body[key] = inputs[key]
    if inputs.get("maxSessionDuration") is not None:
        body["maxSessionDuration"] = int(inputs["maxSessionDuration"])
    scaling = {
        api_key: int(inputs[key])
        for key, api_key in (("minAgents", "minAgents"), ("maxAgents", "maxAgents"))
        if inputs.get(key) is not None
    }
    if scaling:
        body["autoScaling"] = scaling
    # Krisp VIVA is off unless asked for; an update must say so to turn it off again.
    if inputs.get("krispVivaAudioFilter") is not None or not create:
        body["krispViva"] = {"audioFilter": inputs.get("krispVivaAudioFilter")}
    return body


class AgentProvider(ApiProvider):
    poll_interval: ClassVar[float] = 0.5
    poll_interval_max: ClassVar[float] = 5.0

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
            reason = self._build_problem(build_id, news.get("region") or "us-west")
            if reason:
                failures.append(CheckFailure("buildId", reason))
        return CheckResult(news, failures)

    def _build_problem(self, build_id: str, region: str) -> str | None:
        try:
            build = self._client().get_build(build_id)
        except api.NotFound:
            return f"build {build_id} does not exist"
        except api.ApiError:
            return None  # unreachable now: the create will say what is wrong
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
        updates = [k for k in (*SETTINGS, "deployTimeout") if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            stables=[] if replaces else list(REPLACE_ON),
            delete_before_replace=True,  # the name is unique: the old agent must go first
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        client, progress = self._client(), Progress(props.get("__urn"))
        name = props["serviceName"]
        try:
            progress.status(f"creating agent {name}")
            agent = client.create_agent(request_body(props, create=True))
            agent = self._wait(client, name, agent, props, progress)
        except api.ApiError as exc:
            raise AgentError(f"agent {name}: {exc}") from None
        return CreateResult(name, self._outputs(props, agent))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client, progress = self._client(), Progress(news.get("__urn") or olds.get("__urn"))
        if all(olds.get(k) == news.get(k) for k in SETTINGS):
            return UpdateResult({**olds, "deployTimeout": news.get("deployTimeout")})
        try:
            progress.status(f"updating agent {id_}")
            agent = client.update_agent(id_, request_body(news, create=False))
            agent = self._wait(client, id_, agent, news, progress)
        except api.ApiError as exc:
            raise AgentError(f"agent {id_}: {exc}") from None
        return UpdateResult(self._outputs(news, agent))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            agent = self._client().get_agent(id_)
        except api.NotFound:
            return ReadResult("", {})  # deleted outside Pulumi: refresh drops it
        except api.ApiError as exc:
            raise AgentError(f"agent {id_}: {exc}") from None
        return ReadResult(id_, self._outputs({"serviceName": id_, **props}, agent))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            self._client().delete_agent(id_)
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
        """Until the requested deployment is reconciled and ready, or the deploy timeout."""
        timeout = float(props.get("deployTimeout") or DEFAULT_DEPLOY_TIMEOUT)
        start, delay = time.monotonic(), self.poll_interval
        while not (
            agent.get("ready")
            and agent.get("desiredDeploymentId")
            and agent.get("reconciledDeploymentId") == agent.get("desiredDeploymentId")
        ):
            elapsed = time.monotonic() - start
            if elapsed >= timeout:
                raise AgentError(
                    f"agent {name} is not ready after {timeout:g}s (deployTimeout): "
                    f"{_reason(agent)}"
                )
            progress.status(f"deploying agent {name} ({elapsed:.0f}s): {_reason(agent)}")
            time.sleep(min(delay, max(timeout - elapsed, 0.05)))
            delay = min(delay * 1.5, self.poll_interval_max)
            agent = client.get_agent(name)
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
    :param secret_set, image_pull_secret_set: names of secret sets in that region.
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
        secret_set: pulumi.Input[str] | None = None,
        image_pull_secret_set: pulumi.Input[str] | None = None,
        min_agents: pulumi.Input[int] | None = None,
        max_agents: pulumi.Input[int] | None = None,
        agent_profile: str | None = None,
        krisp_viva_audio_filter: str | None = None,
        max_session_duration: int | None = None,
        deploy_timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        config = pulumi.Config("pipecat")
        region = region if region is not None else (config.get("region") or "us-west")
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
        )
        # What can be judged before any output is known fails the preview at once.
        found = problems(
            {camel(k): UNKNOWN if isinstance(v, pulumi.Output) else v for k, v in props.items()}
        )
        complaint = missing_key(config)
        if complaint:
            found.append(("apiKey", complaint))
        if found:
            raise pulumi.RunError(f"Agent {resource_name!r}: {found[0][1]}")
        props["__urn"] = resource_urn(
            f"pulumi-python:{self._resource_type_name}", resource_name, opts
        )
        super().__init__(AgentProvider(), resource_name, props, opts)
