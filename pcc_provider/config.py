"""The provider's configuration, declared once: each setting with its config key (the schema's
name), its environment variable, its description, whether it is secret, and its default.

`ProviderConfig` is what both doors read (the dynamic providers' configure, the native
plugin's Configure) and what a program checks at preview; the package schema's `config` and
`provider` sections are `schema()`. No Pulumi.

The public API scopes every call to the API key's organization; `organization` names it for
the organization-scoped routes `pcc` uses (agent profiles, keys, spend limit, properties), and
is found from the key when it has exactly one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pcc_provider import api

DEFAULT_REGION = "us-west"


@dataclass(frozen=True)
class Setting:
    """One field of `ProviderConfig`, with the names it goes by."""

    field: str  # ProviderConfig's attribute: api_key
    name: str  # the config key, `pipecat:<name>`, and the schema's name: apiKey
    description: str
    env: str | None  # the variable read when the stack config has none
    secret: bool
    default: str

    def schema(self) -> dict[str, Any]:
        """The setting as the package schema declares it (a config variable, a provider input)."""
        spec: dict[str, Any] = {"type": "string"}
        if self.secret:
            spec["secret"] = True
        spec["description"] = self.description
        if self.env:
            spec["defaultInfo"] = {"environment": [self.env]}
        return spec


def _setting(
    name: str, description: str, *, default: str, env: str | None = None, secret: bool = False
) -> Any:
    meta = {"name": name, "description": description, "env": env, "secret": secret}
    # A secret is never in a repr: a config in a log line or an error must not show the key.
    return dataclasses.field(default=default, repr=not secret, metadata=meta)


@dataclass(frozen=True)
class ProviderConfig:
    api_key: str = _setting(
        "apiKey",
        "Pipecat Cloud private API key (or the PIPECAT_API_KEY variable).",
        default="",
        env="PIPECAT_API_KEY",
        secret=True,
    )
    api_url: str = _setting(
        "apiUrl",
        "Pipecat Cloud API URL (or the PIPECAT_API_URL variable).",
        default=api.DEFAULT_API_URL,
        env="PIPECAT_API_URL",
    )
    region: str = _setting(
        "region",
        f"The region of resources that name none (default {DEFAULT_REGION}).",
        default=DEFAULT_REGION,
    )
    organization: str = _setting(
        "organization",
        "The organization, as `pcc organizations list` names it, for what only the "
        "organization's own routes serve (agent profiles, API and registry keys, the spend "
        "limit, its properties); found from the API key when it belongs to one (or the "
        "PIPECAT_ORG variable).",
        default="",
        env="PIPECAT_ORG",
    )
    public_api_key: str = _setting(
        "publicApiKey",
        "A public API key (`pcc organizations keys create`, or an ApiKey's key) for the agents' "
        "smoke sessions, which start as a client starts one (or the PIPECAT_PUBLIC_API_KEY "
        "variable).",
        default="",
        env="PIPECAT_PUBLIC_API_KEY",
        secret=True,
    )

    @classmethod
    def read(
        cls,
        given: Callable[[Setting], Any] = lambda _: None,
        environ: Mapping[str, str] = os.environ,
    ) -> ProviderConfig:
        """Each setting from `given` (the stack config, asked by setting), else its variable,
        else its default. In a program `given` may answer a secret with an Output: there only
        whether it is set counts (`problem`)."""
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            value = given(setting) or (environ.get(setting.env) if setting.env else None)
            values[setting.field] = value or setting.default
        return cls(**values)

    def problem(self) -> str | None:
        """No key, or an API URL the key must not be sent to."""
        return api.NO_KEY if not self.api_key else api.url_problem(str(self.api_url))


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(field=f.name, default=f.default, **f.metadata)  # type: ignore[arg-type]
    for f in dataclasses.fields(ProviderConfig)
)
API_KEY = SETTINGS[0]


def schema() -> dict[str, dict[str, Any]]:
    """The settings by their schema names, as the package schema declares them."""
    return {setting.name: setting.schema() for setting in SETTINGS}
