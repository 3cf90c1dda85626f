"""States an earlier pcc-provider wrote preview no changes with this one, in both doors.

The sets' states took the schema's (camelCase) names (setName, readyTimeout) where the
dynamic sets kept Python's (set_name): a stack made before that must not see its sets
changed, nor its agents redeployed. The earlier version is the package as it was at
EARLIER, run from a copy of its source put first on PYTHONPATH (the Python program, the
dynamic provider plugin and `pulumi-resource-pipecat` all import it from there).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from conftest import EmulatorHandle
from pulumi_stack import REPO, Stack
from test_native_move import DYNAMIC_ALL, FILES, NATIVE_ALL, to_native
from test_native_yaml import BOUND_SET, SECRET_CONFIG, yaml_stack

pytestmark = pytest.mark.engine

# The last commit whose sets kept Python's names in the dynamic door's state.
EARLIER = "604a5c3"

PROGRAM = """
import pulumi
from pcc_provider import Agent, ImagePullSecret, SecretSet

creds = SecretSet("creds", set_name="bot-secrets", secrets={"GREETING": "hello-there-1"})
pull = ImagePullSecret("pull", set_name="ghcr", host="https://ghcr.io", username="bot",
                       password=pulumi.Output.secret("token-1"))
bot = Agent("bot", service_name="bot", image="example/agent:1", secret_set=creds,
            image_pull_secret_set=pull, deploy_timeout=60)
pulumi.export("setName", creds.set_name)
"""


def with_earlier(stack: Stack, earlier: Path) -> Callable[[], None]:
    """Put the earlier version first on the stack's PYTHONPATH; the function returned puts
    back what was there (this checkout's, when the tests run it from PYTHONPATH)."""
    before = stack.env.get("PYTHONPATH")
    stack.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(earlier), before) if p)

    def restore() -> None:
        if before is None:
            del stack.env["PYTHONPATH"]
        else:
            stack.env["PYTHONPATH"] = before

    return restore


@pytest.fixture
def earlier(tmp_path: Path) -> Path:
    """The source of pcc_provider at EARLIER, to put first on PYTHONPATH."""
    archived = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", EARLIER, "pcc_provider"],
        capture_output=True,
        check=False,
    )
    if archived.returncode != 0:
        pytest.fail(
            f"this test needs commit {EARLIER} in the checkout's history (a shallow clone "
            f"lacks it: clone without --depth, or `git fetch --unshallow`): "
            f"{archived.stderr.decode(errors='replace').strip()}"
        )
    folder = tmp_path / "earlier"
    with tarfile.open(fileobj=BytesIO(archived.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def test_python_sets_written_with_python_names_preview_no_changes(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, earlier: Path
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0)
    stack = cloud_stack(PROGRAM)
    back_to_this_version = with_earlier(stack, earlier)
    stack.up()
    (state,) = [r for r in stack.resources() if r["urn"].endswith("::creds")]
    assert "set_name" in state["outputs"], "the earlier version did not write Python's names"
    back_to_this_version()

    stack.preview("--expect-no-changes")
    # Nothing is sent: no set is written again, no agent redeployed.
    puts = emulator.calls("PUT /v1/secrets/{setName}")
    updates = emulator.calls("POST /v1/agents/{agentName}")
    stack.up()
    assert emulator.calls("PUT /v1/secrets/{setName}") == puts
    assert emulator.calls("POST /v1/agents/{agentName}") == updates
    assert stack.outputs()["setName"] == "bot-secrets"
    stack.destroy()
    assert emulator.api("GET", "/secrets/bot-secrets").status_code == 404


def test_yaml_sets_an_earlier_version_wrote_preview_no_changes(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle, earlier: Path
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0, buildSeconds=0)
    stack = yaml_stack(tmp_path, engine, emulator, BOUND_SET, **SECRET_CONFIG)
    stack.config("openaiKey", "sk-first-value", secret=True)
    back_to_this_version = with_earlier(stack, earlier)
    stack.up()
    back_to_this_version()

    stack.preview("--expect-no-changes")
    stack.destroy()


def test_a_python_set_an_earlier_version_wrote_moves_to_the_native_one_renamed_once(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, earlier: Path
) -> None:
    stack = cloud_stack(DYNAMIC_ALL, files=FILES)
    back_to_this_version = with_earlier(stack, earlier)
    stack.up()
    back_to_this_version()
    to_native(stack, NATIVE_ALL)
    preview = stack.preview("--diff")
    # The set's state is rewritten once in the schema's names; nothing else changes, and the
    # agent that binds the set knows its name at preview.
    assert "replace" not in preview.output, preview.output
    assert "~ 1 to update" in preview.output and "3 unchanged" in preview.output, preview.output
    assert "~ pipecat:index:SecretSet: (update)" in preview.output
    puts = emulator.calls("PUT /v1/secrets/{setName}")
    stack.up()
    assert emulator.calls("PUT /v1/secrets/{setName}") == puts  # nothing sent
    stack.preview("--expect-no-changes")
