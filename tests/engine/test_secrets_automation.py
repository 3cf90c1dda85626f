"""An Automation API inline program that runs twice in one process (preview, then up): the
sets it declares are its own on each run."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi import automation as auto
from pulumi_stack import PASSPHRASE, VENV_BIN

from pcc_provider import SecretSet

pytestmark = pytest.mark.engine


def program() -> None:
    bot = SecretSet("bot-secrets", set_name="bot-secrets", secrets={"GREETING": "hello"})
    pulumi.export("status", bot.status)


def test_an_inline_program_previews_then_updates_in_one_process(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    work = tmp_path / "inline"
    work.mkdir()
    stack = auto.create_stack(
        "dev",
        project_name="inline",
        program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(work),
            env_vars={**engine, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE},
            project_settings=auto.ProjectSettings(name="inline", runtime="python"),
            pulumi_command=auto.PulumiCommand(root=str(VENV_BIN.parent), skip_version_check=True),
        ),
    )
    stack.set_config("pipecat:apiUrl", auto.ConfigValue(emulator.api_url))
    stack.set_config("pipecat:apiKey", auto.ConfigValue(API_KEY, secret=True))
    preview = stack.preview()
    assert preview.change_summary.get("create") == 2  # the stack and the set
    up = stack.up()
    assert up.outputs["status"].value == "ready"
    # A third run in the same process, with nothing to change.
    assert stack.preview().change_summary.get("same") == 2
