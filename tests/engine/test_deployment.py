"""Deployment from a real pcc-deploy.toml under the real engine, against the emulator, with the
official CLI making the existing objects (issue 19)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import EmulatorHandle
from pulumi_stack import Stack
from test_official_cli import agent_folder, pcc  # noqa: F401 (pcc is a fixture)

from pcc_provider.deployment import read_deploy_file

TOML = """\
agent_name = "acme-bot"
region = "us-west"
secret_set = "bot-secrets"
agent_profile = "agent-2x"

[scaling]
min_agents = 0
max_agents = 3

[build]
dockerfile = "Dockerfile"

[build.exclude]
patterns = ["*.log"]
"""

PROGRAM = """
import pulumi
from pcc_provider import Deployment

cfg = pulumi.Config()
bot = Deployment("bot", config_file=cfg.require("file"),
                 adopt_existing=cfg.get_bool("adopt") or False, deploy_timeout=60)
pulumi.export("service_name", bot.service_name)
pulumi.export("image_uri", bot.image_uri)
pulumi.export("build_id", bot.build.build_id if bot.build else None)
"""


def held(emulator: EmulatorHandle) -> dict[str, object]:
    agent = emulator.api("GET", "/agents/acme-bot").json()
    spec = agent["deployment"]["manifest"]["spec"]
    return {
        "profile": agent["agentProfile"],
        "scaling": agent["autoScaling"],
        "secretSet": spec.get("envFromSecretNames"),
        "session": spec.get("maxSessionDurationSeconds"),
        "deployment": agent["desiredDeploymentId"],
    }


def test_a_deployment_from_pcc_deploy_toml_comes_up_reruns_and_adopts_pcc_deploys_agent(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    emulator.configure(buildSeconds=0, agentReadySeconds=0, secretReadySeconds=0)
    out = pcc("secrets", "set", "bot-secrets", "OPENAI_API_KEY=sk-test-1234", "--skip")
    assert "created successfully" in out, out
    folder = agent_folder(tmp_path / "acme-bot", toml=TOML)
    (folder / "debug.log").write_text("not uploaded\n")

    # The agent as `pcc deploy` makes it from the file: the same settings as the program's,
    # never changed since, and still not this stack's.
    out = pcc("deploy", "--yes", cwd=folder)
    assert "is ready" in out, out
    before = held(emulator)
    assert before["profile"] == "agent-2x" and before["secretSet"] == ["bot-secrets"]

    stack = cloud_stack(PROGRAM)
    stack.config("file", str(folder / "pcc-deploy.toml"))
    # Not taken over without adopt_existing.
    refused = stack.up(check=False)
    assert refused.returncode != 0
    assert "pass adopt_existing=True to take it over" in refused.output, refused.output
    assert "Traceback" not in refused.output

    stack.config("adopt", "true")
    stack.up()
    after = held(emulator)
    # Same file, same settings: adopted with nothing changed.
    assert {k: after[k] for k in ("profile", "scaling", "secretSet", "session")} == {
        k: before[k] for k in ("profile", "scaling", "secretSet", "session")
    }
    outputs = stack.outputs()
    assert outputs["service_name"] == "acme-bot"
    assert outputs["image_uri"] and outputs["build_id"]
    stack.preview("--expect-no-changes")


def test_a_github_source_is_read_as_the_agent_s_git(tmp_path: Path) -> None:
    path = tmp_path / "pcc-deploy.toml"
    path.write_text('agent_name = "bot"\n[git]\nrepo = "acme/bot"\nbranch = "main"\n')
    agent, build = read_deploy_file(path)
    assert build is None and agent["git"] == {"repoFullName": "acme/bot", "branch": "main"}


def test_the_file_s_image_is_deployed_without_a_build(tmp_path: Path) -> None:
    path = tmp_path / "pcc-deploy.toml"
    path.write_text(
        'agent_name = "bot"\nimage = "x/y:1"\nimage_credentials = "pull"\n'
        '[krisp_viva]\naudio_filter = "tel"\n'
    )
    agent, build = read_deploy_file(path)
    assert build is None
    assert agent["image"] == "x/y:1" and agent["image_pull_secret_set"] == "pull"
    assert agent["krisp_viva_audio_filter"] == "tel" and agent["min_agents"] == 0


def test_preview_of_a_mistyped_file_stops_in_one_line_naming_the_key_and_creates_nothing(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, bot_context: Path
) -> None:
    program = "from pcc_provider import Deployment\n\nDeployment('bot')\n"
    # The file was previewed as 1.5 and deployed as 1.
    mistyped = TOML.replace("min_agents = 0", "min_agents = 1.5")
    files = {"pcc-deploy.toml": mistyped, **{p.name: p.read_text() for p in bot_context.iterdir()}}
    stack = cloud_stack(program, files=files)
    emulator.reset_stats()
    said = "Deployment 'bot': pcc-deploy.toml:7: [scaling] min_agents must be an integer, not 1.5"

    result = stack.preview(check=False)
    assert result.returncode != 0, result.output
    # Ours is the one error: the other line is the engine's, after any program that stops.
    engine = "error: an unhandled error occurred: Program exited with non-zero exit code: 1"
    errors = [line.strip() for line in result.output.splitlines() if "error" in line.lower()]
    assert errors == [f"error: {said}", engine], result.output
    assert "Traceback" not in result.output
    # Nothing was declared, so nothing would be created: the stack holds no resource either.
    assert "pipecat:index:Deployment" not in result.output
    assert stack.up(check=False).returncode != 0
    assert all(r["type"] == "pulumi:pulumi:Stack" for r in stack.resources())
    assert emulator.stats()["requests"] == {}, emulator.stats()
