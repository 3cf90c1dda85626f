"""A secret the service echoes back, in any form, never reaches the output.

Every error path of SecretSet and ImagePullSecret (create refused, provisioning failed, update
refused, read, delete), an Agent's create and update and a Build's create, through the Python
door (the providers called directly, as the SDK's dynamic-provider plugin calls them) and the
native door (the `pipecat` plugin's provider; tests/emulator/test_native_provider.py has the
plugin process), for every form the emulator's echo fault writes (traffic.ENCODINGS): a set's
values, the whole body of its request (base64, HTML) and the API key, and the API key for
every other kind. What the user gets instead is one line naming the call and its status, with
the fixed sentence of pcc_provider.redaction.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import (
    CheckRequest,
    ConfigureRequest,
    CreateRequest,
    UpdateRequest,
)

from pcc_provider import context
from pcc_provider.agent import AgentError, AgentProvider
from pcc_provider.build import BuildError, BuildProvider
from pcc_provider.config import ProviderConfig
from pcc_provider.emulator.traffic import ENCODINGS
from pcc_provider.emulator.traffic import _strings as strings_of  # what the fault echoes
from pcc_provider.native.server import PipecatProvider, engine_values
from pcc_provider.resource import ENV_KEY_REFUSED, ApiProvider, Timings
from pcc_provider.secrets import (
    ImagePullSecretProvider,
    SecretSetError,
    SecretSetProvider,
    SetProvider,
)

# 29 characters, a quote, bracket or ampersand every four or five: any encoding of those
# leaves runs of the value too short for a rule that hides runs of six.
VALUE = "aB3d\"eF5h<iJ7l&kL8m'nO0p'qR1s"
OLD_VALUE = "zY9x\"wV7u<tS5r&qP3o'nM1l'kJ0i"
USERNAME, PASSWORD = "robot", "gH7j\"kL9m<nP2q&rS4t'uV6w"
OLD_PASSWORD = "xC5v\"bN7m<aS9d&fG2h'jK4l"
# Written out, not imported: the tests run, and fail, on code that does not have it.
WITHHELD = "the service's answer echoed a secret value; not shown"
REFUSED = f"{WITHHELD}: check this resource's inputs"
PUT_SET = "PUT /v1/secrets/{setName}"


def credentials(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(frozen=True)
class Echo:
    """An echo fault: what it quotes of a request (its string values, its whole JSON body, or
    its bearer token), and in which form (traffic.ENCODINGS)."""

    echoes: str
    encoding: str

    def __str__(self) -> str:  # the test's id
        return self.encoding if self.echoes == "values" else f"{self.echoes}-{self.encoding}"

    def fault(self, status: int = 400) -> dict[str, Any]:
        spec = {"status": status, "body": "echo", "message": "refused"}
        return {**spec, "echoes": self.echoes, "encoding": self.encoding}

    def said(self, quoted: list[str]) -> str:
        """The service's words quoting `quoted` this way (for a fault with a message)."""
        return "refused " + ", ".join(ENCODINGS[self.encoding](q) for q in quoted)


VALUE_ECHOES = [Echo("values", encoding) for encoding in ENCODINGS]
# The whole request body: its base64 (the case), and an error page's HTML of it.
BODY_ECHOES = [Echo("body", "base64"), Echo("body", "html")]
KEY_ECHOES = [Echo("key", encoding) for encoding in ENCODINGS]


def leaks(message: str, forms: list[str], ours: str) -> list[str]:
    """Each run of six characters of a secret, or of a form it was echoed in, that `message`
    shows beyond what `ours` (the line the provider means to say) says anyway."""
    runs = {f[i : i + 6] for f in forms for i in range(len(f) - 5)}
    return sorted(run for run in runs if run in message and run not in ours)


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PIPECAT_API_KEY", raising=False)
    monkeypatch.delenv("PIPECAT_API_URL", raising=False)


FAST = Timings(poll_interval=0.05)


def configured(kind: type[ApiProvider], emulator: EmulatorHandle) -> Any:
    return kind(ProviderConfig(api_key=API_KEY, api_url=emulator.api_url), FAST)


def failure(call: Callable[[], object], error: type[Exception]) -> str:
    with pytest.raises(error) as raised:
        call()
    return str(raised.value)


def assert_withheld(message: str, expected: str, forms: list[str]) -> None:
    shown = leaks(message, forms, expected)
    assert not shown, (message, shown)
    assert message == expected


def key_forms(echo: Echo) -> list[str]:
    return [API_KEY, ENCODINGS[echo.encoding](API_KEY)]


# -- the Python door: the providers called directly -------------------------------------------


class Kind:
    """A set kind as a test declares it: its provider and inputs, what is secret in them, and
    the body its PUT sends (as the client sends it)."""

    def __init__(self, name: str, what: str, provider: type[SetProvider]) -> None:
        self.name, self.what, self.provider = name, what, provider

    def props(self, old: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    def secrets(self, props: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def body(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def quoted(self, echo: Echo, props: dict[str, Any]) -> list[str]:
        """What an echo of the PUT of `props` quotes."""
        body = self.body(props)
        if echo.echoes == "key":
            return [API_KEY]
        if echo.echoes == "body":
            return [json.dumps(body)]
        return strings_of(body)

    def forms(self, echo: Echo, *props: dict[str, Any]) -> list[str]:
        """The secrets of `props`, and the forms an echo of them takes: what must not show."""
        secrets = [s for p in props for s in self.secrets(p)]
        echoed = [q for p in props for q in self.quoted(echo, p)]
        if echo.echoes == "values":
            echoed = [q for q in echoed if q in secrets]
        return [*secrets, *key_forms(echo), *(ENCODINGS[echo.encoding](q) for q in echoed)]


class SecretSetKind(Kind):
    def props(self, old: bool = False) -> dict[str, Any]:
        value = OLD_VALUE if old else VALUE
        return {
            "setName": self.name,
            "region": "us-west",
            "secrets": {"OPENAI_API_KEY": value},
            "keys": ["OPENAI_API_KEY"],
            "readyTimeout": 10,
        }

    def secrets(self, props: dict[str, Any]) -> list[str]:
        return list(props["secrets"].values())

    def body(self, props: dict[str, Any]) -> dict[str, Any]:
        secrets = [{"secretKey": k, "secretValue": v} for k, v in props["secrets"].items()]
        return {"secrets": secrets, "region": props["region"]}


class ImagePullKind(Kind):
    def props(self, old: bool = False) -> dict[str, Any]:
        return {
            "setName": self.name,
            "region": "us-west",
            "host": "https://ghcr.io",
            "username": USERNAME,
            "password": OLD_PASSWORD if old else PASSWORD,
            "readyTimeout": 10,
        }

    def secrets(self, props: dict[str, Any]) -> list[str]:
        password = props["password"]
        return [password, f"{USERNAME}:{password}", credentials(USERNAME, password)]

    def body(self, props: dict[str, Any]) -> dict[str, Any]:
        value = credentials(props["username"], props["password"])
        host, region = props["host"], props["region"]
        return {"isImagePullSecret": True, "host": host, "secretValue": value, "region": region}


KINDS = {
    "secret set": SecretSetKind("bot-secrets", "secret set", SecretSetProvider),
    "image pull secret": ImagePullKind("ghcr-pull", "image pull secret", ImagePullSecretProvider),
}


@pytest.mark.parametrize("echo", VALUE_ECHOES + BODY_ECHOES + KEY_ECHOES, ids=str)
@pytest.mark.parametrize("kind", list(KINDS))
def test_no_error_path_of_a_set_shows_an_echoed_secret(
    kind: str, echo: Echo, emulator: EmulatorHandle
) -> None:
    declared = KINDS[kind]
    provider = configured(declared.provider, emulator)
    name, what, url = declared.name, declared.what, emulator.api_url
    props, olds = declared.props(), declared.props(old=True)
    forms = declared.forms(echo, props, olds)
    # What the service holds, quoted back in an error (its errorMessage, any error's words).
    said = echo.said(declared.quoted(echo, props))

    def withheld(message: str, expected: str) -> None:
        assert_withheld(message, f"{what} {name}: {expected}", forms)

    emulator.fault(PUT_SET, **echo.fault())
    message = failure(lambda: provider.create(props), SecretSetError)
    withheld(message, f"PUT {url}/secrets/{name} answered 400: {REFUSED}")

    emulator.fail_next_provisioning(name, said)
    message = failure(lambda: provider.create(props), SecretSetError)
    withheld(message, f"provisioning failed: {REFUSED}; the set was deleted again")

    created = provider.create(olds)
    emulator.fault(PUT_SET, **echo.fault(422))
    message = failure(lambda: provider.update(name, created.outs, props), SecretSetError)
    withheld(message, f"PUT {url}/secrets/{name} answered 422: {REFUSED}")

    # What the service holds now: the values the set was created with, which the state has.
    said = echo.said(declared.quoted(echo, olds))
    # An image pull secret is read from the list of sets: GET /secrets/{name} refuses those.
    listed = kind == "image pull secret"
    route = "GET /v1/secrets" if listed else "GET /v1/secrets/{setName}"
    emulator.fault(route, status=400, message=said)
    message = failure(lambda: provider.read(name, created.outs), SecretSetError)
    path = "/secrets" if listed else f"/secrets/{name}"
    withheld(message, f"GET {url}{path} answered 400: {REFUSED}")

    emulator.fault("DELETE /v1/secrets/{setName}", status=409, message=said)
    message = failure(lambda: provider.delete(name, created.outs), SecretSetError)
    withheld(message, f"DELETE {url}/secrets/{name} answered 409: {REFUSED}")


@pytest.mark.parametrize("echo", KEY_ECHOES, ids=str)
def test_an_agent_whose_errors_echo_the_api_key_shows_none_of_it(
    echo: Echo, emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0.2)
    provider = configured(AgentProvider, emulator)
    props = {"serviceName": "bot", "region": "us-west", "image": "example/agent:1"}
    props["deployTimeout"] = 30
    url = emulator.api_url

    emulator.fault("POST /v1/agents", **echo.fault())
    message = failure(lambda: provider.create(props), AgentError)
    expected = f"agent bot: POST {url}/agents answered 400: {REFUSED}"
    assert_withheld(message, expected, key_forms(echo))

    created = provider.create(props)
    emulator.fault("POST /v1/agents/{agentName}", **echo.fault())
    news = {**props, "maxAgents": 3}
    message = failure(lambda: provider.update("bot", created.outs, news), AgentError)
    expected = f"agent bot: POST {url}/agents/bot answered 400: {REFUSED}"
    assert_withheld(message, expected, key_forms(echo))

    # A refused key that is echoed: the message still says what to do about it.
    emulator.fault("GET /v1/agents/{agentName}", **echo.fault(401))
    message = failure(lambda: provider.read("bot", created.outs), AgentError)
    expected = f"agent bot: Pipecat Cloud refused the API key (401: {WITHHELD}): {ENV_KEY_REFUSED}"
    assert_withheld(message, expected, key_forms(echo))


@pytest.mark.parametrize("echo", KEY_ECHOES, ids=str)
def test_a_build_whose_error_echoes_the_api_key_shows_none_of_it(
    echo: Echo, emulator: EmulatorHandle, bot_context: Path
) -> None:
    found = context.digest(context.select(bot_context))
    props = {
        "context": str(bot_context),
        "dockerfile": "Dockerfile",
        "region": "us-west",
        "exclude": [],
        "buildTimeout": 60,
        "contextHash": found.context_hash,
        "contentDigest": found.content_digest,
        "__urn": None,
    }
    emulator.fault("POST /v1/builds", **echo.fault())
    message = failure(lambda: configured(BuildProvider, emulator).create(props), BuildError)
    expected = f"POST {emulator.api_url}/builds answered 400: {REFUSED}"
    assert_withheld(message, expected, key_forms(echo))


# -- the native door: the `pipecat` plugin's provider -------------------------------------------


def native(emulator: EmulatorHandle) -> PipecatProvider:
    provider = PipecatProvider(timings=FAST)
    args = {
        "apiKey": PropertyValue(API_KEY, is_secret=True),
        "apiUrl": PropertyValue(emulator.api_url),
    }
    asyncio.run(provider.configure(ConfigureRequest({}, args, True, False)))
    return provider


NATIVE = {
    "secret set": (
        "pipecat:index:SecretSet",
        lambda old: {
            "setName": "bot-secrets",
            "secrets": {"OPENAI_API_KEY": OLD_VALUE if old else VALUE},
        },
        KINDS["secret set"],
    ),
    "image pull secret": (
        "pipecat:index:ImagePullSecret",
        lambda old: {
            "setName": "ghcr-pull",
            "host": "https://ghcr.io",
            "username": USERNAME,
            "password": OLD_PASSWORD if old else PASSWORD,
        },
        KINDS["image pull secret"],
    ),
}


@pytest.mark.parametrize("echo", VALUE_ECHOES + BODY_ECHOES + KEY_ECHOES, ids=str)
@pytest.mark.parametrize("kind", list(NATIVE))
def test_the_native_door_shows_no_echoed_secret_of_a_set(
    kind: str, echo: Echo, emulator: EmulatorHandle
) -> None:
    token, inputs, declared = NATIVE[kind]
    provider = native(emulator)
    urn = f"urn:pulumi:dev::proj::{token}::{declared.name}"
    name, what, url = declared.name, declared.what, emulator.api_url
    forms = declared.forms(echo, declared.props(), declared.props(old=True))

    async def run() -> None:  # on one loop, as the plugin serves its calls
        async def checked(old: bool) -> dict[str, PropertyValue]:
            response = await provider.check(CheckRequest(urn, {}, engine_values(inputs(old)), b""))
            assert not response.failures and response.inputs is not None
            return response.inputs

        news, olds = await checked(False), await checked(True)
        emulator.fault(PUT_SET, **echo.fault())
        with pytest.raises(SecretSetError) as raised:
            await provider.create(CreateRequest(urn, news, 60, False))
        expected = f"{what} {name}: PUT {url}/secrets/{name} answered 400: {REFUSED}"
        assert_withheld(str(raised.value), expected, forms)

        created = await provider.create(CreateRequest(urn, olds, 60, False))
        emulator.fault(PUT_SET, **echo.fault(422))
        state = created.properties or {}
        with pytest.raises(SecretSetError) as raised:
            await provider.update(UpdateRequest(urn, name, state, news, 60, [], False))
        expected = f"{what} {name}: PUT {url}/secrets/{name} answered 422: {REFUSED}"
        assert_withheld(str(raised.value), expected, forms)

    asyncio.run(run())


@pytest.mark.parametrize("echo", KEY_ECHOES, ids=str)
def test_the_native_door_shows_no_echoed_api_key_of_an_agent(
    echo: Echo, emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0.2)
    provider = native(emulator)
    urn = "urn:pulumi:dev::proj::pipecat:index:Agent::bot"
    url = emulator.api_url

    async def run() -> None:
        async def checked(**settings: Any) -> dict[str, PropertyValue]:
            given = {"serviceName": "bot", "image": "example/agent:1", "deployTimeout": 30}
            response = await provider.check(
                CheckRequest(urn, {}, engine_values({**given, **settings}), b"")
            )
            assert not response.failures and response.inputs is not None
            return response.inputs

        inputs = await checked()
        emulator.fault("POST /v1/agents", **echo.fault())
        with pytest.raises(AgentError) as raised:
            await provider.create(CreateRequest(urn, inputs, 60, False))
        expected = f"agent bot: POST {url}/agents answered 400: {REFUSED}"
        assert_withheld(str(raised.value), expected, key_forms(echo))

        created = await provider.create(CreateRequest(urn, inputs, 60, False))
        emulator.fault("POST /v1/agents/{agentName}", **echo.fault())
        news = await checked(maxAgents=3)
        with pytest.raises(AgentError) as raised:
            await provider.update(
                UpdateRequest(urn, "bot", created.properties or {}, news, 60, [], False)
            )
        expected = f"agent bot: POST {url}/agents/bot answered 400: {REFUSED}"
        assert_withheld(str(raised.value), expected, key_forms(echo))

    asyncio.run(run())
