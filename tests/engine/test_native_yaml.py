"""The native `pipecat` provider under the real engine, from a YAML program.

The plugin is reached the way a user with pcc-provider pip-installed reaches it: a
`plugins: providers:` entry in Pulumi.yaml naming the folder that holds the
`pulumi-resource-pipecat` console script (their virtualenv's bin folder), so nothing is
installed into the Pulumi plugin cache and no "plugin from $PATH" warning is printed.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN, Stack
from test_ownership import recover_command
from waiting import eventually

from pcc_provider.agent import DESCRIPTION as AGENT
from pcc_provider.native import schema

pytestmark = pytest.mark.engine

DOCKERFILE = "FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n"


# As docs/native-provider.md shows it: a build, a set whose value is a secret stack config,
# an agent of both.
BOUND_SET = {
    "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
    "creds": {
        "type": "pipecat:index:SecretSet",
        "properties": {"setName": "bot-secrets", "secrets": {"OPENAI_API_KEY": "${openaiKey}"}},
    },
    "bot": {
        "type": "pipecat:index:Agent",
        "properties": {
            "serviceName": "bot",
            "buildId": "${image.buildId}",
            "secretSet": "${creds.setName}",
        },
    },
}
SECRET_CONFIG = {"openaiKey": {"type": "string", "secret": True}}


def write_program(project: Path, resources: dict[str, Any], **config: Any) -> None:
    program = {
        "name": "yamlproj",
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "pipecat", "path": str(VENV_BIN)}]},
        **({"config": config} if config else {}),
        "resources": resources,
        "outputs": {"imageUri": "${image.imageUri}", "buildId": "${image.buildId}"},
    }
    # JSON is YAML: no YAML library needed to write the program.
    (project / "Pulumi.yaml").write_text(json.dumps(program, indent=2))


def yaml_stack(
    tmp_path: Path,
    engine: dict[str, str],
    emulator: EmulatorHandle,
    resources: dict[str, Any],
    **config: Any,
) -> Stack:
    if shutil.which("pulumi-language-yaml", path=engine["PATH"]) is None:
        raise RuntimeError("the YAML language host is missing: run `make pulumi`")
    project = tmp_path / "yaml-project"
    (project / "agent").mkdir(parents=True)
    (project / "agent" / "Dockerfile").write_text(DOCKERFILE)
    (project / "agent" / "bot.py").write_text("print('hello')\n")
    write_program(project, resources, **config)
    stack = Stack(project, "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    return stack


def test_yaml_build_up_unchanged_preview_and_destroy(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    stack = yaml_stack(
        tmp_path,
        engine,
        emulator,
        {"image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}}},
    )

    up = stack.up()
    assert "warning" not in up.output.lower(), up.output
    # Progress from the shared core reaches the resource's row through the native door too.
    assert "started build" in up.output, up.output
    outputs = stack.outputs()
    builds = emulator.api("GET", "/builds").json()["builds"]
    assert [b["id"] for b in builds] == [outputs["buildId"]]
    assert outputs["imageUri"] == builds[0]["imageUri"]
    assert builds[0]["status"] == "success"
    (build,) = [r for r in stack.resources() if r["type"] == "pipecat:index:Build"]
    assert build["outputs"]["source"] == "new"
    assert build["outputs"]["contentDigest"]
    assert API_KEY not in stack.export()

    before = emulator.stats()["requests"]
    preview = stack.preview()
    assert emulator.stats()["requests"] == before, "an unchanged preview called the API"
    assert "2 unchanged" in preview.output, preview.output  # the stack and the build

    # An edit of the context: a replacement, and the detailed diff names why.
    (stack.dir / "agent" / "bot.py").write_text("print('hello again')\n")
    edited = stack.preview()
    assert "+-pipecat:index:Build: (replace)" in edited.output, edited.output
    assert "~ contentDigest" in edited.output, edited.output
    assert emulator.stats()["requests"] == before, "a preview called the API"

    stack.destroy()
    assert [r for r in stack.resources() if r["type"] == "pipecat:index:Build"] == []


def test_yaml_build_bad_input_fails_the_preview_with_one_line(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    stack = yaml_stack(
        tmp_path,
        engine,
        emulator,
        {"image": {"type": "pipecat:index:Build", "properties": {"context": "./missing"}}},
    )

    preview = stack.preview(check=False)

    assert preview.returncode != 0
    errors = [line for line in preview.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, preview.output
    assert (
        "yaml-project/missing does not exist: pass the folder that holds your Dockerfile"
        in errors[0]
    )
    assert "Traceback" not in preview.output
    assert emulator.calls("POST /v1/builds") == 0


def test_yaml_failed_build_reads_as_the_providers_message(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    stack = yaml_stack(
        tmp_path,
        engine,
        emulator,
        {"image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}}},
    )
    (stack.dir / "agent" / "Dockerfile").write_text(DOCKERFILE + "RUN exit 1\n")

    up = stack.up(check=False)

    assert up.returncode != 0
    (build,) = emulator.api("GET", "/builds").json()["builds"]
    assert build["status"] == "failed"
    # The provider's own message, not the SDK's `Unexpected <class ...>` wrapping or a traceback.
    assert f"build {build['id']} failed" in up.output, up.output
    assert "Unexpected <class" not in up.output, up.output
    assert "Traceback" not in up.output, up.output
    assert [r for r in stack.resources() if r["type"] == "pipecat:index:Build"] == []


def test_yaml_agent_deploys_the_build_updates_by_name_and_is_destroyed(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    def program(max_agents: int) -> dict[str, Any]:
        return {
            "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
            "bot": {
                "type": "pipecat:index:Agent",
                "properties": {
                    "serviceName": "bot",
                    "buildId": "${image.buildId}",
                    "maxAgents": max_agents,
                },
            },
        }

    stack = yaml_stack(tmp_path, engine, emulator, program(5))
    stack.up()
    agent = emulator.api("GET", "/agents/bot").json()
    assert agent["ready"] is True
    (bot,) = [r for r in stack.resources() if r["type"] == "pipecat:index:Agent"]
    assert bot["id"] == "bot" and bot["outputs"]["buildId"] == stack.outputs()["buildId"]
    assert bot["outputs"]["reconciledDeploymentId"] == agent["reconciledDeploymentId"]
    # What the shared core stored is what the schema declares (the doors cannot drift).
    declared = {*schema.schema()["resources"]["pipecat:index:Agent"]["properties"]}
    declared |= {f.name for f in AGENT.internal}
    assert set(bot["outputs"]) <= declared, set(bot["outputs"]) - declared
    assert agent["autoScaling"]["maxReplicas"] == 5

    before = emulator.stats()["requests"]
    assert "3 unchanged" in stack.preview().output
    assert emulator.stats()["requests"] == before, "an unchanged preview called the API"

    write_program(stack.dir, program(3))
    edited = stack.preview()
    assert "~ maxAgents: 5 => 3" in edited.output, edited.output
    stack.up()
    assert emulator.api("GET", "/agents/bot").json()["autoScaling"]["maxReplicas"] == 3

    stack.destroy()
    assert emulator.api("GET", "/agents/bot").status_code == 404


def test_yaml_secret_set_names_a_changed_key_never_its_value(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    def program(value: str) -> dict[str, Any]:
        return {
            "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
            "creds": {
                "type": "pipecat:index:SecretSet",
                "properties": {
                    "setName": "bot-secrets",
                    "secrets": {"OPENAI_API_KEY": value, "GREETING": "hello"},
                },
            },
        }

    stack = yaml_stack(tmp_path, engine, emulator, program("sk-first-value"))
    stack.up()
    found = emulator.api("GET", "/secrets/bot-secrets").json()
    assert sorted(s["fieldName"] for s in found["secrets"]) == ["GREETING", "OPENAI_API_KEY"]
    state = stack.export()
    assert "sk-first-value" not in state
    (creds,) = [r for r in stack.resources() if r["type"] == "pipecat:index:SecretSet"]
    assert creds["outputs"]["keys"] == ["GREETING", "OPENAI_API_KEY"]

    before = emulator.stats()["requests"]
    assert "3 unchanged" in stack.preview().output
    assert emulator.stats()["requests"] == before, "an unchanged preview called the API"

    write_program(stack.dir, program("sk-second-value"))
    edited = stack.preview()
    # The changed key by name, its value hidden; the unchanged key not at all.
    assert "~ OPENAI_API_KEY: [secret] => [secret]" in edited.output, edited.output
    assert "GREETING" not in edited.output, edited.output
    assert "~ 1 to update" in edited.output
    assert "sk-first-value" not in edited.output and "sk-second-value" not in edited.output
    stack.up()
    assert "sk-second-value" not in stack.export()

    stack.destroy()
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404


def test_yaml_a_value_an_error_echoes_html_escaped_is_not_printed(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    # Issue 29: an error page's HTML-escaped echo of a value was printed whole, in both doors
    # (tests/emulator/test_echoed_secrets.py has every form and error path).
    value = "aB3d\"eF5h<iJ7l&kL8m'nO0p'qR1s"
    resources = {
        "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
        "creds": {
            "type": "pipecat:index:SecretSet",
            "properties": {"setName": "bot-secrets", "secrets": {"OPENAI_API_KEY": value}},
        },
    }
    stack = yaml_stack(tmp_path, engine, emulator, resources)
    fault = {"status": 400, "body": "echo", "echoes": "values", "encoding": "html"}
    emulator.fault("PUT /v1/secrets/{setName}", **fault)
    failed = stack.up(check=False)
    assert failed.returncode != 0
    output = failed.output
    line = (
        f"secret set bot-secrets: PUT {emulator.api_url}/secrets/bot-secrets answered 400: "
        "the service's answer echoed a secret value; not shown: check this resource's inputs"
    )
    assert line in output, output
    for piece in ("aB3d", "eF5h", "iJ7l", "kL8m", "nO0p", "qR1s", "&quot;"):
        assert piece not in output, output
    assert "Traceback" not in output


def test_yaml_changed_secret_rolls_out_the_agent_that_binds_the_set(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    stack = yaml_stack(tmp_path, engine, emulator, BOUND_SET, **SECRET_CONFIG)
    stack.config("openaiKey", "sk-first-value", secret=True)
    # The first preview: the build's id is unknown until `up`, and the agent still checks.
    first_preview = stack.preview()
    assert "+ 4 to create" in first_preview.output, first_preview.output
    assert emulator.calls("POST /v1/builds") == 0 and emulator.calls("POST /v1/agents") == 0
    stack.up()
    first = emulator.api("GET", "/agents/bot").json()
    assert first["deployment"]["manifest"]["spec"]["envFromSecretNames"] == ["bot-secrets"]

    before = emulator.stats()["requests"]
    assert "4 unchanged" in stack.preview().output
    assert emulator.stats()["requests"] == before, "an unchanged preview called the API"

    stack.config("openaiKey", "sk-second-value", secret=True)
    edited = stack.preview()
    assert "~ 2 to update" in edited.output, edited.output
    assert "~ secretSet" in edited.output, edited.output
    assert "Revision" not in edited.output, edited.output
    assert "sk-second-value" not in edited.output
    stack.up()
    rolled = emulator.api("GET", "/agents/bot").json()
    assert rolled["desiredDeploymentId"] != first["desiredDeploymentId"]
    assert rolled["ready"] is True
    assert "sk-second-value" not in stack.export() and "sk-first-value" not in stack.export()

    # An edited context: the Build is replaced and the agent follows with the new build.
    (stack.dir / "agent" / "bot.py").write_text("print('hello again')\n")
    edited = stack.preview()
    assert "+-pipecat:index:Build: (replace)" in edited.output, edited.output
    assert "~ pipecat:index:Agent: (update)" in edited.output, edited.output
    stack.up()
    followed = emulator.api("GET", "/agents/bot").json()
    assert followed["desiredDeploymentId"] != rolled["desiredDeploymentId"]
    assert stack.outputs()["buildId"] == next(
        r["outputs"]["buildId"] for r in stack.resources() if r["type"] == "pipecat:index:Agent"
    )
    assert emulator.calls("POST /v1/builds") == 2
    stack.destroy()
    assert emulator.api("GET", "/agents/bot").status_code == 404
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404


def test_yaml_image_pull_secret_keeps_the_password_secret(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    def program(password: str) -> dict[str, Any]:
        return {
            "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
            "pull": {
                "type": "pipecat:index:ImagePullSecret",
                "properties": {
                    "setName": "registry",
                    "host": "https://ghcr.io",
                    "username": "robot",
                    "password": password,
                },
            },
        }

    stack = yaml_stack(tmp_path, engine, emulator, program("pw-first-value"))
    stack.up()
    listed = {s["name"]: s for s in emulator.api("GET", "/secrets").json()["sets"]}
    assert listed["registry"]["type"] == "imagePullSecret"
    assert listed["registry"]["status"] == "ready"
    assert "pw-first-value" not in stack.export()

    write_program(stack.dir, program("pw-second-value"))
    edited = stack.preview()
    assert "~ password: [secret] => [secret]" in edited.output, edited.output
    stack.up()
    assert "pw-second-value" not in stack.export()

    stack.destroy()
    assert emulator.api("GET", "/secrets").json() == {"sets": []}


def test_yaml_one_ctrl_c_stops_waiting_and_the_next_up_reattaches(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    stack = yaml_stack(
        tmp_path,
        engine,
        emulator,
        {"image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}}},
    )
    emulator.configure(buildSeconds=25)
    argv = ["pulumi", "up", "--stack", "dev", "--yes", "--skip-preview", "--non-interactive"]
    up = subprocess.Popen(
        argv, cwd=stack.dir, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )

    def builds() -> list[Any]:
        assert up.poll() is None, up.communicate()[0]
        found: list[Any] = emulator.api("GET", "/builds").json()["builds"]
        return found

    try:
        eventually(builds, timeout=120, every=0.2, what="the build to start")
        time.sleep(2)  # into the poll of the build, which sleeps between looks
        up.send_signal(signal.SIGINT)  # one Ctrl-C
        signalled = time.monotonic()
        output = up.communicate(timeout=20)[0].decode()
        took = time.monotonic() - signalled
    finally:
        if up.poll() is None:
            up.kill()
    (build,) = emulator.api("GET", "/builds").json()["builds"]
    assert build["status"] in ("pending", "building"), output
    assert up.returncode != 0
    assert "cancelled while creating: it goes on in Pipecat Cloud" in output, output
    # A bound, not a benchmark: the poll stops within cancel.STEP of the Cancel, so `pulumi`
    # ends about a second after the Ctrl-C; a wait that ignored it held the plugin until the
    # engine killed it, 5 s after closing it (5.1 to 5.8 s here).
    assert took < 2.5, f"pulumi up ended {took:.1f}s after one Ctrl-C\n{output}"

    emulator.configure(buildSeconds=1)
    again = stack.up()
    assert f"reattaching to build {build['id']}" in again.output, again.output
    assert emulator.calls("POST /v1/builds") == 1  # one upload and build in total
    assert stack.outputs()["buildId"] == build["id"]


def test_yaml_a_fresh_machine_recovers_what_an_interrupted_up_left_with_the_command_it_names(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    resources = {
        "image": {"type": "pipecat:index:Build", "properties": {"context": "./agent"}},
        "creds": {
            "type": "pipecat:index:SecretSet",
            "properties": {"setName": "bot-secrets", "secrets": {"OURS": "ours-value"}},
        },
        "bot": {
            "type": "pipecat:index:Agent",
            "properties": {"serviceName": "bot", "image": "example/agent:1", "deployTimeout": 60},
        },
    }
    emulator.configure(agentReadySeconds=30, secretReadySeconds=30)
    first = yaml_stack(tmp_path, engine, emulator, resources)
    # Killed once the build is done, while the agent deploys and the set provisions.
    first.up_killed_once(
        lambda: (
            emulator.api("GET", "/agents/bot").status_code == 200
            and emulator.api("GET", "/secrets/bot-secrets").status_code == 200
            and [b["status"] for b in emulator.api("GET", "/builds").json()["builds"]]
            == ["success"]
        )
    )
    made = emulator.api("GET", "/agents/bot").json()["createdAt"]
    emulator.configure(agentReadySeconds=0.2, secretReadySeconds=0.2)

    stack = first.on_fresh_machine(tmp_path / "runner-2")
    refused = stack.up(check=False)
    assert refused.returncode != 0
    # The agent's refusal or the set's, whichever the engine meets first: once one resource
    # fails, it starts no other.
    assert re.search(
        r"(an agent named bot already exists|secret set bot-secrets: it already exists in "
        r"Pipecat Cloud) and this stack did not create it",
        refused.output,
    ), refused.output
    # The plugin names itself: programs in YAML, TypeScript or Go have no `pcc-provider`.
    command = recover_command(refused.output)
    assert command[0] == str(VENV_BIN / "pulumi-resource-pipecat"), command
    assert command[1:] == ["recover", "--stack", "dev"]

    recovered = stack.run(command)
    assert recovered.output.count("claimed on this machine") == 2, recovered.output
    result = stack.up()
    assert "agent bot was created by an interrupted `pulumi up` of this stack" in result.output
    assert "secret set bot-secrets was created by an interrupted `pulumi up`" in result.output
    assert emulator.api("GET", "/agents/bot").json()["createdAt"] == made
    assert emulator.calls("POST /v1/builds") == 1
    # Run again, it clears the pending creates (the build's too), which the engine would
    # otherwise warn of at every `up`.
    again = stack.run(command)
    assert again.output.count("its pending create is done with") == 3, again.output
    assert "cleared them from the stack's state" in again.output
    assert "pending operations" not in stack.up().output
    stack.destroy()
    assert emulator.api("GET", "/agents/bot").status_code == 404
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404
