"""Pulumi resources for Pipecat Cloud builds, agents and secret sets.

    from pcc_provider import Build
    image = Build("agent-image", context="agent", dockerfile="Dockerfile", region="us-west")

The resources are imported lazily so that `python -m pcc_provider` (hash, files, emulator)
starts without loading the Pulumi SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcc_provider.kinds import KINDS

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pcc_provider.agent import Agent
    from pcc_provider.api_key import ApiKey
    from pcc_provider.build import Build
    from pcc_provider.deployment import Deployment
    from pcc_provider.registry_key import RegistryKey
    from pcc_provider.secrets import ImagePullSecret, SecretSet

__all__ = [
    "Agent",
    "ApiKey",
    "Build",
    "Deployment",
    "ImagePullSecret",
    "RegistryKey",
    "SecretSet",
]

_LAZY = {kind.name: kind.module for kind in KINDS}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pcc_provider' has no attribute {name!r}")
