"""The organization the client names on the organization-scoped routes `pcc` uses: the one
configured, else the only one the key belongs to, else one line saying what to set."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle

from pcc_provider import api


def test_the_organization_is_found_from_the_key_and_named_in_the_path(
    emulator: EmulatorHandle,
) -> None:
    client = api.Client(API_KEY, emulator.api_url)
    listed = requests_json(emulator, "/v1/organizations")["organizations"]
    assert client.organization() == listed[0]["name"]
    # Found once: a second question asks nothing.
    before = emulator.calls("GET /v1/organizations")
    assert client._org_call("GET", "/regions", repeatable=True)["regions"]
    assert emulator.calls("GET /v1/organizations") == before


def test_a_configured_organization_is_used_as_given(emulator: EmulatorHandle) -> None:
    client = api.Client(API_KEY, emulator.api_url, organization="team/a b")
    assert client.organization() == "team/a b"
    assert client.twin().organization() == "team/a b"
    assert emulator.calls("GET /v1/organizations") == 0


@pytest.fixture
def listing() -> Iterator[tuple[str, list[Any]]]:
    """A server whose `GET /v1/organizations` answers the list the test puts in `organizations`."""
    organizations: list[Any] = []

    class Listing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"organizations": organizations}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", organizations
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("names", "said"),
    [
        ([], "the API key belongs to none"),
        (["acme", "beta"], "belongs to 2 organizations (acme, beta)"),
    ],
)
def test_a_key_of_no_or_several_organizations_asks_for_the_setting(
    listing: tuple[str, list[Any]], names: list[str], said: str
) -> None:
    url, organizations = listing
    organizations.extend({"name": n, "verboseName": n.title()} for n in names)
    with pytest.raises(api.ApiError) as raised:
        api.Client(API_KEY, url).organization()
    message = str(raised.value)
    assert "set pipecat:organization (or PIPECAT_ORG)" in message and said in message
    assert "\n" not in message


def requests_json(emulator: EmulatorHandle, path: str) -> Any:
    answer = emulator.api("GET", path.removeprefix("/v1"))
    answer.raise_for_status()
    return answer.json()


@pytest.mark.emulator(build_seconds=0)
def test_an_agents_build_is_read_where_pcc_reads_it(emulator: EmulatorHandle) -> None:
    from test_agent_provider import build

    build_id = build(emulator, "FROM dailyco/pipecat-base:latest\n")
    for name, source in (("built", {"buildId": build_id}), ("imaged", {"image": "x/y:1"})):
        made = emulator.api("POST", "/agents", json={"serviceName": name, **source})
        assert made.status_code == 200, made.text
    # The public API redacts the build; the organization's route names it.
    assert "buildId" not in emulator.api("GET", "/agents/built").json()["deployment"]
    client = api.Client(API_KEY, emulator.api_url)
    assert client.agent_build("built") == build_id
    assert client.agent_build("imaged") is None
    with pytest.raises(api.NotFound):
        client.agent_build("nobody")
