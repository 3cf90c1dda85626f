"""The emulator's dashboard (`GET /`): what it shows of builds, agents, their deployments and
sessions, secret sets, faults and the request log, read from its tables as a user reads them;
that no secret a client sends reaches it, whatever the field; its control forms; and the page
in a real browser (headless Chromium), with its live part and docs/emulator.md's screenshot."""

from __future__ import annotations

import base64
import html
import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from api_contract import Client as ApiClient
from api_contract import context
from browser import Browser, rows_of, tables
from conftest import API_KEY, EmulatorHandle
from test_github_action import Action

from pcc_provider.api import Client
from pcc_provider.emulator import Emulator
from pcc_provider.emulator.traffic import Logged, RequestLog, client_of

REPO = Path(__file__).resolve().parents[2]
PCC = "from pipecatcloud.cli.entry_point import entrypoint_cli_typer as c; c()"


def page(emulator: EmulatorHandle) -> str:
    answer = requests.get(f"{emulator.url}/", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    return answer.text


def run_pcc(emulator: EmulatorHandle, home: Path, *args: str) -> str:
    """pcc (pipecatcloud 1.4.0), its own process, against the emulator."""
    env = {
        "PIPECAT_API_HOST": emulator.url,
        "PIPECAT_TOKEN": API_KEY,
        "PIPECAT_ORG": "acme",
        "HOME": str(home),
    }
    done = subprocess.run(
        [sys.executable, "-c", PCC, *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def deploy(api: ApiClient, name: str, **settings: Any) -> dict[str, Any]:
    body = {"serviceName": name, "autoScaling": {"minAgents": 1, "maxAgents": 3}, **settings}
    answer: dict[str, Any] = api.call("POST", "/agents", 200, json=body)
    return answer


def test_the_dashboard_shows_each_object_as_the_api_renders_it(
    api: ApiClient, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(agentReadySeconds=2, replicaWarmSeconds=0)
    provider = Client(API_KEY, emulator.api_url)  # the provider's own client
    provider.put_secret_set("bot-secrets", {"OPENAI_API_KEY": "sk-a1", "GREETING": "hi"}, "us-west")
    status, made = api.create(context())
    assert status == 201
    build_id = made["build"]["id"]
    _, broken = api.create(context("FROM python:3.12\nRUN exit 1\n"))
    failed_id = broken["build"]["id"]
    built = api.wait(build_id)
    emulator.advance(1)  # the set is ready

    deploy(api, "bot", buildId=build_id, region="us-west", secretSet="bot-secrets")
    # A fault fires on the provider's next read of the agent; it retries, as in a pulumi up.
    emulator.fault("GET /v1/agents/{agentName}", status=503, times=1)
    provider.get_agent("bot")
    emulator.advance(3)
    api.call("POST", "/agents/bot", 200, json={"autoScaling": {"minAgents": 1, "maxAgents": 5}})
    emulator.advance(3)
    active = emulator.control("POST", "/agents/bot/sessions", json={"seconds": 20}).json()
    done = {"endState": "agent_error", "seconds": 60, "coldStart": True}
    ended = emulator.control("POST", "/agents/bot/sessions", json=done).json()
    emulator.fault("POST /v1/builds", status=429, times=2)
    # The official CLI and Daily's GitHub action, as each sends its requests.
    (tmp_path / "home").mkdir()
    assert "us-west" in run_pcc(emulator, tmp_path / "home", "regions", "list")
    Action(emulator.url).cache_lookup(built["contextHash"], "Dockerfile")

    shown = page(emulator)

    (row,) = rows_of(shown, "builds", data_build=build_id)
    assert row["status"] == "success"
    assert row["contextHash"] == built["contextHash"]
    assert row["Dockerfile"] == "Dockerfile" and row["region"] == "us-west"
    failed, why = rows_of(shown, "builds", data_build=failed_id)
    assert failed["status"] == "failed"
    assert why["build"] == api.call("GET", f"/builds/{failed_id}", 200)["build"]["errorMessage"]

    (agent,) = rows_of(shown, "agents", data_agent="bot")
    assert agent["status"] == "ready"
    assert agent["region"] == "us-west"
    assert agent["replicas warm"] == "1 / 1"
    assert agent["active sessions"] == "1" and agent["sessions"] == "2"

    current, previous = rows_of(shown, "deployments", data_agent="bot")
    assert (current[""], current["phase"]) == ("current", "Active")
    assert (previous[""], previous["phase"]) == ("previous", "replaced")
    for deployment in (current, previous):
        assert deployment["runs"] == f"build {build_id[:8]}"
    assert "1\u20135 agents" in current["settings"] and "1\u20133 agents" in previous["settings"]
    assert "secrets bot-secrets v1" in current["settings"]

    sessions = rows_of(shown, "sessions", data_agent="bot")
    states = {r["@data-session"]: (r["end state"], r["start"]) for r in sessions}
    assert states == {
        active["sessionId"]: ("active", "—"),
        ended["sessionId"]: ("agent_error", "cold"),
    }

    (secrets,) = rows_of(shown, "secrets", data_set="bot-secrets")
    assert secrets["keys (values never shown)"] == "GREETING, OPENAI_API_KEY"
    assert (secrets["type"], secrets["status"]) == ("secrets", "ready")
    assert "sk-a1" not in shown

    faults = tables(shown)["faults"]
    assert [(f[""], f["route"], f["effect"]) for f in faults] == [
        ("queued", "POST /v1/builds", "429"),
        ("fired", "GET /v1/agents/{agentName}", "503"),
    ]
    assert faults[0]["left / at (UTC)"] == "2 left"

    log = tables(shown)["requests"]
    clients = {r["client"] for r in log}
    assert {"pcc-provider", "pcc", "GitHub action", "python-requests"} <= clients
    assert {r["request"] for r in log if r["client"] == "pcc"} == {
        "GET /v1/organizations/acme/regions"
    }
    (lookup,) = [r for r in log if r["client"] == "GitHub action"]
    # The route and the URL's variables only: never the query.
    assert lookup["request"] == "GET /v1/builds" and lookup["status"] == "200"
    retried = [
        r for r in log if r["request"] == "GET /v1/agents/bot" and r["client"] == "pcc-provider"
    ]
    assert [(r["status"], r["fault"]) for r in retried] == [("200", ""), ("503", "503")]

    # Each object links to its JSON (or its log), served without a key.
    links = set(re.findall(r'href="(/_emulator/[^"]+)"', shown))
    assert {
        f"/_emulator/builds/{build_id}",
        f"/_emulator/builds/{build_id}/logs",
        "/_emulator/agents/bot",
        "/_emulator/secrets/bot-secrets",
        "/_emulator/faults",
        "/_emulator/requests",
    } <= links
    for href in links:
        answer = requests.get(f"{emulator.url}{html.unescape(href)}", timeout=10)
        assert answer.status_code == 200, href
        if href.endswith("/logs"):
            assert "load build definition from Dockerfile" in answer.text
        else:
            answer.json()
    assert requests.get(f"{emulator.url}/_emulator/builds/{build_id}", timeout=10).json() == {
        "build": api.call("GET", f"/builds/{build_id}", 200)["build"]
    }
    assert requests.get(f"{emulator.url}/_emulator/secrets/bot-secrets", timeout=10).json() == {
        **{k: v for k, v in api.call("GET", "/secrets", 200)["sets"][0].items()},
        "secrets": [{"fieldName": "GREETING"}, {"fieldName": "OPENAI_API_KEY"}],
    }


def test_the_dashboard_is_neither_counted_nor_logged_nor_faultable(
    emulator: EmulatorHandle,
) -> None:
    page(emulator)
    requests.get(f"{emulator.url}/_emulator/dashboard/live", timeout=10).raise_for_status()
    assert emulator.stats()["requests"] == {}
    assert requests.get(f"{emulator.url}/_emulator/requests", timeout=10).json() == {
        "requests": [],
        "total": 0,
        "firedFaults": [],
    }
    refused = emulator.control("POST", "/faults", json={"route": "GET /", "status": 503})
    assert refused.status_code == 400
    assert "No requests yet." in page(emulator)


def test_the_request_log_names_each_client_and_keeps_the_last_requests() -> None:
    assert client_of("pcc-provider") == "pcc-provider"  # pcc_provider.api's sessions
    assert client_of("PipecatCloudCLI/1.4.0") == "pcc"
    assert client_of("Python/3.11 aiohttp/3.14.5") == "aiohttp (pcc)"
    assert client_of("pipecat-cloud-deploy-action") == "GitHub action"
    assert client_of("node") == "node fetch"
    assert client_of("python-requests/2.32.4") == "python-requests"
    assert client_of("Mozilla/5.0 (X11; Linux x86_64) Chrome/124") == "browser"
    assert client_of("") == "no User-Agent"
    assert client_of("sk-live-what-a-client-put-there") == "other"

    log = RequestLog(size=3)
    for n in range(5):
        log.add(Logged(float(n), "GET /v1/regions", {}, 200, 0.001, "curl"))
    assert [entry.at for entry in log.newest()] == [4.0, 3.0, 2.0]
    assert [entry.id for entry in log.newest()] == [5, 4, 3] and log.count == 5
    log.add(Logged(5.0, "GET (unmatched)", {"path": "/" + "x" * 1000}, 404, 0.001, "curl"))
    assert len(log.newest()[0].args["path"]) == 200


def test_the_provider_identifies_itself(emulator: EmulatorHandle) -> None:
    Client(API_KEY, emulator.api_url).list_agents()
    (logged,) = requests.get(f"{emulator.url}/_emulator/requests", timeout=10).json()["requests"]
    assert (logged["route"], logged["client"], logged["status"]) == (
        "GET /v1/agents",
        "pcc-provider",
        200,
    )


# -- no secret on the page ---------------------------------------------------------------------

# Secrets a client sends, each in its own form; none may be seen on the page in any form.
# Random-looking, as secrets are: one holding a word the page shows (`secretValue`, say)
# would be withheld wherever that word is, as the rule withholds 8 characters of it in a row.
VALUE = "zqV7f3kXw9Lm2Qp4"
IMAGE_TAG_SECRET = "zqT4Rt8Yb1Hc6Vn"
NAME_SECRET = "zq-k8m3-x7w2-p9q4"  # a value that is also a valid agent name
PULL_PASSWORD = "zqP5Wd2Js7Gx"
WRONG_BEARER = "zqB9Pw3Lz6Nq1Tk"


def forms_of(secret: str) -> set[str]:
    """How a page could hold `secret`: as it is, escaped for HTML, JSON or a URL, in base64."""
    return {
        secret,
        html.escape(secret),
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
        "".join(f"&#{ord(c)};" for c in secret),
    }


def assert_nowhere(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        for form in forms_of(secret):
            assert form not in text, f"{where} shows {secret!r} as {form!r}"
        # Nor a part of it: no 8 characters of it in a row (a truncated echo).
        for start in range(len(secret) - 7):
            assert secret[start : start + 8] not in text, f"{where} shows part of {secret!r}"


@pytest.mark.emulator(build_seconds=0.2, agent_ready_seconds=0.2, secret_ready_seconds=0.1)
def test_no_secret_a_client_sends_reaches_the_page_or_its_request_log(
    api: ApiClient, emulator: EmulatorHandle, emu: Emulator
) -> None:
    url = emulator.api_url
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    pull_value = base64.b64encode(f"robot:{PULL_PASSWORD}".encode()).decode()

    # Secret values, in a set, and as an image pull secret's credentials.
    sent = {"secrets": [{"secretKey": "TOKEN", "secretValue": VALUE}], "region": "us-west"}
    requests.put(f"{url}/secrets/leaky", json=sent, headers=bearer, timeout=10).raise_for_status()
    also = {"secrets": [{"secretKey": "NAME", "secretValue": NAME_SECRET}], "region": "us-west"}
    requests.put(f"{url}/secrets/named", json=also, headers=bearer, timeout=10).raise_for_status()
    pull = {"isImagePullSecret": True, "host": "ghcr.io", "secretValue": pull_value}
    pull["region"] = "us-west"
    requests.put(f"{url}/secrets/pull", json=pull, headers=bearer, timeout=10).raise_for_status()
    tags = {"secrets": [{"secretKey": "TAG", "secretValue": IMAGE_TAG_SECRET}]}
    requests.put(f"{url}/secrets/tags", json=tags, headers=bearer, timeout=10).raise_for_status()
    # A public key and a registry key's material, made through pcc's routes.
    org = f"{url}/organizations/acme"
    public = requests.post(
        f"{org}/apiKeys", json={"name": "web", "type": "public"}, headers=bearer, timeout=10
    ).json()["key"]
    material = requests.post(
        f"{org}/registry-keys", json={"name": "ci"}, headers=bearer, timeout=10
    ).json()["key"]
    emulator.advance(1)

    # The secrets where a client may put them: query strings, a path, the User-Agent, a wrong
    # bearer token, a Dockerfile path, an image reference, an agent's name, a public key used.
    for query in (f"contextHash={VALUE}", f"region={API_KEY}", f"token={material}"):
        requests.get(f"{url}/builds?{query}", headers=bearer, timeout=10)
    requests.get(f"{url}/agents/{VALUE}", headers=bearer, timeout=10)
    requests.get(f"{url}/nowhere/{API_KEY}/{material}?key={PULL_PASSWORD}", timeout=10)
    requests.get(f"{url}/agents", headers={**bearer, "User-Agent": API_KEY}, timeout=10)
    requests.get(f"{url}/agents", headers={"Authorization": f"Bearer {WRONG_BEARER}"}, timeout=10)
    requests.get(f"{url}/agents", headers={"Authorization": f"Bearer {public}"}, timeout=10)
    upload = api.upload(context())
    requests.post(
        f"{url}/builds",
        json={"uploadId": upload, "region": "us-west", "dockerfilePath": f"docker/{VALUE}"},
        headers=bearer,
        timeout=10,
    ).raise_for_status()
    image = f"registry.example.com/app:{IMAGE_TAG_SECRET}"
    deploy(api, "imaged", image=image, region="us-west", imagePullSecretSet="pull")
    requests.post(
        f"{url}/agents",
        json={"serviceName": NAME_SECRET, "image": "registry.example.com/app:1"},
        headers=bearer,
        timeout=10,
    ).raise_for_status()
    emulator.advance(1)
    started = requests.post(f"{url}/public/imaged/start", json={}, headers={
        "Authorization": f"Bearer {public}"}, timeout=10)  # fmt: skip
    assert started.status_code == 200
    # An echoing fault: the service quotes the values it was sent, and the key.
    for echoes in ("values", "key", "body"):
        fault = {"status": 500, "body": "echo", "echoes": echoes, "message": f"no {VALUE}"}
        emulator.fault("PUT /v1/secrets/{setName}", **fault)
        echoed = requests.put(f"{url}/secrets/leaky", json=sent, headers=bearer, timeout=10)
        assert echoed.status_code == 500
    emulator.fault("GET /v1/regions", status=503, message=f"queued {PULL_PASSWORD}")
    # A set's provisioning failing with a message that quotes a value.
    emulator.fail_next_provisioning("leaky", f"cannot store {VALUE}")
    requests.put(f"{url}/secrets/leaky", json=sent, headers=bearer, timeout=10).raise_for_status()
    emulator.advance(1)

    secrets = [
        API_KEY,
        VALUE,
        IMAGE_TAG_SECRET,
        NAME_SECRET,
        PULL_PASSWORD,
        f"robot:{PULL_PASSWORD}",
        pull_value,
        public,
        material,
        WRONG_BEARER,
    ]
    shown = page(emulator)
    for where in ("/", "/_emulator/dashboard/live", "/_emulator/dashboard/view"):
        text = requests.get(f"{emulator.url}{where}", timeout=10).text
        assert_nowhere(text, secrets, where)
    log = requests.get(f"{emulator.url}/_emulator/requests", timeout=10).text
    assert_nowhere(log, secrets, "the request log")

    # What a user sees instead: the objects, their names and keys, with what echoes a secret
    # withheld.
    withheld = "[withheld: it echoes a secret]"
    (leaky,) = rows_of(shown, "secrets", data_set="leaky")
    assert leaky["keys (values never shown)"] == "TOKEN"
    assert leaky["status"] == f"failed {withheld}"
    (pulled,) = rows_of(shown, "secrets", data_set="pull")
    assert (pulled["type"], pulled["keys (values never shown)"]) == (
        "image pull secret",
        "secretValue",
    )
    assert {r["@data-agent"] for r in tables(shown)["agents"]} == {"imaged", withheld}
    (imaged,) = rows_of(shown, "deployments", data_agent="imaged")
    assert imaged["runs"] == withheld
    (odd,) = [r for r in tables(shown)["builds"] if r.get("Dockerfile") == withheld]
    assert odd["status"] == "failed"
    requested = [r["request"] for r in tables(shown)["requests"]]
    assert f"GET /v1/agents/{withheld}" in requested
    assert "GET /v1/builds" in requested
    assert f"GET {withheld} (no such route)" in requested
    assert {r["client"] for r in tables(shown)["requests"]} >= {"other", "python-requests"}
    assert emu.app.stats.to_json()["faultsFired"] == 3


# -- the controls ------------------------------------------------------------------------------


def test_the_forms_queue_and_clear_faults_reset_the_log_and_move_the_clock(
    emulator: EmulatorHandle,
) -> None:
    form = f"{emulator.url}/_emulator/dashboard"
    origin = {"Origin": emulator.url}
    fault = {"route": "GET /v1/regions", "effect": "status", "status": "502", "times": "2"}
    fault.update(body="html", seconds="")
    queued = requests.post(f"{form}/faults", data=fault, headers=origin, allow_redirects=False)
    assert (queued.status_code, queued.headers["Location"]) == (303, "/")
    assert emulator.control("GET", "/faults").json() == {
        "faults": [{"route": "GET /v1/regions", "times": 2, "status": 502, "body": "html"}]
    }
    dropped = {"route": "POST /v1/agents", "effect": "drop", "seconds": "1.5"}
    requests.post(f"{form}/faults", data=dropped, headers=origin).raise_for_status()
    faults = tables(page(emulator))["faults"]
    assert [(f["route"], f["effect"], f["left / at (UTC)"]) for f in faults] == [
        ("GET /v1/regions", "502 html", "2 left"),
        ("POST /v1/agents", "delay 1.5 s, drop", "1 left"),
    ]

    # A fault the control API refuses is refused here too, with its reason on the page.
    bad = {"route": "GET /v1/nowhere", "effect": "status", "status": "503"}
    refused = requests.post(f"{form}/faults", data=bad, headers=origin)
    assert refused.status_code == 400
    assert "Fault not queued: Unknown route &#x27;GET /v1/nowhere&#x27;" in refused.text

    requests.get(f"{emulator.api_url}/regions", timeout=10)
    assert len(tables(page(emulator))["requests"]) == 1
    requests.post(f"{form}/faults/clear", headers=origin).raise_for_status()
    assert emulator.control("GET", "/faults").json() == {"faults": []}
    requests.post(f"{form}/reset", headers=origin).raise_for_status()
    assert emulator.stats()["requests"] == {}
    assert "No requests yet." in page(emulator)
    requests.post(f"{form}/clock", data={"advance": "30"}, headers=origin).raise_for_status()
    assert emulator.control("GET", "/clock").json()["advanced"] == 30


def test_the_forms_answer_only_the_dashboard_on_this_machine(
    emulator: EmulatorHandle, emu: Emulator
) -> None:
    from werkzeug.test import Client as WsgiClient

    form = f"{emulator.url}/_emulator/dashboard/faults/clear"
    emulator.fault("GET /v1/regions", status=503)
    # Another site's page posting the form, as a browser lets it.
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = requests.post(form, headers=headers, allow_redirects=False)
        assert refused.status_code == 403
        assert "only forms of the dashboard itself" in refused.text
    # A page of another site whose name was made to point here (DNS rebinding).
    port = emulator.url.rsplit(":", 1)[1]
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    refused = requests.post(form, headers=rebound, allow_redirects=False)
    assert refused.status_code == 403
    assert "only requests from this machine" in refused.text
    # Another machine.
    remote = WsgiClient(emu.app).post(
        "/_emulator/dashboard/faults/clear", environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert remote.status_code == 403
    assert "only requests from this machine" in remote.get_data(as_text=True)
    assert len(emulator.control("GET", "/faults").json()["faults"]) == 1
    # From this machine, by the dashboard itself (a browser sends its Origin; curl none).
    local = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    for headers in ({"Origin": emulator.url, "Sec-Fetch-Site": "same-origin"}, {}, local):
        emulator.fault("GET /v1/regions", status=503)
        cleared = requests.post(form, headers=headers, allow_redirects=False)
        assert cleared.status_code == 303
        assert emulator.control("GET", "/faults").json() == {"faults": []}


# -- in a browser ------------------------------------------------------------------------------


def test_the_page_in_a_browser_follows_the_emulator(
    api: ApiClient, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    browser = Browser(tmp_path)
    first = browser.dom(f"{emulator.url}/")
    assert rows_of(first, "agents") and "No agents yet." in first
    assert tables(first)["requests"][0]["time (UTC)"] == "No requests yet."

    emulator.configure(agentReadySeconds=30)
    deploy(api, "web", image="registry.example.com/web:1", region="us-west")
    # Its scripts fetch the live part again every second: the new agent shows without a reload
    # of the page (virtual time: its timers fire at once, its fetches are answered).
    live = browser.dom(f"{emulator.url}/", wait_ms=2500)
    assert "live: updated every second" in live
    (agent,) = rows_of(live, "agents", data_agent="web")
    assert agent["status"] in ("creating", "validating")
    assert {r["client"] for r in tables(live)["requests"]} == {"python-requests"}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_screenshot_command_makes_the_readme_picture_again(tmp_path: Path) -> None:
    out = tmp_path / "dashboard.png"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "dashboard-screenshot"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert png_size(out) == (1280, 900)
    assert png_size(REPO / "docs" / "dashboard.png") == (1280, 900)
