"""The `/_emulator` control API's route table: stats, settings, faults, and test-only actions.

No auth and not counted in the stats. Besides reading and resetting the request counts and
changing the settings live, a test can queue faults for any API route (an echo fault quotes
the request's body, its string values or its bearer token, in any of traffic.ENCODINGS:
`{"body": "echo", "echoes": "values", "encoding": "html"}`), move the service's clock on
(`{"advance": seconds}`: builds, deployments, sets and upload URLs get that much older), make
a build vanish (the real API cannot delete builds) or end now, make a secret set's next
provisioning fail, see each deployment of an agent with the secret-set versions it bound (and
its sessions), and add a session to an agent (`{"endState": "completed", "seconds": 30,
"coldStart": true}`; no endState: still active, and with `"endsAfter": seconds` it ends
`completed` by itself that long from now), beside those `POST /v1/public/{agent}/start`
starts. The stats count, besides requests, the sessions cut by deleting their agent
(`sessionsCut`, and `sessionsCutByAgent` by agent name); resetting them empties the request
log too. A build (and its log, as text) and a secret set (its keys) are read here without a
key, for the dashboard's links (dashboard.py, which serves `/_emulator/requests` too).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator import render
from pcc_provider.emulator.backend import Backend
from pcc_provider.emulator.settings import SETTINGS
from pcc_provider.emulator.traffic import ECHOES, ENCODINGS, Fault, Faults, Stats
from pcc_provider.emulator.web import (
    bad_request,
    check_build_id,
    json_response,
    opt_int,
    opt_number,
    opt_str,
    read_json,
    req_str,
)

FAULT_KEYS = {"route", "status", "times", "drop", "actThenDrop", "retryAfter"} | {
    "body",
    "message",
    "delay",
    "hold",
    "total",
    "echoes",
    "encoding",
}
BODIES = ("json", "html", "malformed", "echo", "endless")
SESSION_KEYS = {"endState", "seconds", "botStartSeconds", "coldStart", "endsAfter"}
ENDLESS_TOTAL = 1_000_000_000  # what an endless list reports by default: more than ever ends
RETRY_AFTER_MAX = 3600  # for a number; a string is sent as it is


class ControlApi:
    """Handlers for `/_emulator/...`. `faultable` holds the routes a fault may target;
    `on_config()` runs after a setting changes (the server follows the upload limit)."""

    def __init__(
        self,
        backend: Backend,
        stats: Stats,
        faults: Faults,
        faultable: Collection[str],
        base_url: Callable[[], str],
        on_config: Callable[[], None],
    ) -> None:
        self.backend = backend
        self.stats = stats
        self.faults = faults
        self.faultable = faultable
        self.base_url = base_url
        self.on_config = on_config

    def rules(self) -> list[Rule]:
        return [
            Rule("/_emulator/stats", methods=["GET"], endpoint=self.stats_get),
            Rule("/_emulator/stats", methods=["DELETE"], endpoint=self.stats_reset),
            Rule("/_emulator/config", methods=["GET"], endpoint=self.config_get),
            Rule("/_emulator/config", methods=["POST"], endpoint=self.config_set),
            Rule("/_emulator/clock", methods=["GET"], endpoint=self.clock_get),
            Rule("/_emulator/clock", methods=["POST"], endpoint=self.clock_advance),
            Rule("/_emulator/faults", methods=["GET"], endpoint=self.faults_get),
            Rule("/_emulator/faults", methods=["POST"], endpoint=self.faults_add),
            Rule("/_emulator/faults", methods=["DELETE"], endpoint=self.faults_clear),
            Rule("/_emulator/builds/<build:buildId>", methods=["GET"], endpoint=self.build_get),
            Rule(
                "/_emulator/builds/<build:buildId>", methods=["DELETE"], endpoint=self.vanish_build
            ),
            Rule(
                "/_emulator/builds/<build:buildId>/logs", methods=["GET"], endpoint=self.build_logs
            ),
            Rule(
                "/_emulator/builds/<build:buildId>/finish",
                methods=["POST"],
                endpoint=self.finish_build,
            ),
            Rule("/_emulator/secrets/<setName>", methods=["GET"], endpoint=self.secret_set_get),
            Rule(
                "/_emulator/secrets/<setName>/fail",
                methods=["POST"],
                endpoint=self.fail_secret_set,
            ),
            Rule("/_emulator/agents/<agentName>", methods=["GET"], endpoint=self.agent_deployments),
            Rule(
                "/_emulator/agents/<agentName>/sessions",
                methods=["POST"],
                endpoint=self.add_session,
            ),
        ]

    # -- stats -------------------------------------------------------------------------------

    def stats_get(self, request: Request) -> Response:
        return json_response(self.stats.to_json())

    def stats_reset(self, request: Request) -> Response:
        self.stats.reset()
        return json_response(self.stats.to_json())

    # -- settings ----------------------------------------------------------------------------

    def config_get(self, request: Request) -> Response:
        return json_response(self.backend.settings.to_json())

    def config_set(self, request: Request) -> Response:
        body = read_json(request)
        unknown = sorted(set(body) - {s.json_name for s in SETTINGS})
        if unknown:
            bad_request(f"Unknown config keys: {', '.join(unknown)}")
        changes: dict[str, float] = {}
        for setting in SETTINGS:
            if setting.json_name in body:
                value = body[setting.json_name]
                problem = setting.problem(value)
                if problem:
                    bad_request(f"'{setting.json_name}' {problem}")
                changes[setting.name] = value if setting.whole else float(value)
        for name, value in changes.items():
            setattr(self.backend.settings, name, value)
        self.on_config()
        return json_response(self.backend.settings.to_json())

    # -- the clock ---------------------------------------------------------------------------

    def clock_get(self, request: Request) -> Response:
        return json_response(self._clock_json())

    def clock_advance(self, request: Request) -> Response:
        body = read_json(request)
        unknown = sorted(set(body) - {"advance"})
        if unknown:
            bad_request(f"Unknown clock keys: {', '.join(unknown)}")
        if "advance" not in body:
            bad_request("'advance' is required: the seconds to move the clock on")
        self.backend.clock.advance(opt_number(body, "advance", 0) or 0.0)
        return json_response(self._clock_json())

    def _clock_json(self) -> dict[str, Any]:
        clock = self.backend.clock
        return {"now": render.iso(clock.now()), "advanced": clock.offset}

    # -- faults ------------------------------------------------------------------------------

    def faults_get(self, request: Request) -> Response:
        return json_response({"faults": self.faults.to_json()})

    def faults_add(self, request: Request) -> Response:
        self.faults.add(self.parse_fault(read_json(request)))
        return json_response({"faults": self.faults.to_json()}, 201)

    def parse_fault(self, body: dict[str, Any]) -> Fault:
        """The fault a request's body describes, or a 400 saying what is wrong with it."""
        unknown = sorted(set(body) - FAULT_KEYS)
        if unknown:
            bad_request(f"Unknown fault keys: {', '.join(unknown)}")
        route = req_str(body, "route")
        if route not in self.faultable:
            bad_request(f"Unknown route '{route}'; one of: {', '.join(sorted(self.faultable))}")
        drop = body.get("drop", False)
        if not isinstance(drop, bool):
            bad_request("'drop' must be a boolean")
        acted = body.get("actThenDrop", False)
        if not isinstance(acted, bool):
            bad_request("'actThenDrop' must be a boolean")
        kind = opt_str(body, "body") or "json"
        if kind not in BODIES:
            bad_request(f"'body' must be one of {', '.join(BODIES)}")
        # A malformed body may come with a 200: an answer that is not what it should be;
        # an endless list is one.
        low = 200 if kind in ("malformed", "endless") else 400
        status = opt_int(body, "status", low, 599)
        if "total" in body and kind != "endless":
            bad_request("'total' is what an endless list reports: give it with 'body': 'endless'")
        if kind == "endless":
            status = self._endless(route, status)
        delay = opt_number(body, "delay", 0)
        hold = opt_number(body, "hold", 0)
        if [status is not None, drop, acted, hold is not None].count(True) > 1 or (
            delay is None and [status is not None, drop, acted, hold is not None].count(True) == 0
        ):
            bad_request(
                "Give one of 'status' (400-599), 'drop': true, 'actThenDrop': true or "
                "'hold': seconds (and/or 'delay': seconds)"
            )
        if kind != "json" and status is None:
            bad_request("'body' needs a 'status'")
        total = body.get("total", ENDLESS_TOTAL) if kind == "endless" else None
        if isinstance(total, bool) or not isinstance(total, int | float | str | None):
            bad_request("'total' must be a number or a string")
        echoes = opt_str(body, "echoes") or "body"
        encoding = opt_str(body, "encoding") or "verbatim"
        if kind != "echo" and ("echoes" in body or "encoding" in body):
            bad_request("'echoes' and 'encoding' go with 'body': 'echo'")
        if echoes not in ECHOES:
            bad_request(f"'echoes' must be one of {', '.join(ECHOES)}")
        if encoding not in ENCODINGS:
            bad_request(f"'encoding' must be one of {', '.join(ENCODINGS)}")
        times = opt_int(body, "times", 1, 1_000_000) or 1
        retry_after = self._retry_after(body, status)
        return Fault(
            route=route,
            status=status or 0,
            drop=drop,
            remaining=times,
            retry_after=retry_after,
            acted=acted,
            body=kind,
            echoes=echoes,
            encoding=encoding,
            message=opt_str(body, "message") or "Fault injected by the emulator",
            delay=hold if hold is not None else delay or 0.0,
            hold=hold is not None,
            total=total,
        )

    @staticmethod
    def _endless(route: str, status: int | None) -> int:
        """An endless list: only a list answered in pages (with `offset` and `total`)."""
        method, path = route.split(" ", 1)
        if method != "GET" or not path.endswith("/builds"):
            bad_request("'body': 'endless' is for a list answered in pages: GET .../builds")
        if status not in (None, 200):
            bad_request("'body': 'endless' answers 200: give no other 'status'")
        return 200

    @staticmethod
    def _retry_after(body: dict[str, Any], status: int | None) -> int | str | None:
        """The Retry-After a fault's answer carries: a number of seconds, or any string (an
        HTTP-date, or something invalid: "-5", "soon", "1e9"); a 429 has one by default."""
        if "retryAfter" not in body:
            return 1 if status == 429 else None
        if not status or status == 200:
            bad_request("'retryAfter' needs a 'status' from 400")
        value = body["retryAfter"]
        if isinstance(value, str):
            if len(value) > 200 or not all(" " <= c <= "~" for c in value):
                bad_request("'retryAfter' as a string must be up to 200 printable ASCII characters")
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            bad_request("'retryAfter' must be an integer (seconds) or a string (sent as it is)")
        if not 0 <= value <= RETRY_AFTER_MAX:
            bad_request(f"'retryAfter' must be between 0 and {RETRY_AFTER_MAX}")
        return value

    def faults_clear(self, request: Request) -> Response:
        self.faults.clear()
        return json_response({"faults": []})

    # -- test-only actions -------------------------------------------------------------------

    def build_get(self, request: Request, buildId: str) -> Response:
        """A build as `GET /v1/builds/{id}` answers it, with no key: the dashboard links here."""
        build = self.backend.get_build(check_build_id(buildId))
        body = render.build_json(
            build, self.backend.clock.now(), self.backend.organization, self.base_url()
        )
        return json_response({"build": body})

    def build_logs(self, request: Request, buildId: str) -> Response:
        """A build's log lines written so far, as plain text (for a browser)."""
        build = self.backend.get_build(check_build_id(buildId))
        lines = render.build_logs(build, self.backend.clock.now(), self.backend.organization)
        return Response("".join(f"{line}\n" for line in lines), mimetype="text/plain")

    def secret_set_get(self, request: Request, setName: str) -> Response:
        """A set as the API describes it: its name, type, region, status and key names, image
        pull secrets too; never a value."""
        found = self.backend.get_secret_set(setName)
        now = self.backend.clock.now()
        keys = render.secret_set_json(found, now, True)["secrets"]
        return json_response({**render.secret_set_json(found, now, False), "secrets": keys})

    def vanish_build(self, request: Request, buildId: str) -> Response:
        self.backend.delete_build(check_build_id(buildId))
        return json_response({"deleted": buildId.lower()})

    def finish_build(self, request: Request, buildId: str) -> Response:
        build = self.backend.finish_build(check_build_id(buildId))
        body = render.build_json(
            build, self.backend.clock.now(), self.backend.organization, self.base_url()
        )
        return json_response({"build": body})

    def fail_secret_set(self, request: Request, setName: str) -> Response:
        message = opt_str(read_json(request), "errorMessage") or "Secret set provisioning failed"
        self.backend.fail_secret_set(setName, message)
        return json_response({"failing": setName, "errorMessage": message})

    def agent_deployments(self, request: Request, agentName: str) -> Response:
        agent = self.backend.get_agent(agentName)
        now, organization = self.backend.clock.now(), self.backend.organization
        return json_response(
            {
                "deployments": render.deployments_json(agent),
                "lastRequest": agent.last_request,
                # Every session, newest first, as it stands now, with the bot it plays.
                "sessions": [
                    {**render.session_json(agent, s, organization, now), "bot": s.bot}
                    for s in reversed(agent.sessions)
                ],
            }
        )

    def add_session(self, request: Request, agentName: str) -> Response:
        body = read_json(request)
        unknown = sorted(set(body) - SESSION_KEYS)
        if unknown:
            bad_request(f"Unknown session keys: {', '.join(unknown)}")
        end_state = opt_str(body, "endState")
        if end_state == "active":
            end_state = None
        cold = body.get("coldStart")
        if cold is not None and not isinstance(cold, bool):
            bad_request("'coldStart' must be a boolean")
        ends_after = opt_number(body, "endsAfter", 0)
        if ends_after is not None and end_state is not None:
            bad_request("'endsAfter' is for an active session: give no 'endState' with it")
        session = self.backend.add_session(
            agentName,
            end_state,
            opt_number(body, "seconds", 0) or 0.0,
            opt_int(body, "botStartSeconds", 0),
            cold,
            ends_after,
        )
        agent = self.backend.get_agent(agentName)
        now = self.backend.clock.now()
        return json_response(
            render.session_json(agent, session, self.backend.organization, now), 201
        )
