"""AgentProfile, SpendLimit and OrganizationDefaults under the real engine, from a Python
program and from a YAML one, with `pcc` (pipecatcloud 1.4.0) as the oracle of what each made:
create, a no-op preview that calls nothing, an update in place, drift made with `pcc` shown
after `pulumi refresh`, `pulumi import` of what `pcc` made, and destroy (a profile disabled,
the limit cleared, the default region put back)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import VENV_BIN, Stack
from test_official_cli import pcc  # noqa: F401 (a fixture)
from test_ownership import recover_command

pytestmark = pytest.mark.engine

PROGRAM = """
import pulumi
from pcc_provider import Agent, AgentProfile, OrganizationDefaults, SpendLimit

cfg = pulumi.Config()
big = AgentProfile("big", name="telephony-large", cpu=cfg.get("cpu") or "2", memory="4Gi")
Agent("bot", service_name="bot", image="example/agent:1", agent_profile=big.name,
      deploy_timeout=60)
SpendLimit("limit", amount=cfg.get_float("amount") or 50)
OrganizationDefaults("defaults", default_region=cfg.get("region") or "eu-central")
if cfg.get_bool("twice"):
    OrganizationDefaults("again", default_region="us-east")
"""


def writes(emulator: EmulatorHandle) -> dict[str, int]:
    """The calls the emulator saw that change something."""
    seen: dict[str, int] = emulator.stats()["requests"]
    return {route: n for route, n in seen.items() if not route.startswith("GET ")}


def profile_row(listing: str, name: str) -> list[str]:
    """The cells of `pcc agent profiles list`'s row of `name`."""
    for line in listing.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name} in:\n{listing}")


def limit_shown(pcc: Callable[..., str]) -> str:  # noqa: F811
    out = pcc("spend-limit", "show")
    found = re.search(r"Limit\s+(\S.*?)\s*$", out, re.MULTILINE)
    assert found, out
    return found.group(1)


def default_region(pcc: Callable[..., str]) -> str:  # noqa: F811
    out = pcc("organizations", "properties", "list")
    found = re.search(r"defaultRegion\s+(\S+)", out)
    assert found, out
    return found.group(1)


def pcc_shows(pcc: Callable[..., str], profile: str = "telephony-large") -> tuple[Any, ...]:  # noqa: F811
    """(the profile's cpu, memory, source, enabled; the limit; the default region) as pcc
    lists and shows them."""
    row = profile_row(pcc("agent", "profiles", "list"), profile)
    return (*row[2:6], limit_shown(pcc), default_region(pcc))


def previews_no_call(stack: Stack, emulator: EmulatorHandle) -> None:
    emulator.reset_stats()
    stack.preview("--expect-no-changes")
    assert emulator.stats()["requests"] == {}, "an unchanged preview called the API"


def drift_with_pcc(pcc: Callable[..., str], stack: Stack) -> str:  # noqa: F811
    """The preview after a refresh of drift made with pcc on all three."""
    pcc("agent", "profiles", "update", "telephony-large", "--cpu", "8", "--memory", "16Gi")
    pcc("spend-limit", "set", "99", "--yes")
    pcc("organizations", "default-region", "ap-south")
    stack.refresh()
    drifted = stack.preview("--diff").output
    assert re.search(r'~ cpu\s*: "8" => "4"', drifted), drifted
    assert re.search(r"~ amount\s*: 99 => 75.5", drifted), drifted
    assert re.search(r'~ defaultRegion\s*: "ap-south" => "us-east"', drifted), drifted
    return drifted


def test_python_program_creates_updates_shows_drift_and_destroys(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
) -> None:
    emulator.configure(agentReadySeconds=0)
    assert default_region(pcc) == "us-west"
    stack = cloud_stack(PROGRAM)
    stack.up()

    made = ("2", "4Gi", "custom", "yes", "$50.00", "eu-central")
    assert pcc_shows(pcc) == made
    assert "Agent Profile: telephony-large" in pcc("agent", "status", "bot")
    previews_no_call(stack, emulator)

    # In place: no replacement, and each change where pcc shows it.
    stack.config("cpu", "4")
    stack.config("amount", "75.5")
    stack.config("region", "us-east")
    shown = stack.preview("--diff").output
    assert "replace" not in shown, shown
    assert re.search(r'~ cpu\s*: "2" => "4"', shown), shown
    assert re.search(r"~ amount\s*: 50 => 75.5", shown), shown
    assert re.search(r'~ defaultRegion\s*: "eu-central" => "us-east"', shown), shown
    stack.up()
    updated = ("4", "4Gi", "custom", "yes", "$75.50", "us-east")
    assert pcc_shows(pcc) == updated

    # Drift made with pcc: each shows after a refresh, and the next `up` puts it back.
    drifted = drift_with_pcc(pcc, stack)
    assert re.search(r'~ memory\s*: "16Gi" => "4Gi"', drifted), drifted
    stack.up()
    assert pcc_shows(pcc) == updated

    # A second declaration of the organization's defaults: refused before anything is sent.
    stack.config("twice", "true")
    emulator.reset_stats()
    refused = stack.preview(check=False)
    assert refused.returncode != 0
    twice = "OrganizationDefaults 'again': the organization's defaults are already declared by"
    assert f"{twice} 'defaults'" in refused.output, refused.output
    assert writes(emulator) == {}
    stack.config("twice", "false")

    # Another stack on this machine: the defaults are held, the limit is set.
    other = cloud_stack(PROGRAM, name="other")
    # Each refusal is its own resource's: without --continue-on-error the engine stops at the
    # first and, under load, never starts the others (a flaky order, not a behaviour).
    failed = other.up("--continue-on-error", check=False)
    assert failed.returncode != 0
    assert (
        "the organization's defaults are already declared by 'defaults' of stack proj/dev"
        in failed.output
    ), failed.output
    assert "the organization already has a limit of $75.50, which this stack did not set" in (
        failed.output
    ), failed.output
    assert "pass adopt_existing=True" in failed.output, failed.output
    assert "already exists in Pipecat Cloud (cpu 4, memory 4Gi)" in failed.output, failed.output
    other.destroy()
    assert limit_shown(pcc) == "$75.50" and default_region(pcc) == "us-east"

    stack.destroy()
    # Disabled; cleared; the region it was before the stack set it.
    assert pcc_shows(pcc)[3:] == ("no", "no limit set", "us-west")


def yaml_program(project: Path, resources: dict[str, Any]) -> None:
    program = {
        "name": "orgyaml",
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "pipecat", "path": str(VENV_BIN)}]},
        "resources": resources,
    }
    (project / "Pulumi.yaml").write_text(json.dumps(program, indent=2))


def yaml_objects(
    resource: str, name: str, cpu: str, memory: str, amount: float, region: str
) -> dict[str, Any]:
    """A YAML program's profile (the resource `resource`), limit and defaults."""
    return {
        resource: {
            "type": "pipecat:index:AgentProfile",
            "properties": {"name": name, "cpu": cpu, "memory": memory},
        },
        "limit": {"type": "pipecat:index:SpendLimit", "properties": {"amount": amount}},
        "defaults": {
            "type": "pipecat:index:OrganizationDefaults",
            "properties": {"defaultRegion": region},
        },
    }


def test_yaml_program_creates_updates_shows_drift_imports_and_destroys(
    pcc: Callable[..., str],  # noqa: F811
    tmp_path: Path,
    engine: dict[str, str],
    emulator: EmulatorHandle,
) -> None:
    emulator.configure(agentReadySeconds=0)
    project = tmp_path / "yaml"
    project.mkdir()
    resources = yaml_objects("big", "telephony-large", "2", "4Gi", 50, "eu-central")
    resources["bot"] = {
        "type": "pipecat:index:Agent",
        "properties": {
            "serviceName": "bot",
            "image": "example/agent:1",
            "agentProfile": "${big.name}",
            "deployTimeout": 60,
        },
    }
    yaml_program(project, resources)
    stack = Stack(project, "dev", engine).init()
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)

    stack.up()
    assert pcc_shows(pcc) == ("2", "4Gi", "custom", "yes", "$50.00", "eu-central")
    assert "Agent Profile: telephony-large" in pcc("agent", "status", "bot")
    previews_no_call(stack, emulator)

    resources["big"]["properties"]["cpu"] = "4"
    resources["limit"]["properties"]["amount"] = 75.5
    resources["defaults"]["properties"]["defaultRegion"] = "us-east"
    yaml_program(project, resources)
    shown = stack.preview("--diff").output
    assert "replace" not in shown, shown
    assert re.search(r'~ cpu\s*: "2" => "4"', shown), shown
    assert re.search(r"~ amount\s*: 50 => 75.5", shown), shown
    stack.up()
    assert pcc_shows(pcc) == ("4", "4Gi", "custom", "yes", "$75.50", "us-east")
    drift_with_pcc(pcc, stack)

    # A declaration of agentProfile that is not a profile name: one line, in YAML's names.
    resources["bot"]["properties"]["agentProfile"] = "Big Profile"
    yaml_program(project, resources)
    refused = stack.preview(check=False).output
    assert "agentProfile must be one of agent-1x, agent-2x, agent-3x, or the name" in refused
    resources["bot"]["properties"]["agentProfile"] = "${big.name}"
    # A second declaration of the organization's defaults: one line, before anything is sent.
    resources["again"] = {
        "type": "pipecat:index:OrganizationDefaults",
        "properties": {"defaultRegion": "us-west"},
    }
    yaml_program(project, resources)
    emulator.reset_stats()
    refused = stack.preview(check=False).output
    # Whichever of the two the engine checks second is the one refused.
    assert re.search(
        r"the organization's defaults are already declared by '(defaults|again)'", refused
    ), refused
    assert writes(emulator) == {}
    del resources["again"]

    stack.destroy()
    assert pcc_shows(pcc)[3:] == ("no", "no limit set", "us-west")

    # What pcc makes, imported: the program with its settings previews no change.
    pcc("agent", "profiles", "create", "pcc-made", "--cpu", "1", "--memory", "2Gi")
    pcc("spend-limit", "set", "20", "--yes")
    pcc("organizations", "default-region", "ap-south")
    yaml_program(project, {})
    organization = emulator.api("GET", "/organizations").json()["organizations"][0]["name"]
    for kind, name, given, code in (
        ("AgentProfile", "made", "pcc-made", ("name: pcc-made", "cpu: '1'", "memory: 2Gi")),
        ("SpendLimit", "limit", organization, ("amount: 20",)),
        ("OrganizationDefaults", "defaults", organization, ("defaultRegion: ap-south",)),
    ):
        done = stack.pulumi(
            "import",
            f"pipecat:index:{kind}",
            name,
            given,
            "--yes",
            "--protect=false",
            "--stack",
            stack.name,
        )
        assert "failed to validate" not in done.output, done.output
        # The code it prints is the program that previews no change below.
        assert all(line in done.stdout for line in code), done.stdout
    imported = yaml_objects("made", "pcc-made", "1", "2Gi", 20, "ap-south")
    yaml_program(project, imported)
    emulator.reset_stats()
    stack.preview("--expect-no-changes")
    assert writes(emulator) == {}
    pcc("spend-limit", "set", "25", "--yes")
    stack.refresh()
    assert re.search(r"~ amount\s*: 25 => 20", stack.preview("--diff").output)
    stack.destroy()
    # Imported, the defaults set nothing: destroy puts nothing back.
    assert pcc_shows(pcc, "pcc-made")[3:] == ("no", "no limit set", "ap-south")


FUNCTION_PROGRAM = """
import pulumi
from pcc_provider import get_agent_profiles, get_agent_profiles_output

listed = get_agent_profiles()
pulumi.export("custom", [f"{p.name}={p.cpu}/{p.memory}" for p in listed.profiles if p.custom])
pulumi.export(
    "catalog",
    get_agent_profiles_output().apply(
        lambda r: [p.name for p in r.profiles if not p.custom and p.enabled]
    ),
)
"""


def test_get_agent_profiles_in_python_and_yaml(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    tmp_path: Path,
    engine: dict[str, str],
    emulator: EmulatorHandle,
) -> None:
    pcc("agent", "profiles", "create", "pcc-made", "--cpu", "1", "--memory", "2Gi")
    stack = cloud_stack(FUNCTION_PROGRAM)
    stack.up()
    assert stack.outputs() == {
        "custom": ["pcc-made=1/2Gi"],
        "catalog": ["agent-1x", "agent-2x", "agent-3x"],
    }

    project = tmp_path / "yaml"
    project.mkdir()
    program = {
        "name": "fnyaml",
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "pipecat", "path": str(VENV_BIN)}]},
        "variables": {
            "listed": {
                "fn::invoke": {
                    "function": "pipecat:index:getAgentProfiles",
                    "arguments": {},
                    "return": "profiles",
                }
            }
        },
        "outputs": {"listed": "${listed}"},
    }
    (project / "Pulumi.yaml").write_text(json.dumps(program, indent=2))
    yaml = Stack(project, "dev", engine).init()
    yaml.config("pipecat:apiUrl", emulator.api_url)
    yaml.config("pipecat:apiKey", API_KEY, secret=True)
    yaml.up()
    listed = yaml.outputs()["listed"]
    assert [p["name"] for p in listed] == ["agent-1x", "agent-2x", "agent-3x", "pcc-made"]
    assert listed[-1] == {
        "name": "pcc-made",
        "displayName": "pcc-made",
        "cpu": "1",
        "memory": "2Gi",
        "custom": True,
        "enabled": True,
    }
    assert API_KEY not in yaml.export() + stack.export()


INTERRUPTED = """
from pcc_provider import AgentProfile, SpendLimit

AgentProfile("big", name="telephony-large", cpu="2", memory="4Gi")
SpendLimit("limit", amount=50)
"""


def test_a_fresh_machine_recovers_the_profile_and_limit_an_interrupted_up_made(
    pcc: Callable[..., str],  # noqa: F811
    cloud_stack: Callable[..., Stack],
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    # A runner's `pulumi up` is killed while both writes are in flight; they reached the
    # service (here: made with pcc, as they would have been), and the runner is gone.
    first = cloud_stack(INTERRUPTED)
    emulator.fault("POST /v1/organizations/{org}/agent-profiles", hold=60)
    emulator.fault("PUT /v1/organizations/{org}/spend-limit", hold=60)
    first.up_killed_once(
        lambda: (
            emulator.calls("POST /v1/organizations/{org}/agent-profiles") == 1
            and emulator.calls("PUT /v1/organizations/{org}/spend-limit") == 1
        )
    )
    emulator.clear_faults()
    pcc("agent", "profiles", "create", "telephony-large", "--cpu", "2", "--memory", "4Gi")
    pcc("spend-limit", "set", "50", "--yes")

    stack = first.on_fresh_machine(tmp_path / "runner-2")
    # Each refusal shown, not cut by whichever failed first under load.
    refused = stack.up("--continue-on-error", check=False)
    assert refused.returncode != 0
    assert "this stack did not create it" in refused.output, refused.output
    assert "the organization already has a limit of $50.00" in refused.output, refused.output
    command = recover_command(refused.output)
    recovered = stack.run(command)
    assert "agent profile telephony-large: claimed on this machine" in recovered.output
    assert re.search(r"spend limit of org_\w+: claimed on this machine", recovered.output)
    result = stack.up()
    assert "agent profile telephony-large was created by an interrupted `pulumi up`" in (
        result.output
    )
    assert "was set by an interrupted `pulumi up` of this stack" in result.output
    stack.destroy()
    assert pcc_shows(pcc)[3:5] == ("no", "no limit set")
