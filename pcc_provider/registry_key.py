"""The RegistryKey resource: a registry pull key, as `pcc organizations registry-keys mint` makes
it, for `helm registry login` to the registry that serves a self-hosted region's chart.

    pull = RegistryKey("chart-pull", name="acme-us-east-workstation")
    pulumi.export("registryKey", pull.key)  # a secret

`POST /v1/organizations/{org}/registry-keys` {name} mints it and is the only answer that
carries it; the list (`GET .../registry-keys`) shows its prefix, never the key; `DELETE
.../registry-keys/{id}` revokes it. A new name mints a new key, then revokes the old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Required, TypedDict, Unpack

import pulumi

from pcc_provider import api
from pcc_provider.description import Description, Field, describe, present
from pcc_provider.keys import KeyProvider, KeyResource, name_problem


class RegistryKeyArgs(TypedDict, total=False):
    """The inputs of a RegistryKey, by their Python names (pcc_provider.description)."""

    name: Required[
        Annotated[
            str,
            Field(
                "the key's name (e.g. acme-us-east-workstation), as `pcc organizations "
                "registry-keys list` shows it; a new name mints a new key.",
                replaces=True,
                check=name_problem,
            ),
        ]
    ]


class RegistryKeyProvider(KeyProvider):
    what, claim = "registry key", "registryKey"
    readable = False

    def _listing(self, client: api.Client) -> list[dict[str, Any]]:
        return client.list_registry_keys()

    def _make(self, client: api.Client, props: Mapping[str, Any]) -> dict[str, Any]:
        return client.mint_registry_key(str(props["name"]))

    def _remove(self, client: api.Client, name: str) -> None:
        client.revoke_registry_key(name)

    def _seen(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        seen = {
            "keyId": entry.get("id"),
            "name": entry.get("name"),
            "key": entry.get("key"),
            "createdAt": entry.get("created_at"),
        }
        # The mint names the login (`username`, `registry_host`); the list, the prefix.
        for output, given in (
            ("username", "username"),
            ("registryHost", "registry_host"),
            ("keyPrefix", "key_prefix"),
        ):
            if entry.get(given) is not None:
                seen[output] = entry.get(given)
        return seen


class RegistryKey(KeyResource, module="pipecat", name="RegistryKey"):
    """A registry pull key of the organization (`pcc organizations registry-keys mint`): its
    value is a secret output, shown nowhere, revoked when the resource is deleted. It cannot be
    read back: `pulumi import pipecat:index:RegistryKey NAME KEY_ID` takes over one that `pcc`
    minted without it (`key` stays empty); replace the resource for a key this stack holds."""

    name: Annotated[pulumi.Output[str], "The key's name."]
    key_id: Annotated[
        pulumi.Output[str],
        "The key's id (`pcc organizations registry-keys list`'s ID; what `pulumi import` takes).",
    ]
    key: Annotated[
        pulumi.Output[str | None],
        Field(
            "The key itself: a Pulumi secret, shown nowhere; empty after `pulumi import`.",
            secret=True,
        ),
    ]
    username: Annotated[pulumi.Output[str | None], "The user name to log in with (`pcc`)."]
    registry_host: Annotated[pulumi.Output[str | None], "The registry the key logs in to."]
    key_prefix: Annotated[
        pulumi.Output[str | None], "The key's first characters, as the list shows them."
    ]
    created_at: Annotated[pulumi.Output[str | None], "When the key was minted (ISO 8601)."]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[RegistryKeyArgs],
    ) -> None:
        self._register("RegistryKey", resource_name, RegistryKeyProvider(), args, opts)


DESCRIPTION: Description = describe(
    "RegistryKey",
    RegistryKeyArgs,
    RegistryKey,
    provider=RegistryKeyProvider,
    imported=("keyId",),
    example={
        "python": """\
from pcc_provider import RegistryKey

pull = RegistryKey("chart-pull", name="acme-us-east-workstation")
pulumi.export("registryKey", pull.key)  # a secret""",
        "yaml": """\
resources:
  pull:
    type: pipecat:index:RegistryKey
    properties:
      name: acme-us-east-workstation
outputs:
  registryKey: ${pull.key}""",
        "typescript": """\
const pull = new pipecat.RegistryKey("chart-pull", { name: "acme-us-east-workstation" });
export const registryKey = pull.key; // a secret""",
    },
)
present(RegistryKey)
