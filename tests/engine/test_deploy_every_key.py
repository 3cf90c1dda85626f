"""Issue 31: a pcc-deploy.toml with every key pcc 1.4.0 documents deploys with `Deployment`
under the real engine, and sends the emulator, field by field, the body `pcc deploy` of the
same file sends; an architecture changed with `pcc deploy` shows by name after a refresh."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorHandle
from pulumi_stack import Stack
from test_official_cli import pcc  # noqa: F401 (a fixture)

pytestmark = pytest.mark.engine

# Every key `pcc deploy` reads (pipecatcloud 1.4.0 `load_deploy_config_file`) but `[git]`
# (not supported yet) and the other image sources (`build_id`, a cloud build from `[build]`:
# an image is given, so both tools skip the build, and `[build]` is read and unused by both).
TOML = """\
agent_name = "every-key"
region = "us-west"
image = "ghcr.io/acme/bot:1"
image_credentials = "ghcr"
secret_set = "bot-secrets"
max_session_duration = 900
websocket_auth = "token"
architecture = "{architecture}"

[scaling]
min_agents = 1
max_agents = 4

[resources]
cpu = "2"
memory = "4Gi"

[krisp_viva]
audio_filter = "tel"

[build]
context_dir = "."
dockerfile = "Dockerfile"

[build.exclude]
patterns = ["*.log"]

[docker]
registry = "ghcr"
auto_latest = false
"""

PROGRAM = """
import pulumi
from pcc_provider import Deployment

cfg = pulumi.Config()
bot = Deployment("bot", config_file=cfg.require("file"), deploy_timeout=60)
pulumi.export("service_name", bot.service_name)
"""


def folder(path: Path, architecture: str) -> Path:
    path.mkdir()
    (path / "pcc-deploy.toml").write_text(TOML.format(architecture=architecture))
    return path


def last_request(emulator: EmulatorHandle, name: str) -> dict[str, Any]:
    answer = emulator.control("GET", f"/agents/{name}")
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()["lastRequest"]
    return body


def service(emulator: EmulatorHandle, name: str) -> dict[str, Any]:
    """The agent as pcc's `agent status` reads it."""
    found: dict[str, Any] = emulator.api("GET", f"/organizations/acme/services/{name}").json()
    return found["body"]


def test_every_key_deploys_as_pcc_deploy_sends_it_and_drift_shows_by_name(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0)
    out = pcc("secrets", "set", "bot-secrets", "OPENAI_API_KEY=sk-test-1234", "--skip")
    assert "created successfully" in out, out
    out = pcc("secrets", "image-pull-secret", "ghcr", "https://ghcr.io", "bot:ghp-1", "--skip")
    assert "created successfully" in out, out
    arm = folder(tmp_path / "arm", "arm64")

    # What `pcc deploy` sends for the file, to an emulator without the agent.
    out = pcc("deploy", "--yes", cwd=arm)
    assert "is ready" in out, out
    sent_by_pcc = last_request(emulator, "every-key")
    assert emulator.api("DELETE", "/agents/every-key").status_code == 200

    stack = cloud_stack(PROGRAM)
    stack.config("file", str(arm / "pcc-deploy.toml"))
    stack.up()
    sent_by_pulumi = last_request(emulator, "every-key")
    assert sorted(sent_by_pulumi) == sorted(sent_by_pcc)
    for field, value in sent_by_pcc.items():
        assert sent_by_pulumi[field] == value, field
    # Both on pcc's route: the public one drops what it does not know.
    assert emulator.stats()["requests"]["POST /v1/organizations/{org}/services"] == 2
    held = service(emulator, "every-key")
    assert held["deployment"]["manifest"]["spec"]["arch"] == "arm64"
    assert held["resources"] == {"cpu": "2", "memory": "4Gi"}
    assert held["websocketAuth"] == "token" and held["agentProfile"] is None
    stack.preview("--expect-no-changes")

    # The architecture changed with `pcc deploy`: a refresh takes it, the diff names it.
    out = pcc("deploy", "--yes", cwd=folder(tmp_path / "amd", "amd64"))
    assert "is ready" in out, out
    assert service(emulator, "every-key")["deployment"]["manifest"]["spec"]["arch"] == "amd64"
    stack.refresh()
    shown = stack.preview("--diff").stdout
    assert re.search(r'~ architecture\s*: "amd64" => "arm64"', shown), shown
    stack.up()
    assert service(emulator, "every-key")["deployment"]["manifest"]["spec"]["arch"] == "arm64"
    stack.preview("--expect-no-changes")


GIT_TOML = """\
agent_name = "from-git"
region = "us-west"
secret_set = "bot-secrets"
agent_profile = "agent-2x"
websocket_auth = "token"
architecture = "arm64"

[scaling]
min_agents = 0
max_agents = 2

[git]
repo = "acme/bot"
branch = "main"
dockerfile_path = "docker/Dockerfile"
subdirectory = "agent"
"""

GIT_PROGRAM = """
import pulumi
from pcc_provider import Deployment

cfg = pulumi.Config()
bot = Deployment("bot", config_file=cfg.require("file"), deploy_timeout=60)
pulumi.export("build_id", bot.agent.build_id)
pulumi.export("image_uri", bot.image_uri)
"""


def test_a_github_source_deploys_as_pcc_deploy_sends_it_and_names_its_build(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0, buildSeconds=0)
    out = pcc("secrets", "set", "bot-secrets", "OPENAI_API_KEY=sk-test-1234", "--skip")
    assert "created successfully" in out, out
    source = tmp_path / "git"
    source.mkdir()
    (source / "pcc-deploy.toml").write_text(GIT_TOML)

    out = pcc("deploy", "--yes", cwd=source)
    assert "Deployed 'from-git' from commit" in out, out
    sent_by_pcc = last_request(emulator, "from-git")
    assert emulator.api("DELETE", "/agents/from-git").status_code == 200

    stack = cloud_stack(GIT_PROGRAM)
    stack.config("file", str(source / "pcc-deploy.toml"))
    stack.up()
    sent_by_pulumi = last_request(emulator, "from-git")
    assert sorted(sent_by_pulumi) == sorted(sent_by_pcc)
    for field, value in sent_by_pcc.items():
        assert sent_by_pulumi[field] == value, field

    # The outputs name the build the create started and the image the agent runs.
    held = service(emulator, "from-git")
    assert held["latestDeploy"]["status"] == "succeeded"
    build_id = held["deployment"]["buildId"]
    build = emulator.api("GET", f"/builds/{build_id}").json()["build"]
    outputs = stack.outputs()
    assert outputs["build_id"] == build_id
    assert outputs["image_uri"] == build["imageUri"]
    stack.preview("--expect-no-changes")
