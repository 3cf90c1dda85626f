"""One description per resource (pcc_provider.description): an Agent setting declared once
reaches every place a user meets it, and each door's messages name inputs as its users do."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
from pathlib import Path
from typing import Annotated, Any

import pulumi
import pytest
from pulumi.runtime.rpc import UNKNOWN as PULUMI_UNKNOWN

from pcc_provider import agent, build, description, secrets
from pcc_provider.agent import AgentArgs, AgentProvider, Setting
from pcc_provider.description import PYTHON, SCHEMA, Field, describe
from pcc_provider.native import reference, schema

ROOT = Path(__file__).resolve().parents[2]


class WithIdleTimeout(AgentArgs, total=False):
    """The Agent's inputs, and one setting more: what a contributor adds to AgentArgs."""

    idle_timeout: Annotated[
        pulumi.Input[int] | None,
        Field(
            "seconds an idle session is kept open (60 to 3600).",
            check=lambda value, door: (
                None if 60 <= value <= 3600 else f"{door['idleTimeout']} must be 60 to 3600 seconds"
            ),
            setting=Setting(
                ("idleTimeout",), ("deployment", "manifest", "spec", "idleTimeoutSeconds"), 300
            ),
        ),
    ]


@pytest.fixture
def idle_timeout(monkeypatch: pytest.MonkeyPatch) -> description.Description:
    extended = describe("Agent", WithIdleTimeout, agent.Agent)
    described = dataclasses.replace(agent.DESCRIPTION, inputs=extended.inputs)
    monkeypatch.setattr(agent, "DESCRIPTION", described)
    return described


def test_a_setting_declared_once_is_in_the_schema_reference_and_python_signature(
    idle_timeout: description.Description,
) -> None:
    spec = schema.schema()["resources"]["pipecat:index:Agent"]
    assert spec["inputProperties"]["idleTimeout"] == {
        "type": "integer",
        "description": "seconds an idle session is kept open (60 to 3600).",
    }
    page = reference.page("pipecat:index:Agent", spec)
    assert "| `idleTimeout` / `idle_timeout` | integer |  | seconds an idle session" in page
    keyword = inspect.signature(agent.Agent).parameters["idle_timeout"]
    assert keyword.kind is inspect.Parameter.KEYWORD_ONLY and keyword.default is None
    assert ":param idle_timeout: seconds an idle session is kept open" in (
        agent.Agent.__doc__ or ""
    )


def test_a_setting_declared_once_is_sent_compared_and_read_back(
    idle_timeout: description.Description,
) -> None:
    given = {"serviceName": "bot", "region": "us-west", "image": "x:1", "idleTimeout": 900}
    assert agent.request_body(given, create=True)["idleTimeout"] == 900
    # An update states it: its default when the program leaves it out, so it is undone.
    assert agent.request_body({**given, "idleTimeout": None}, create=False)["idleTimeout"] == 300
    held = {"deployment": {"manifest": {"spec": {"idleTimeoutSeconds": 1200}}}}
    assert agent.observed(held)["idleTimeout"] == 1200  # drift, on refresh
    assert agent.differs("idleTimeout", 300, None) is False  # the service's default
    assert AgentProvider().diff("bot", given, {**given, "idleTimeout": 600}).changes
    assert agent.problems({**given, "idleTimeout": 10}) == [
        ("idleTimeout", "idle_timeout must be 60 to 3600 seconds")
    ]
    assert agent.problems({**given, "idleTimeout": 10}, SCHEMA)[0][1].startswith("idleTimeout ")


def test_a_setting_declared_once_is_in_the_typescript_sdk(
    idle_timeout: description.Description, tmp_path: Path
) -> None:
    (tmp_path / "schema.json").write_text(json.dumps(schema.schema()))
    made = subprocess.run(
        [str(ROOT / "scripts" / "generate-sdks"), "--sdk", "schema.json", "sdk"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    typescript = (tmp_path / "sdk" / "nodejs" / "agent.ts").read_text()
    assert "idleTimeout?: pulumi.Input<number | undefined>;" in typescript
    assert 'resourceInputs["idleTimeout"] = args?.idleTimeout;' in typescript
    assert "seconds an idle session is kept open (60 to 3600)." in typescript


# -- messages in the door's names ---------------------------------------------------------------

CASES: list[tuple[description.Description, dict[str, Any], str, str]] = [
    (agent.DESCRIPTION, {"serviceName": "bot"}, "give build_id (a Build's build_id) or image",
     "give buildId (a Build's buildId) or image"),
    (agent.DESCRIPTION, {"serviceName": "bot", "image": "x:1", "adoptExisting": "yes"},
     "adopt_existing must be True or False", "adoptExisting must be true or false"),
    (agent.DESCRIPTION, {"serviceName": "bot", "image": "x:1", "krispVivaAudioFilter": "x"},
     "krisp_viva_audio_filter must be 'tel', 'pro' or None",
     "krispVivaAudioFilter must be 'tel', 'pro' or null"),
    (build.DESCRIPTION, {"region": " "}, 'region is empty: pass region="us-west"',
     'region is empty: pass region: "us-west"'),
    (build.DESCRIPTION, {"buildTimeout": 0}, "build_timeout must be a positive number",
     "buildTimeout must be a positive number"),
    (secrets.SECRET_SET, {"setName": "Bad_Name", "secrets": {"A": "b"}},
     "set_name 'Bad_Name' is not a valid", "setName 'Bad_Name' is not a valid"),
    (secrets.IMAGE_PULL_SECRET, {"setName": "ghcr", "host": "https://ghcr.io", "password": "p"},
     "username is required", "username is required"),
    (secrets.SECRET_SET, {"secrets": {"A": "b"}}, "set_name is required", "setName is required"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(CASES)))
def test_each_door_is_told_in_its_own_names(case: int) -> None:
    described, given, python, native = CASES[case]
    for door, words in ((PYTHON, python), (SCHEMA, native)):
        _, found = described.check(given, door)
        assert found and found[0][1].startswith(words), (door, found)


def test_the_sentinel_of_an_unknown_value_is_the_engines() -> None:
    assert description.UNKNOWN == PULUMI_UNKNOWN


def test_an_object_input_is_checked_and_named_as_each_door_writes_it() -> None:
    """An Agent's smoke (a SmokeCheck): its fields' checks and defaults, in each door's
    names, a type of its own in the schema and a table of its own on the reference page."""
    base = {"serviceName": "bot", "image": "acme/bot:1", "region": "us-west"}
    python = {**base, "smoke": {"run_seconds": -1, "use_daly": True}}
    assert agent.DESCRIPTION.problems(python, PYTHON) == [
        ("smoke", "smoke has no field use_daly (did you mean use_daily?)"),
        ("smoke", "smoke.run_seconds must be a positive number of seconds, not -1"),
    ]
    yaml = {**base, "smoke": {"startTimeout": "soon"}}
    assert agent.DESCRIPTION.problems(yaml, SCHEMA) == [
        ("smoke", "smoke.startTimeout must be a positive number of seconds, not 'soon'"),
    ]
    assert agent.DESCRIPTION.problems({**base, "smoke": 5}, SCHEMA) == [
        ("smoke", "smoke must be a SmokeCheck (an object), not 5"),
    ]
    given = agent.DESCRIPTION.defaults({**base, "smoke": {"run_seconds": 3}})
    assert given["smoke"] == {"runSeconds": 3, "startTimeout": 60, "useDaily": False}

    spec = schema.schema()
    agent_inputs = spec["resources"]["pipecat:index:Agent"]["inputProperties"]
    assert agent_inputs["smoke"]["$ref"] == "#/types/pipecat:index:SmokeCheck"
    smoke_type = spec["types"]["pipecat:index:SmokeCheck"]
    assert smoke_type["properties"]["publicApiKey"]["secret"] is True
    page = reference.pages()["agent.md"]
    assert "## SmokeCheck" in page and "`runSeconds` / `run_seconds`" in page
