"""The resource kinds, one line each: from this list come the package's lazy imports, the
native plugin's resources, the schema, the SDKs and the reference pages. No Pulumi.

A new resource is one module that describes it (pcc_provider.description.describe: its
inputs, outputs, provider and example) and one line here.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pcc_provider.description import Description
    from pcc_provider.function import Function


@dataclass(frozen=True)
class Kind:
    name: str  # the Python class, and the last part of the token
    module: str  # where the class and its description are
    described_by: str = "DESCRIPTION"  # the module's name for the description
    native: bool = True  # served by `pulumi-resource-pipecat` (not: a Python component)

    @property
    def token(self) -> str:
        return f"pipecat:index:{self.name}"

    def cls(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)

    def description(self) -> Description:
        found: Description = getattr(importlib.import_module(self.module), self.described_by)
        return found


KINDS = (
    Kind("Build", "pcc_provider.build"),
    Kind("Agent", "pcc_provider.agent"),
    Kind("SecretSet", "pcc_provider.secrets", "SECRET_SET"),
    Kind("ImagePullSecret", "pcc_provider.secrets", "IMAGE_PULL_SECRET"),
    Kind("Deployment", "pcc_provider.deployment", native=False),
    Kind("AgentProfile", "pcc_provider.agent_profile"),
    Kind("SpendLimit", "pcc_provider.spend_limit"),
    Kind("OrganizationDefaults", "pcc_provider.organization_defaults"),
    Kind("ApiKey", "pcc_provider.api_key"),
    Kind("RegistryKey", "pcc_provider.registry_key"),
)


def native() -> list[Description]:
    """The descriptions of the kinds the native plugin serves."""
    return [kind.description() for kind in KINDS if kind.native]


@dataclass(frozen=True)
class FunctionKind:
    """A function (data source): its schema name (`getAgent`, the token's last part), the
    module that describes it, and the module's name for its description. From this list come
    the package's `get_agent`/`get_agent_output`, the plugin's Invoke, the schema's
    `functions`, the SDKs and the reference pages."""

    name: str
    module: str
    described_by: str

    @property
    def python(self) -> tuple[str, str, str]:
        """Its Python names: get_agent, get_agent_output and GetAgentResult."""
        plain = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", self.name).lower()
        return plain, f"{plain}_output", f"{self.name[0].upper()}{self.name[1:]}Result"

    @property
    def token(self) -> str:
        return f"pipecat:index:{self.name}"

    def function(self) -> Function[Any]:
        found: Function[Any] = getattr(importlib.import_module(self.module), self.described_by)
        return found


FUNCTIONS = (
    FunctionKind("getAgent", "pcc_provider.lookups", "GET_AGENT"),
    FunctionKind("getBuild", "pcc_provider.lookups", "GET_BUILD"),
    FunctionKind("getSecretSet", "pcc_provider.lookups", "GET_SECRET_SET"),
    FunctionKind("getRegions", "pcc_provider.lookups", "GET_REGIONS"),
    FunctionKind(
        "getOrganizationProperties", "pcc_provider.lookups", "GET_ORGANIZATION_PROPERTIES"
    ),
    FunctionKind("getAgentSessions", "pcc_provider.lookups", "GET_AGENT_SESSIONS"),
)


def functions() -> list[Function[Any]]:
    return [kind.function() for kind in FUNCTIONS]
