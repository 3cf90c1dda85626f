"""A SecretSet from a dotenv file (`SecretSet.from_dotenv` in Python, `secretsFile` in YAML),
under the real engine: up, edit the file, the preview names the key that changed and no
value, the state holds none in plaintext; a bad file fails the preview in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EmulatorHandle
from pulumi_stack import Stack
from test_native_yaml import write_program, yaml_stack

pytestmark = pytest.mark.engine

FIRST, SECOND, GREETING = "sk-first-value-1111", "sk-second-value-2222", "hello there 4242"
ENV = f'# the bot\'s keys\nOPENAI_API_KEY={FIRST}\nGREETING="{GREETING}"\n'

PROGRAM = """
import pulumi
from pcc_provider import Agent, SecretSet

creds = SecretSet.from_dotenv("creds", ".env", set_name="bot-secrets")
Agent("bot", service_name="bot", image="example/agent:1", secret_set=creds, deploy_timeout=60)
pulumi.export("keys", creds.keys)
"""


def stored(tmp_path: Path, name: str) -> dict[str, str]:
    """The values the emulator holds for a set (the API never returns them)."""
    path = tmp_path / "emulator" / "secrets" / f"{name}.json"
    values: dict[str, str] = json.loads(path.read_text())["values"]
    return values


def assert_no_value(*texts: str) -> None:
    for text in texts:
        for value in (FIRST, SECOND, GREETING):
            assert value not in text, text


def edit_and_see_the_key_change(stack: Stack, tmp_path: Path, by_key: bool) -> None:
    """`by_key`: the native door names the key that changed; the Python door's dynamic
    provider can give the engine no per-property diff, so it shows the set updating, with
    its key names and [secret] for each value."""
    (stack.dir / ".env").write_text(ENV.replace(FIRST, SECOND))
    edited = stack.preview("--diff")
    if by_key:
        assert "~ OPENAI_API_KEY: [secret] => [secret]" in edited.output, edited.output
        assert "GREETING" not in edited.output, edited.output
    else:
        assert "SecretSet: (update)" in edited.output, edited.output
        assert "OPENAI_API_KEY: [secret]" in edited.output, edited.output
    assert_no_value(edited.output)
    up = stack.up()
    assert_no_value(up.output, stack.export())
    assert stored(tmp_path, "bot-secrets") == {"OPENAI_API_KEY": SECOND, "GREETING": GREETING}


def test_python_secret_set_from_a_dotenv_file(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0)
    stack = cloud_stack(PROGRAM, files={".env": ENV})
    first = stack.up()
    assert stored(tmp_path, "bot-secrets") == {"OPENAI_API_KEY": FIRST, "GREETING": GREETING}
    assert stack.outputs()["keys"] == ["GREETING", "OPENAI_API_KEY"]
    assert_no_value(first.output, stack.export())
    deployment = emulator.api("GET", "/agents/bot").json()["desiredDeploymentId"]
    edit_and_see_the_key_change(stack, tmp_path, by_key=False)
    # The changed value rolled out to the agent that binds the set.
    assert emulator.api("GET", "/agents/bot").json()["desiredDeploymentId"] != deployment

    # A refused line: one line naming the file and line, in Python's names, nothing sent.
    (stack.dir / ".env").write_text(f"OPENAI_API_KEY={FIRST}\n{SECOND}\n")
    before = emulator.stats()["requests"]
    failed = stack.preview(check=False)
    assert failed.returncode != 0
    assert "SecretSet 'creds': secrets_file .env, line 2: not a KEY=value line" in failed.output
    assert_no_value(failed.output)
    assert emulator.stats()["requests"] == before
    (stack.dir / ".env").unlink()
    failed = stack.preview(check=False)
    assert "SecretSet 'creds': secrets_file .env: no such file" in failed.output, failed.output


def test_yaml_secret_set_from_a_dotenv_file(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0)
    resources = {
        "creds": {
            "type": "pipecat:index:SecretSet",
            "properties": {"setName": "bot-secrets", "secretsFile": ".env"},
        },
        "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
    }
    stack = yaml_stack(tmp_path, engine, emulator, resources)
    (stack.dir / ".env").write_text(ENV)
    first = stack.up()
    assert stored(tmp_path, "bot-secrets") == {"OPENAI_API_KEY": FIRST, "GREETING": GREETING}
    assert_no_value(first.output, stack.export())
    edit_and_see_the_key_change(stack, tmp_path, by_key=True)

    (stack.dir / ".env").write_text("export OPENAI_API_KEY=sk-third\n")
    failed = stack.preview(check=False)
    assert failed.returncode != 0
    assert (
        "secretsFile .env, line 1: the key is not a valid secret name: remove `export `"
        in failed.output
    ), failed.output
    assert "sk-third" not in failed.output

    # Both, in the schema's names.
    resources["creds"]["properties"]["secrets"] = {"A": "b"}
    write_program(stack.dir, resources)
    failed = stack.preview(check=False)
    assert "give secrets or secretsFile, not both" in failed.output, failed.output
