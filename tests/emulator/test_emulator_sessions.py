"""Agent sessions the emulator plays: started with a public key (`POST /v1/public/{agent}/start`),
each behaving as its deployment's content says (`ENV PCC_EMULATOR_BOT=...` in a build's
Dockerfile, `bot-crash`/`bot-hang`/`bot-ends-N` in an image), read, stopped and logged on the
public routes and on those pcc 1.4.0 calls, counted on the agent, and counted when deleting
their agent cuts them. Time is the emulator's clock, moved on with `/_emulator/clock`."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from api_contract import Client, context
from conftest import API_KEY, EmulatorHandle

from pcc_provider.emulator import Emulator
from pcc_provider.emulator.backend import Clock
from pcc_provider.emulator.entities import Bot, bot_behaviour

ORG = "/organizations/acme"
# Deployments ready at once, replicas warm at once, builds done at once: each test moves the
# clock itself.
pytestmark = pytest.mark.emulator(agent_ready_seconds=0, replica_warm_seconds=0, build_seconds=0)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def public_key(api: Client, name: str = "web") -> dict[str, Any]:
    made: dict[str, Any] = api.raw(
        "POST", f"{ORG}/apiKeys", json={"name": name, "type": "public"}
    ).json()
    return made


def agent(api: Client, name: str = "bot", image: str = "acme/bot:1", **more: Any) -> None:
    api.call("POST", "/agents", 200, json={"serviceName": name, "image": image, **more})


def built_agent(api: Client, dockerfile: str, name: str = "bot") -> None:
    """An agent deploying a cloud build of `dockerfile`."""
    status, created = api.create(context(dockerfile))
    assert status == 201, created
    build = api.wait(created["build"]["id"])
    assert build["status"] == "success", build
    api.call("POST", "/agents", 200, json={"serviceName": name, "buildId": build["id"]})


def start(api: Client, key: str, name: str = "bot", expect: int = 200, **body: Any) -> Any:
    return api.call("POST", f"/public/{name}/start", expect, json=body, headers=bearer(key))


def session(api: Client, session_id: str, name: str = "bot") -> dict[str, Any]:
    found: dict[str, Any] = api.call("GET", f"/agents/{name}/sessions/{session_id}", 200)
    return found


def active_count(api: Client, name: str = "bot") -> int:
    return int(api.call("GET", f"/agents/{name}", 200)["activeSessionCount"])


# -- starting: the keys, the request, the refusals ---------------------------------------------


def test_a_public_key_starts_a_session_and_no_other_key_does(api: Client) -> None:
    agent(api)
    key = public_key(api)
    started = start(api, key["key"])
    assert set(started) == {"sessionId"}
    assert session(api, started["sessionId"])["endState"] == "active"
    # The private key is refused, as the real service refuses it, and so is a revoked key.
    start(api, API_KEY, expect=401)
    api.raw("DELETE", f"{ORG}/apiKeys/{key['id']}").raise_for_status()
    start(api, key["key"], expect=401)
    start(api, "", expect=401)
    # A public key opens no private route.
    other = public_key(api, "other")["key"]
    refused = api.raw("GET", f"/agents/bot/sessions/{started['sessionId']}", headers=bearer(other))
    assert refused.status_code == 401, refused.text
    assert start(api, other)["sessionId"] != started["sessionId"]


def test_the_answer_carries_what_the_request_asked_for(api: Client) -> None:
    agent(api)
    key = public_key(api)["key"]
    daily = start(api, key, createDailyRoom=True, dailyRoomProperties={"exp": 1})
    assert daily["dailyRoom"].startswith("https://") and daily["dailyToken"]
    assert "wsUrl" not in daily
    socket = start(api, key, transport="websocket", body={"caller": "abc"})
    assert socket["wsUrl"].startswith("ws://") and "/ws/generic/bot." in socket["wsUrl"]
    assert socket["token"] and "dailyRoom" not in socket
    assert json.loads(base64.b64decode(socket["body"])) == {"caller": "abc"}
    ice = start(api, key, transport="webrtc", enableDefaultIceServers=True)
    assert ice["iceConfig"]["iceServers"][0]["urls"], ice
    assert active_count(api) == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"createDailyRoom": "yes"}, "'createDailyRoom' must be a boolean"),
        ({"body": ["a"]}, "'body' must be an object"),
        ({"body": "text"}, "'body' must be an object"),
        ({"dailyRoomProperties": 3}, "'dailyRoomProperties' must be an object"),
        ({"transport": "sip"}, "'transport' must be one of daily, webrtc, websocket"),
        (
            {"transport": "websocket", "body": {"x": "y" * 5000}},
            "'body' is 5009 bytes: at most 4096 with transport websocket",
        ),
    ],
)
def test_a_bad_start_request_is_refused_with_400(
    api: Client, body: dict[str, Any], message: str
) -> None:
    agent(api)
    refused = start(api, public_key(api)["key"], expect=400, **body)
    assert refused["error"].startswith(message), refused
    assert active_count(api) == 0


def test_a_start_is_refused_for_no_agent_no_ready_deployment_or_a_blocked_spend(
    api: Client, emulator: EmulatorHandle
) -> None:
    key = public_key(api)["key"]
    assert start(api, key, "nobody", expect=404)["error"] == "Service not found"
    # A deployment that never becomes ready takes no session.
    agent(api, "looping", "acme/bot:crashloop")
    agent(api, "missing", "acme/does-not-exist:1")
    for name in ("looping", "missing"):
        refused = start(api, key, name, expect=400)
        assert refused["code"] == "PCC-1001", refused
        assert refused["error"].startswith(
            f"Attempt to start agent '{name}' when deployment is not in ready state"
        )
    emulator.configure(agentReadySeconds=30)
    agent(api, "slow")
    assert start(api, key, "slow", expect=400)["code"] == "PCC-1001"
    emulator.advance(30)
    start(api, key, "slow")
    # Spend limit reached: new sessions are rejected (pcc reads the code), live ones go on.
    api.raw("PUT", f"{ORG}/spend-limit", json={"limitCents": 0}).raise_for_status()
    blocked = start(api, key, "slow", expect=402)
    assert blocked["code"] == "SPEND_LIMIT_REACHED" and "spend limit" in blocked["error"]
    assert active_count(api, "slow") == 1
    api.raw("PUT", f"{ORG}/spend-limit", json={"limitCents": None}).raise_for_status()
    start(api, key, "slow")


def test_a_session_binds_to_the_deployment_serving_and_plays_its_bot(api: Client) -> None:
    agent(api, image="acme/bot:1")
    first = api.call("GET", "/agents/bot", 200)["activeDeploymentId"]
    # A rollout that never gets ready: the healthy deployment before it keeps serving.
    api.call("POST", "/agents/bot", 200, json={"image": "acme/bot:crashloop"})
    key = public_key(api)["key"]
    started = start(api, key)["sessionId"]
    assert session(api, started)["deploymentId"] == first
    # A rollout that gets ready serves from then, with its own bot.
    api.call("POST", "/agents/bot", 200, json={"image": "acme/bot:bot-crash"})
    second = api.call("GET", "/agents/bot", 200)["activeDeploymentId"]
    crashing = start(api, key)["sessionId"]
    assert session(api, crashing)["deploymentId"] == second
    api.advance(2)
    assert session(api, crashing)["endState"] == "agent_error"
    assert session(api, started)["endState"] == "active"


# -- what a session does, as its deployment's content says -------------------------------------


@pytest.mark.parametrize(
    ("image", "steps", "expected"),
    [
        ("acme/bot:1", None, Bot("runs")),
        ("acme/bot:bot-crash", None, Bot("crash")),
        ("registry/acme/BOT-HANG:2", None, Bot("hang")),
        ("acme/bot:bot-ends-45", None, Bot("ends", 45)),
        ("acme/bot:bot-crash", [], Bot("runs")),  # a build's image: its Dockerfile decides
        ("x", ["FROM python", "ENV PCC_EMULATOR_BOT=crash"], Bot("crash")),
        ("x", ["ENV PCC_EMULATOR_BOT crash"], Bot("crash")),
        ("x", ['ENV A=1 PCC_EMULATOR_BOT="hang" B=2'], Bot("hang")),
        ("x", ["ENV\tPCC_EMULATOR_BOT=ends:7"], Bot("ends", 7)),
        ("x", ["env PCC_EMULATOR_BOT=crash", "ENV PCC_EMULATOR_BOT=runs"], Bot("runs")),
        ("x", ["ENV PCC_EMULATOR_BOT=explode"], Bot("runs")),
        ("x", ["ENV OTHER_PCC_EMULATOR_BOT=crash", "RUN PCC_EMULATOR_BOT=crash"], Bot("runs")),
    ],
)
def test_the_bot_is_read_from_the_image_or_the_dockerfile(
    image: str, steps: list[str] | None, expected: Bot
) -> None:
    assert bot_behaviour(image, steps) == expected


def test_a_bot_that_runs_starts_cold_or_warm_and_ends_at_the_session_limit(api: Client) -> None:
    key = public_key(api)["key"]
    agent(api, "cold", maxSessionDuration=60)
    agent(api, "warm", autoScaling={"minAgents": 1, "maxAgents": 2})
    cold = start(api, key, "cold")["sessionId"]
    warm, busy = start(api, key, "warm")["sessionId"], start(api, key, "warm")["sessionId"]
    api.advance(0.5)
    assert session(api, cold, "cold")["botStartSeconds"] is None
    api.advance(1)
    # One warm replica: the first session starts on it in about a second, the next is cold.
    assert session(api, warm, "warm")["botStartSeconds"] == 1
    assert session(api, warm, "warm")["coldStart"] is False
    assert session(api, busy, "warm")["botStartSeconds"] is None
    api.advance(2)
    assert session(api, busy, "warm")["coldStart"] is True
    shown = session(api, cold, "cold")
    assert (shown["botStartSeconds"], shown["coldStart"], shown["endState"]) == (3, True, "active")
    assert active_count(api, "cold") == 1
    api.advance(57)  # 60 s from its creation: maxSessionDuration
    ended = session(api, cold, "cold")
    assert (ended["endState"], ended["completionStatus"]) == ("completed", "HTTP_COMPLETED")
    assert ended["endedAt"] == ended["updatedAt"]
    assert active_count(api, "cold") == 0
    api.advance(7200)  # the default limit: two hours
    assert session(api, warm, "warm")["endState"] == "completed"


# Each behaviour marker, as an image word and as a Dockerfile line: (where, marker).
MARKERS = {
    "crash": ("acme/bot:bot-crash", "ENV PCC_EMULATOR_BOT=crash"),
    "hang": ("acme/bot-hang:1", "ENV PCC_EMULATOR_BOT hang"),
    "ends": ("acme/bot:bot-ends-20", "ENV PCC_EMULATOR_BOT=ends:20"),
}


def deploy_marked(api: Client, behaviour: str, source: str) -> None:
    image, line = MARKERS[behaviour]
    if source == "image":
        agent(api, image=image)
    else:
        built_agent(api, f"FROM dailyco/pipecat-base:latest\n{line}\nCOPY bot.py bot.py\n")


@pytest.mark.parametrize("source", ["image", "dockerfile"])
def test_a_bot_that_crashes_ends_the_session_as_an_agent_error(api: Client, source: str) -> None:
    deploy_marked(api, "crash", source)
    started = start(api, public_key(api)["key"])["sessionId"]
    api.advance(0.5)
    assert session(api, started)["endState"] == "active"
    api.advance(1)
    ended = session(api, started)
    assert ended["endState"] == "agent_error"
    assert ended["completionStatus"] == "HTTP_ERROR"
    assert ended["botStartSeconds"] is None
    assert active_count(api) == 0


@pytest.mark.parametrize("source", ["image", "dockerfile"])
def test_a_bot_that_never_starts_times_out_after_a_minute(api: Client, source: str) -> None:
    deploy_marked(api, "hang", source)
    started = start(api, public_key(api)["key"])["sessionId"]
    api.advance(59)
    waiting = session(api, started)
    assert (waiting["endState"], waiting["botStartSeconds"]) == ("active", None)
    api.advance(1.5)
    ended = session(api, started)
    assert (ended["endState"], ended["botStartSeconds"]) == ("agent_start_timeout", None)
    assert ended["endedAt"] is not None


@pytest.mark.parametrize("source", ["image", "dockerfile"])
def test_a_bot_that_ends_completes_that_long_after_it_started(api: Client, source: str) -> None:
    deploy_marked(api, "ends", source)
    started = start(api, public_key(api)["key"])["sessionId"]
    api.advance(3 + 19)  # a cold start (3 s), then 19 s of its 20
    running = session(api, started)
    assert (running["endState"], running["botStartSeconds"]) == ("active", 3)
    api.advance(1.5)
    ended = session(api, started)
    assert (ended["endState"], ended["completionStatus"]) == ("completed", "HTTP_COMPLETED")
    assert ended["botStartSeconds"] == 3


# -- listing and stopping ------------------------------------------------------------------------


def test_sessions_are_listed_by_status_and_deployment_in_pages(api: Client) -> None:
    agent(api)
    key = public_key(api)["key"]
    ids = [start(api, key)["sessionId"] for _ in range(12)]
    api.call("DELETE", f"/agents/bot/sessions/{ids[0]}", 200)
    everything = api.call("GET", "/agents/bot/sessions", 200)
    assert everything["total_count"] == 12
    assert [s["sessionId"] for s in everything["sessions"]] == ids[::-1][:10]  # newest first
    last = api.call("GET", "/agents/bot/sessions?offset=10&limit=5", 200)["sessions"]
    assert [s["sessionId"] for s in last] == ids[1::-1]
    ended = api.call("GET", "/agents/bot/sessions?status=ended", 200)
    assert [s["sessionId"] for s in ended["sessions"]] == [ids[0]]
    assert api.call("GET", "/agents/bot/sessions?status=active&limit=100", 200)["total_count"] == 11
    other = api.call("GET", "/agents/bot/sessions?deploymentId=nope", 200)
    assert other == {"total_count": 0, "sessions": []}
    # A scale-to-zero agent: every start is cold.
    assert api.call("GET", "/agents/bot/sessions?startType=cold", 200)["total_count"] == 12
    assert api.call("GET", "/agents/bot/sessions?startType=warm", 200)["total_count"] == 0
    later = api.call("GET", "/agents/bot/sessions?startTime=4102444800", 200)  # 2100
    assert later["total_count"] == 0
    assert api.call("GET", "/agents/bot/sessions?endTime=4102444800", 200)["total_count"] == 12
    for query, message in (
        ("status=done", "'status' must be one of active, ended, all"),
        ("limit=0", "'limit' must be between 1 and 1000"),
        ("offset=-1", "'offset' must be at least 0"),
        ("startType=hot", "'startType' must be one of cold, warm, all"),
        ("startTime=null", "'startTime' must be an integer"),
    ):
        refused = api.call("GET", f"/agents/bot/sessions?{query}", 400)
        assert refused["error"] == message, refused
    api.call("GET", "/agents/nobody/sessions", 404)


def test_a_stop_ends_the_session_terminated_and_a_second_stop_changes_nothing(
    api: Client,
) -> None:
    agent(api)
    key = public_key(api)["key"]
    started = start(api, key)["sessionId"]
    api.advance(5)
    stopped = api.call("DELETE", f"/agents/bot/sessions/{started}", 200)
    assert stopped == {"status": "terminated", "session_id": started}
    shown = session(api, started)
    assert shown["endState"] == "terminated" and shown["endedAt"] is not None
    assert shown["botStartSeconds"] == 3  # it had started
    assert active_count(api) == 0
    api.advance(10)
    again = api.call("DELETE", f"/agents/bot/sessions/{started}", 200)
    assert again == {"status": "terminated", "session_id": started}
    assert session(api, started)["endedAt"] == shown["endedAt"]
    # Stopped before its bot started: no bot start; one that ended by itself stays as it ended.
    early = start(api, key)["sessionId"]
    api.call("DELETE", f"/agents/bot/sessions/{early}", 200)
    api.advance(5)
    assert session(api, early)["botStartSeconds"] is None
    api.call("POST", "/agents/bot", 200, json={"image": "acme/bot:bot-crash"})
    crashed = start(api, key)["sessionId"]
    api.advance(2)
    assert api.call("DELETE", f"/agents/bot/sessions/{crashed}", 200)["status"] == "agent_error"
    assert session(api, crashed)["endState"] == "agent_error"
    # Unknown: 404; not a session id at all: 400, as the spec documents.
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api.call("DELETE", f"/agents/bot/sessions/{unknown}", 404)["error"] == (
        "Session not found"
    )
    api.call("GET", f"/agents/bot/sessions/{unknown}", 404)
    api.call("DELETE", "/agents/bot/sessions/not-a-uuid", 400)
    api.call("DELETE", f"/agents/nobody/sessions/{started}", 404)


def test_the_organization_routes_list_stop_and_log_the_same_sessions(api: Client) -> None:
    agent(api, image="acme/bot:bot-crash")
    key = public_key(api)["key"]
    crashed = start(api, key)["sessionId"]
    api.call("POST", "/agents/bot", 200, json={"image": "acme/bot:2"})
    running = start(api, key)["sessionId"]
    api.advance(2)
    service = api.raw("GET", f"{ORG}/services/bot").json()["body"]
    assert service["activeSessionCount"] == 1
    listed = api.raw("GET", f"{ORG}/services/bot/sessions").json()
    assert [s["endState"] for s in listed["sessions"]] == ["active", "agent_error"]
    errors = api.raw("GET", f"{ORG}/services/bot/sessions?endState=agent_error").json()
    assert [s["sessionId"] for s in errors["sessions"]] == [crashed]
    stopped = api.raw("DELETE", f"{ORG}/services/bot/sessions/{running}")
    assert stopped.json() == {"status": "terminated", "session_id": running}
    assert api.raw("DELETE", f"{ORG}/services/bot/sessions/nope").status_code == 404
    logs = api.raw("GET", f"{ORG}/services/bot/logs?sessionId={crashed}&limit=100").json()
    assert logs["logs"][0]["log"] == "KeyError: 'OPENAI_API_KEY'"


# -- cut by a delete -----------------------------------------------------------------------------


def test_deleting_an_agent_with_live_sessions_cuts_them_and_counts_them(
    api: Client, emulator: EmulatorHandle
) -> None:
    key = public_key(api)["key"]
    for name in ("bot", "other", "idle"):
        agent(api, name)
    live = [start(api, key)["sessionId"] for _ in range(2)]
    done = start(api, key)["sessionId"]
    api.call("DELETE", f"/agents/bot/sessions/{done}", 200)
    start(api, key, "other")
    emulator.configure(agentDeleteSeconds=30)  # still seen meanwhile, its sessions ended
    api.call("DELETE", "/agents/bot", 200)
    for sid in live:
        assert session(api, sid)["endState"] == "terminated"
    assert active_count(api) == 0
    start(api, key, expect=400)  # being deleted: no new session
    api.call("DELETE", "/agents/bot", 200)  # again: nothing more cut
    api.call("DELETE", "/agents/idle", 200)  # no session: nothing cut
    stats = emulator.stats()
    assert (stats["sessionsCut"], stats["sessionsCutByAgent"]) == (2, {"bot": 2})
    emulator.configure(agentDeleteSeconds=0)
    api.call("DELETE", "/agents/other", 200)
    stats = emulator.stats()
    assert (stats["sessionsCut"], stats["sessionsCutByAgent"]) == (3, {"bot": 2, "other": 1})
    emulator.reset_stats()
    stats = emulator.stats()
    assert (stats["sessionsCut"], stats["sessionsCutByAgent"]) == (0, {})


# -- logs ----------------------------------------------------------------------------------------


def test_the_logs_of_a_crashed_session_end_with_its_traceback(api: Client) -> None:
    agent(api, image="acme/bot:bot-crash")
    deployment = api.call("GET", "/agents/bot", 200)["activeDeploymentId"]
    crashed = start(api, public_key(api)["key"])["sessionId"]
    api.advance(0.5)
    early = api.call("GET", f"/agents/bot/logs?sessionId={crashed}&order=asc", 200)
    assert [line["log"] for line in early["logs"]] == [
        f"INFO | Session {crashed}: start request received",
        f"INFO | Runner: calling bot() of /app/bot.py for session {crashed}",
    ]
    api.advance(1)
    logs = api.call("GET", f"/agents/bot/logs?sessionId={crashed}&order=asc&limit=100", 200)
    said = [line["log"] for line in logs["logs"]]
    assert logs["total"] == {"value": len(said), "relation": "eq"}
    assert said[-1] == "KeyError: 'OPENAI_API_KEY'"
    assert said[-8:-6] == [
        f"ERROR | Session {crashed}: bot() raised an exception",
        "Traceback (most recent call last):",
    ]
    assert {line["deploymentId"] for line in logs["logs"]} == {deployment}
    stamps = [line["timestamp"] for line in logs["logs"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    found = api.call("GET", "/agents/bot/logs?query=keyerror", 200)["logs"]
    assert [line["log"] for line in found] == ["KeyError: 'OPENAI_API_KEY'"]
    assert api.call("GET", "/agents/bot/logs?startTime=4102444800", 200)["total"]["value"] == 0
    # Newest first by default, ten at a time.
    newest = api.call("GET", f"/agents/bot/logs?sessionId={crashed}", 200)
    assert [line["log"] for line in newest["logs"]] == said[::-1][:10]
    assert newest["total"]["value"] == len(said)


def test_the_logs_hold_each_deployment_starting_and_each_session(api: Client) -> None:
    agent(api)
    first = api.call("GET", "/agents/bot", 200)["activeDeploymentId"]
    api.call("POST", "/agents/bot", 200, json={"image": "acme/bot:crashloop"})
    looping = api.call("GET", "/agents/bot", 200)["desiredDeploymentId"]
    key = public_key(api)["key"]
    started = start(api, key)["sessionId"]
    api.advance(5)
    api.call("DELETE", f"/agents/bot/sessions/{started}", 200)
    logs = api.call("GET", f"/agents/bot/logs?deploymentId={first}&order=asc&limit=100", 200)
    said = [line["log"] for line in logs["logs"]]
    assert said[:4] == [
        "INFO:     Started server process [1]",
        "INFO:     Waiting for application startup.",
        "INFO:     Application startup complete.",
        "INFO:     Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)",
    ]
    assert f"INFO | Session {started}: bot started (cold start, 3 s)" in said
    assert said[-1] == f"WARNING | Session {started}: terminated (stop requested)"
    crash = api.call("GET", f"/agents/bot/logs?deploymentId={looping}", 200)["logs"]
    assert crash[0]["log"] == "SystemExit: 1"
    everything = api.call("GET", "/agents/bot/logs?order=asc&limit=1000", 200)["logs"]
    page = api.call("GET", "/agents/bot/logs?order=asc&offset=2&limit=3", 200)["logs"]
    assert page == everything[2:5]
    assert api.call("GET", "/agents/bot/logs?sessionId=nope", 200)["total"]["value"] == 0
    assert api.call("GET", "/agents/bot/logs?order=up", 400)["error"] == (
        "'order' must be one of asc, desc"
    )
    api.call("GET", "/agents/nobody/logs", 404)


# -- the control API and the state folder --------------------------------------------------------


def test_a_session_added_to_end_by_itself_ends_completed(
    api: Client, emulator: EmulatorHandle
) -> None:
    agent(api)
    added = emulator.control("POST", "/agents/bot/sessions", json={"endsAfter": 30})
    assert added.status_code == 201 and added.json()["endState"] == "active", added.text
    sid = added.json()["sessionId"]
    assert active_count(api) == 1
    api.advance(30.5)
    ended = session(api, sid)
    assert (ended["endState"], ended["completionStatus"]) == ("completed", "HTTP_COMPLETED")
    shown = emulator.control("GET", "/agents/bot").json()
    assert [(s["sessionId"], s["endState"], s["bot"]) for s in shown["sessions"]] == [
        (sid, "completed", None)
    ]
    both = emulator.control(
        "POST", "/agents/bot/sessions", json={"endsAfter": 3, "endState": "completed"}
    )
    assert both.status_code == 400 and "endsAfter" in both.json()["error"], both.text


def test_sessions_a_previous_version_saved_load_and_played_ones_carry_on(tmp_path: Path) -> None:
    state, clock = tmp_path / "state", Clock()
    settings: dict[str, Any] = {"agent_ready_seconds": 0, "replica_warm_seconds": 0}
    with Emulator(state, api_key=API_KEY, clock=clock, **settings) as emu:
        api = Client(emu)
        agent(api, image="acme/bot:bot-ends-60")
        started = start(api, public_key(api)["key"])["sessionId"]
    record = state / "agents" / "bot.json"
    saved = json.loads(record.read_text())
    deployment = saved["deployments"][0]["id"]
    now = clock.now()
    # Sessions as the previous version wrote them: these eight fields, no more.
    saved["sessions"].extend(
        [
            {
                "id": "11111111-1111-4111-8111-111111111111",
                "deployment_id": deployment,
                "created_at": now - 30,
                "ended_at": now,
                "end_state": "completed",
                "bot_start_seconds": 2,
                "cold_start": True,
                "completion_status": "HTTP_COMPLETED",
            },
            {
                "id": "22222222-2222-4222-8222-222222222222",
                "deployment_id": deployment,
                "created_at": now - 5,
                "ended_at": None,
                "end_state": None,
                "bot_start_seconds": 1,
                "cold_start": False,
                "completion_status": None,
            },
        ]
    )
    record.write_text(json.dumps(saved))
    with Emulator(state, api_key=API_KEY, clock=clock, **settings) as emu:
        api = Client(emu)
        assert emu.store.records.set_aside == []
        old = session(api, "11111111-1111-4111-8111-111111111111")
        assert (old["endState"], old["botStartSeconds"], old["coldStart"]) == (
            "completed",
            2,
            True,
        )
        assert old["completionStatus"] == "HTTP_COMPLETED"
        assert active_count(api) == 2  # the old active one and the one played before
        live = "22222222-2222-4222-8222-222222222222"
        assert api.call("DELETE", f"/agents/bot/sessions/{live}", 200)["status"] == "terminated"
        assert session(api, live)["completionStatus"] is None
        api.advance(63.5)  # the played one: a cold start, then its 60 s
        assert session(api, started)["endState"] == "completed"
        assert active_count(api) == 0


# -- the official CLI ----------------------------------------------------------------------------


def run_pcc(emulator: EmulatorHandle, home: Path, *args: str) -> str:
    """`pcc ARGS` (pipecatcloud 1.4.0) against the emulator: its stdout and stderr, as a user
    reads them (pcc exits 0 after most errors: what it prints is what counts)."""
    env = {
        "PIPECAT_API_HOST": emulator.url,
        "PIPECAT_TOKEN": API_KEY,
        "PIPECAT_ORG": "acme",
        "HOME": str(home),
        "PATH": os.environ.get("PATH", ""),
    }
    code = "from pipecatcloud.cli.entry_point import entrypoint_cli_typer as c; c()"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stdout + done.stderr


def test_pcc_starts_a_session_with_a_public_key_then_lists_stops_and_reads_its_logs(
    api: Client, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    agent(api, image="acme/bot:bot-crash")
    key = public_key(api)["key"]
    out = run_pcc(emulator, home, "agent", "start", "bot", "--api-key", key, "--force")
    assert "Agent 'bot' started successfully" in out, out
    found = re.search(r"Session ID: ([0-9a-f-]{36})", out)
    assert found, out
    crashed = found[1]
    refused = run_pcc(emulator, home, "agent", "start", "bot", "--api-key", API_KEY, "--force")
    assert "Unauthorized" in refused and "started successfully" not in refused, refused
    api.advance(2)  # its bot dies a second after the start
    listed = run_pcc(emulator, home, "agent", "sessions", "bot")
    assert re.search(rf"^{crashed}\t.*\t00:00:01\tAgent error\t\tTrue$", listed, re.M), listed
    logs = run_pcc(emulator, home, "agent", "logs", "bot", "--session-id", crashed)
    assert "KeyError: 'OPENAI_API_KEY'" in logs, logs

    api.call("POST", "/agents/bot", 200, json={"image": "acme/bot:2"})
    out = run_pcc(emulator, home, "agent", "start", "bot", "--api-key", key, "--force")
    found = re.search(r"Session ID: ([0-9a-f-]{36})", out)
    assert found, out
    running = found[1]
    assert "Active Session Count: 1" in run_pcc(emulator, home, "agent", "status", "bot")
    stopped = run_pcc(emulator, home, "agent", "stop", "bot", "--session-id", running, "--force")
    assert f"Session '{running}' stopped successfully" in stopped, stopped
    listed = run_pcc(emulator, home, "agent", "sessions", "bot")
    # Stopped within seconds of its start: before its cold start (3 s) ended, or just after.
    assert re.search(rf"^{running}\t.*\tTerminated\t(3)?\tTrue$", listed, re.M), listed
    assert "Active Session Count: 0" in run_pcc(emulator, home, "agent", "status", "bot")
