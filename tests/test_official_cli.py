"""The official CLI (`pipecatcloud` 1.4.0, `pcc`) against the emulator, as a user runs it.

`pcc` runs as a subprocess with only PIPECAT_API_HOST, PIPECAT_TOKEN and PIPECAT_ORG set (and
HOME in a temporary folder, so no user config is read or written). It exits 0 after many
errors, so every test asserts on what it prints, and on what the emulator saw.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
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
    for code, name in [
        ("us-west", "US West (Oregon)"),
        ("us-east", "US East (Virginia)"),
        ("eu-central", "Europe (Frankfurt)"),
        ("ap-south", "Asia Pacific (Mumbai)"),
    ]:
        assert re.search(rf"^{code}\s+{re.escape(name)}\s+arm64\s+arm64$", out, re.M), out


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
