"""The native `pipecat` provider without the engine: its schema, its translation of requests
onto BuildProvider against the emulator, the plugin process over gRPC, and the SDK defects
it works around (each contract test fails once the SDK changes, so the workaround can go)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import API_KEY, EmulatorHandle
from google.protobuf import struct_pb2
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import (
    CheckRequest,
    ConfigureRequest,
    CreateRequest,
    DiffRequest,
    PropertyDiffKind,
)
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc
from pulumi.runtime.rpc import UNKNOWN

import pcc_provider
from pcc_provider import agent, api, build
from pcc_provider import context as build_context
from pcc_provider.native import schema
from pcc_provider.native.server import PipecatProvider, engine_values, plain
from pcc_provider.secrets import SecretSetError

URN = "urn:pulumi:dev::proj::pipecat:index:Build::image"


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n")
    (folder / "bot.py").write_text("print('hi')\n")
    return folder


def configured(emulator: EmulatorHandle, **config: str) -> PipecatProvider:
    provider = PipecatProvider()
    args = {
        **engine_values(config),
        "apiKey": PropertyValue(API_KEY, is_secret=True),
        "apiUrl": PropertyValue(emulator.api_url),
    }
    asyncio.run(provider.configure(ConfigureRequest({}, args, True, False)))
    return provider


def checked(provider: PipecatProvider, **news: Any) -> dict[str, PropertyValue]:
    response = asyncio.run(provider.check(CheckRequest(URN, {}, engine_values(news), b"")))
    assert not response.failures, [(f.property, f.reason) for f in response.failures]
    assert response.inputs is not None
    return response.inputs


# -- the schema ---------------------------------------------------------------------------


def test_schema_lists_the_python_constructor_and_outputs() -> None:
    spec = schema.schema()["resources"]["pipecat:index:Build"]
    assert list(spec["inputProperties"]) == [
        "context",
        "dockerfile",
        "region",
        "exclude",
        "buildTimeout",
    ]
    assert spec["inputProperties"]["exclude"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "extra exclude patterns, as `[build.exclude] patterns` in pcc-deploy.toml.",
    }
    # What decides a replacement and what the provider returns are declared outputs.
    described = build.DESCRIPTION
    assert set(described.replace_on) | set(described.output_names) <= set(spec["properties"])
    assert {"contextHash", "imageUri", "buildId"} <= set(described.output_names)


def test_schema_lists_what_the_agent_provider_sends_and_returns() -> None:
    spec = schema.schema()["resources"]["pipecat:index:Agent"]
    assert spec["requiredInputs"] == ["serviceName"]
    assert spec["inputProperties"]["minAgents"]["type"] == "integer"
    assert spec["inputProperties"]["triggers"]["$ref"] == "pulumi.json#/Any"
    sent = [name for name, _ in agent.settings()]
    assert set(sent) | set(agent.DESCRIPTION.replace_on) <= set(spec["inputProperties"])
    assert {"minAgents", "image", "krispVivaAudioFilter"} <= set(sent)
    assert set(agent.DESCRIPTION.output_names) <= set(spec["properties"])


def test_schema_keeps_set_values_secret() -> None:
    resources = schema.schema()["resources"]
    secret_set = resources["pipecat:index:SecretSet"]
    # `secrets` or `secretsFile`, whose values are secret as soon as it is read.
    assert secret_set["requiredInputs"] == ["setName"]
    assert "secret" not in secret_set["inputProperties"]["secretsFile"]
    assert secret_set["inputProperties"]["secrets"]["secret"] is True
    assert secret_set["inputProperties"]["secrets"]["additionalProperties"] == {"type": "string"}
    assert secret_set["properties"]["revision"]["secret"] is True
    pull = resources["pipecat:index:ImagePullSecret"]
    assert pull["inputProperties"]["password"]["secret"] is True
    assert "secret" not in pull["inputProperties"]["username"]


def test_schema_is_versioned_for_the_sdk_generators() -> None:
    document = schema.schema()
    assert document["name"] == "pipecat"
    assert document["version"] == pcc_provider.__version__
    assert document["config"]["variables"]["apiKey"]["secret"] is True
    for language in ("python", "nodejs", "go"):
        assert document["language"][language]["respectSchemaVersion"] is True


def test_every_property_the_provider_returns_is_in_the_schema(
    emulator: EmulatorHandle, agent_dir: Path
) -> None:
    provider = configured(emulator)
    inputs = checked(provider, context=str(agent_dir))
    created = asyncio.run(provider.create(CreateRequest(URN, inputs, 60, False)))

    declared = schema.schema()["resources"]["pipecat:index:Build"]["properties"]
    assert set(inputs) <= set(declared)
    assert set(created.properties or {}) <= set(declared), set(created.properties or {}) - set(
        declared
    )
    outs, _ = plain(created.properties or {})
    (made,) = emulator.api("GET", "/builds").json()["builds"]
    assert (created.resource_id, outs["imageUri"]) == (made["id"], made["imageUri"])


# -- requests onto BuildProvider -----------------------------------------------------------


def test_check_applies_the_python_defaults_and_hashes_the_context(
    emulator: EmulatorHandle, agent_dir: Path
) -> None:
    inputs, _ = plain(checked(configured(emulator), context=str(agent_dir)))
    assert inputs["dockerfile"] == "Dockerfile"
    assert inputs["region"] == "us-west"
    assert inputs["exclude"] == []
    assert inputs["buildTimeout"] == build.DEFAULT_BUILD_TIMEOUT
    # The digest the Python door computes in the program (Build.__init__); the contextHash
    # is an output, made on create.
    selected = build_context.select(agent_dir, "Dockerfile", [])
    assert inputs["contentDigest"] == build_context.content_digest(selected)
    assert "contextHash" not in inputs and "contextSizeBytes" not in inputs
    assert emulator.stats()["requests"] == {}


def test_check_never_compresses_the_context(
    emulator: EmulatorHandle, agent_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_context.cache, "compress", lambda *_: pytest.fail("compressed"))
    inputs, _ = plain(checked(configured(emulator), context=str(agent_dir)))
    assert inputs["contentDigest"].startswith("files-sha256:")


def test_check_takes_the_region_from_provider_config(
    emulator: EmulatorHandle, agent_dir: Path
) -> None:
    provider = configured(emulator, region="eu-central")
    assert plain(checked(provider, context=str(agent_dir)))[0]["region"] == "eu-central"
    given = checked(provider, context=str(agent_dir), region="us-east")
    assert plain(given)[0]["region"] == "us-east"


def test_check_names_the_bad_input(emulator: EmulatorHandle, agent_dir: Path) -> None:
    provider = configured(emulator)
    news = engine_values({"context": str(agent_dir), "region": " ", "buildTimeout": -1})
    response = asyncio.run(provider.check(CheckRequest(URN, {}, news, b"")))
    reasons = {f.property: f.reason for f in response.failures or []}
    assert reasons["buildTimeout"] == "buildTimeout must be a positive number of seconds, not -1"
    assert reasons["region"].startswith("region is empty")


def test_preview_create_leaves_outputs_unknown_and_calls_nothing(
    emulator: EmulatorHandle, agent_dir: Path
) -> None:
    provider = configured(emulator)
    inputs = checked(provider, context=str(agent_dir))
    previewed = asyncio.run(provider.create(CreateRequest(URN, inputs, 60, True)))
    outs, _ = plain(previewed.properties or {})
    assert outs["imageUri"] == UNKNOWN and outs["buildId"] == UNKNOWN
    assert outs["contextHash"] == UNKNOWN and outs["contextSizeBytes"] == UNKNOWN
    assert outs["contentDigest"] == plain(inputs)[0]["contentDigest"]
    assert emulator.stats()["requests"] == {}


def test_diff_names_what_replaces_the_build(emulator: EmulatorHandle, agent_dir: Path) -> None:
    provider = configured(emulator)
    olds = checked(provider, context=str(agent_dir))
    same = asyncio.run(provider.diff(DiffRequest(URN, "b1", olds, olds, [])))
    assert same.changes is False and same.detailed_diff == {}

    (agent_dir / "bot.py").write_text("print('changed')\n")
    news = checked(provider, context=str(agent_dir), region="eu-central")
    changed = asyncio.run(provider.diff(DiffRequest(URN, "b1", olds, news, [])))
    assert changed.changes is True
    assert set(changed.replaces or []) == {"contentDigest", "region"}
    kinds = {name: d.kind for name, d in changed.detailed_diff.items()}
    assert kinds["contentDigest"] == kinds["region"] == PropertyDiffKind.UPDATE_REPLACE
    # Only inputs of the program are named: not the hashes computed from the context.
    assert set(kinds) == {"contentDigest", "region"}
    ignored = asyncio.run(provider.diff(DiffRequest(URN, "b1", olds, news, ["region"])))
    assert set(ignored.replaces or []) == {"contentDigest"}
    assert emulator.stats()["requests"] == {}


def test_an_agent_whose_create_ended_after_the_engine_was_killed_is_recovered(
    emulator: EmulatorHandle, cache: Path
) -> None:
    # The engine was killed while the create ran, and never recorded it: the next `up`
    # creates it again and carries on with it; once diffed from the state, it is settled.
    emulator.configure(agentReadySeconds=0.2)
    provider = configured(emulator)
    urn = "urn:pulumi:dev::proj::pipecat:index:Agent::bot"
    declared = {"serviceName": "bot", "image": "example/agent:1", "deployTimeout": 30}

    async def run() -> None:  # on one loop, as the plugin serves its calls
        response = await provider.check(CheckRequest(urn, {}, engine_values(declared), b""))
        inputs = response.inputs or {}
        first = await provider.create(CreateRequest(urn, inputs, 60, False))
        again = await provider.create(CreateRequest(urn, inputs, 60, False))
        assert again.resource_id == first.resource_id == "bot"

        await provider.diff(DiffRequest(urn, "bot", again.properties or {}, inputs, []))
        assert emulator.api("DELETE", "/agents/bot").status_code == 200
        body = {"serviceName": "bot", "image": "example/agent:1"}
        assert emulator.api("POST", "/agents", json=body).status_code in (200, 201)
        with pytest.raises(Exception, match="this stack did not create it"):
            await provider.create(CreateRequest(urn, inputs, 60, False))

    asyncio.run(run())


def test_a_set_name_declared_twice_is_refused(emulator: EmulatorHandle) -> None:
    provider = configured(emulator)
    news = engine_values({"setName": "bot-secrets", "secrets": {"KEY": "v"}})
    first = "urn:pulumi:dev::proj::pipecat:index:SecretSet::one"
    second = "urn:pulumi:dev::proj::pipecat:index:ImagePullSecret::two"
    asyncio.run(provider.check(CheckRequest(first, {}, news, b"")))
    asyncio.run(provider.check(CheckRequest(first, {}, news, b"")))  # the same set again: fine
    pull = engine_values(
        {"setName": "bot-secrets", "host": "https://ghcr.io", "username": "u", "password": "p"}
    )
    refused = "'bot-secrets' is declared twice in this program: .* its own setName$"
    with pytest.raises(SecretSetError, match=refused):
        asyncio.run(provider.check(CheckRequest(second, {}, pull, b"")))


# -- the plugin process ---------------------------------------------------------------------


@pytest.fixture
def plugin(emulator: EmulatorHandle) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """`pulumi-resource-pipecat` as the engine starts it, its key and URL in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPECAT_")}
    env.update(PIPECAT_API_KEY=API_KEY, PIPECAT_API_URL=emulator.api_url)
    exe = Path(sys.executable).parent / "pulumi-resource-pipecat"
    # No engine listens at this address: progress messages are dropped, nothing fails.
    proc = subprocess.Popen([str(exe), "127.0.0.1:9"], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        proc.terminate()
        proc.wait(10)


def test_plugin_serves_its_version_and_schema(
    plugin: provider_pb2_grpc.ResourceProviderStub,
) -> None:
    from google.protobuf import empty_pb2

    info: plugin_pb2.PluginInfo = plugin.GetPluginInfo(empty_pb2.Empty())
    assert info.version == pcc_provider.__version__
    served = json.loads(plugin.GetSchema(provider_pb2.GetSchemaRequest()).schema)
    assert served == json.loads(json.dumps(schema.schema()))


def test_plugin_reads_the_key_from_the_environment_and_errs_in_one_line(
    plugin: provider_pb2_grpc.ResourceProviderStub, emulator: EmulatorHandle
) -> None:
    news = struct_pb2.Struct()
    news.update({"context": "/nonexistent-context"})
    # No Configure call: PIPECAT_API_KEY and PIPECAT_API_URL stand in for the stack config.
    response = plugin.Check(provider_pb2.CheckRequest(urn=URN, news=news))
    (failure,) = response.failures
    assert failure.property == "context"
    assert "/nonexistent-context does not exist" in failure.reason

    plugin.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True))
    with pytest.raises(grpc.RpcError) as raised:
        plugin.Delete(provider_pb2.DeleteRequest(urn="urn:pulumi:dev::proj::pipecat:index:Nope::x"))
    assert raised.value.details() == "pipecat: unknown resource type pipecat:index:Nope"


def test_plugin_withholds_an_echoed_value_in_one_line(
    plugin: provider_pb2_grpc.ResourceProviderStub, emulator: EmulatorHandle
) -> None:
    # An error page's HTML-escaped echo of the value, as it was printed whole before.
    # tests/emulator/test_echoed_secrets.py has every form and error path.
    value = "aB3d\"eF5h<iJ7l&kL8m'nO0p'qR1s"
    urn = "urn:pulumi:dev::proj::pipecat:index:SecretSet::bot-secrets"
    news = struct_pb2.Struct()
    news.update({"setName": "bot-secrets", "secrets": {"OPENAI_API_KEY": value}})
    plugin.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True))
    checked = plugin.Check(provider_pb2.CheckRequest(urn=urn, news=news))
    assert not checked.failures
    fault = {"status": 400, "body": "echo", "echoes": "values", "encoding": "html"}
    emulator.fault("PUT /v1/secrets/{setName}", **fault)
    with pytest.raises(grpc.RpcError) as raised:
        plugin.Create(provider_pb2.CreateRequest(urn=urn, properties=checked.inputs))
    assert raised.value.details() == (
        f"secret set bot-secrets: PUT {emulator.api_url}/secrets/bot-secrets answered 400: "
        "the service's answer echoed a secret value; not shown: check this resource's inputs"
    )


def test_plugin_without_a_key_says_how_to_give_one(emulator: EmulatorHandle) -> None:
    exe = Path(sys.executable).parent / "pulumi-resource-pipecat"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPECAT_")}
    proc = subprocess.Popen([str(exe), "127.0.0.1:9"], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            stub.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True))
            with pytest.raises(grpc.RpcError) as raised:
                stub.Check(provider_pb2.CheckRequest(urn=URN, news=struct_pb2.Struct()))
    finally:
        proc.terminate()
        proc.wait(10)
    assert raised.value.details() == api.NO_KEY


# -- SDK defects worked around (pcc_provider/native/server.py); re-check on SDK bumps -------


def test_sdk_defect_1_computed_values_cannot_be_sent() -> None:
    with pytest.raises(Exception, match="Computed"):
        PropertyValue.marshal_map({"imageUri": PropertyValue.computed()})


def test_sdk_defect_3_ints_are_refused() -> None:
    with pytest.raises(TypeError):
        PropertyValue(3)  # type: ignore[arg-type]
    assert plain(engine_values({"size": 3}))[0] == {"size": 3}
