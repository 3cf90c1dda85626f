"""The provider's configuration, declared once (pcc_provider.config), and the providers' timings:
what each door reads and in which order, what the schema says of it, and that a provider in a
stack's state (the SDK pickles it there) still works, whoever wrote the state."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import dill
import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from pulumi.dynamic.dynamic import serialize_provider

from pcc_provider import api
from pcc_provider.agent import AgentProvider
from pcc_provider.build import BuildProvider
from pcc_provider.config import SETTINGS, ProviderConfig, Setting, schema
from pcc_provider.native import schema as package_schema
from pcc_provider.resource import PRODUCTION, ApiProvider, Timings
from pcc_provider.secrets import SecretSetProvider

# The providers as pcc-provider 0.1.0 pickled them into a stack's state (`__provider`), made by
# that version's code: `{'_settings': None, '_from_config': False}`, no config nor timings.
EARLIER = {
    BuildProvider: (
        "gASVTQAAAAAAAACMEnBjY19wcm92aWRlci5idWlsZJSMDUJ1aWxkUHJvdmlkZXKU"
        "k5QpgZR9lCiMDF9mcm9tX2NvbmZpZ5SJjAlfc2V0dGluZ3OUTnViLg=="
    ),
    AgentProvider: (
        "gASVTQAAAAAAAACMEnBjY19wcm92aWRlci5hZ2VudJSMDUFnZW50UHJvdmlkZXKU"
        "k5QpgZR9lCiMDF9mcm9tX2NvbmZpZ5SJjAlfc2V0dGluZ3OUTnViLg=="
    ),
    SecretSetProvider: (
        "gASVUwAAAAAAAACMFHBjY19wcm92aWRlci5zZWNyZXRzlIwRU2VjcmV0U2V0UHJv"
        "dmlkZXKUk5QpgZR9lCiMDF9mcm9tX2NvbmZpZ5SJjAlfc2V0dGluZ3OUTnViLg=="
    ),
}


def configure(provider: ApiProvider, **config: str) -> None:
    """As the SDK's dynamic-provider plugin configures a provider it unpickled."""
    raw = {f"pipecat:{k}": v for k, v in config.items()}
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="p")))


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PIPECAT_API_KEY", "PIPECAT_API_URL", "PIPECAT_ORG"):
        monkeypatch.delenv(name, raising=False)


def test_each_setting_comes_from_the_config_else_its_variable_else_its_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ProviderConfig.read() == ProviderConfig("", api.DEFAULT_API_URL, "us-west")
    monkeypatch.setenv("PIPECAT_API_KEY", "pk_env")
    monkeypatch.setenv("PIPECAT_API_URL", "http://localhost:1/v1")
    assert ProviderConfig.read() == ProviderConfig("pk_env", "http://localhost:1/v1", "us-west")
    stack = {"apiKey": "pk_stack", "apiUrl": "https://api.example/v1", "region": "eu-central"}
    given = ProviderConfig.read(lambda setting: stack.get(setting.name))
    assert given == ProviderConfig("pk_stack", "https://api.example/v1", "eu-central")
    # The organization, as pcc reads it: PIPECAT_ORG unless the stack config names one.
    monkeypatch.setenv("PIPECAT_ORG", "acme")
    assert ProviderConfig.read().organization == "acme"
    stack["organization"] = "beta"
    assert ProviderConfig.read(lambda setting: stack.get(setting.name)).organization == "beta"


def test_the_problem_is_a_missing_key_or_a_url_the_key_must_not_reach() -> None:
    assert ProviderConfig().problem() == api.NO_KEY
    assert ProviderConfig("pk_x").problem() is None
    problem = ProviderConfig("pk_x", "http://api.example/v1").problem()
    assert problem is not None and "must be https://" in problem


def test_no_repr_shows_the_key() -> None:
    config = ProviderConfig("pk_live_secret_1234", "http://localhost:1/v1")
    assert "pk_live_secret_1234" not in repr(config)
    assert "http://localhost:1/v1" in repr(config)


def test_the_schema_declares_each_setting_once_as_both_config_and_provider_input() -> None:
    declared = package_schema.schema()
    assert declared["config"]["variables"] == schema() == declared["provider"]["inputProperties"]
    assert list(schema()) == ["apiKey", "apiUrl", "region", "organization", "publicApiKey"]
    assert schema()["organization"]["defaultInfo"] == {"environment": ["PIPECAT_ORG"]}
    assert schema()["apiKey"] == {
        "type": "string",
        "secret": True,
        "description": "Pipecat Cloud private API key (or the PIPECAT_API_KEY variable).",
        "defaultInfo": {"environment": ["PIPECAT_API_KEY"]},
    }
    # Every field of ProviderConfig is a setting, and only they are.
    assert [s.field for s in SETTINGS] == [f.name for f in dataclasses.fields(ProviderConfig)]
    assert all(isinstance(s, Setting) for s in SETTINGS)


def test_configure_reads_the_stack_config_as_the_engine_passes_it() -> None:
    provider = BuildProvider()
    configure(provider, apiKey="pk_stack", apiUrl="http://localhost:1/v1")
    assert provider.config == ProviderConfig("pk_stack", "http://localhost:1/v1", "us-west")
    assert provider._from_config


@pytest.mark.parametrize("kind", [BuildProvider, AgentProvider, SecretSetProvider])
def test_a_provider_pickled_by_an_earlier_version_still_configures_and_waits(
    kind: type[ApiProvider],
) -> None:
    provider = dill.loads(base64.b64decode(EARLIER[kind]))
    assert type(provider) is kind
    assert provider.timings == PRODUCTION and provider.config is None
    configure(provider, apiKey="pk_stack")
    assert provider.config == ProviderConfig("pk_stack")


@pytest.mark.parametrize("timings", [PRODUCTION, Timings(poll_interval=0.05, transient_tries=1)])
def test_a_provider_round_trips_through_the_state_with_its_timings(timings: Timings) -> None:
    provider: Any = dill.loads(base64.b64decode(serialize_provider(BuildProvider(None, timings))))
    assert provider.timings == timings and provider.config is None
    # A default provider pickles no timings: the production ones are the class's.
    assert ("timings" in vars(provider)) is (timings != PRODUCTION)
