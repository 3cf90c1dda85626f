"""The Agent's settings from `pcc deploy` that only pcc's organization route carries (issue 31):
`websocket_auth`, `architecture`, `resources`. Their checks in each door's names, the request
bodies that carry them and the route those bodies travel on, and how an agent reports them."""

from __future__ import annotations

from typing import Any

import pytest

from pcc_provider import agent
from pcc_provider.description import PYTHON, SCHEMA

BASE = {"serviceName": "bot", "region": "us-west", "image": "acme/bot:1"}

# (inputs beside BASE, property, the line in Python's names, the line in the schema's names)
REFUSED: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "architecture": (
        {"architecture": "x86"},
        "architecture",
        "architecture must be one of amd64, arm64",
        "architecture must be one of amd64, arm64",
    ),
    "websocket_auth": (
        {"websocketAuth": "hmac"},
        "websocketAuth",
        "websocket_auth must be one of none, token",
        "websocketAuth must be one of none, token",
    ),
    "resources_without_memory": (
        {"resources": {"cpu": "2"}},
        "resources",
        "resources must give exactly cpu and memory as Kubernetes quantities (e.g. "
        'resources={"cpu": "2", "memory": "4Gi"}), not {\'cpu\': \'2\'}',
        "resources must give exactly cpu and memory as Kubernetes quantities (e.g. "
        'resources: {"cpu": "2", "memory": "4Gi"}), not {\'cpu\': \'2\'}',
    ),
    "resources_not_quantities": (
        {"resources": {"cpu": "two", "memory": "4Gi"}},
        "resources",
        "resources must give exactly cpu and memory",
        "resources must give exactly cpu and memory",
    ),
    "git_and_image": (
        {"git": {"repoFullName": "acme/bot", "branch": "main"}},
        "git",
        "give git or image, not both: the image of an agent built from GitHub comes from",
        "give git or image, not both",
    ),
    "git_not_owner_repo": (
        {"git": {"repoFullName": "acme", "branch": "main"}, "image": None},
        "git",
        "git repoFullName 'acme' is not of the form owner/repo",
        "git repoFullName 'acme' is not of the form owner/repo",
    ),
    "git_without_branch": (
        {"git": {"repoFullName": "acme/bot"}, "image": None},
        "git",
        "git needs both repoFullName and branch",
        "git needs both repoFullName and branch",
    ),
    "git_and_resources": (
        {
            "git": {"repoFullName": "acme/bot", "branch": "main"},
            "image": None,
            "resources": {"cpu": "2", "memory": "4Gi"},
        },
        "resources",
        "resources cannot size an agent built from git yet: use agent_profile",
        "resources cannot size an agent built from git yet: use agentProfile",
    ),
    "no_source": (
        {"image": None},
        "buildId",
        "give build_id (a Build's build_id) or image, or git for an agent Pipecat Cloud",
        "give buildId (a Build's buildId) or image, or git for an agent Pipecat Cloud",
    ),
    "profile_and_resources": (
        {"agentProfile": "agent-2x", "resources": {"cpu": "2", "memory": "4Gi"}},
        "resources",
        "give either agent_profile or resources, not both",
        "give either agentProfile or resources, not both",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_wrong_value_is_one_line_in_each_door_s_names(case: str) -> None:
    given, prop, python, schema = REFUSED[case]
    for door, said in ((PYTHON, python), (SCHEMA, schema)):
        found = agent.problems({**BASE, **given}, door)
        assert [p for p, _ in found] == [prop]
        assert found[0][1].startswith(said), found
        assert "\n" not in found[0][1]


def test_right_values_pass() -> None:
    right = {
        "architecture": "arm64",
        "websocketAuth": "token",
        "resources": {"cpu": "500m", "memory": "1.5Gi"},
    }
    assert agent.problems({**BASE, **right}) == []


def test_the_fields_are_declared_once_for_the_schema_and_the_python_keywords() -> None:
    from pcc_provider.native.schema import schema

    inputs = schema()["resources"]["pipecat:index:Agent"]["inputProperties"]
    assert inputs["architecture"]["type"] == "string"
    assert inputs["websocketAuth"]["type"] == "string"
    assert inputs["resources"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": agent.DESCRIPTION.inputs[
            [f.name for f in agent.DESCRIPTION.inputs].index("resources")
        ].description,
    }
    keywords = agent.Agent.__signature__.parameters  # type: ignore[attr-defined]
    assert {"websocket_auth", "architecture", "resources"} <= set(keywords)


class Recorder:
    """A client that records which route each call takes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any) -> dict[str, Any]:
            name = next((a for a in args if isinstance(a, str)), None)
            body = next((a for a in args if isinstance(a, dict)), None)
            self.calls.append((method, str(name), body))
            return {}

        return call


def test_a_body_with_an_organization_field_travels_on_the_organization_route() -> None:
    client: Any = Recorder()
    agent.send(client, "bot", agent.request_body(BASE, create=True), create=True)
    pinned = {**BASE, "architecture": "amd64"}
    agent.send(client, "bot", agent.request_body(pinned, create=True), create=True)
    agent.send(client, "bot", agent.request_body(pinned, create=False), create=False)
    assert [c[0] for c in client.calls] == ["create_agent", "create_service", "update_service"]
    assert client.calls[1][2]["architecture"] == "amd64"


def test_an_update_undoes_an_organization_field_only_where_one_was_set() -> None:
    never = agent.request_body(BASE, create=False, before=BASE)
    assert not {"architecture", "websocketAuth", "resources"} & set(never)
    before = {**BASE, "architecture": "amd64", "websocketAuth": "token"}
    undone = agent.request_body(BASE, create=False, before=before)
    assert undone["architecture"] is None  # the region's default again
    assert undone["websocketAuth"] == "none"
    assert "resources" not in undone


def test_an_agent_sized_by_resources_is_sent_no_profile() -> None:
    sized = {**BASE, "resources": {"cpu": "2", "memory": "4Gi"}}
    body = agent.request_body(sized, create=False)
    assert body["resources"] == {"cpu": "2", "memory": "4Gi"}
    assert "agentProfile" not in body
    # Back to a profile: the resources are dropped with null.
    back = agent.request_body({**BASE, "agentProfile": "agent-2x"}, create=False, before=sized)
    assert back["resources"] is None and back["agentProfile"] == "agent-2x"


def test_an_agent_reports_them_where_pcc_reads_them() -> None:
    found = {
        "region": "us-west",
        "agentProfile": None,
        "websocketAuth": "token",
        "resources": {"cpu": "2", "memory": "4Gi"},
        "deployment": {
            "manifest": {"spec": {"arch": "amd64", "resources": {"cpu": "2", "memory": "4Gi"}}}
        },
    }
    held = agent.observed(found)
    assert held["architecture"] == "amd64"
    assert held["websocketAuth"] == "token"
    assert held["resources"] == {"cpu": "2", "memory": "4Gi"}
    # A profile's resolved sizing is not the program's resources.
    profiled = {**found, "agentProfile": "agent-1x"}
    assert agent.observed(profiled)["resources"] is None


def test_a_github_source_is_sent_on_create_only_and_its_build_is_an_output() -> None:
    git = {"repoFullName": "acme/bot", "branch": "main"}
    inputs = {"serviceName": "bot", "region": "us-west", "git": git}
    assert agent.request_body(inputs, create=True)["git"] == git
    assert "git" not in agent.request_body(inputs, create=False, before=inputs)
    # The build it runs is an output: not a change the program asks for.
    assert "buildId" not in agent.compared(inputs) and "image" not in agent.compared(inputs)
    assert "buildId" in agent.compared(BASE)
