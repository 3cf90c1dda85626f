"""The official CLI (`pipecatcloud` 1.4.0, `pcc`) against the emulator, as a user runs it.

`pcc` runs as a subprocess with only PIPECAT_API_HOST, PIPECAT_TOKEN and PIPECAT_ORG set (and
HOME in a temporary folder, so no user config is read or written). It exits 0 after many
errors, so every test asserts on what it prints, and on what the emulator saw.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import Stack

UPLOAD = "POST /_storage/{bucket}"
CLI_UPLOAD_URL = "POST /v1/organizations/{org}/builds/upload-url"
CLI_CREATE = "POST /v1/organizations/{org}/builds"
UPLOAD_URL = "POST /v1/builds/upload-url"

DOCKERFILE = "FROM dailyco/pipecat-base:latest\nCOPY ./bot.py bot.py\n"


def run_pcc(
    emulator: EmulatorHandle,
    home: Path,
    *args: str,
    cwd: Path | None = None,
    token: str = API_KEY,
) -> str:
    """`pcc ARGS` in `cwd`: its stdout and stderr together, as a user reads them."""
    env = {
        "PIPECAT_API_HOST": emulator.url,  # the CLI appends /v1/... itself
        "PIPECAT_TOKEN": token,
        "PIPECAT_ORG": "acme",
        "HOME": str(home),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pipecatcloud.cli.entry_point import entrypoint_cli_typer; entrypoint_cli_typer()",
            *args,
        ],
        cwd=cwd or home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


@pytest.fixture
def pcc(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[Callable[..., str]]:
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str, cwd: Path | None = None) -> str:
        return run_pcc(emulator, home, *args, cwd=cwd)

    yield run
    # The CLI never wrote a config of its own: everything came from the environment.
    assert not (home / ".config" / "pipecatcloud").exists()


def agent_folder(path: Path, dockerfile: str = DOCKERFILE, toml: str | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "Dockerfile").write_text(dockerfile)
    (path / "bot.py").write_text(f"print('hello from {path.name}')\n")
    if toml is not None:
        (path / "pcc-deploy.toml").write_text(toml)
    return path


def test_regions_list(pcc: Callable[..., str]) -> None:
    out = pcc("regions", "list")
    assert "No regions available" not in out
    for code, name, architectures in [
        ("us-west", "US West (Oregon)", "arm64, amd64"),
        ("us-east", "US East (Virginia)", "arm64, amd64"),
        ("eu-central", "Europe (Frankfurt)", "arm64"),
        ("ap-south", "Asia Pacific (Mumbai)", "arm64"),
    ]:
        line = rf"^{code}\s+{re.escape(name)}\s+{architectures}\s+arm64$"
        assert re.search(line, out, re.M), out


def test_deploy_status_update_build_logs_and_delete(
    pcc: Callable[..., str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    folder = agent_folder(tmp_path / "my-bot", toml='agent_name = "my-bot"\nregion = "us-east"\n')

    # A cloud build (it takes a second here, so the CLI polls it), then the deployment.
    out = pcc("deploy", "--yes", cwd=folder)
    assert "No cached build found, starting new build..." in out, out
    assert "Upload complete" in out
    started = re.search(r"Build started: (\S+)", out)
    assert started, out
    build_id = started.group(1)
    assert f"Build Complete (1s): Build ID: {build_id}" in out
    assert "Region: us-east" in out
    assert "Deployment complete: Agent deployment 'my-bot' is ready" in out
    assert emulator.calls(UPLOAD) == 1 and emulator.calls(CLI_CREATE) == 1

    # The same agent through the public API: one model layer.
    agent = emulator.api("GET", "/agents/my-bot").json()
    assert agent["region"] == "us-east" and agent["ready"] is True
    first_deployment = agent["activeDeploymentId"]

    status = pcc("agent", "status", "my-bot")
    assert "Ready: True" in status, status
    assert "Deployment Phase: Active" in status
    assert f"Build: {build_id}" in status
    assert f"Active Deployment ID: {first_deployment}" in status

    emulator.configure(buildSeconds=0, agentReadySeconds=0)
    # Unchanged and without --force: the API says so, and no new deployment is made.
    out = pcc("deploy", "--yes", cwd=folder)
    assert "Using cached build - no upload needed" in out, out
    assert "Warning: The configuration is unchanged" in out
    assert emulator.api("GET", "/agents/my-bot").json()["activeDeploymentId"] == first_deployment

    # --force rolls out a new deployment of the same build.
    out = pcc("deploy", "--yes", "--force", cwd=folder)
    assert "Update complete: Agent deployment 'my-bot' is ready" in out, out
    assert "Warning" not in out
    forced = emulator.api("GET", "/agents/my-bot").json()["activeDeploymentId"]
    assert forced != first_deployment
    assert f"Active Deployment ID: {forced}" in pcc("agent", "status", "my-bot")
    assert emulator.calls(UPLOAD) == 1

    listed = pcc("agent", "list")
    assert re.search(rf"^my-bot\s+us-east\s+\S+\s+{forced}\s", listed, re.M), listed

    builds = pcc("build", "list")
    assert "Showing 1 builds" in builds, builds
    assert re.search(rf"^{build_id}\s+success\s+us-east\s+1s\s", builds, re.M), builds

    logs = pcc("build", "logs", build_id)
    assert f"Build ID: {build_id}" in logs, logs
    assert "Running on CodeBuild On-demand" in logs
    assert "[2/2] COPY ./bot.py bot.py" in logs
    assert "Phase complete: BUILD State: SUCCEEDED" in logs

    out = pcc("agent", "delete", "my-bot", "--force")
    assert "Agent 'my-bot' deleted successfully" in out, out
    assert emulator.api("GET", "/agents/my-bot").status_code == 404
    assert "No deployment data found for agent with name 'my-bot'" in pcc(
        "agent", "status", "my-bot"
    )
    out = pcc("agent", "delete", "my-bot", "--force")
    assert "Agent 'my-bot' not found in organization 'acme'" in out, out


def test_deploy_without_region_uses_the_organizations_default_region(
    pcc: Callable[..., str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(buildSeconds=0, agentReadySeconds=0)
    # Set through the public API, read by the CLI's organization-scoped one.
    response = emulator.api("PATCH", "/properties", json={"defaultRegion": "eu-central"})
    assert response.status_code == 200, response.text
    folder = agent_folder(tmp_path / "src")

    out = pcc("deploy", "eu-bot", "--yes", "--build-dir", str(folder))
    assert "Region: eu-central (organization default)" in out, out
    assert "Deployment complete: Agent deployment 'eu-bot' is ready" in out
    agent = emulator.api("GET", "/agents/eu-bot").json()
    assert agent["region"] == "eu-central"
    builds = emulator.api("GET", "/builds").json()["builds"]
    assert [b["region"] for b in builds] == ["eu-central"]

    # The CLI's own property commands see and change the same value.
    assert "Default region: eu-central" in pcc("organizations", "default-region")
    out = pcc("organizations", "properties", "set", "defaultRegion", "mars")
    assert "Region 'mars' is not available" in out, out
    out = pcc("organizations", "default-region", "ap-south")
    assert "Default region set to ap-south" in out, out
    assert emulator.api("GET", "/properties").json() == {
        "properties": {"defaultRegion": "ap-south"}
    }


def test_a_failing_dockerfile_shows_the_build_error(
    pcc: Callable[..., str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(buildSeconds=0)
    folder = agent_folder(tmp_path / "broken", dockerfile="FROM python:3.12\nRUN exit 1\n")

    out = pcc("deploy", "broken-bot", "--yes", "--build-dir", str(folder), "--region", "us-west")
    assert (
        'Build failed: failed to solve: process "/bin/sh -c exit 1" did not complete '
        "successfully: exit code: 1" in out
    ), out
    hint = re.search(r"View logs with: pipecat cloud build logs (\S+)", out)
    assert hint, out
    assert "is ready" not in out
    assert emulator.api("GET", "/agents/broken-bot").status_code == 404

    logs = pcc("build", "logs", hint.group(1))
    assert "[2/2] RUN exit 1" in logs, logs
    assert "Phase complete: BUILD State: FAILED" in logs
    assert re.search(rf"^{hint.group(1)}\s+failed\s", pcc("build", "list"), re.M)


def test_account_commands(pcc: Callable[..., str], emulator: EmulatorHandle) -> None:
    out = pcc("auth", "whoami")
    assert re.search(r"User\s+emulator@localhost", out), out
    assert re.search(r"Active Organization\s+Pipecat Cloud emulator \(org_[0-9a-f]+\)", out)
    assert re.search(r"^Pipecat Cloud emulator\s+org_[0-9a-f]+", pcc("organizations", "list"), re.M)


def test_a_wrong_token_is_refused(emulator: EmulatorHandle, tmp_path: Path) -> None:
    out = run_pcc(emulator, tmp_path, "agent", "list", token="pk_not_the_key")
    assert "UNAUTHORIZED: API Error: Unauthorized" in out, out


# -- builds shared with the Pulumi Build resource ------------------------------------------

BUILD_PROGRAM = """
import pulumi
from pcc_provider import Build

image = Build("image", context=pulumi.Config().require("context"))
pulumi.export("build_id", image.build_id)
pulumi.export("source", image.source)
pulumi.export("context_hash", image.context_hash)
"""


@pytest.mark.engine
def test_builds_are_shared_both_ways_with_the_build_resource(
    pcc: Callable[..., str], emulator: EmulatorHandle, cloud_stack: Callable[..., Stack]
) -> None:
    emulator.configure(buildSeconds=0, agentReadySeconds=0)
    files = {
        "from-cli/Dockerfile": DOCKERFILE,
        "from-cli/bot.py": "print('built by pcc')\n",
        "from-pulumi/Dockerfile": DOCKERFILE,
        "from-pulumi/bot.py": "print('built by pulumi')\n",
    }
    stack = cloud_stack(BUILD_PROGRAM, files=files)

    # pcc builds first; the Build resource then finds that build and uploads nothing.
    out = pcc("deploy", "cli-bot", "--yes", "--build-dir", "from-cli", cwd=stack.dir)
    assert "Deployment complete" in out, out
    built_by_cli = re.search(r"Build started: (\S+)", out)
    assert built_by_cli, out
    assert emulator.calls(UPLOAD) == 1
    stack.config("context", "from-cli")
    stack.up()
    reused = stack.outputs()
    assert (reused["build_id"], reused["source"]) == (built_by_cli.group(1), "existing")
    assert f"hash={reused['context_hash']}" in out
    assert emulator.calls(UPLOAD) == 1 and emulator.calls(UPLOAD_URL) == 0

    # The Build resource builds first; pcc then finds that build and uploads nothing.
    stack.config("context", "from-pulumi")
    stack.up()
    built_by_pulumi = stack.outputs()
    assert built_by_pulumi["source"] == "new"
    assert emulator.calls(UPLOAD) == 2
    out = pcc("deploy", "pulumi-bot", "--yes", "--build-dir", "from-pulumi", cwd=stack.dir)
    assert f"hash={built_by_pulumi['context_hash']}" in out, out
    assert f"Build ID: {built_by_pulumi['build_id']}" in out
    assert "Using cached build - no upload needed" in out
    assert "Deployment complete: Agent deployment 'pulumi-bot' is ready" in out
    assert emulator.calls(UPLOAD) == 2 and emulator.calls(CLI_UPLOAD_URL) == 1
    status = pcc("agent", "status", "pulumi-bot")
    assert f"Build: {built_by_pulumi['build_id']}" in status, status


# -- secrets -------------------------------------------------------------------------------

OPENAI_KEY = "sk-test-CLI-5e1f0a"
GREETING = "hello there 7351"
EXTRA_VALUE = "extra-value-90bc"
REGISTRY_TOKEN = "ghp_CLI_TOKEN_6d2e"
# What a value may look like on the wire: image pull credentials go as base64 of user:token.
CLI_SECRETS = [
    OPENAI_KEY,
    GREETING,
    EXTRA_VALUE,
    REGISTRY_TOKEN,
    base64.b64encode(f"bot:{REGISTRY_TOKEN}".encode()).decode(),
]


def assert_no_secret_value(*outputs: str) -> None:
    for out in outputs:
        for value in CLI_SECRETS:
            assert value not in out, out


def stored_set(tmp_path: Path, name: str) -> dict[str, Any]:
    """The set as the emulator keeps it (the `emulator` fixture's state folder): the values
    are only there, since the API never returns them."""
    stored: dict[str, Any] = json.loads(
        (tmp_path / "emulator" / "secrets" / f"{name}.json").read_text()
    )
    return stored


def set_row(name: str, region: str, status: str, kind: str) -> str:
    """A line of `pcc secrets list` (its plain table when the output is not a terminal)."""
    return rf"^{re.escape(name)}\s+{region}\s+{status}\s+{kind}$"


def test_secrets_set_list_unset_delete_and_image_pull_secret(
    pcc: Callable[..., str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    outputs = [pcc("secrets", "list")]
    assert "No secret sets for organization 'acme'" in outputs[-1], outputs[-1]

    # Provisioning takes a minute here, so the CLI sees the set pending.
    emulator.configure(secretReadySeconds=60)
    created = pcc(
        "secrets",
        "set",
        "bot-secrets",
        f"OPENAI_API_KEY={OPENAI_KEY}",
        f"GREETING={GREETING}",
        "--skip",
    )
    outputs.append(created)
    assert "Secret set 'bot-secrets' created successfully in us-west" in created, created
    listed = pcc("secrets", "list")
    outputs.append(listed)
    assert re.search(set_row("bot-secrets", "us-west", "pending", "Secret Set"), listed, re.M)
    keys = pcc("secrets", "list", "bot-secrets")
    outputs.append(keys)
    assert "Secret keys for set bot-secrets (status: pending)" in keys, keys
    assert re.search(r"^Key\nGREETING\nOPENAI_API_KEY$", keys, re.M), keys
    public = emulator.api("GET", "/secrets/bot-secrets").json()
    assert public["status"] == "pending"
    # One PUT per key (secrets.py `create_set`), each a new version of the set.
    stored = stored_set(tmp_path, "bot-secrets")
    assert stored["values"] == {"OPENAI_API_KEY": OPENAI_KEY, "GREETING": GREETING}
    assert (stored["type"], stored["region"], stored["version"]) == ("secret", "us-west", 2)

    # Adding a key provisions the set again, quickly now: it becomes ready.
    emulator.configure(secretReadySeconds=0)
    modified = pcc("secrets", "set", "bot-secrets", f"EXTRA_KEY={EXTRA_VALUE}", "--skip")
    outputs.append(modified)
    assert "Secret set 'bot-secrets' modified successfully in us-west" in modified, modified
    assert "You must re-deploy any agents using this secret set" in modified
    keys = pcc("secrets", "list", "bot-secrets")
    outputs.append(keys)
    assert "Secret keys for set bot-secrets (status: ready)" in keys, keys
    assert re.search(r"^Key\nEXTRA_KEY\nGREETING\nOPENAI_API_KEY$", keys, re.M), keys

    out = pcc("secrets", "unset", "bot-secrets", "GREETING", "--skip")
    outputs.append(out)
    assert "Secret 'GREETING' deleted successfully from secret set 'bot-secrets'" in out, out
    out = pcc("secrets", "unset", "bot-secrets", "GREETING", "--skip")
    outputs.append(out)
    assert "Key not found in set 'bot-secrets'" in out, out
    public = emulator.api("GET", "/secrets/bot-secrets").json()
    assert public["secrets"] == [{"fieldName": "EXTRA_KEY"}, {"fieldName": "OPENAI_API_KEY"}]

    out = pcc(
        "secrets", "image-pull-secret", "ghcr", "https://ghcr.io", f"bot:{REGISTRY_TOKEN}", "--skip"
    )
    outputs.append(out)
    assert "Image pull secret 'ghcr' for https://ghcr.io created successfully in us-west." in out
    stored = stored_set(tmp_path, "ghcr")
    # base64 of user:token, as the ImagePullSecret resource sends it.
    assert stored["values"] == {"secretValue": CLI_SECRETS[-1]}
    assert (stored["type"], stored["host"]) == ("imagePullSecret", "https://ghcr.io/")
    listed = pcc("secrets", "list")
    outputs.append(listed)
    assert re.search(set_row("bot-secrets", "us-west", "ready", "Secret Set"), listed, re.M)
    assert re.search(set_row("ghcr", "us-west", "ready", "Image Pull Secret"), listed, re.M)
    # The CLI's region filter (a query parameter the public API does not take).
    out = pcc("secrets", "list", "--region", "eu-central")
    outputs.append(out)
    assert "No secret sets for organization 'acme'" in out, out
    assert {s["name"]: s["type"] for s in emulator.api("GET", "/secrets").json()["sets"]} == {
        "bot-secrets": "secret",
        "ghcr": "imagePullSecret",
    }

    out = pcc("secrets", "delete", "ghcr", "--skip")
    outputs.append(out)
    assert "Secret set 'ghcr' deleted successfully" in out, out
    out = pcc("secrets", "delete", "ghcr", "--skip")
    outputs.append(out)
    assert "No set found with name 'ghcr" in out, out
    out = pcc("secrets", "delete", "bot-secrets", "--skip")
    outputs.append(out)
    assert "Secret set 'bot-secrets' deleted successfully" in out, out
    assert emulator.api("GET", "/secrets").json() == {"sets": []}
    assert_no_secret_value(*outputs)


def test_deploy_binds_the_secret_set_named_in_pcc_deploy_toml(
    pcc: Callable[..., str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(buildSeconds=0, agentReadySeconds=0, secretReadySeconds=60)
    # No region anywhere: the set and the agent both go to the organization's default.
    assert "Default region set to eu-central" in pcc(
        "organizations", "default-region", "eu-central"
    )
    outputs = [pcc("secrets", "set", "bot-secrets", f"OPENAI_API_KEY={OPENAI_KEY}", "--skip")]
    assert "Secret set 'bot-secrets' created successfully in eu-central" in outputs[-1]
    folder = agent_folder(
        tmp_path / "sec-bot", toml='agent_name = "sec-bot"\nsecret_set = "bot-secrets"\n'
    )

    # Still provisioning: the API refuses the deploy, and no agent is made.
    outputs.append(pcc("deploy", "--yes", cwd=folder))
    assert "Verifying secret set bot-secrets exists..." in outputs[-1], outputs[-1]
    assert "Secret set 'bot-secrets' is not ready (status: pending)" in outputs[-1]
    assert emulator.api("GET", "/agents/sec-bot").status_code == 404

    emulator.configure(secretReadySeconds=0)
    outputs.append(pcc("secrets", "set", "bot-secrets", f"GREETING={GREETING}", "--skip"))
    assert "modified successfully in eu-central" in outputs[-1], outputs[-1]
    out = pcc("deploy", "--yes", cwd=folder)
    outputs.append(out)
    assert "Region: eu-central (organization default)" in out, out
    assert "Secret set:  bot-secrets" in out
    assert "Deployment complete: Agent deployment 'sec-bot' is ready" in out
    record = requests.get(f"{emulator.url}/_emulator/agents/sec-bot", timeout=10).json()
    deployment = record["deployments"][-1]
    assert deployment["settings"]["secretSet"] == "bot-secrets"
    # Version 2: the set as the second `secrets set` left it.
    assert deployment["boundSets"] == {"secretSet": {"name": "bot-secrets", "version": 2}}
    assert emulator.api("GET", "/agents/sec-bot").json()["region"] == "eu-central"

    # A set that does not exist: the CLI's own check stops the deploy.
    (folder / "pcc-deploy.toml").write_text('agent_name = "sec-bot"\nsecret_set = "no-such-set"\n')
    out = pcc("deploy", "--yes", cwd=folder)
    assert "Secret set 'no-such-set' not found in organization 'acme'" in out, out
    record = requests.get(f"{emulator.url}/_emulator/agents/sec-bot", timeout=10).json()
    assert record["deployments"][-1] == deployment
    assert_no_secret_value(*outputs)


def test_deploy_an_image_with_an_image_pull_secret(
    pcc: Callable[..., str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0)
    outputs = [
        pcc(
            "secrets",
            "image-pull-secret",
            "ghcr",
            "https://ghcr.io",
            f"bot:{REGISTRY_TOKEN}",
            "--skip",
            "--region",
            "us-east",
        )
    ]
    assert "created successfully in us-east" in outputs[-1], outputs[-1]
    folder = tmp_path / "img-bot"
    folder.mkdir()
    (folder / "pcc-deploy.toml").write_text(
        'agent_name = "img-bot"\nregion = "us-east"\nimage = "ghcr.io/acme/bot:1"\n'
        'image_credentials = "ghcr"\n'
    )
    out = pcc("deploy", "--yes", cwd=folder)
    outputs.append(out)
    assert "Verifying image pull secret ghcr exists..." in out, out
    assert "Image pull secret: ghcr" in out
    assert "Deployment complete: Agent deployment 'img-bot' is ready" in out
    record = requests.get(f"{emulator.url}/_emulator/agents/img-bot", timeout=10).json()
    assert record["deployments"][-1]["boundSets"] == {
        "imagePullSecretSet": {"name": "ghcr", "version": 1}
    }

    (folder / "pcc-deploy.toml").write_text(
        'agent_name = "img-bot2"\nimage = "ghcr.io/acme/bot:1"\nimage_credentials = "nope"\n'
    )
    out = pcc("deploy", "--yes", cwd=folder)
    assert "Image pull secret with name 'nope' not found in organization 'acme'" in out, out
    assert emulator.api("GET", "/agents/img-bot2").status_code == 404
    assert_no_secret_value(*outputs)


SECRETS_PROGRAM = f"""
import pulumi
from pcc_provider import Agent, SecretSet

SecretSet("py-secrets", set_name="py-secrets", secrets={{"GREETING": "{GREETING}"}},
          region="us-west")
bot = Agent("bot", service_name="cli-bound", image="example/agent:1", region="us-west",
            secret_set="cli-secrets", deploy_timeout=60)
pulumi.export("deploymentId", bot.desired_deployment_id)
"""


@pytest.mark.engine
def test_secret_sets_are_shared_both_ways_with_pulumi(
    pcc: Callable[..., str], emulator: EmulatorHandle, cloud_stack: Callable[..., Stack]
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0)
    outputs = [pcc("secrets", "set", "cli-secrets", f"OPENAI_API_KEY={OPENAI_KEY}", "--skip")]
    assert "Secret set 'cli-secrets' created successfully in us-west" in outputs[-1]

    # An Agent binds the set pcc made, by name; the program's own set shows in pcc.
    stack = cloud_stack(SECRETS_PROGRAM)
    stack.up()
    record = requests.get(f"{emulator.url}/_emulator/agents/cli-bound", timeout=10).json()
    assert record["deployments"][-1]["boundSets"] == {
        "secretSet": {"name": "cli-secrets", "version": 1}
    }
    assert stack.outputs()["deploymentId"] == record["deployments"][-1]["id"]
    outputs.append(pcc("secrets", "list"))
    assert re.search(set_row("cli-secrets", "us-west", "ready", "Secret Set"), outputs[-1], re.M)
    assert re.search(set_row("py-secrets", "us-west", "ready", "Secret Set"), outputs[-1], re.M)
    outputs.append(pcc("secrets", "list", "py-secrets"))
    assert re.search(r"^Key\nGREETING$", outputs[-1], re.M), outputs[-1]
    assert "Active Deployment ID: " + record["deployments"][-1]["id"] in pcc(
        "agent", "status", "cli-bound"
    )
    assert_no_secret_value(*outputs, stack.export())


ADOPT_PROGRAM = """
import pulumi
from pcc_provider import SecretSet

cfg = pulumi.Config()
SecretSet("bot-secrets", set_name="acme-bot-secrets",
          secrets={"OPENAI_API_KEY": cfg.require_secret("openai"),
                   "CARTESIA_API_KEY": cfg.require_secret("cartesia")},
          adopt_existing=cfg.get_bool("adopt") or False)
"""


def test_a_set_made_by_pcc_is_left_alone_unless_adopted(
    pcc: Callable[..., str],
    emulator: EmulatorHandle,
    cloud_stack: Callable[..., Stack],
    tmp_path: Path,
) -> None:
    emulator.configure(secretReadySeconds=0)
    made = pcc(
        "secrets", "set", "acme-bot-secrets",
        f"OPENAI_API_KEY={OPENAI_KEY}", f"CARTESIA_API_KEY={GREETING}", "--skip",
    )  # fmt: skip
    assert "created successfully" in made
    theirs = stored_set(tmp_path, "acme-bot-secrets")["values"]

    stack = cloud_stack(ADOPT_PROGRAM)
    stack.config("openai", EXTRA_VALUE, secret=True)
    stack.config("cartesia", REGISTRY_TOKEN, secret=True)
    failed = stack.up(check=False)
    assert failed.returncode != 0 and "Traceback" not in failed.output
    assert (
        "secret set acme-bot-secrets: it already exists in Pipecat Cloud and this stack did "
        "not create it (with the same keys): pass adopt_existing=True to take it over"
    ) in failed.output
    assert stored_set(tmp_path, "acme-bot-secrets")["values"] == theirs

    stack.config("adopt", "true")
    adopted = stack.up()
    assert "adopt_existing=True takes it over" in adopted.output
    assert stored_set(tmp_path, "acme-bot-secrets")["values"] == {
        "OPENAI_API_KEY": EXTRA_VALUE,
        "CARTESIA_API_KEY": REGISTRY_TOKEN,
    }
    assert "2 unchanged" in stack.preview().stdout
    stack.destroy()
    assert "acme-bot-secrets" not in pcc("secrets", "list")
    assert_no_secret_value(made, failed.output, adopted.output, stack.export())
