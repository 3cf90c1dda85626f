"""Functions are described once (pcc_provider.function): a function declared with its
arguments and result reaches the schema's `functions`, its reference page, the Python forms'
signatures and the native plugin's Invoke; its messages name arguments as each door does."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Required, TypedDict

import pytest
from pulumi.provider.experimental.provider import InvokeRequest

import pcc_provider
from pcc_provider import api, kinds, lookups
from pcc_provider.config import ProviderConfig
from pcc_provider.description import PYTHON, SCHEMA, Door, Field, camel
from pcc_provider.function import FunctionError, describe_function
from pcc_provider.native import reference, schema
from pcc_provider.native.server import NativeError, PipecatProvider


class GetDeploymentArgs(TypedDict, total=False):
    service_name: Required[Annotated[str, Field("the agent's name.")]]
    deployment_id: Annotated[str | None, Field("one of its deployments (default: the active one).")]


@dataclass(frozen=True)
class GetDeploymentResult:
    """One deployment of an agent."""

    deployment_id: Annotated[str, "The deployment's id."]
    settings: Annotated[dict[str, Any], "What it was deployed with."]


def _read(client: api.Client, args: Mapping[str, Any], door: Door) -> dict[str, Any]:
    return {"deploymentId": "d1", "settings": {}}


GET_DEPLOYMENT = describe_function(
    "getDeployment",
    GetDeploymentArgs,
    GetDeploymentResult,
    _read,
    example={"python": "get_deployment(...)", "yaml": "fn::invoke: ...", "typescript": "..."},
)


@pytest.fixture
def get_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    added = kinds.FunctionKind("getDeployment", __name__, "GET_DEPLOYMENT")
    monkeypatch.setattr(kinds, "FUNCTIONS", (*kinds.FUNCTIONS, added))


def test_a_function_declared_once_is_in_the_schema_and_its_reference_page(
    get_deployment: None,
) -> None:
    spec = schema.schema()["functions"]["pipecat:index:getDeployment"]
    assert spec == {
        "description": "One deployment of an agent.",
        "inputs": {
            "properties": {
                "serviceName": {"type": "string", "description": "the agent's name."},
                "deploymentId": {
                    "type": "string",
                    "description": "one of its deployments (default: the active one).",
                },
            },
            "required": ["serviceName"],
        },
        "outputs": {
            "properties": {
                "deploymentId": {"type": "string", "description": "The deployment's id."},
                "settings": {
                    "type": "object",
                    "additionalProperties": {"$ref": "pulumi.json#/Any"},
                    "description": "What it was deployed with.",
                },
            },
            "required": ["deploymentId", "settings"],
        },
    }
    page = reference.pages()["get-deployment.md"]
    assert "| `serviceName` / `service_name` | string | required | the agent's name. |" in page
    assert "| `settings` | map of any |  | What it was deployed with. |" in page
    assert "- [get-deployment](get-deployment.md)" in reference.pages()["README.md"]


def test_the_python_forms_show_the_arguments_and_the_result_is_typed() -> None:
    for kind in kinds.FUNCTIONS:
        described = kind.function().described
        assert kind.token == described.token  # what the plugin finds an Invoke's module by
        plain, output, result = (getattr(pcc_provider, name) for name in kind.python)
        for form in (plain, output):
            keywords = list(inspect.signature(form).parameters)
            assert keywords == [*(f.python for f in described.inputs), "opts"], form
            assert described.summary in (form.__doc__ or "")
        fields = [camel(f.name) for f in dataclasses.fields(result)]
        assert fields == [f.name for f in described.outputs], kind.name
        spec = schema.schema()["functions"][described.token]
        assert list(spec["outputs"]["properties"]) == fields


def test_bad_arguments_and_a_missing_key_are_one_line_in_the_door_s_names() -> None:
    config = ProviderConfig(api_key="pk_x", api_url="http://127.0.0.1:9/v1")
    with pytest.raises(FunctionError) as python:
        lookups.GET_BUILD.call(config, {}, PYTHON)
    assert str(python.value) == "get_build: give build_id or context_hash, one of them"
    with pytest.raises(FunctionError) as native:
        lookups.GET_BUILD.call(config, {"buildId": "b", "contextHash": "h"}, SCHEMA)
    assert str(native.value) == "getBuild: give buildId or contextHash, not both"
    with pytest.raises(FunctionError) as keyless:
        lookups.GET_REGIONS.call(ProviderConfig(), {}, SCHEMA)
    assert str(keyless.value).startswith("getRegions: no Pipecat Cloud API key: run `pulumi")


def test_the_plugin_refuses_a_function_it_does_not_have_in_one_line() -> None:
    provider = PipecatProvider()
    request = InvokeRequest("pipecat:index:getNothing", {})
    with pytest.raises(NativeError, match=r"^pipecat: unknown function pipecat:index:getNothing$"):
        asyncio.run(provider.invoke(request))


def test_the_plugin_starts_without_the_kinds_no_request_named() -> None:
    # A program of Builds starts the plugin, and previews, without the other kinds' modules.
    code = (
        "import sys; from pcc_provider.native.server import PipecatProvider; "
        "p = PipecatProvider(); p._door('urn:pulumi:dev::p::pipecat:index:Build::b'); "
        "print(sorted(m for m in sys.modules if m.startswith('pcc_provider.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert "pcc_provider.build" in loaded.stdout
    for other in ("agent", "deployment", "lookups", "api_key", "spend_limit"):
        assert f"'pcc_provider.{other}'" not in loaded.stdout, loaded.stdout
