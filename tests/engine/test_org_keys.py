"""ApiKey and RegistryKey under the real engine, in a Python program and a YAML one, with the
official CLI (`pcc` 1.4.0) as the oracle: what a program declares is what `pcc organizations
keys list` and `pcc organizations registry-keys list` show; a changed name replaces the key; a
key revoked with `pcc` leaves the state on `pulumi refresh` and `up` makes it again; `pulumi
import` takes over what `pcc` made; destroy revokes. The keys' values are Pulumi secrets: in
no output, log line or state in plaintext.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN, Stack
from test_official_cli import run_pcc

pytestmark = pytest.mark.engine

WRITES = ("POST ", "PUT ", "PATCH ", "DELETE ")
CLI = "from pipecatcloud.cli.entry_point import entrypoint_cli_typer; entrypoint_cli_typer()"

PROGRAM = """\
import pulumi
from pcc_provider import ApiKey, RegistryKey

cfg = pulumi.Config()
web = ApiKey("web", name=cfg.get("webName") or "web-client")
pull = RegistryKey("pull", name=cfg.get("pullName") or "workstation")
pulumi.export("publicKey", web.key)
pulumi.export("registryKey", pull.key)
pulumi.export("webId", web.key_id)
pulumi.export("pullId", pull.key_id)
pulumi.export("registryHost", pull.registry_host)
"""


class Pcc:
    """`pcc` against the emulator, as a user runs it; `revoke_api_key` answers its prompt on a
    terminal, the only way `pcc organizations keys revoke` runs."""

    def __init__(self, emulator: EmulatorHandle, home: Path) -> None:
        self.emulator, self.home = emulator, home
        home.mkdir(exist_ok=True)

    def __call__(self, *args: str) -> str:
        return run_pcc(self.emulator, self.home, *args)

    def env(self) -> dict[str, str]:
        return {
            "PIPECAT_API_HOST": self.emulator.url,
            "PIPECAT_TOKEN": API_KEY,
            "PIPECAT_ORG": "acme",
            "HOME": str(self.home),
            "PATH": os.environ.get("PATH", ""),
        }

    def json(self, *args: str) -> Any:
        """`pcc --output json ARGS`: what it prints on stdout (its chrome goes to stderr)."""
        argv = [sys.executable, "-c", CLI, "--output", "json", *args]
        done = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=300)
        return json.loads(done.stdout)

    def api_keys(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.json("organizations", "keys", "list")["public"]
        return listed

    def registry_keys(self, *flags: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.json("organizations", "registry-keys", "list", *flags)[
            "keys"
        ]
        return listed

    def revoke_api_key(self) -> str:
        """`pcc organizations keys revoke`, choosing the first active key (its prompt's
        default): a test leaves exactly one active."""
        env = {**self.env(), "TERM": "xterm", "COLUMNS": "200"}
        argv = [sys.executable, "-c", CLI, "organizations", "keys", "revoke"]
        main, terminal = pty.openpty()
        proc = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env)
        os.close(terminal)
        seen, answered = b"", False
        try:
            while True:
                ready, _, _ = select.select([main], [], [], 1.0)
                if ready:
                    try:
                        chunk = os.read(main, 4096)
                    except OSError:  # the terminal closed: pcc is done
                        break
                    if not chunk:
                        break
                    seen += chunk
                if not answered and b"Select API key to revoke" in seen:
                    time.sleep(0.2)  # the prompt takes keys once drawn
                    os.write(main, b"\r")
                    answered = True
                if proc.poll() is not None and not ready:
                    break
        finally:
            proc.wait(timeout=60)
            os.close(main)
        return seen.decode(errors="replace")


def writes(emulator: EmulatorHandle) -> dict[str, int]:
    return {k: v for k, v in emulator.stats()["requests"].items() if k.startswith(WRITES)}


def active(keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The API keys `pcc` lists as Active, by name."""
    return {k["metadata"]["name"]: k for k in keys if not k["revoked"]}


def assert_hidden(values: list[str], *texts: str) -> None:
    for value in values:
        assert len(value) > 16
        for text in texts:
            assert value not in text


def test_python_keys_create_noop_replace_drift_destroy(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    pcc = Pcc(emulator, tmp_path / "home")
    stack = cloud_stack(PROGRAM)
    up = stack.up()

    shown = stack.outputs()
    assert shown["publicKey"] == "[secret]" and shown["registryKey"] == "[secret]", shown
    values = stack.outputs(show_secrets=True)
    public, registry = values["publicKey"], values["registryKey"]
    # What the program declares is what pcc lists.
    listed = active(pcc.api_keys())
    assert set(listed) == {"web-client"}
    assert listed["web-client"]["key"] == public and listed["web-client"]["id"] == values["webId"]
    (pulled,) = pcc.registry_keys()
    assert pulled["name"] == "workstation" and pulled["id"] == values["pullId"]
    assert registry.startswith(pulled["key_prefix"]) and values["registryHost"]
    plain = pcc("organizations", "registry-keys", "list")
    row = rf"^{pulled['id']}\tworkstation\t{re.escape(pulled['key_prefix'])}\t.*\tactive\t"
    assert re.search(row, plain, re.M), plain

    # Secret everywhere: not in the state in plaintext, nor in what pulumi printed.
    state = stack.export()
    assert '"ciphertext"' in state
    assert_hidden([public, registry], up.output, state)

    # A refresh of keys as made finds nothing changed, and keeps them secret.
    stack.refresh("--expect-no-changes")
    assert_hidden([public, registry], stack.export())

    # An unchanged stack previews no change and writes nothing.
    emulator.reset_stats()
    preview = stack.preview("--expect-no-changes")
    assert emulator.stats()["requests"] == {}, "an unchanged preview called the API"
    assert_hidden([public, registry], preview.output)

    # A new name replaces each key: the new one is made, then the old one revoked.
    stack.config("webName", "web-client-2")
    stack.config("pullName", "workstation-2")
    diff = stack.preview()
    assert re.search(r"\+-.*ApiKey", diff.output), diff.output
    assert re.search(r"\+-.*RegistryKey", diff.output), diff.output
    replaced = stack.up()
    values = stack.outputs(show_secrets=True)
    assert values["publicKey"] != public and values["registryKey"] != registry
    assert set(active(pcc.api_keys())) == {"web-client-2"}
    assert [k["name"] for k in pcc.registry_keys()] == ["workstation-2"]
    public, registry = values["publicKey"], values["registryKey"]
    assert_hidden([public, registry], replaced.output, stack.export())

    # Revoked with pcc: refresh drops both, and up makes them again.
    said = pcc.revoke_api_key()
    assert "revoked successfully" in said, said
    said = pcc("organizations", "registry-keys", "revoke", values["pullId"], "--force")
    assert "Registry key revoked" in said, said
    assert active(pcc.api_keys()) == {} and pcc.registry_keys() == []
    stack.refresh()
    types = [r["type"] for r in stack.resources()]
    assert not any(t.endswith(("ApiKey", "RegistryKey")) for t in types), types
    assert "2 to create" in stack.preview().output
    stack.up()
    values = stack.outputs(show_secrets=True)
    assert active(pcc.api_keys())["web-client-2"]["key"] == values["publicKey"]
    assert [k["name"] for k in pcc.registry_keys()] == ["workstation-2"]
    assert values["publicKey"] != public and values["registryKey"] != registry

    # Destroy revokes both: pcc lists no active key.
    down = stack.destroy()
    assert active(pcc.api_keys()) == {}
    assert pcc.registry_keys() == []
    assert "No active registry keys" in pcc("organizations", "registry-keys", "list")
    assert_hidden([values["publicKey"], values["registryKey"]], down.output)


@pytest.mark.parametrize(
    ("declared", "said"),
    [
        ('ApiKey("k", name="")', "name must be a non-empty name"),
        (
            'ApiKey("k", name="ci", type="private")',
            "type 'private' is not a key type this API makes: pass type=\"public\"",
        ),
        ('RegistryKey("r", name=" ")', "name must be a non-empty name"),
    ],
)
def test_python_bad_input_one_line_nothing_made(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, declared: str, said: str
) -> None:
    stack = cloud_stack(f"from pcc_provider import ApiKey, RegistryKey\n{declared}\n")
    emulator.reset_stats()
    failed = stack.preview(check=False)
    assert failed.returncode != 0
    assert said in failed.output, failed.output
    assert writes(emulator) == {}


# -- YAML ---------------------------------------------------------------------------------


def yaml_program(project: Path, resources: dict[str, Any], outputs: dict[str, str]) -> None:
    program = {
        "name": "keys",
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "pipecat", "path": str(VENV_BIN)}]},
        "resources": resources,
        "outputs": outputs,
    }
    (project / "Pulumi.yaml").write_text(json.dumps(program, indent=2))


def yaml_keys(web: str, pull: str) -> dict[str, Any]:
    return {
        "web": {"type": "pipecat:index:ApiKey", "properties": {"name": web}},
        "pull": {"type": "pipecat:index:RegistryKey", "properties": {"name": pull}},
    }


OUTPUTS = {
    "publicKey": "${web.key}",
    "registryKey": "${pull.key}",
    "webId": "${web.keyId}",
    "pullId": "${pull.keyId}",
}


def new_yaml_stack(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle, resources: dict[str, Any]
) -> Stack:
    if shutil.which("pulumi-language-yaml", path=engine["PATH"]) is None:
        raise RuntimeError("the YAML language host is missing: run `make pulumi`")
    project = tmp_path / "yaml-keys"
    project.mkdir()
    yaml_program(project, resources, OUTPUTS)
    stack = Stack(project, "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    return stack


def test_yaml_keys_create_noop_replace_drift_destroy(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    pcc = Pcc(emulator, tmp_path / "home")
    stack = new_yaml_stack(tmp_path, engine, emulator, yaml_keys("web-client", "workstation"))
    up = stack.up()
    values = stack.outputs(show_secrets=True)
    assert stack.outputs()["publicKey"] == "[secret]"
    assert active(pcc.api_keys())["web-client"]["key"] == values["publicKey"]
    assert [k["name"] for k in pcc.registry_keys()] == ["workstation"]
    assert_hidden([values["publicKey"], values["registryKey"]], up.output, stack.export())
    stack.refresh("--expect-no-changes")
    assert_hidden([values["publicKey"], values["registryKey"]], stack.export())

    emulator.reset_stats()
    stack.preview("--expect-no-changes")
    assert emulator.stats()["requests"] == {}, "an unchanged preview called the API"

    yaml_program(stack.dir, yaml_keys("web-client-2", "workstation-2"), OUTPUTS)
    diff = stack.preview()
    assert 'name: "web-client" => "web-client-2"' in diff.output, diff.output
    assert diff.output.count("+-") >= 2, diff.output
    stack.up()
    assert set(active(pcc.api_keys())) == {"web-client-2"}
    assert [k["name"] for k in pcc.registry_keys()] == ["workstation-2"]
    values = stack.outputs(show_secrets=True)

    assert "revoked successfully" in pcc.revoke_api_key()
    pcc("organizations", "registry-keys", "revoke", values["pullId"], "--force")
    stack.refresh()
    assert not any(r["type"].startswith("pipecat:index:") for r in stack.resources())
    stack.up()
    again = stack.outputs(show_secrets=True)
    assert active(pcc.api_keys())["web-client-2"]["key"] == again["publicKey"]
    assert [k["name"] for k in pcc.registry_keys()] == ["workstation-2"]

    down = stack.destroy()
    assert active(pcc.api_keys()) == {} and pcc.registry_keys() == []
    assert_hidden([again["publicKey"], again["registryKey"]], down.output)


def test_yaml_bad_type_one_line_in_schema_names(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    resources = {"web": {"type": "pipecat:index:ApiKey", "properties": {"name": "w", "type": "x"}}}
    stack = new_yaml_stack(tmp_path, engine, emulator, resources)
    yaml_program(stack.dir, resources, {})
    emulator.reset_stats()
    failed = stack.preview(check=False)
    assert failed.returncode != 0
    assert "type 'x' is not a key type this API makes: pass type: \"public\"" in failed.output
    assert writes(emulator) == {}


def test_yaml_import_what_pcc_made(
    tmp_path: Path, engine: dict[str, str], emulator: EmulatorHandle
) -> None:
    pcc = Pcc(emulator, tmp_path / "home")
    made = pcc("organizations", "keys", "create", "--name", "legacy-web")
    assert "legacy-web" in made, made
    (legacy_web,) = active(pcc.api_keys()).values()
    legacy_pull = pcc.json("organizations", "registry-keys", "mint", "--name", "old")

    stack = new_yaml_stack(tmp_path, engine, emulator, {})
    yaml_program(stack.dir, {}, {})

    def imported(kind: str, name: str, id_: str) -> str:
        done = stack.pulumi("import", kind, name, id_, "--yes", "--stack", stack.name)
        assert "failed to validate" not in done.output, done.output
        assert "bug in the provider" not in done.output, done.output
        assert "warning" not in done.output.lower(), done.output
        return done.stdout

    code = imported("pipecat:index:ApiKey", "legacy-web", legacy_web["id"])
    assert "name: legacy-web" in code and "type: public" in code, code
    assert legacy_web["key"] not in code
    code = imported("pipecat:index:RegistryKey", "old", legacy_pull["id"])
    assert "name: old" in code, code
    assert legacy_pull["key"] not in code

    # The registry key's value cannot be read back: the state holds none; the API key's, which
    # pcc lists in full, is there as a secret.
    state = stack.export()
    assert legacy_pull["key"] not in state and legacy_web["key"] not in state
    (pull_state,) = [r for r in stack.resources() if r["type"].endswith("RegistryKey")]
    assert not pull_state["outputs"].get("key"), pull_state["outputs"]

    resources = {
        "legacy-web": {"type": "pipecat:index:ApiKey", "properties": {"name": "legacy-web"}},
        "old": {"type": "pipecat:index:RegistryKey", "properties": {"name": "old"}},
    }
    yaml_program(stack.dir, resources, {"publicKey": "${legacy-web.key}"})
    emulator.reset_stats()
    preview = stack.preview("--expect-no-changes")
    assert "warning" not in preview.output.lower(), preview.output
    assert writes(emulator) == {}
    stack.up()
    assert stack.outputs(show_secrets=True)["publicKey"] == legacy_web["key"]

    stack.destroy()
    assert active(pcc.api_keys()) == {} and pcc.registry_keys() == []


def test_python_lost_answer_then_next_up_revokes_what_it_made(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A create whose answer is lost made a key nobody holds: the next `up` of the stack
    revokes it (its claim proves it is this resource's) and makes a new one."""
    pcc = Pcc(emulator, tmp_path / "home")
    stack = cloud_stack(PROGRAM)
    emulator.fault("POST /v1/organizations/{org}/apiKeys", actThenDrop=True)
    emulator.fault("POST /v1/organizations/{org}/registry-keys", actThenDrop=True)
    failed = stack.up(check=False)
    assert failed.returncode != 0
    assert "API key web-client:" in failed.output, failed.output
    assert "registry key workstation:" in failed.output, failed.output
    lost_web = active(pcc.api_keys())["web-client"]
    (lost_pull,) = pcc.registry_keys()

    again = stack.up()
    assert f"API key web-client ({lost_web['id']}) was made by an interrupted" in again.output
    assert f"registry key workstation ({lost_pull['id']}) was made by an interrupted" in (
        again.output
    )
    values = stack.outputs(show_secrets=True)
    keys = pcc.api_keys()
    assert [k["revoked"] for k in keys if k["id"] == lost_web["id"]] == [True]
    assert active(keys)["web-client"]["key"] == values["publicKey"]
    assert [k["id"] for k in pcc.registry_keys()] == [values["pullId"]]
    assert values["pullId"] != lost_pull["id"]


IMPORTED = """\
import pulumi

# An output the program reads is named among the properties (None), as for any CustomResource.
web = pulumi.CustomResource(
    "pipecat:index:ApiKey", "legacy-web", {"name": "legacy-web", "key": None}
)
pull = pulumi.CustomResource("pipecat:index:RegistryKey", "old", {"name": "old"})
pulumi.export("publicKey", web.key)
"""


def test_python_program_imports_what_pcc_made_through_the_native_provider(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """The Python resources cannot be imported (the SDK's dynamic plugin reads nothing it did
    not create): a Python program imports with the native provider, and declares the keys
    by token, as docs/native-provider.md's "Moving a Python stack to the native provider" does."""
    pcc = Pcc(emulator, tmp_path / "home")
    refused = cloud_stack(
        "import pulumi\nfrom pcc_provider import ApiKey\n"
        "ApiKey('k', name='web', opts=pulumi.ResourceOptions(import_='key_1'))\n",
        name="refused",
        project="refused",
    )
    said = refused.preview(check=False)
    assert said.returncode != 0
    assert "(`pulumi import pipecat:index:ApiKey <name> <id>`)" in said.output, said.output

    pcc("organizations", "keys", "create", "--name", "legacy-web")
    (legacy_web,) = active(pcc.api_keys()).values()
    legacy_pull = pcc.json("organizations", "registry-keys", "mint", "--name", "old")
    stack = cloud_stack("import pulumi\n")
    (stack.dir / "Pulumi.yaml").write_text(
        "name: proj\nruntime: python\nplugins:\n  providers:\n"
        f"    - name: pipecat\n      path: {VENV_BIN}\n"
    )
    for kind, name, id_ in (
        ("ApiKey", "legacy-web", legacy_web["id"]),
        ("RegistryKey", "old", legacy_pull["id"]),
    ):
        done = stack.pulumi(
            "import",
            f"pipecat:index:{kind}",
            name,
            id_,
            "--yes",
            "--generate-code=false",
            "--protect=false",
            "--stack",
            stack.name,
        )
        assert "warning" not in done.output.lower(), done.output
    (stack.dir / "__main__.py").write_text(IMPORTED)
    emulator.reset_stats()
    stack.preview("--expect-no-changes")
    assert writes(emulator) == {}
    stack.up()
    assert stack.outputs()["publicKey"] == "[secret]"
    assert stack.outputs(show_secrets=True)["publicKey"] == legacy_web["key"]
    assert legacy_pull["key"] not in stack.export() and legacy_web["key"] not in stack.export()
    stack.destroy()
    assert active(pcc.api_keys()) == {} and pcc.registry_keys() == []


def test_a_fresh_machine_revokes_the_key_an_interrupted_up_made(
    cloud_stack: Callable[..., Stack], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """`pulumi up` killed after the key was made, before the engine recorded it; the next
    job runs on a fresh machine: `recover` claims the pending create there, and the next
    `up` revokes the key nobody holds before making a new one."""
    pcc = Pcc(emulator, tmp_path / "home")
    first = cloud_stack("from pcc_provider import ApiKey\nApiKey('web', name='web-client')\n")
    listing = "GET /v1/organizations/{org}/apiKeys"
    # The create's look at the list, after its POST, is held: the engine never hears back.
    emulator.fault(listing, hold=60)
    first.up_killed_once(lambda: emulator.calls(listing) >= 1)
    emulator.clear_faults()
    (orphan,) = active(pcc.api_keys()).values()

    stack = first.on_fresh_machine(tmp_path / "runner-2")
    recovered = stack.run([str(VENV_BIN / "pcc-provider"), "recover", "--stack", "dev"])
    assert "API key web-client: claimed on this machine" in recovered.output, recovered.output
    result = stack.up()
    assert f"API key web-client ({orphan['id']}) was made by an interrupted" in result.output
    (held,) = active(pcc.api_keys()).values()
    assert held["id"] != orphan["id"]
    again = stack.run([str(VENV_BIN / "pcc-provider"), "recover", "--stack", "dev"])
    assert "API key web-client: in the state since" in again.output, again.output
    assert "cleared them from the stack's state" in again.output
    stack.destroy()
    assert active(pcc.api_keys()) == {}
