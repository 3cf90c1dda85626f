"""Many resources waiting in one provider process share their looks (pcc_provider/watch.py), a
Retry-After slows them all (api.Pause), and agents wait for warm capacity. The providers are
called directly, in threads as the plugins call them, against the emulator; what is counted
is what the emulator saw (its request stats), never a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle
from waiting import eventually

from pcc_provider.agent import AgentError, AgentProvider
from pcc_provider.secrets import SecretSetProvider
from pcc_provider.watch import Lookout

LIST_AGENTS, GET_AGENT = "GET /v1/agents", "GET /v1/agents/{agentName}"
LIST_SETS, GET_SET = "GET /v1/secrets", "GET /v1/secrets/{setName}"


@pytest.fixture(autouse=True)
def env(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPECAT_API_KEY", API_KEY)
    monkeypatch.setenv("PIPECAT_API_URL", emulator.api_url)


def agent_props(name: str, **settings: Any) -> dict[str, Any]:
    return {
        "serviceName": name,
        "region": "us-west",
        "image": "example/agent:1",
        "deployTimeout": 60,
        **settings,
    }


def set_props(name: str) -> dict[str, Any]:
    return {
        "setName": name,
        "region": "us-west",
        "secrets": {"KEY": "value-of-" + name},
        "keys": ["KEY"],
        "readyTimeout": 60,
    }


def all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """As the engine has the plugin do it: every create in a thread of its own."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def test_many_waiting_agents_share_one_list_call_per_look(emulator: EmulatorHandle) -> None:
    emulator.configure(agentReadySeconds=4, replicaWarmSeconds=0)
    provider = AgentProvider()
    count = 10
    with ThreadPoolExecutor(count) as pool:
        waiting = [pool.submit(provider.create, agent_props(f"bot-{i}")) for i in range(count)]
        eventually(
            lambda: emulator.calls(LIST_AGENTS) >= 1,
            timeout=60,
            every=0.02,
            what="the agents are waiting",
        )
        # One poller for all of them: per API URL, key and kind, in this process.
        lookouts = [k for k in Lookout._all if k[1] == "agents" and emulator.api_url in k[0][0]]
        assert len(lookouts) == 1
        created = [f.result() for f in waiting]
    assert all(c.outs["ready"] for c in created)
    lists, details = emulator.calls(LIST_AGENTS), emulator.calls(GET_AGENT)
    # Each look: one list, one agent detailed in turn, and a detail for each agent whose
    # entry moved (here: once, reconciled). A lone waiter (first in, last out) is looked at
    # with its detail alone. Polling on its own, each agent would have read itself at every
    # look: `count` details a look.
    assert lists >= 2
    assert details <= lists + 2 * count, (lists, details)

    # A lone agent is looked at with its own detail, as before: no list.
    emulator.reset_stats()
    provider.create(agent_props("alone"))
    assert emulator.calls(LIST_AGENTS) == 0 and emulator.calls(GET_AGENT) >= 1


def test_many_waiting_sets_share_one_list_call_per_look(emulator: EmulatorHandle) -> None:
    emulator.configure(secretReadySeconds=4)
    provider = SecretSetProvider()
    count = 10
    created = all_at_once(
        [lambda i=i: provider.create(set_props(f"set-{i}")) for i in range(count)]
    )
    assert all(c.outs["status"] == "ready" and c.outs["keys"] == ["KEY"] for c in created)
    lists, details = emulator.calls(LIST_SETS), emulator.calls(GET_SET)
    assert lists >= 2
    # The creates ask whether their names are free from lists they share (taken.fresh), and
    # a wait ends on the list's entry (status, region): no set is read in detail, but for a
    # lone waiter at the start or the end, which is looked at with its detail.
    assert details <= 2, (lists, details)
    assert lists <= count, (lists, details)

    # Deleted together: each is looked at once (is it still this stack's?), deleted, and
    # its wait for "gone" ends on the list that no longer shows it, with no detail more.
    emulator.reset_stats()
    all_at_once([lambda c=c: provider.delete(c.id, c.outs) for c in created])
    assert emulator.calls("DELETE /v1/secrets/{setName}") == count
    assert emulator.calls(GET_SET) <= count + 2, emulator.stats()["requests"]


def test_a_retry_after_slows_every_waiter_of_the_process(emulator: EmulatorHandle) -> None:
    emulator.configure(secretReadySeconds=12, agentReadySeconds=6, replicaWarmSeconds=0)
    sets, agents = SecretSetProvider(), AgentProvider()
    with ThreadPoolExecutor(4) as pool:
        waiting_sets = [pool.submit(sets.create, set_props(f"set-{i}")) for i in range(2)]
        eventually(
            lambda: emulator.calls(LIST_SETS) >= 1,
            timeout=60,
            every=0.02,
            what="the sets are waiting",
        )
        # The agents' first look is refused for 5 s: the sets' looks must wait too.
        emulator.fault(LIST_AGENTS, status=429, retryAfter=5)
        waiting_agents = [pool.submit(agents.create, agent_props(f"bot-{i}")) for i in range(2)]
        eventually(
            lambda: emulator.calls(LIST_AGENTS) >= 1,
            timeout=60,
            every=0.02,
            what="the agents looked",
        )
        before = emulator.calls(LIST_SETS) + emulator.calls(GET_SET)
        time.sleep(2.5)  # a window well inside the 5 s: the sets look every 1.5 s at most
        paused = emulator.calls(LIST_SETS) + emulator.calls(GET_SET)
        assert paused == before, "a set was looked at while the API asked to wait"
        assert all(f.result().outs["ready"] for f in waiting_agents)
        assert all(f.result().outs["status"] == "ready" for f in waiting_sets)


def revision(emulator: EmulatorHandle, name: str) -> dict[str, Any]:
    found: dict[str, Any] = emulator.api("GET", f"/agents/{name}").json()["currentRevision"]
    return found


def test_an_agent_waits_for_its_min_agents_warm_replicas(emulator: EmulatorHandle) -> None:
    emulator.configure(agentReadySeconds=0.5, replicaWarmSeconds=1)
    provider = AgentProvider()
    created = provider.create(agent_props("warm", minAgents=2))
    assert created.outs["ready"] is True
    assert revision(emulator, "warm")["readyReplicas"] == 2

    # A scale-down does not wait: the new deployment is not warm yet when the update ends.
    emulator.configure(replicaWarmSeconds=60)
    olds = {**agent_props("warm", minAgents=2), **created.outs}
    provider.update("warm", olds, agent_props("warm", minAgents=1))
    assert revision(emulator, "warm")["readyReplicas"] == 0


def test_wait_for_capacity_false_does_not_wait(emulator: EmulatorHandle) -> None:
    emulator.configure(agentReadySeconds=0.5, replicaWarmSeconds=60)
    provider = AgentProvider()
    created = provider.create(agent_props("cold", minAgents=2, waitForCapacity=False))
    assert created.outs["ready"] is True
    assert revision(emulator, "cold")["readyReplicas"] == 0


def test_warm_capacity_that_never_comes_fails_at_the_timeout_naming_it(
    emulator: EmulatorHandle,
) -> None:
    emulator.configure(agentReadySeconds=0.2, replicaWarmSeconds=60)
    provider = AgentProvider()
    with pytest.raises(AgentError, match=r"not ready after 3s \(deploy_timeout\): 0/2 warm"):
        provider.create(agent_props("slow", minAgents=2, deployTimeout=3))
