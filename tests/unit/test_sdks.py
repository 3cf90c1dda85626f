"""The SDKs and reference pages generated from the `pipecat` schema: committed, current, and
building. What a TypeScript program does with its SDK is tests/test_typescript.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_sdks_and_reference_pages_are_what_the_schema_gives() -> None:
    # Fails, naming the files, when a resource changed and `make sdk` was not run.
    checked = subprocess.run(
        [str(ROOT / "scripts" / "generate-sdks"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stderr
    assert "match the schema" in checked.stderr


def test_reference_pages_name_every_input_in_both_doors_names() -> None:
    agent = (ROOT / "docs" / "reference" / "agent.md").read_text()
    assert "| `serviceName` / `service_name` | string | required |" in agent
    assert "```typescript" in agent and "```yaml" in agent and "```python" in agent
    secret_set = (ROOT / "docs" / "reference" / "secret-set.md").read_text()
    assert "| `secrets` | map of string | secret |" in secret_set
    assert "| `secretsFile` / `secrets_file` | string |  |" in secret_set


def test_typescript_sdk_carries_the_docs_an_editor_shows() -> None:
    built = ROOT / "sdk" / "nodejs" / "bin" / "agent.d.ts"
    if not built.exists():
        pytest.fail("the TypeScript SDK is not built: run `make typescript`")
    types = built.read_text()
    assert "serviceName: pulumi.Input<string>;" in types, types
    assert "the agent's name (lowercase letters, digits, hyphens; at most 54)" in types


def test_go_sdk_builds() -> None:
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build the Go SDK")
    built = subprocess.run(
        [go, "build", "./..."],
        cwd=ROOT / "sdk",
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "GOFLAGS": "-mod=readonly"},
    )
    assert built.returncode == 0, built.stderr
