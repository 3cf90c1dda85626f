"""The resource kinds, one line each: from this list come the package's lazy imports, the
native plugin's resources, the schema, the SDKs and the reference pages. No Pulumi.

A new resource is one module that describes it (pcc_provider.description.describe: its
inputs, outputs, provider and example) and one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pcc_provider.description import Description


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
