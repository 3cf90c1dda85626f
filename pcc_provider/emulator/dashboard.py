"""The dashboard's route table: `GET /`, its live part, its view and request log as JSON, and
the control forms it posts.

The page is made from the same backend and renderers as the API: each build, agent (with its
deployments and sessions) and secret set as the API's JSON renders it (render.py), the faults
and the request log as the control API keeps them (traffic.py). No value is ever put in the
view (a set's keys, never its values), and every string in it, whoever sent it (names, paths,
Dockerfile paths, images, fault messages, the URL's variables in the request log), is vetted
first with the provider's own rule (pcc_provider.redaction): one that echoes a secret the
emulator holds (the API key, a secret value, an image pull secret's credentials, a public API
key, a registry key's start) is replaced by WITHHELD. The request log itself holds no body,
no query and no header but the client's name (traffic.py).

The control forms (queue a fault, clear the faults, reset the stats and request log, move the
clock on) call what the control API calls (`ControlApi.parse_fault` checks a fault as
`POST /_emulator/faults` does); they answer only requests from this machine (a loopback
address, to a loopback Host) that no other site's page sent (no foreign `Origin`, no
`Sec-Fetch-Site: cross-site`), since a browser lets any page post a form to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pcc_provider import redaction
from pcc_provider.emulator import page, render
from pcc_provider.emulator.backend import Backend
from pcc_provider.emulator.control import ControlApi
from pcc_provider.emulator.errors import NotFound, ServiceError
from pcc_provider.emulator.traffic import Faults, Stats
from pcc_provider.emulator.web import json_response

BUILDS_SHOWN = 25  # the newest builds the page shows
WITHHELD = "[withheld: it echoes a secret]"
VETTED_KEPT = 20_000  # strings whose verdict is remembered, for the secrets of the moment


class DashboardApi:
    """Handlers of the dashboard. `secrets()` lists what no page may show (the API key and
    Backend.secret_words); `faultable`, the routes a fault may target."""

    def __init__(
        self,
        backend: Backend,
        stats: Stats,
        faults: Faults,
        control: ControlApi,
        faultable: list[str],
        base_url: Callable[[], str],
        secrets: Callable[[], list[str]],
    ) -> None:
        self.backend = backend
        self.stats = stats
        self.faults = faults
        self.control = control
        self.routes = sorted(faultable, key=lambda r: (r.split(" ", 1)[1], r))
        self.base_url = base_url
        self.secrets = secrets
        # Verdicts of the rule, by string, for the secrets they were given for: the page is
        # made again every second, mostly of the same strings.
        self._verdicts: dict[str, bool] = {}
        self._verdicts_for: tuple[str, ...] = ()

    def rules(self) -> list[Rule]:
        return [
            Rule("/", methods=["GET"], endpoint=self.show),
            Rule("/_emulator/dashboard/live", methods=["GET"], endpoint=self.live),
            Rule("/_emulator/dashboard/view", methods=["GET"], endpoint=self.view_json),
            Rule("/_emulator/requests", methods=["GET"], endpoint=self.requests_json),
            Rule("/_emulator/dashboard/faults", methods=["POST"], endpoint=self.queue_fault),
            Rule("/_emulator/dashboard/faults/clear", methods=["POST"], endpoint=self.clear),
            Rule("/_emulator/dashboard/reset", methods=["POST"], endpoint=self.reset),
            Rule("/_emulator/dashboard/clock", methods=["POST"], endpoint=self.advance),
        ]

    # -- what the page shows -----------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Everything the page shows, vetted: plain JSON."""
        backend = self.backend
        now, organization, base = backend.clock.now(), backend.organization, self.base_url()
        builds, builds_total = backend.list_builds(None, None, None, None, BUILDS_SHOWN, 0)
        agents = []
        for agent in backend.list_agents(None):
            try:
                _, sessions = backend.sessions(agent.name, now)
            except NotFound:  # deleted meanwhile
                continue
            agents.append(
                {
                    "name": agent.name,
                    "deleting": agent.gone_at is not None,
                    "json": render.agent_json(agent, now, organization),
                    "deployments": render.deployments_json(agent),
                    "sessions": [
                        render.session_json(agent, s, organization, now)
                        for s in sessions[: page.SESSIONS_SHOWN]
                    ],
                    "sessionsTotal": len(sessions),
                }
            )
        sets = []
        for found in backend.list_secret_sets():
            keys = render.secret_set_json(found, now, True)["secrets"]
            sets.append({**render.secret_set_json(found, now, False), "secrets": keys})
        view = {
            "now": now,
            "advanced": backend.clock.offset,
            "apiUrl": f"{base}/v1",
            "organizationId": organization.organization_id,
            "builds": [render.build_json(b, now, organization, base) for b in builds],
            "buildsTotal": builds_total,
            "agents": agents,
            "secretSets": sets,
            "faults": self.faults.to_json(),
            "fired": self.stats.fired_json(),
            "faultsFired": self.stats.to_json()["faultsFired"],
            "requests": [r.to_json() for r in self.stats.log.newest()],
            "requestsTotal": self.stats.log.count,
        }
        vetted: dict[str, Any] = self.vetted(view)
        return vetted

    def vetted(self, value: Any) -> Any:
        """`value` with each string that echoes a secret replaced by WITHHELD."""
        secrets = tuple(sorted({s for s in self.secrets() if s}))
        if secrets != self._verdicts_for or len(self._verdicts) > VETTED_KEPT:
            self._verdicts, self._verdicts_for = {}, secrets
        return self._vet(value, secrets)

    def _vet(self, value: Any, secrets: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            echoes = self._verdicts.get(value)
            if echoes is None:
                echoes = self._verdicts[value] = redaction.echoes(value, secrets)
            return WITHHELD if echoes else value
        if isinstance(value, dict):
            return {k: self._vet(v, secrets) for k, v in value.items()}
        if isinstance(value, list):
            return [self._vet(v, secrets) for v in value]
        return value

    def show(self, request: Request, problem: str | None = None, status: int = 200) -> Response:
        body = page.page(self.view(), self.routes, problem)
        return _html(body, status)

    def live(self, request: Request) -> Response:
        return _html(page.live(self.view()))

    def view_json(self, request: Request) -> Response:
        return json_response(self.view())

    def requests_json(self, request: Request) -> Response:
        """The request log, newest first, and the faults fired, vetted as the page is."""
        log = self.stats.log
        body = {
            "requests": [r.to_json() for r in log.newest()],
            "total": log.count,
            "firedFaults": self.stats.fired_json(),
        }
        return json_response(self.vetted(body))

    # -- the control forms -------------------------------------------------------------------

    def queue_fault(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            fault = self.control.parse_fault(_fault_body(request.form))
        except ServiceError as exc:
            return self.show(request, f"Fault not queued: {exc.message}", exc.status)
        self.faults.add(fault)
        return _back()

    def clear(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.faults.clear()
        return _back()

    def reset(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.stats.reset()
        return _back()

    def advance(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            seconds = float(request.form.get("advance", ""))
            self.backend.clock.advance(seconds)
        except ValueError:
            return self.show(request, "Clock not moved: give 0 seconds or more", 400)
        return _back()

    def _refused(self, request: Request) -> Response | None:
        """A 403 page for a form posted from another machine or by another site's page."""
        if not _loopback(request.remote_addr) or not _loopback_host(request.host):
            why = "The dashboard's controls answer only requests from this machine."
        elif request.headers.get("Sec-Fetch-Site", "same-origin") not in (
            "same-origin",
            "none",
        ) or request.headers.get("Origin", request.host_url.rstrip("/")) != (
            request.host_url.rstrip("/")
        ):
            why = "The dashboard's controls answer only forms of the dashboard itself."
        else:
            return None
        return _html(f"<!doctype html><title>Refused</title><p>{page.e(why)}</p>", 403)


def _fault_body(form: Any) -> dict[str, Any]:
    """The control API's fault body from the form's fields (strings): the route, the effect
    (a status with its body, a dropped connection, act then drop, a hold), how many times, the
    delay or hold in seconds."""
    body: dict[str, Any] = {"route": form.get("route", "")}
    effect = form.get("effect", "status")
    seconds = _number(form.get("seconds"))
    if effect == "status":
        body["status"] = _number(form.get("status"), whole=True)
        if form.get("body") and form.get("body") != "json":
            body["body"] = form["body"]
    elif effect in ("drop", "actThenDrop"):
        body[effect] = True
    elif effect == "hold":
        body["hold"] = seconds if seconds is not None else 5
    if seconds is not None and effect != "hold":
        body["delay"] = seconds
    times = _number(form.get("times"), whole=True)
    if times is not None:
        body["times"] = times
    return body


def _number(text: str | None, whole: bool = False) -> Any:
    """A form field's number: None if empty; the text itself if it is no number (the fault's
    check then says what it should be)."""
    if text is None or not text.strip():
        return None
    try:
        return int(text) if whole else float(text)
    except ValueError:
        return text


def _loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def _loopback_host(host: str) -> bool:
    """Whether the Host a request names is this machine (`localhost`, a loopback address): a
    page of another site whose name was made to point here (DNS rebinding) names its own."""
    name = host
    if name.startswith("["):  # [::1]:8080
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:  # 127.0.0.1:8080, localhost:8080
        name = name.partition(":")[0]
    return name.lower() == "localhost" or _loopback(name)


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    # No other site may frame the page (its forms) or read it from a script.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def _back() -> Response:
    """After a form: the dashboard again (303: a GET, so a reload does not post twice)."""
    return Response(status=303, headers={"Location": "/"})
