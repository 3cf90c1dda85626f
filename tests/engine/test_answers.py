"""What refresh and destroy do with answers that are not Pipecat Cloud saying "gone", and
with a key rotated since the last `up`: the real Pulumi engine against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import Stack

from pcc_provider.emulator import Emulator

pytestmark = pytest.mark.engine

PROGRAM = """
import pulumi
from pcc_provider import Build, SecretSet

image = Build("image", context="agent", build_timeout=120)
secrets = SecretSet("bot-secrets", set_name="bot-secrets", secrets={"GREETING": "hello 4242"})
pulumi.export("build_id", image.build_id)
"""

FILES = {
    "agent/Dockerfile": "FROM dailyco/pipecat-base:latest\nCOPY ./bot.py bot.py\n",
    "agent/bot.py": "print('hello')\n",
}


def custom_types(stack: Stack) -> list[str]:
    resources = json.loads(stack.export())["deployment"].get("resources") or []
    return sorted(r["type"] for r in resources if r["type"].startswith("pulumi-python:"))


KEPT = ["pulumi-python:dynamic/pipecat:Build", "pulumi-python:dynamic/pipecat:SecretSet"]


def error_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if "error:" in line]


def test_refresh_against_a_url_without_v1_fails_and_keeps_the_stack(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(PROGRAM, files=FILES)
    stack.up()
    assert custom_types(stack) == KEPT

    # The /v1 forgotten. Refresh uses the URL recorded at the last `up` unless the program runs.
    stack.config("pipecat:apiUrl", emulator.url)
    failed = stack.refresh("--run-program", check=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "does not answer as Pipecat Cloud's API does" in output, output
    assert "https://api.pipecat.daily.co/v1 (with /v1)" in output
    assert "Traceback" not in output
    assert custom_types(stack) == KEPT  # nothing forgotten

    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.refresh("--run-program")
    assert custom_types(stack) == KEPT


def test_refresh_answered_by_an_html_404_fails_and_keeps_the_stack(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(PROGRAM, files=FILES)
    stack.up()
    for route in ("GET /v1/builds/{buildId}", "GET /v1/secrets/{setName}"):
        emulator.fault(route, status=404, body="html", times=20)
    failed = stack.refresh(check=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "answered 404 with an HTML page, which does not look like Pipecat Cloud's API" in (
        output
    ), output
    assert "<html" not in output and "Traceback" not in output
    assert custom_types(stack) == KEPT


def test_refresh_and_destroy_after_a_key_rotation(
    make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    old_key, new_key = API_KEY, "pk_test_rotated_key_0042"
    state = tmp_path / "emulator"
    stack = make_stack(PROGRAM, files=FILES)
    stack.config("pipecat:apiKey", old_key, secret=True)
    with Emulator(state, api_key=old_key, build_seconds=1.0) as before:
        url = before.url
        stack.config("pipecat:apiUrl", f"{url}/v1")
        stack.up()
    port = urlsplit(url).port
    assert port is not None
    # The key is rotated: the service takes only the new one, and the stack config says so.
    with Emulator(state, api_key=new_key, port=port, build_seconds=1.0):
        stack.config("pipecat:apiKey", new_key, secret=True)

        failed = stack.refresh(check=False)
        assert failed.returncode != 0
        output = failed.stdout + failed.stderr
        assert "that is the key recorded at the last `pulumi up`" in output, output
        assert "run `pulumi up` first, pass --run-program" in output
        assert old_key not in output and new_key not in output
        assert custom_types(stack) == KEPT

        # With the current key in the environment, the recorded one's refusal is passed over.
        current = Stack(stack.dir, stack.name, {**stack.env, "PIPECAT_API_KEY": new_key})
        current.refresh()
        assert custom_types(stack) == KEPT
        current.destroy()
        assert custom_types(stack) == []


# An error page's HTML-escaped echo of a value was printed whole (issue 29): the service's
# words are withheld when they echo a secret in any form (tests/emulator/test_echoed_secrets.py
# has every form and error path, in both doors; test_native_yaml.py the same under YAML).
ECHOED_VALUE = "aB3d\"eF5h<iJ7l&kL8m'nO0p'qR1s"
ECHOING = """
import pulumi
from pcc_provider import SecretSet

SecretSet(
    "bot-secrets",
    set_name="bot-secrets",
    secrets={"OPENAI_API_KEY": pulumi.Config().require_secret("openaiKey")},
)
"""
WITHHELD_LINE = (
    "secret set bot-secrets: PUT {api_url}/secrets/bot-secrets answered 400: the service's "
    "answer echoed a secret value; not shown: check this resource's inputs"
)


def test_a_value_an_error_echoes_html_escaped_is_not_printed(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle
) -> None:
    stack = cloud_stack(ECHOING)
    stack.config("openaiKey", ECHOED_VALUE, secret=True)
    fault = {"status": 400, "body": "echo", "echoes": "values", "encoding": "html"}
    emulator.fault("PUT /v1/secrets/{setName}", **fault)
    failed = stack.up(check=False)
    assert failed.returncode != 0
    output = failed.output
    assert WITHHELD_LINE.format(api_url=emulator.api_url) in output, output
    for piece in ("aB3d", "eF5h", "iJ7l", "kL8m", "nO0p", "qR1s", "&quot;"):
        assert piece not in output, output
    assert "Traceback" not in output
