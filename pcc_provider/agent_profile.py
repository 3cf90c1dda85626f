"""The AgentProfile resource: a profile of the organization's own (cpu and memory), for agents
in self-hosted regions, as `pcc agent profiles create` makes one.

    big = AgentProfile("big", name="telephony-large", cpu="2", memory="4Gi")
    Agent("bot", service_name="bot", image="...", agent_profile=big.name)

Routes (pcc 1.4.0's, under /organizations/{org}): GET /agent-profiles (there is no read of
one), POST /agent-profiles, PATCH /agent-profiles/{name}. Nothing deletes a profile:
disabling it is how pcc removes one (agents deployed with it keep running), so destroy
disables it, and a disabled profile counts as gone (refresh forgets it; a create of the name
enables it again with the declared sizing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Required, TypedDict, Unpack

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, UpdateResult

from pcc_provider import api, ownership, recovery
from pcc_provider.description import UNKNOWN, Description, Door, Field, describe, flag, present
from pcc_provider.errors import PipecatError
from pcc_provider.organization_objects import OrganizationObjectProvider
from pcc_provider.resource import (
    ApiResource,
    Progress,
    checked,
    refuse_import,
)

# The service's rules, as pcc mirrors them (agent_profiles.py, deploy_utils.py).
PROFILE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
PLATFORM_PROFILES = ("agent-1x", "agent-2x", "agent-3x")
CLAIM = "agentProfile"


class AgentProfileError(PipecatError):
    """A refused or failed agent profile; str() is for the user."""


def profile_name_problem(name: Any, door: Door) -> str | None:
    if name in PLATFORM_PROFILES:
        return f"{door['name']} {name!r} is a platform profile: choose another name"
    if isinstance(name, str) and PROFILE_NAME.fullmatch(name):
        return None
    return (
        f"{door['name']} {name!r} is not a valid profile name: use at most 63 lowercase "
        "letters, digits and hyphens, starting and ending with a letter or digit"
    )


def _quantity(name: str, example: str) -> Any:
    def check(value: Any, door: Door) -> str | None:
        if isinstance(value, str) and QUANTITY.fullmatch(value):
            return None
        return (
            f"{door[name]} {value!r} is not a quantity: write it as Kubernetes does, e.g. {example}"
        )

    return check


def _display_name(value: Any, door: Door) -> str | None:
    ok = isinstance(value, str) and value.strip()
    return None if ok else f"{door['displayName']} must be a non-empty string"


class AgentProfileArgs(TypedDict, total=False):
    """The inputs of an AgentProfile, by their Python names (pcc_provider.description)."""

    name: Required[
        Annotated[
            str,
            Field(
                "the name agents give as `agent_profile` (lowercase letters, digits, hyphens).",
                replaces=True,
                check=profile_name_problem,
            ),
        ]
    ]
    cpu: Required[
        Annotated[
            str,
            Field(
                'CPU per agent, a Kubernetes quantity: "2", "500m".',
                check=_quantity("cpu", '"2" or "500m"'),
            ),
        ]
    ]
    memory: Required[
        Annotated[
            str,
            Field(
                'memory per agent, a Kubernetes quantity: "4Gi".',
                check=_quantity("memory", '"4Gi" or "512Mi"'),
            ),
        ]
    ]
    display_name: Annotated[
        str | None,
        Field("the name `pcc agent profiles list` shows (default: the name).", check=_display_name),
    ]
    adopt_existing: Annotated[
        bool,
        Field(
            "take over an enabled profile of this name that this stack did not create (made "
            "by `pcc agent profiles create`, say): its sizing is set to these, and `pulumi "
            "destroy` disables it. Off by default: such a profile fails the create.",
            default=False,
            check=flag("adoptExisting"),
        ),
    ]


def _shown(props: Mapping[str, Any]) -> str:
    """The display name the service holds for these inputs."""
    return str(props.get("displayName") or props.get("name"))


class AgentProfileProvider(OrganizationObjectProvider):
    what, error, adopt, claim = "agent profile", AgentProfileError, "adoptExisting", CLAIM
    reasons = (AgentProfileError,)
    named_by = "name"

    def _listed(self, client: api.Client, name: str) -> dict[str, Any] | None:
        """The profile of that name as the list has it, disabled too."""
        return next((p for p in client.list_agent_profiles() if p.get("api_name") == name), None)

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        found = self._listed(client, name)
        # Disabled is how pcc removes a profile: such a one is gone.
        return found if found is not None and found.get("enabled", True) else None

    def _stranger(self, state: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
        # Profiles have no creation time or id: only the catalog's are surely not this stack's.
        return None if found.get("custom") else "it is a platform profile"

    def _claimed_object(self, inputs: dict[str, Any]) -> tuple[str | None, list[str]] | None:
        name, sizing = inputs.get("name"), [inputs.get("cpu"), inputs.get("memory")]
        if not all(isinstance(v, str) and v != UNKNOWN for v in (name, *sizing)):
            return None  # not known yet
        return str(name), [str(v) for v in sizing]

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        self._settled(olds, olds.get("name") or _id)
        replaces = [k for k in self.description.replace_on if olds.get(k) != news.get(k)]
        changed = any(olds.get(k) != news.get(k) for k in ("cpu", "memory"))
        changed = changed or _shown(olds) != _shown(news)
        return DiffResult(changes=bool(replaces) or changed, replaces=replaces)

    def _body(self, props: Mapping[str, Any]) -> dict[str, Any]:
        sized = {"cpu": props["cpu"], "memory": props["memory"]}
        return {"displayName": _shown(props), "resources": sized, "enabled": True}

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, progress, urn = props["name"], self._progress(props), props.get("__urn") or ""
        with self._client(progress=progress) as client, self.reported(name, props):
            found = self._listed(client, name)
            if found is not None and found.get("enabled", True):
                self._take_over(client, props, found, progress)
                client.update_agent_profile(name, self._body(props))
            else:
                # No enabled profile of the name now: one found after an interrupted `up`
                # with this sizing is this create's (ownership.py).
                sizing = [props["cpu"], props["memory"]]
                ownership.claim(urn, self.claim, name, client.organization(), sizing)
                progress.status(f"creating agent profile {name}")
                client.create_agent_profile(name, _shown(props), props["cpu"], props["memory"])
        return CreateResult(name, self._outputs(props))

    def _take_over(
        self, client: api.Client, props: dict[str, Any], found: dict[str, Any], progress: Progress
    ) -> None:
        name, urn = props["name"], props.get("__urn") or ""
        if not found.get("custom"):
            raise AgentProfileError(f"{name} is a platform profile: choose another name")
        sized = found.get("resources") or {}
        sizing = [str(sized.get("cpu")), str(sized.get("memory"))]
        claim = ownership.claimed(urn, self.claim, name)
        mine = claim is not None and claim.region == client.organization()
        if mine and claim is not None and claim.keys == sorted(sizing):
            progress.warn(
                f"agent profile {name} was created by an interrupted `pulumi up` of this "
                "stack: its sizing is set to the declared one"
            )
            return
        if not props.get("adoptExisting"):
            raise AgentProfileError(
                f"it already exists in Pipecat Cloud (cpu {sizing[0]}, memory {sizing[1]}) and "
                f"this stack did not create it: pass {self.door.assign('adoptExisting', True)} "
                "to take it over (its sizing is set to the declared one and `pulumi destroy` "
                f"disables it), choose another {self.door['name']}, or disable it "
                f"(`pcc agent profiles disable {name}`)"
                + (f"; {recovery.advice(urn)}" if urn else "")
            )
        progress.warn(
            f"agent profile {name} already exists: {self.door.assign('adoptExisting', True)} "
            "takes it over, and `pulumi destroy` will disable it"
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        progress = self._progress(news, olds)
        with self.reported(id_, news, olds), self._client(progress=progress) as client:
            found = self._ensure_ours(client, id_, olds, news)
            if found is None:
                # Disabled (or never there) since: creating the name enables it again.
                client.create_agent_profile(id_, _shown(news), news["cpu"], news["memory"])
            else:
                client.update_agent_profile(id_, self._body(news))
        return UpdateResult(self._outputs(news))

    def _delete(
        self, client: api.Client, name: str, props: Mapping[str, Any], progress: Progress
    ) -> bool:
        # As `pcc agent profiles disable`: agents deployed with it keep running.
        client.update_agent_profile(name, {"enabled": False})
        progress.info(f"agent profile {name} is disabled")
        return True

    def _observed(
        self, name: str, props: dict[str, Any], found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        sized = found.get("resources") or {}
        shown = found.get("display_name") or name
        inputs = {
            "name": name,
            "cpu": str(sized.get("cpu")),
            "memory": str(sized.get("memory")),
            # The name is the default: a program that gives none has no change.
            "displayName": None if shown == name else shown,
            "adoptExisting": bool(props.get("adoptExisting", False)),
        }
        return self._outputs({**props, **inputs}), inputs

    @staticmethod
    def _outputs(props: Mapping[str, Any]) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if k != ownership.STAMP}
        outs["shownAs"] = _shown(props)
        return outs


class AgentProfile(ApiResource, module="pipecat", name="AgentProfile"):
    """A custom agent profile (cpu and memory) for agents in self-hosted regions, as `pcc agent
    profiles create` makes one; destroy disables it, as `pcc agent profiles disable` does."""

    name: Annotated[pulumi.Output[str], "The profile's name, which agents give as agentProfile."]
    cpu: Annotated[pulumi.Output[str], "CPU per agent."]
    memory: Annotated[pulumi.Output[str], "Memory per agent."]
    shown_as: Annotated[
        pulumi.Output[str], "The name `pcc agent profiles list` shows (displayName, else name)."
    ]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[AgentProfileArgs],
    ) -> None:
        refuse_import("AgentProfile", resource_name, opts)
        props = checked("AgentProfile", resource_name, DESCRIPTION, args)
        super().__init__(AgentProfileProvider(), resource_name, props, opts)


DESCRIPTION: Description = describe(
    "AgentProfile",
    AgentProfileArgs,
    AgentProfile,
    provider=AgentProfileProvider,
    example={
        "python": """\
from pcc_provider import Agent, AgentProfile

big = AgentProfile("big", name="telephony-large", cpu="2", memory="4Gi")
bot = Agent("bot", service_name="bot", image="...", agent_profile=big.name)""",
        "yaml": """\
resources:
  big:
    type: pipecat:index:AgentProfile
    properties:
      name: telephony-large
      cpu: "2"
      memory: 4Gi""",
        "typescript": """\
const big = new pipecat.AgentProfile("big", {
    name: "telephony-large",
    cpu: "2",
    memory: "4Gi",
});""",
    },
)
present(AgentProfile)
