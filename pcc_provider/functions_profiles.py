"""The function getAgentProfiles: the agent profiles the organization may deploy with, as
`pcc agent profiles list` shows them (the platform catalog, then its own; disabled ones too).

    from pcc_provider import get_agent_profiles
    sizes = {p.name: (p.cpu, p.memory) for p in get_agent_profiles().profiles if p.enabled}

Both doors read it through `profiles(client)`: the Python program with the stack's pipecat
config (its key read in the program, never returned), the native plugin for
`fn::invoke: pipecat:index:getAgentProfiles` (YAML) and the SDKs' getAgentProfiles. The
schema's `functions` and `types` entries are `FUNCTIONS` and `TYPES`.

Self-contained until the functions of other kinds (getAgent, getBuild, ...) bring a shared
machinery; nothing here is needed by any resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pcc_provider import api

if TYPE_CHECKING:
    import pulumi

TOKEN = "pipecat:index:getAgentProfiles"
INFO = "pipecat:index:AgentProfileInfo"

# (schema name, type, description) of each profile's fields, in the order pcc lists them.
FIELDS = (
    ("name", "string", "The name agents give as agentProfile."),
    ("displayName", "string", "The name `pcc agent profiles list` shows."),
    ("cpu", "string", "CPU per agent."),
    ("memory", "string", "Memory per agent."),
    ("custom", "boolean", "The organization's own (an AgentProfile), not the platform's."),
    ("enabled", "boolean", "Whether agents may be deployed with it now."),
)
TYPES: dict[str, Any] = {
    INFO: {
        "type": "object",
        "description": "An agent profile as `pcc agent profiles list` shows it.",
        "properties": {n: {"type": t, "description": d} for n, t, d in FIELDS},
        "required": [n for n, _, _ in FIELDS],
    }
}
FUNCTIONS: dict[str, Any] = {
    TOKEN: {
        "description": (
            "The agent profiles the organization may deploy with, as `pcc agent profiles "
            "list` shows them: the platform's, then its own (disabled ones too)."
        ),
        "outputs": {
            "properties": {
                "profiles": {
                    "type": "array",
                    "items": {"$ref": f"#/types/{INFO}"},
                    "description": "Each profile, the platform's first.",
                }
            },
            "required": ["profiles"],
        },
    }
}

# The reference page's example, by language (pcc_provider.native.reference).
EXAMPLE = {
    "python": (
        "from pcc_provider import get_agent_profiles\n\n"
        "sizes = {p.name: (p.cpu, p.memory) for p in get_agent_profiles().profiles if p.enabled}"
    ),
    "yaml": (
        "variables:\n  profiles:\n    fn::invoke:\n      function: pipecat:index:getAgentProfiles\n"
        "outputs:\n  profiles: ${profiles.profiles}"
    ),
    "typescript": "export const profiles = pipecat.getAgentProfilesOutput().profiles;",
}


def profiles(client: api.Client) -> list[dict[str, Any]]:
    """Each profile the API lists, in the schema's names."""
    found = []
    for listed in client.list_agent_profiles():
        given = listed.get("resources")
        sized: dict[str, Any] = given if isinstance(given, dict) else {}
        name = str(listed.get("api_name") or "")
        found.append(
            {
                "name": name,
                "displayName": str(listed.get("display_name") or name),
                "cpu": str(sized.get("cpu") or ""),
                "memory": str(sized.get("memory") or ""),
                "custom": bool(listed.get("custom")),
                "enabled": bool(listed.get("enabled", True)),
            }
        )
    return found


# -- the Python door ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentProfileInfo:
    """An agent profile as `pcc agent profiles list` shows it."""

    name: str
    display_name: str
    cpu: str
    memory: str
    custom: bool
    enabled: bool


@dataclass(frozen=True)
class GetAgentProfilesResult:
    profiles: list[AgentProfileInfo]


def get_agent_profiles() -> GetAgentProfilesResult:
    """The agent profiles the organization may deploy with, read now (at preview too), with
    the stack's pipecat config (apiKey, apiUrl, organization) or their variables."""
    from pulumi.runtime.config import get_config

    from pcc_provider.config import ProviderConfig
    from pcc_provider.errors import PipecatError

    config = ProviderConfig.read(lambda s: get_config(f"pipecat:{s.name}"))
    try:
        problem = config.problem()
        if problem:
            raise api.ApiError(problem)
        with api.Client(config.api_key, config.api_url, organization=config.organization) as client:
            listed = profiles(client)
    except PipecatError as exc:
        import pulumi

        raise pulumi.RunError(f"get_agent_profiles: {exc}") from None
    return GetAgentProfilesResult(
        [
            AgentProfileInfo(
                p["name"], p["displayName"], p["cpu"], p["memory"], p["custom"], p["enabled"]
            )
            for p in listed
        ]
    )


def get_agent_profiles_output() -> pulumi.Output[GetAgentProfilesResult]:
    """get_agent_profiles(), as an Output for other resources' inputs."""
    import pulumi

    return pulumi.Output.from_input(None).apply(lambda _: get_agent_profiles())
