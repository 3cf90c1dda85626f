"""SecretSet and ImagePullSecret acceptance: the issue's program under the real Pulumi engine
against the emulator, secrecy of every output, rollout of the agents that bind a set, drift,
and bad input refused at preview."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import EmulatorHandle
from pulumi_stack import Stack

from pcc_provider.secrets import revision_digest

pytestmark = pytest.mark.engine

OPENAI_KEY = "sk-test-OPENAI-11f3a9"
GHCR_TOKEN = "ghp_TOKEN_22c0de"
GREETING = "hello there 4242"  # a plain value in the program: a secret in the state
NEW_OPENAI_KEY = "sk-test-OPENAI-rotated-33b7"
EXTRA_VALUE = "extra-value-44d1"

PROGRAM = """
import pulumi
from pcc_provider import Agent, Build, ImagePullSecret, SecretSet

cfg = pulumi.Config()
values = {"OPENAI_API_KEY": cfg.require_secret("openaiKey"), "GREETING": "hello there 4242"}
if cfg.get_secret("extraKey") is not None:
    values["EXTRA_KEY"] = cfg.require_secret("extraKey")
if cfg.get_bool("dropGreeting"):
    del values["GREETING"]
bot_secrets = SecretSet(
    "bot-secrets",
    set_name="bot-secrets",
    secrets=values,
    region="us-west",
)
registry = ImagePullSecret(
    "registry", set_name="ghcr", host="https://ghcr.io",
    username="bot", password=cfg.require_secret("ghcrToken"), region="us-west",
)
image = Build("bot-image", context="agent")
bot = Agent("bot", service_name="bot", build_id=image.build_id,
            secret_set=bot_secrets.set_name, triggers=cfg.get_object("triggers"),
            deploy_timeout=60)
pulumi.export("keys", bot_secrets.keys)
pulumi.export("status", bot_secrets.status)
pulumi.export("registry", registry.status)
pulumi.export("deploymentId", bot.desired_deployment_id)
"""

AGENT_FILES = {
    "agent/Dockerfile": "FROM dailyco/pipecat-base:latest\nCOPY bot.py bot.py\n",
    "agent/bot.py": "x = 1\n",
}
SECRETS = [OPENAI_KEY, GHCR_TOKEN, GREETING, NEW_OPENAI_KEY, EXTRA_VALUE]


def forbidden() -> list[str]:
    """The values, their encodings as sent, and the digests of the values, in plain text."""
    found = list(SECRETS)
    for token in (GHCR_TOKEN,):
        found.append(base64.b64encode(f"bot:{token}".encode()).decode())
    for key in (OPENAI_KEY, NEW_OPENAI_KEY):
        for values in (
            {"OPENAI_API_KEY": key, "GREETING": GREETING},
            {"OPENAI_API_KEY": key, "GREETING": GREETING, "EXTRA_KEY": EXTRA_VALUE},
            {"OPENAI_API_KEY": key, "EXTRA_KEY": EXTRA_VALUE},
        ):
            digest = revision_digest("secret", "bot-secrets", values)
            found += [digest, digest.removeprefix("sha256:")]
    return found


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif node is not None:
        yield str(node)


def assert_no_secret(text: str, where: str) -> None:
    """Search the text, every string in it if it is JSON, and whatever those decode to."""
    candidates = [text]
    with contextlib.suppress(ValueError):
        candidates += list(strings(json.loads(text)))
    for candidate in list(candidates):
        with contextlib.suppress(ValueError):
            candidates.append(base64.b64decode(candidate, validate=True).decode("utf-8", "replace"))
    for value in forbidden():
        for candidate in candidates:
            assert value not in candidate, f"{value!r} appears in {where}"


def set_keys(emulator: EmulatorHandle, name: str = "bot-secrets") -> list[str]:
    body = emulator.api("GET", f"/secrets/{name}").json()
    assert body["status"] == "ready", body
    return [s["fieldName"] for s in body["secrets"]]


def bound_version(emulator: EmulatorHandle) -> int:
    response = emulator.api("GET", "/agents/bot")
    assert response.status_code == 200
    deployments = requests.get(f"{emulator.url}/_emulator/agents/bot", timeout=10).json()[
        "deployments"
    ]
    return int(deployments[-1]["boundSets"]["secretSet"]["version"])


@pytest.fixture
def stack(cloud_stack: Callable[..., Stack]) -> Stack:
    stack = cloud_stack(PROGRAM, files=AGENT_FILES)
    stack.config("openaiKey", OPENAI_KEY, secret=True)
    stack.config("ghcrToken", GHCR_TOKEN, secret=True)
    return stack


def test_secrets_as_code(stack: Stack, emulator: EmulatorHandle) -> None:
    outputs: list[str] = []

    def run(result: Any) -> Any:
        outputs.append(result.output)
        return result

    outputs.append(stack.preview().output)
    run(stack.up())
    assert set_keys(emulator) == ["GREETING", "OPENAI_API_KEY"]
    first = stack.outputs()
    assert first["keys"] == ["GREETING", "OPENAI_API_KEY"] and first["status"] == "ready"
    assert first["registry"] == "ready"
    listed = {s["name"]: s for s in emulator.api("GET", "/secrets").json()["sets"]}
    assert listed["ghcr"]["type"] == "imagePullSecret" and listed["ghcr"]["status"] == "ready"
    # The set was ready before the agent bound it (the emulator answers 409 otherwise).
    assert bound_version(emulator) == 1
    agent = emulator.api("GET", "/agents/bot").json()
    assert agent["deployment"]["manifest"]["spec"]["envFromSecretNames"] == ["bot-secrets"]

    # Unchanged: no changes, no API call.
    before = sum(emulator.stats()["requests"].values())
    assert "5 unchanged" in run(stack.preview()).stdout
    assert sum(emulator.stats()["requests"].values()) == before

    # A new value: the set is updated in place, the agent rolls out in the same `up`.
    stack.config("openaiKey", NEW_OPENAI_KEY, secret=True)
    preview = run(stack.preview("--diff"))
    assert "~ 2 to update" in preview.stdout, preview.stdout
    assert "replace" not in preview.stdout
    assert "[secret]" in preview.stdout
    # The agent's properties as its reference page lists them, not the doors' internal ones.
    assert "serviceName" in preview.stdout
    assert "Revision" not in preview.stdout and "Regions" not in preview.stdout, preview.stdout
    run(stack.up())
    second = stack.outputs()
    assert second["deploymentId"] != first["deploymentId"]
    assert bound_version(emulator) == 2

    # An added key appears; a removed one disappears.
    stack.config("extraKey", EXTRA_VALUE, secret=True)
    run(stack.up())
    assert set_keys(emulator) == ["EXTRA_KEY", "GREETING", "OPENAI_API_KEY"]
    stack.config("dropGreeting", "true")
    run(stack.up())
    assert set_keys(emulator) == ["EXTRA_KEY", "OPENAI_API_KEY"]
    third = stack.outputs()
    assert third["keys"] == ["EXTRA_KEY", "OPENAI_API_KEY"]
    assert third["deploymentId"] != second["deploymentId"]

    # A trigger redeploys the same configuration.
    stack.config("triggers", '{"restart": 1}')
    run(stack.up())
    assert stack.outputs()["deploymentId"] != third["deploymentId"]

    state = stack.export()
    assert_no_secret(state, "pulumi stack export")
    by_type = {r["type"].rsplit(":", 1)[-1]: r for r in stack.resources()}
    secret_sig = "4dabf18193072939515e22adb298388d"
    stored = by_type["SecretSet"]["outputs"]["secrets"]
    assert sorted(stored) == ["EXTRA_KEY", "OPENAI_API_KEY"]  # key names are plain
    assert all(secret_sig in value for value in stored.values())  # values are secrets
    assert secret_sig in by_type["ImagePullSecret"]["outputs"]["password"]
    assert secret_sig in by_type["Agent"]["outputs"]["__secretRevision"]
    for text in outputs:
        assert_no_secret(text, "the preview and up output")


def test_refresh_shows_drift_and_drops_a_deleted_set(
    stack: Stack, emulator: EmulatorHandle
) -> None:
    stack.up()
    # Outside Pulumi: a key removed, another added.
    assert emulator.api("DELETE", "/secrets/bot-secrets/GREETING").status_code == 200
    body = {"secrets": [{"secretKey": "ADDED_OUTSIDE", "secretValue": "x"}]}
    assert emulator.api("PUT", "/secrets/bot-secrets", json=body).status_code == 202
    refresh = stack.refresh("--diff")
    assert "ADDED_OUTSIDE" in refresh.stdout and "~ 1 updated" in refresh.stdout
    assert_no_secret(refresh.output, "the refresh output")
    # The next up puts the set back as declared.
    preview = stack.preview().stdout
    assert "~ 1 to update" in preview and "SecretSet: (update)" in preview, preview
    stack.up()
    assert set_keys(emulator) == ["GREETING", "OPENAI_API_KEY"]

    # Deleted outside: refresh drops it, up creates it again (and redeploys the agent).
    assert emulator.api("DELETE", "/secrets/bot-secrets").status_code == 200
    assert "deleted" in stack.refresh().stdout
    stack.up()
    assert set_keys(emulator) == ["GREETING", "OPENAI_API_KEY"]

    stack.destroy()
    assert emulator.api("GET", "/agents/bot").status_code == 404
    assert emulator.api("GET", "/secrets").json() == {"sets": []}


BAD_INPUTS = {
    "empty secrets": ("SecretSet('s', set_name='bot-secrets', secrets={})", "secrets is empty"),
    "bad key": (
        "SecretSet('s', set_name='bot-secrets', secrets={'OPENAI KEY': 'x'})",
        "secret key 'OPENAI KEY' is not valid",
    ),
    "bad set name": (
        "SecretSet('s', set_name='Bot_Secrets', secrets={'K': 'v'})",
        "set_name 'Bot_Secrets' is not a valid secret set name",
    ),
    "short set name": (
        "SecretSet('s', set_name='ab', secrets={'K': 'v'})",
        "is not a valid secret set name",
    ),
    "empty plain value": (
        "SecretSet('s', set_name='bot-secrets', secrets={'K': ''})",
        "the value of secret K is empty",
    ),
    "empty secret value": (
        "SecretSet('s', set_name='bot-secrets', secrets={'K': cfg.require_secret('empty')})",
        "the value of secret K is empty",
    ),
    "http registry": (
        "ImagePullSecret('r', set_name='ghcr', host='http://ghcr.io', username='u',"
        " password=cfg.require_secret('token'))",
        "must be an https:// registry URL",
    ),
    "set in another region": (
        "s = SecretSet('s', set_name='bot-secrets', secrets={'K': cfg.require_secret('token')},"
        " region='eu-central')\n"
        "Agent('bot', service_name='bot', image='x:1', secret_set=s.set_name)",
        "secret_set 'bot-secrets' is in region eu-central, the agent in us-west",
    ),
    "pull secret in another region": (
        "ImagePullSecret('r', set_name='ghcr', host='https://ghcr.io', username='u',"
        " password=cfg.require_secret('token'), region='eu-central')\n"
        "Agent('bot', service_name='bot', image='x:1', image_pull_secret_set='ghcr')",
        "image_pull_secret_set 'ghcr' is in region eu-central, the agent in us-west",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_secret_input_fails_preview(
    case: str, cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    code, words = BAD_INPUTS[case]
    program = (
        "import pulumi\nfrom pcc_provider import Agent, ImagePullSecret, SecretSet\n"
        f"cfg = pulumi.Config()\n{code}\n"
    )
    stack = cloud_stack(program)
    stack.config("token", GHCR_TOKEN, secret=True)
    stack.config("empty", "", secret=True)
    result = stack.preview(check=False)
    assert result.returncode != 0
    lines = [line for line in result.output.splitlines() if words in line]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert_no_secret(result.output, "the preview output")
    # Nothing is written, nor read but this: the check of a valid new set looks its name up
    # (whether it is free goes into the claim a create carries, ownership.STAMP), and on a
    # 404 makes sure the URL is the API's.
    assert set(emulator.stats()["requests"]) <= LOOKS_UP_A_SET, emulator.stats()["requests"]


LOOKS_UP_A_SET = {"GET /v1/secrets/{setName}", "GET /v1/secrets", "GET /v1/builds"}


def test_a_failed_set_leaves_nothing_behind(stack: Stack, emulator: EmulatorHandle) -> None:
    message = "Secret provisioning failed: quota exceeded"
    response = requests.post(
        f"{emulator.url}/_emulator/secrets/bot-secrets/fail",
        json={"errorMessage": message},
        timeout=10,
    )
    response.raise_for_status()
    result = stack.up(check=False)
    assert result.returncode != 0
    assert f"secret set bot-secrets: provisioning failed: {message}" in result.output
    assert "the set was deleted again" in result.output
    assert_no_secret(result.output, "the failed up's output")
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404
    assert emulator.api("GET", "/agents/bot").status_code == 404  # never deployed
    assert "SecretSet" not in {r["type"].rsplit(":", 1)[-1] for r in stack.resources()}

    stack.up()
    assert set_keys(emulator) == ["GREETING", "OPENAI_API_KEY"]


ORDER_PROGRAM = """
import pulumi
from pcc_provider import Agent, ImagePullSecret, SecretSet

cfg = pulumi.Config()
# Named before they are declared: the agent still waits for them and tracks the values.
bot = Agent("bot", service_name="bot", image="example/bot:1", secret_set="late-secrets",
            image_pull_secret_set="late-pull", deploy_timeout=60)
late = SecretSet("late", set_name="late-secrets", secrets={"K": cfg.require_secret("k")})
pull = ImagePullSecret("pull", set_name="late-pull", host="https://ghcr.io", username="u",
                       password=cfg.require_secret("k"))
# Or given the resources themselves.
other = Agent("other", service_name="other", image="example/bot:1", secret_set=late,
              image_pull_secret_set=pull, deploy_timeout=60)
pulumi.export("bot", bot.desired_deployment_id)
pulumi.export("other", other.desired_deployment_id)
"""


def test_agents_wait_for_sets_named_anywhere_in_the_program(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    # Slower than an agent deploy: an agent that did not wait would get 409.
    emulator.configure(secretReadySeconds=2)
    stack = cloud_stack(ORDER_PROGRAM)
    stack.config("k", OPENAI_KEY, secret=True)
    stack.up()
    first = stack.outputs()
    for name in ("bot", "other"):
        spec = emulator.api("GET", f"/agents/{name}").json()["deployment"]["manifest"]["spec"]
        assert spec["envFromSecretNames"] == ["late-secrets"]
        assert spec["imagePullSecretName"] == "late-pull"

    stack.config("k", NEW_OPENAI_KEY, secret=True)
    preview = stack.preview().stdout
    assert "~ 4 to update" in preview, preview  # both sets, both agents
    stack.up()
    second = stack.outputs()
    assert second["bot"] != first["bot"] and second["other"] != first["other"]
    assert_no_secret(stack.export(), "pulumi stack export")
