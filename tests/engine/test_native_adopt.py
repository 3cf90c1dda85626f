"""What a team made with `pcc`, brought under a YAML program with `pulumi import`.

An agent `pcc deploy` made from an image, a secret set `pcc secrets set` made, and a build a
`pcc deploy` of a folder made: each imported, then a program with their settings previews no
changes; drift made with `pcc` afterwards shows by name after `pulumi refresh`; destroy
removes what the stack now owns (Pipecat Cloud keeps builds).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorHandle
from test_native_yaml import write_program, yaml_stack
from test_official_cli import agent_folder, run_pcc

pytestmark = pytest.mark.engine

GREETING = "hello-from-pcc-1234"


def test_import_what_pcc_made_then_no_changes_then_drift_by_name(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=0, secretReadySeconds=0, buildSeconds=0)
    home = tmp_path / "home"
    home.mkdir()

    def pcc(*args: str, cwd: Path | None = None) -> str:
        return run_pcc(emulator, home, *args, cwd=cwd)

    out = pcc("deploy", "legacy", "example/agent:1", "--max-agents", "3", "--yes")
    assert "Deployment complete" in out, out
    out = pcc("secrets", "set", "legacy-secrets", f"GREETING={GREETING}", "A=1", "--skip")
    assert "created successfully" in out, out
    built = agent_folder(tmp_path / "built", toml='agent_name = "built"\n')
    out = pcc("deploy", "--yes", cwd=built)
    started = re.search(r"Build started: (\S+)", out)
    assert started, out
    build_id = started.group(1)

    image = {"type": "pipecat:index:Build", "properties": {"context": "./agent"}}
    stack = yaml_stack(tmp_path, engine, emulator, {"image": image})
    stack.up()

    def imported(kind: str, name: str, id_: str) -> str:
        done = stack.pulumi("import", kind, name, id_, "--yes", "--stack", stack.name)
        # No check of ours failed on what the import read.
        assert "failed to validate" not in done.output, done.output
        return done.stdout

    code = imported("pipecat:index:Agent", "legacy", "legacy")
    assert "image: example/agent:1" in code and "maxAgents: 3" in code, code
    code = imported("pipecat:index:SecretSet", "legacy-secrets", "legacy-secrets")
    assert "setName: legacy-secrets" in code, code
    # Values cannot be read back: none in the code (neither `secrets` nor `secretsFile`, which
    # a set needs only once the program declares its values), and the program may leave them
    # out.
    assert GREETING not in code and not re.search(r"^\s+secrets(File)?:", code, re.M), code
    code = imported("pipecat:index:Build", "built-image", build_id)
    assert "dockerfile: Dockerfile" in code, code
    assert "contextHash" not in code, code

    # The folder `pcc deploy` built, beside the program: the same contextHash.
    shutil.copytree(built, stack.dir / "built")
    agent = {"serviceName": "legacy", "image": "example/agent:1", "maxAgents": 3}
    resources: dict[str, Any] = {
        "image": image,
        "legacy": {"type": "pipecat:index:Agent", "properties": agent},
        "legacy-secrets": {
            "type": "pipecat:index:SecretSet",
            "properties": {"setName": "legacy-secrets", "secrets": {}},
        },
        "built-image": {"type": "pipecat:index:Build", "properties": {"context": "./built"}},
    }
    write_program(stack.dir, resources)
    before = emulator.stats()["requests"]
    stack.preview("--expect-no-changes")
    assert emulator.stats()["requests"] == before, "an unchanged preview called the API"
    assert stack.up().output.count("unchanged") >= 1
    # The set's values were left as they are, while the program declares none.
    held = emulator.api("GET", "/secrets/legacy-secrets").json()
    assert sorted(s["fieldName"] for s in held["secrets"]) == ["A", "GREETING"]

    # Drift made with `pcc`: the agent scaled, a key added to the set.
    out = pcc("deploy", "legacy", "example/agent:1", "--max-agents", "12", "--yes")
    assert "legacy" in out and "ready" in out, out
    out = pcc("secrets", "set", "legacy-secrets", "EXTRA=from-pcc", "--skip")
    assert "EXTRA" not in stack.preview("--diff").output
    stack.refresh()
    drifted = stack.preview("--diff")
    assert "~ maxAgents: 12 => 3" in drifted.output, drifted.output
    assert "from-pcc" not in drifted.output and GREETING not in drifted.output

    # The program now declares the set's values: the next `up` sets them all (and removes
    # the key added outside), and puts the agent back at 3.
    resources["legacy-secrets"]["properties"]["secrets"] = {"GREETING": "declared-value"}
    write_program(stack.dir, resources)
    declared = stack.preview("--diff")
    assert "~ legacy-secrets" in declared.output or "pipecat:index:SecretSet" in declared.output
    assert "declared-value" not in declared.output, declared.output
    stack.up()
    held = emulator.api("GET", "/secrets/legacy-secrets").json()
    assert [s["fieldName"] for s in held["secrets"]] == ["GREETING"]
    assert emulator.api("GET", "/agents/legacy").json()["autoScaling"]["maxReplicas"] == 3
    stack.preview("--expect-no-changes")

    stack.destroy()
    assert emulator.api("GET", "/agents/legacy").status_code == 404
    assert emulator.api("GET", "/secrets/legacy-secrets").status_code == 404
    assert emulator.api("GET", f"/builds/{build_id}").status_code == 200  # builds are kept
    # What the stack never imported is left alone.
    assert emulator.api("GET", "/agents/built").status_code == 200
