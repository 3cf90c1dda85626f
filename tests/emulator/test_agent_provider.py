"""The Agent provider's check/diff/create/update/delete, called directly against the emulator
(no Pulumi engine): failed deployments, transient errors, what a rollback may delete, taking
over an existing agent, and the input checks. tests/engine/test_agent.py keeps what only the engine
shows."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from api_contract import SPEC, context, post_upload
from conftest import API_KEY, EmulatorHandle
from waiting import eventually

from pcc_provider import ownership
from pcc_provider.agent import (
    AgentError,
    AgentProvider,
    deploy_failure,
    problems,
    request_body,
)
from pcc_provider.resource import Timings

GET_AGENT = "GET /v1/agents/{agentName}"


@pytest.fixture
def provider(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> AgentProvider:
    monkeypatch.setenv("PIPECAT_API_KEY", API_KEY)
    monkeypatch.setenv("PIPECAT_API_URL", emulator.api_url)
    emulator.configure(agentReadySeconds=0.5)
    # The same schedule, faster; the engine's keeps its own.
    return AgentProvider(timings=Timings(poll_interval=0.1))


def props(name: str = "bot", **settings: Any) -> dict[str, Any]:
    """The inputs an Agent hands its provider, as the engine passes them."""
    return {"serviceName": name, "region": "us-west", "deployTimeout": 30, **settings}


def agent_json(emulator: EmulatorHandle, name: str = "bot") -> dict[str, Any]:
    """The agent as the API answers it now."""
    response = emulator.api("GET", f"/agents/{name}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def deployments(emulator: EmulatorHandle, name: str = "bot") -> list[dict[str, Any]]:
    """Each deployment the agent has had (the emulator keeps the last two), oldest first."""
    return emulator.deployments(name)


def gone(emulator: EmulatorHandle, name: str = "bot") -> bool:
    return emulator.api("GET", f"/agents/{name}").status_code == 404


def build(emulator: EmulatorHandle, dockerfile: str, region: str = "us-west") -> str:
    """A successful build of a context with this Dockerfile, made over the API."""
    grant = emulator.api("POST", "/builds/upload-url", json={"region": region}).json()
    post_upload(grant["uploadUrl"], grant["uploadFields"], context(dockerfile))
    body = {"uploadId": grant["uploadId"], "region": region}
    build_id = str(emulator.api("POST", "/builds", json=body).json()["build"]["id"])

    def status() -> str:
        found = str(emulator.api("GET", f"/builds/{build_id}").json()["build"]["status"])
        assert found in ("pending", "building", "success"), found
        return found

    eventually(status, until=lambda found: found == "success", what=f"build {build_id} to succeed")
    return build_id


# -- 1. a deployment the service reports as failed fails at once, with its reason ------------


def test_a_crash_looping_agent_fails_at_once_naming_the_reason(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    # The emulator reports the crash loop 1 s after the create. With deployTimeout 16 an
    # error naming the crash loop can only come from reading it, within 15 s of its report.
    emulator.configure(agentReadySeconds=2)
    with pytest.raises(AgentError) as failed:
        provider.create(props(image="example/crashloop:1", deployTimeout=16))
    message = str(failed.value)
    first = message.splitlines()[0]
    assert first.startswith("agent bot: deployment ") and "failed: CrashLoopBackOff" in first
    assert "exit code 1" in first and "Error" in first and "SystemExit: 1" in first
    # The agent is deleted, and its logs with it: no `pcc agent logs` that cannot work, but
    # where its output is.
    assert "pcc agent logs" not in message
    assert "Traceback (most recent call last)" in message  # the agent's output, in full
    assert "not ready after" not in message
    assert first.endswith(
        "; the agent was deleted again, and its logs with it: its last output is below"
    )
    assert gone(emulator)  # this call created it, and it definitely failed


def test_the_exit_code_of_a_build_that_crashes(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    build_id = build(emulator, "FROM python:3.12\nCMD exit 3\n")
    with pytest.raises(AgentError, match=r"CrashLoopBackOff \(exit code 3, Error"):
        provider.create(props(buildId=build_id))
    assert gone(emulator)


def test_a_revision_in_phase_failed_fails_the_deployment(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    with pytest.raises(AgentError, match=r"failed: ImagePullBackOff.*not found") as failed:
        provider.create(props(image="example/does-not-exist:1"))
    assert "not ready after" not in str(failed.value)


def test_a_failed_update_keeps_the_agent_and_says_so(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    old = props(image="example/agent:1")
    created = provider.create(old)
    new = props(image="example/crashloop:2")
    with pytest.raises(AgentError, match="CrashLoopBackOff") as failed:
        provider.update(created.id, {**old, **created.outs}, new)
    first = str(failed.value).splitlines()[0]
    assert "the agent is left as it is" in first
    # It exists, so its logs can be read.
    deployment = agent_json(emulator)["desiredDeploymentId"]
    assert first.endswith(f"; its logs: `pcc agent logs bot --deployment {deployment}`")
    seen = agent_json(emulator)
    assert seen["available"] is True
    assert seen["reconciledDeploymentId"] == created.outs["desiredDeploymentId"]


def test_a_deployment_that_is_not_ready_in_time_is_undone(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=30)
    with pytest.raises(AgentError, match=r"not ready after 1s \(deploy_timeout\)") as failed:
        provider.create(props(image="example/agent:1", deployTimeout=1))
    assert "the agent was deleted again" in str(failed.value)
    assert gone(emulator)


# -- 2. transient errors while waiting are retried, within a bound ---------------------------


def test_one_500_while_waiting_is_retried(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=1)
    emulator.fault(GET_AGENT, status=500)
    emulator.fault(GET_AGENT, drop=True)
    created = provider.create(props(image="example/agent:1"))
    assert created.outs["ready"] is True and agent_json(emulator)["ready"] is True
    assert emulator.stats()["requests"][GET_AGENT] >= 3


def test_errors_that_persist_fail_the_wait_but_keep_the_agent(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    emulator.fault(GET_AGENT, status=500, times=50)
    with pytest.raises(AgentError, match="answered 500") as failed:
        provider.create(props(image="example/agent:1"))
    assert "the agent exists and was left as it is" in str(failed.value)
    requests_made = emulator.stats()["requests"][GET_AGENT]
    assert 2 <= requests_made <= 10  # bounded
    emulator.clear_faults()
    assert agent_json(emulator)["name"] == "bot"  # not deleted: nothing said it failed


def test_a_refusal_while_waiting_is_not_retried(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    # A 4xx does not pass on its own (it is no errors.Transient): the wait fails at once.
    emulator.configure(agentReadySeconds=30)
    emulator.fault(GET_AGENT, status=403)
    with pytest.raises(AgentError, match="answered 403") as failed:
        provider.create(props(image="example/agent:1"))
    assert "the agent exists and was left as it is" in str(failed.value)
    assert emulator.stats()["requests"][GET_AGENT] == 1


# -- 3. an existing agent of the same name ---------------------------------------------------


def test_someone_elses_agent_is_not_taken_over(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    theirs = emulator.api(
        "POST", "/agents", json={"serviceName": "bot", "image": "them/agent:7"}
    ).json()
    with pytest.raises(AgentError) as failed:
        provider.create(props(image="example/agent:1"))
    message = str(failed.value)
    assert "an agent named bot already exists and this stack did not create it" in message
    assert "adopt_existing=True" in message and "image" in message
    assert agent_json(emulator)["desiredDeploymentId"] == theirs["desiredDeploymentId"]


def test_someone_elses_agent_is_adopted_on_request_and_never_rolled_back(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    emulator.api("POST", "/agents", json={"serviceName": "bot", "image": "them/agent:7"})
    adopted = provider.create(props(image="example/agent:1", adoptExisting=True, maxAgents=3))
    assert adopted.outs["ready"] is True
    seen = agent_json(emulator)
    assert seen["deployment"]["manifest"]["spec"]["image"] == "example/agent:1"
    assert seen["autoScaling"]["maxReplicas"] == 3

    # A definite failure of an agent this call did not create leaves the agent alone.
    emulator.api("DELETE", "/agents/bot")
    emulator.api("POST", "/agents", json={"serviceName": "bot", "image": "them/agent:7"})
    with pytest.raises(AgentError, match="CrashLoopBackOff") as failed:
        provider.create(props(image="example/crashloop:1", adoptExisting=True))
    assert "existed before this update, so it was left as it is" in str(failed.value)
    assert "; its logs: `pcc agent logs bot --deployment " in str(failed.value)
    assert agent_json(emulator)["name"] == "bot"


URN = "urn:pulumi:dev::proj::pulumi-python:dynamic:pipecat:Agent::bot"


def interrupted_create(provider: AgentProvider, emulator: EmulatorHandle, inputs: Any) -> None:
    """A create that made the agent and then lost the service while waiting for it, as an
    interrupted `pulumi up` does: the agent exists and is not in any state."""
    emulator.fault(GET_AGENT, status=500, times=50)
    with pytest.raises(AgentError, match="the agent exists and was left as it is"):
        provider.create(inputs)
    emulator.clear_faults()


def test_an_agent_left_by_an_interrupted_create_is_picked_up(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    inputs = props(image="example/agent:1", maxAgents=4, agentProfile="agent-2x", __urn=URN)
    interrupted_create(provider, emulator, inputs)
    left = agent_json(emulator)
    created = provider.create(inputs)
    assert created.id == "bot" and created.outs["ready"] is True
    # Sent its settings again, the same configuration makes no new deployment.
    assert created.outs["desiredDeploymentId"] == left["desiredDeploymentId"]
    assert len(deployments(emulator)) == 1

    # Settled once the engine diffs it from its state: the same agent is not "left by an
    # interrupted up" again.
    provider.diff("bot", created.outs, inputs)
    emulator.api("DELETE", "/agents/bot")
    emulator.api("POST", "/agents", json=request_body(inputs, create=True))
    with pytest.raises(AgentError, match="this stack did not create it"):
        provider.create(inputs)


def test_an_agent_whose_create_ended_after_the_engine_was_killed_is_recovered(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    # The create ran to its end, but the engine was killed meanwhile and never recorded it
    # (found by the chaos runner: seed 2, step 4). The next `up` creates it again.
    inputs = props(image="example/agent:1", __urn=URN)
    first = provider.create(inputs)
    again = provider.create(inputs)
    assert again.id == "bot" and again.outs["ready"] is True
    assert again.outs["desiredDeploymentId"] == first.outs["desiredDeploymentId"]
    assert len(deployments(emulator)) == 1

    # Recorded this time (the next up diffs it): destroyed; a stranger's agent of the name
    # is refused.
    provider.diff("bot", again.outs, inputs)
    emulator.api("DELETE", "/agents/bot")
    emulator.api("POST", "/agents", json=request_body(inputs, create=True))
    with pytest.raises(AgentError, match="this stack did not create it"):
        provider.create(inputs)


def test_deleting_an_agent_settles_its_claim(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    inputs = props(image="example/agent:1", __urn=URN)
    created = provider.create(inputs)
    provider.delete("bot", created.outs)
    assert gone(emulator)
    emulator.api("POST", "/agents", json=request_body(inputs, create=True))
    with pytest.raises(AgentError, match="this stack did not create it"):
        provider.create(inputs)


def test_a_refresh_settles_the_claim_so_a_newcomer_is_never_taken_for_ours(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    # Ours is deleted by hand and someone makes another agent of the name with the same
    # settings; `pulumi refresh` (a read, no diff) forgets ours. The claim the create left
    # must not let the next `up` take the newcomer for what an interrupted `up` made.
    inputs = props(image="example/agent:1", __urn=URN)
    created = provider.create(inputs)
    emulator.api("DELETE", "/agents/bot")
    emulator.advance(1.1)  # createdAt has a resolution of a second
    emulator.api("POST", "/agents", json=request_body(inputs, create=True))
    assert provider.read("bot", {**inputs, **created.outs}).id == ""  # forgotten
    with pytest.raises(AgentError, match="this stack did not create it"):
        provider.create(inputs)


def test_an_agent_left_by_an_interrupted_create_of_another_build_deploys_this_build(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    # An up interrupted while build A deployed; bot.py edited; the next up built B.
    build_a = build(emulator, "FROM python:3.12\nCMD echo a\n")
    build_b = build(emulator, "FROM python:3.12\nCMD echo b\n")
    interrupted_create(provider, emulator, props(buildId=build_a, __urn=URN))
    created = provider.create(props(buildId=build_b, __urn=URN))
    assert created.outs["ready"] is True
    latest = deployments(emulator)[-1]
    assert latest["buildId"] == build_b
    assert (
        agent_json(emulator)["desiredDeploymentId"]
        == latest["id"]
        == created.outs["desiredDeploymentId"]
    )


def public_key(emulator: EmulatorHandle) -> str:
    """A public API key of the emulator's organization (`pcc organizations keys create`)."""
    org = emulator.api("GET", "/organizations").json()["organizations"][0]["name"]
    made = emulator.api(
        "POST", f"/organizations/{org}/apiKeys", json={"name": "smoke", "type": "public"}
    )
    return str(made.json()["key"])


def test_an_agent_left_by_an_interrupted_create_whose_bot_crashes_is_deleted_again(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    # Found by reasoning over the chaos runner's invariant 8: the create carried on with the
    # agent its interrupted `up` made (it is this stack's, by the claim), its smoke session
    # failed, and the agent was left serving the bot that crashes ("the agent existed before
    # this update"), where a new agent is deleted again so that no broken agent serves.
    crashing = build(emulator, "FROM python:3.12\nENV PCC_EMULATOR_BOT=crash\n")
    smoke = {"runSeconds": 1, "startTimeout": 10, "publicApiKey": public_key(emulator)}
    inputs = props(buildId=crashing, smoke=smoke, __urn=URN)
    interrupted_create(provider, emulator, inputs)
    with pytest.raises(AgentError) as failed:
        provider.create(inputs)
    message = str(failed.value)
    assert "agent bot: smoke session " in message and "; the agent was deleted again" in message
    assert "existed before" not in message
    assert gone(emulator)


def test_an_agent_left_by_an_interrupted_create_that_crash_loops_is_deleted_again(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    inputs = props(image="example/crashloop:1", __urn=URN)
    interrupted_create(provider, emulator, inputs)
    with pytest.raises(AgentError, match="CrashLoopBackOff") as failed:
        provider.create(inputs)
    assert "the agent was deleted again" in str(failed.value)
    assert gone(emulator)


def test_an_update_whose_answer_is_lost_is_still_smoke_checked_and_rolled_back(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    # Found by the chaos runner (seed 203, step 98, invariant 8): the service made the update's
    # deployment of a bot that crashes, its answer was lost, and the `up` failed on the lost
    # answer alone: no smoke session, no rollback, the agent left serving the crashing bot.
    good = build(emulator, "FROM python:3.12\nCMD echo good\n")
    crashing = build(emulator, "FROM python:3.12\nENV PCC_EMULATOR_BOT=crash\n")
    smoke = {"runSeconds": 1, "startTimeout": 10, "publicApiKey": public_key(emulator)}
    olds = provider.create(props(buildId=good, smoke=smoke)).outs
    emulator.fault("POST /v1/agents/{agentName}", actThenDrop=True)
    with pytest.raises(AgentError) as failed:
        provider.update("bot", olds, props(buildId=crashing, smoke=smoke))
    message = str(failed.value)
    assert "agent bot: smoke session " in message, message
    assert f"the agent is back on build {good}" in message
    assert deployments(emulator)[-1]["buildId"] == good


def test_an_agent_of_the_same_name_and_settings_from_another_stack_is_not_ours(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    # The first stack's create was interrupted; a second stack (another URN) declares the
    # same name with the same settings and another build: it must not take it over.
    build_a = build(emulator, "FROM python:3.12\nCMD echo a\n")
    build_b = build(emulator, "FROM python:3.12\nCMD echo b\n")
    interrupted_create(provider, emulator, props(buildId=build_a, __urn=URN))
    theirs = agent_json(emulator)
    other = URN.replace("::proj::", "::other-project::")
    with pytest.raises(AgentError) as failed:
        provider.create(props(buildId=build_b, __urn=other))
    assert "an agent named bot already exists and this stack did not create it" in str(failed.value)
    assert "adopt_existing=True" in str(failed.value)
    assert agent_json(emulator)["desiredDeploymentId"] == theirs["desiredDeploymentId"]
    assert deployments(emulator)[-1]["buildId"] == build_a

    # Nor does a stack with no claim at all (one that never started a create of it).
    with pytest.raises(AgentError, match="this stack did not create it"):
        provider.create(props(buildId=build_b))


def test_an_agent_made_before_the_interrupted_create_began_is_not_ours(
    provider: AgentProvider, emulator: EmulatorHandle, cache: Any
) -> None:
    inputs = props(image="example/agent:1", __urn=URN)
    theirs = emulator.api("POST", "/agents", json=request_body(inputs, create=True)).json()
    time.sleep(0.05)
    # This resource's create starts (and claims the name) after the agent was made, and that
    # claim is the one its create finds.
    interrupted = ownership.claim(URN, "agent", "bot", "us-west")
    assert interrupted.started > datetime.fromisoformat(theirs["createdAt"]).timestamp()
    assert ownership.claimed(URN, "agent", "bot") == interrupted
    # No margin for clocks: the emulator shares ours.
    provider = AgentProvider(timings=dataclasses.replace(provider.timings, clock_skew=0.0))
    with pytest.raises(AgentError, match="this stack did not create it"):
        provider.create(inputs)


def test_a_create_whose_answer_is_lost_finds_its_agent(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    emulator.fault("POST /v1/agents", actThenDrop=True)
    created = provider.create(props(image="example/agent:1"))
    assert created.outs["ready"] is True
    assert emulator.calls("POST /v1/agents") == 1  # not sent twice

    # Found after a lost answer, it is this call's: a definite failure deletes it again.
    emulator.fault("POST /v1/agents", actThenDrop=True)
    with pytest.raises(AgentError, match=r"CrashLoopBackOff.*deleted again"):
        provider.create(props("bot-two", image="example/crashloop:1"))
    assert gone(emulator, "bot-two")


def test_an_agent_found_after_a_lost_answer_but_made_before_the_call_is_not_taken_over(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    # Made before this call (by `pcc deploy`, say) with these very settings; the create's
    # answer is lost. Not this call's agent: refused, and left as it is.
    # No margin for clocks: the emulator shares ours.
    provider = AgentProvider(timings=dataclasses.replace(provider.timings, clock_skew=0.0))
    inputs = props(image="example/crashloop:1")
    theirs = emulator.api("POST", "/agents", json=request_body(inputs, create=True)).json()
    time.sleep(0.05)
    emulator.fault("POST /v1/agents", drop=True)
    with pytest.raises(AgentError, match="this stack did not create it") as failed:
        provider.create(inputs)
    assert "adopt_existing=True" in str(failed.value)
    assert agent_json(emulator)["desiredDeploymentId"] == theirs["desiredDeploymentId"]


def test_an_agent_deleted_while_it_deploys_says_so(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    emulator.configure(agentReadySeconds=3)
    deleting = threading.Timer(0.5, lambda: emulator.api("DELETE", "/agents/bot"))
    deleting.start()
    try:
        with pytest.raises(AgentError) as failed:
            provider.create(props(image="example/agent:1"))
    finally:
        deleting.join()
    assert str(failed.value) == (
        "agent bot was deleted while it deployed: run `pulumi up` again to create it again"
    )


# -- 4. a rename creates first; only a replacement that keeps the name deletes first ---------


def test_only_a_replacement_that_keeps_the_name_deletes_first(provider: AgentProvider) -> None:
    old = props(image="example/agent:1")
    renamed = provider.diff("bot", old, {**old, "serviceName": "bot-two"})
    assert renamed.replaces == ["serviceName"] and not renamed.delete_before_replace
    moved = provider.diff("bot", old, {**old, "region": "eu-central"})
    assert moved.replaces == ["region"] and moved.delete_before_replace
    both = provider.diff("bot", old, {**old, "serviceName": "bot-two", "region": "eu-central"})
    assert not both.delete_before_replace
    setting = provider.diff("bot", old, {**old, "maxAgents": 3})
    assert setting.changes and not setting.replaces and not setting.delete_before_replace


# -- deletion --------------------------------------------------------------------------------


def test_delete_waits_until_the_agent_is_gone(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    created = provider.create(props(image="example/agent:1"))
    emulator.configure(agentDeleteSeconds=1.5)
    before = emulator.calls(GET_AGENT)
    provider.delete(created.id, created.outs)
    assert gone(emulator)
    assert emulator.calls(GET_AGENT) - before >= 3  # it looked more than once, then saw 404
    provider.delete(created.id, created.outs)  # already gone: nothing to do


# -- input checks (the same function the Agent runs in the program, before any call) --------

BAD_INPUTS: dict[str, tuple[dict[str, Any], str, str]] = {
    "both image and build": (
        {"buildId": str(uuid.uuid4()), "image": "example/agent:1"},
        "image",
        "give either build_id or image, not both",
    ),
    "bad service name": (
        {"serviceName": "Hello_Agent", "image": "x:1"},
        "serviceName",
        "service_name 'Hello_Agent' is not a valid agent name",
    ),
    "name too long": ({"serviceName": "a" * 55, "image": "x:1"}, "serviceName", "at most 54"),
    "neither": ({}, "buildId", "give build_id (a Build's build_id) or image"),
    "bad profile": (
        {"image": "x:1", "agentProfile": "Agent 9X"},
        "agentProfile",
        "agent_profile must be one of agent-1x, agent-2x, agent-3x",
    ),
    "empty region": ({"image": "x:1", "region": " "}, "region", "region is empty"),
    "session too long": (
        {"image": "x:1", "maxSessionDuration": 14401},
        "maxSessionDuration",
        "60 to 14400",
    ),
    "min over max": (
        {"image": "x:1", "minAgents": 3, "maxAgents": 2},
        "minAgents",
        "must not exceed",
    ),
    "bad krisp": (
        {"image": "x:1", "krispVivaAudioFilter": "studio"},
        "krispVivaAudioFilter",
        "'tel', 'pro' or None",
    ),
    "bad adopt": ({"image": "x:1", "adoptExisting": "yes"}, "adoptExisting", "True or False"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_calls_nothing(
    case: str, provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    given, prop, words = BAD_INPUTS[case]
    inputs = {**props(), **given}
    found = problems(inputs)
    assert found and found[0][0] == prop and words in found[0][1], found
    assert "\n" not in found[0][1]
    checked = provider.check({}, inputs)
    assert [f.property for f in checked.failures][:1] == [prop]
    assert emulator.stats()["requests"] == {}


def test_a_build_from_another_region_or_unfinished_is_refused_at_check(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    eu = build(emulator, "FROM python:3.12\n", region="eu-central")
    checked = provider.check({}, props(buildId=eu))
    assert [f.reason for f in checked.failures] == [
        f"build {eu} is in region eu-central, the agent in us-west: "
        "build in the agent's region, or deploy the agent where the build is"
    ]
    missing = str(uuid.uuid4())
    assert [f.reason for f in provider.check({}, props(buildId=missing)).failures] == [
        f"build {missing} does not exist"
    ]
    # Unchanged build: not asked again.
    before = emulator.calls("GET /v1/builds/{buildId}")
    provider.check(props(buildId=eu), props(buildId=eu))
    assert emulator.calls("GET /v1/builds/{buildId}") == before
    assert emulator.calls("POST /v1/agents") == 0


# -- refresh ---------------------------------------------------------------------------------


def test_refresh_shows_drift_in_every_setting_and_drops_a_deleted_agent(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    inputs = props(image="example/agent:1", maxAgents=5)
    created = provider.create(inputs)
    state = {**inputs, **created.outs}
    assert provider.read("bot", state).outs["maxAgents"] == 5
    # Changed outside Pulumi: each changed setting reads as the service's value, in the
    # outputs and in the inputs the engine diffs the program against, also one the program
    # leaves unset (the program's `up` sets it back to the service's default).
    body = {"autoScaling": {"minAgents": 1, "maxAgents": 9}, "agentProfile": "agent-2x"}
    emulator.api("POST", "/agents/bot", json=body)
    read = provider.read("bot", state)
    assert read.id == "bot" and read.outs["maxAgents"] == 9
    assert read.outs["minAgents"] == 1 and read.outs["agentProfile"] == "agent-2x"
    assert read.inputs is not None
    assert {k: read.inputs[k] for k in ("maxAgents", "minAgents", "agentProfile")} == {
        "maxAgents": 9,
        "minAgents": 1,
        "agentProfile": "agent-2x",
    }
    assert "ready" not in read.inputs and "desiredDeploymentId" not in read.inputs
    # Unchanged settings the program leaves unset are not drift.
    assert "maxSessionDuration" not in read.inputs and "secretSet" not in read.inputs
    # The next `up` puts the program's value back.
    assert provider.diff("bot", read.outs, {**read.outs, **inputs}).changes is True
    emulator.api("DELETE", "/agents/bot")
    gone_read = provider.read("bot", state)
    assert gone_read.id == "" and gone_read.outs == {}


# -- reading a revision (pure) ---------------------------------------------------------------


def _revision(phase: str, health: dict[str, Any] | None = None, dep: str = "d1") -> Any:
    revision: dict[str, Any] = {"deploymentID": dep, "phase": phase}
    if health is not None:
        revision["health"] = health
    return {"desiredDeploymentId": "d1", "currentRevision": revision}


def test_what_counts_as_a_failed_deployment() -> None:
    terminated = {"state": "terminated", "reason": "OOMKilled", "lastExitCode": 137}
    found = deploy_failure(_revision("Validating", terminated), "d1", "bot")
    assert found is not None
    assert found[0].startswith("deployment d1 failed: OOMKilled (exit code 137)")
    assert found[1:] == ("", "`pcc agent logs bot --deployment d1`")
    bare = deploy_failure(_revision("Failed"), "d1", "bot")
    assert bare is not None and bare[0].startswith("deployment d1 failed: phase Failed;")
    # Still on its way, or a revision of another deployment: not a failure of this one.
    starting = {"state": "waiting", "reason": "ContainerCreating", "ready": False}
    assert deploy_failure(_revision("Validating", starting), "d1", "bot") is None
    assert deploy_failure(_revision("Creating"), "d1", "bot") is None
    assert deploy_failure(_revision("Failed", dep="d0"), "d1", "bot") is None
    assert deploy_failure({"currentRevision": None}, "d1", "bot") is None


def test_the_input_checks_agree_with_the_spec() -> None:
    """The provider's limits are its own constants; the emulator reads its limits from the
    spec (test_emulator_agents.py). Both at the spec's bounds: accepted, one past: refused."""
    create = SPEC["components"]["schemas"]["CreateServiceRequest"]["properties"]
    longest = int(create["serviceName"]["maxLength"])
    low, high = create["maxSessionDuration"]["minimum"], create["maxSessionDuration"]["maximum"]
    filters = [f for f in create["krispViva"]["properties"]["audioFilter"]["enum"] if f]
    good = [
        {"serviceName": "a" * longest},
        {"maxSessionDuration": low},
        {"maxSessionDuration": high},
        *({"agentProfile": p} for p in create["agentProfile"]["enum"]),
        *({"krispVivaAudioFilter": f} for f in filters),
    ]
    bad = [
        {"serviceName": "a" * (longest + 1)},
        {"serviceName": "-a"},
        {"maxSessionDuration": low - 1},
        {"maxSessionDuration": high + 1},
        # Not "agent-0x": the name of an AgentProfile may be anything of that form.
        {"agentProfile": "Agent-0X"},
    ]
    for given in good:
        assert problems({**props(image="x:1"), **given}) == [], given
    for given in bad:
        assert problems({**props(image="x:1"), **given}), given


def test_a_newcomer_under_the_name_is_never_changed_or_deleted(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    ours = provider.create(props(image="example/agent:1")).outs
    # Deleted by hand; someone else deploys an agent of the same name.
    emulator.api("DELETE", "/agents/bot")
    eventually(lambda: gone(emulator), what="agent bot to be gone")
    emulator.advance(0.01)  # a later createdAt
    theirs = emulator.api("POST", "/agents", json={"serviceName": "bot", "image": "them/x:1"})
    assert theirs.status_code in (200, 201), theirs.text

    with pytest.raises(AgentError) as failed:
        provider.update("bot", ours, props(image="example/agent:2"))
    message = str(failed.value)
    assert message.startswith("agent bot: it is not the one this stack created (this stack's was")
    assert "Run `pulumi refresh` to forget it, or pass adopt_existing=True" in message
    assert provider.read("bot", ours).id == ""  # refresh forgets it
    provider.delete("bot", ours)  # leaves it
    assert agent_json(emulator)["deployment"]["manifest"]["spec"]["image"] == "them/x:1"

    # Taken over on purpose.
    taken = provider.update("bot", ours, props(image="example/agent:2", adoptExisting=True))
    assert taken.outs["createdAt"] == agent_json(emulator)["createdAt"] != ours["createdAt"]
    assert agent_json(emulator)["deployment"]["manifest"]["spec"]["image"] == "example/agent:2"
    provider.delete("bot", taken.outs)
    assert gone(emulator)


# -- settings the program leaves unset are not differences (issue 19) ------------------------


def held_spec(emulator: EmulatorHandle, name: str = "bot") -> dict[str, Any]:
    spec: dict[str, Any] = agent_json(emulator, name)["deployment"]["manifest"]["spec"]
    return spec


def test_an_agent_pcc_deploy_made_with_the_same_settings_differs_in_nothing(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    # What `pcc deploy` sends for a file with an image and `max_agents = 5`: no session limit.
    body = {
        "serviceName": "bot",
        "region": "us-west",
        "image": "example/agent:1",
        "autoScaling": {"minAgents": 0, "maxAgents": 5},
        "agentProfile": "agent-1x",
        "krispViva": {"audioFilter": None},
    }
    assert emulator.api("POST", "/agents", json=body).status_code == 200
    with pytest.raises(AgentError) as refused:
        provider.create(props(image="example/agent:1", maxAgents=5))
    assert "this stack did not create it (created at " in str(refused.value)
    assert "differs" not in str(refused.value)
    # Different explicit settings are still named.
    with pytest.raises(AgentError, match=r"differs in agentProfile, maxAgents\)"):
        provider.create(props(image="example/agent:1", maxAgents=6, agentProfile="agent-2x"))


def test_a_create_pins_no_setting_the_program_leaves_unset(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    provider.create(props(image="example/agent:1", maxAgents=3))
    spec = held_spec(emulator)
    assert "maxSessionDurationSeconds" not in spec  # as for `pcc deploy` without it
    assert spec["autoScaling"] == {"minReplicas": 0, "maxReplicas": 3}


def test_an_update_still_undoes_a_setting_removed_from_the_program(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    olds = props(image="example/agent:1", maxSessionDuration=600, maxAgents=3)
    created = provider.create(olds)
    assert held_spec(emulator)["maxSessionDurationSeconds"] == 600
    provider.update("bot", {**olds, **created.outs}, props(image="example/agent:1"))
    spec = held_spec(emulator)
    assert spec["maxSessionDurationSeconds"] == 7200
    assert spec["autoScaling"] == {"minReplicas": 0, "maxReplicas": 50}


def test_a_secret_set_that_does_not_exist_is_named_in_one_line_and_nothing_changes(
    provider: AgentProvider, emulator: EmulatorHandle
) -> None:
    # The service answers 404 NOT_FOUND here (the spec's code; 409 is for a set not ready).
    with pytest.raises(AgentError) as refused:
        provider.create(props(image="example/bot:1", secretSet="no-such-set"))
    message = str(refused.value)
    assert "answered 404: Secret set 'no-such-set' not found [NOT_FOUND]" in message, message
    assert "\n" not in message and gone(emulator)

    created = provider.create(props(image="example/bot:1"))
    before = deployments(emulator)
    with pytest.raises(AgentError) as refused:
        provider.update("bot", created.outs, props(image="example/bot:1", secretSet="no-such-set"))
    message = str(refused.value)
    assert message.startswith("agent bot: ") and "Secret set 'no-such-set' not found" in message
    assert "deleted" not in message and deployments(emulator) == before
