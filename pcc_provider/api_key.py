"""The ApiKey resource: an organization API key, as `pcc organizations keys create` makes it.

    ci = ApiKey("web-client", name="web-client")
    pulumi.export("publicKey", ci.key)  # a secret

`POST /v1/organizations/{org}/apiKeys` {name, type} makes it, its list (`GET .../apiKeys`,
which shows each key in full, as `pcc organizations keys list` does) reads it, and
`DELETE .../apiKeys/{id}` revokes it. A key never changes: a new name or type makes a new
key, then revokes the old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Required, TypedDict, Unpack

import pulumi

from pcc_provider import api
from pcc_provider.description import Description, Door, Field, describe, present
from pcc_provider.keys import KeyProvider, KeyResource, name_problem

# The key types pcc 1.4.0 creates (its api.py sends type "public" only); private keys are made
# in the dashboard.
TYPES = ("public",)


def type_problem(value: Any, door: Door) -> str | None:
    if value in TYPES:
        return None
    return (
        f"{door['type']} {value!r} is not a key type this API makes: pass "
        f"{door.assign('type', 'public')} (private keys are made in the dashboard, Settings > "
        "API Keys)"
    )


class ApiKeyArgs(TypedDict, total=False):
    """The inputs of an ApiKey, by their Python names (pcc_provider.description)."""

    name: Required[
        Annotated[
            str,
            Field(
                "the key's name, as `pcc organizations keys list` shows it; a new name makes a "
                "new key.",
                replaces=True,
                check=name_problem,
            ),
        ]
    ]
    type: Annotated[
        str,
        Field(
            'the key\'s type: "public" (for starting sessions from a client), the one '
            "`pcc organizations keys create` makes.",
            default="public",
            replaces=True,
            check=type_problem,
        ),
    ]


class ApiKeyProvider(KeyProvider):
    what, claim = "API key", "apiKey"
    readable = True

    def _listing(self, client: api.Client) -> list[dict[str, Any]]:
        return client.list_api_keys()

    def _make(self, client: api.Client, props: Mapping[str, Any]) -> dict[str, Any]:
        return client.create_api_key(str(props["name"]), str(props["type"]))

    def _remove(self, client: api.Client, name: str) -> None:
        client.revoke_api_key(name)

    def _seen(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        metadata = entry.get("metadata")
        named = metadata.get("name") if isinstance(metadata, Mapping) else None
        return {
            "keyId": entry.get("id"),
            "name": named if named is not None else entry.get("name"),
            "type": entry.get("type") or "public",
            "key": entry.get("key"),
            "createdAt": entry.get("createdAt"),
        }


class ApiKey(KeyResource, module="pipecat", name="ApiKey"):
    """An API key of the organization (`pcc organizations keys create`): its value is a secret
    output, revoked when the resource is deleted. `pulumi import pipecat:index:ApiKey NAME
    KEY_ID` takes over one that `pcc` made, its value included (the list shows public keys in
    full)."""

    name: Annotated[pulumi.Output[str], "The key's name."]
    type: Annotated[pulumi.Output[str], 'The key\'s type ("public").']
    key_id: Annotated[
        pulumi.Output[str],
        "The key's id (the `id` in `pcc --output json organizations keys list`; what "
        "`pulumi import` takes).",
    ]
    key: Annotated[
        pulumi.Output[str | None],
        Field("The key itself: a Pulumi secret, shown nowhere.", secret=True),
    ]
    created_at: Annotated[pulumi.Output[str | None], "When the key was made (ISO 8601)."]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[ApiKeyArgs],
    ) -> None:
        self._register("ApiKey", resource_name, ApiKeyProvider(), args, opts)


DESCRIPTION: Description = describe(
    "ApiKey",
    ApiKeyArgs,
    ApiKey,
    provider=ApiKeyProvider,
    imported=("keyId",),
    example={
        "python": """\
from pcc_provider import ApiKey

web = ApiKey("web", name="web-client")
pulumi.export("publicKey", web.key)  # a secret""",
        "yaml": """\
resources:
  web:
    type: pipecat:index:ApiKey
    properties:
      name: web-client
outputs:
  publicKey: ${web.key}""",
        "typescript": """\
const web = new pipecat.ApiKey("web", { name: "web-client" });
export const publicKey = web.key; // a secret""",
    },
)
present(ApiKey)
