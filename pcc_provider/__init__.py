"""Pulumi resources for Pipecat Cloud builds, agents and secret sets.

    from pcc_provider import Build
    image = Build("agent-image", context="agent", dockerfile="Dockerfile", region="us-west")

The resources are imported lazily so that `python -m pcc_provider` (hash, files, emulator)
starts without loading the Pulumi SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcc_provider.kinds import FUNCTIONS, KINDS

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pcc_provider.agent import Agent
    from pcc_provider.agent_profile import AgentProfile
    from pcc_provider.api_key import ApiKey
    from pcc_provider.build import Build
    from pcc_provider.deployment import Deployment
    from pcc_provider.functions_profiles import get_agent_profiles, get_agent_profiles_output
    from pcc_provider.lookups import (
        GetAgentResult,
        GetAgentSessionsResult,
        GetBuildResult,
        GetOrganizationPropertiesResult,
        GetRegionsResult,
        GetSecretSetResult,
        get_agent,
        get_agent_output,
        get_agent_sessions,
        get_agent_sessions_output,
        get_build,
        get_build_output,
        get_organization_properties,
        get_organization_properties_output,
        get_regions,
        get_regions_output,
        get_secret_set,
        get_secret_set_output,
    )
    from pcc_provider.organization_defaults import OrganizationDefaults
    from pcc_provider.registry_key import RegistryKey
    from pcc_provider.secrets import ImagePullSecret, SecretSet
    from pcc_provider.smoke import SmokeCheck
    from pcc_provider.spend_limit import SpendLimit

_LAZY = {kind.name: kind.module for kind in KINDS}
# Each function's plain and Output forms and its result class (kinds.FUNCTIONS).
_LAZY.update({name: kind.module for kind in FUNCTIONS for name in kind.python})
# getAgentProfiles (pcc_provider.functions_profiles), written before kinds.FUNCTIONS.
_LAZY.update(
    get_agent_profiles="pcc_provider.functions_profiles",
    get_agent_profiles_output="pcc_provider.functions_profiles",
    SmokeCheck="pcc_provider.smoke",  # an Agent's `smoke`
)
__all__ = [
    "Agent",
    "AgentProfile",
    "ApiKey",
    "Build",
    "Deployment",
    "GetAgentResult",
    "GetAgentSessionsResult",
    "GetBuildResult",
    "GetOrganizationPropertiesResult",
    "GetRegionsResult",
    "GetSecretSetResult",
    "ImagePullSecret",
    "OrganizationDefaults",
    "RegistryKey",
    "SecretSet",
    "SmokeCheck",
    "SpendLimit",
    "get_agent",
    "get_agent_output",
    "get_agent_profiles",
    "get_agent_profiles_output",
    "get_agent_sessions",
    "get_agent_sessions_output",
    "get_build",
    "get_build_output",
    "get_organization_properties",
    "get_organization_properties_output",
    "get_regions",
    "get_regions_output",
    "get_secret_set",
    "get_secret_set_output",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pcc_provider' has no attribute {name!r}")
