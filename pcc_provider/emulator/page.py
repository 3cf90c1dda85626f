"""The dashboard's HTML (`GET /` on the emulator's port): pure functions of a view, no I/O.

The view is what dashboard.py gathers: the API's own JSON of each object (render.py), the
queued and fired faults and the request log (traffic.py), every string in it already vetted
against the secrets the emulator holds. Here it is laid out as tables, each value escaped
(`html.escape`: names come from clients), each object linked to its JSON. `live(view)` is the
part a few lines of plain JavaScript fetch again every second (`/_emulator/dashboard/live`);
`page(view, routes)` is the whole page, with the control forms.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

REFRESH_MS = 1000  # how often the page fetches its live part again
LIVE_PATH = "/_emulator/dashboard/live"
AGENT_JSON = "its deployments and sessions (JSON)"
SESSIONS_SHOWN = 6  # an agent's most recent sessions shown
REQUESTS_SHOWN = 60  # of the request log, the newest shown

# A status's tone, for its colour: done well, under way, gone wrong, running, nothing to say.
TONES = {
    "success": "ok",
    "ready": "ok",
    "completed": "ok",
    "Active": "ok",
    "pending": "busy",
    "building": "busy",
    "creating": "busy",
    "validating": "busy",
    "Creating": "busy",
    "Validating": "busy",
    "Draining": "busy",
    "deleting": "muted",
    "replaced": "muted",
    "failed": "bad",
    "timeout": "bad",
    "Failed": "bad",
    "agent_error": "bad",
    "agent_start_timeout": "bad",
    "terminated": "warn",
    "active": "live",
}


def e(value: Any) -> str:
    """A value as HTML text: escaped, quotes too (it may end up in an attribute)."""
    return html.escape("" if value is None else str(value), quote=True)


def link(path: str, text: str, title: str = "") -> str:
    hint = f' title="{e(title)}"' if title else ""
    return f'<a href="{e(path)}"{hint}>{e(text)}</a>'


def part(value: str) -> str:
    """A URL path segment for a name: percent-encoded whole."""
    return quote(value, safe="")


def chip(text: str, tone: str | None = None) -> str:
    tone = tone or TONES.get(text, "muted")
    return f'<span class="chip {tone}" data-status="{e(text)}">{e(text)}</span>'


def short(identifier: str | None) -> str:
    """An id's first 8 characters, the whole in its title."""
    if not identifier:
        return '<span class="none">—</span>'
    return f'<code title="{e(identifier)}">{e(identifier[:8])}</code>'


def ago(iso_time: str | None, now: float) -> str:
    """How long before `now` an API timestamp is: `12 s ago`; the timestamp in its title."""
    if not iso_time:
        return '<span class="none">—</span>'
    seconds = now - datetime.fromisoformat(iso_time).timestamp()
    said = f"in {_span(-seconds)}" if seconds < 0 else f"{_span(seconds)} ago"
    return f'<time datetime="{e(iso_time)}" title="{e(iso_time)}">{e(said)}</time>'


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h"
    return f"{seconds // 86400:.0f} d"


def clock_time(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def table(name: str, headers: Iterable[str], rows: list[str], empty: str, classes: str = "") -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr class="empty"><td colspan="99">{e(empty)}</td></tr>'
    return (
        f'<table id="{e(name)}-table" class="{e(classes)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def section(name: str, title: str, count: str, json_path: str, body: str, wide: bool) -> str:
    width = "wide" if wide else "half"
    return (
        f'<section id="{e(name)}" class="card {width}"><header><h2>{e(title)}</h2>'
        f'<span class="count">{e(count)}</span>'
        f'<a class="json" href="{e(json_path)}">JSON</a></header>{body}</section>'
    )


# -- the sections ----------------------------------------------------------------------------


def agent_status(agent: dict[str, Any]) -> tuple[str, str]:
    """What an agent row says of it, and the tone: `ready`, `deleting`, the phase its current
    deployment is in (`creating`, `validating`), or why it never gets ready."""
    body = agent["json"]
    if agent["deleting"]:
        return "deleting", "muted"
    if body["ready"]:
        return "ready", "ok"
    revision = body.get("currentRevision") or {}
    reason = (revision.get("health") or {}).get("reason")
    if reason:
        return str(reason), "bad"
    phase = str(revision.get("phase") or "pending")
    return phase.lower(), TONES.get(phase, "busy")


def agents_section(view: dict[str, Any]) -> str:
    rows = []
    for agent in view["agents"]:
        body, name = agent["json"], agent["name"]
        status, tone = agent_status(agent)
        revision = body.get("currentRevision") or {}
        scaling = body["autoScaling"]
        warm = f"{revision.get('readyReplicas', 0)} / {scaling['minReplicas']}"
        active = body.get("activeSessionCount", 0)
        rows.append(
            f'<tr data-agent="{e(name)}">'
            f"<td>{link(f'/_emulator/agents/{part(name)}', name, AGENT_JSON)}</td>"
            f'<td class="status">{chip(status, tone)}</td>'
            f"<td>{e(body['region'])}</td>"
            f"<td>{short(body.get('desiredDeploymentId'))}</td>"
            f"<td>{short(body.get('reconciledDeploymentId'))}</td>"
            f'<td class="num">{e(warm)}</td>'
            f'<td class="num">{chip(str(active), "live" if active else "muted")}</td>'
            f'<td class="num">{e(agent["sessionsTotal"])}</td>'
            f"<td>{ago(body.get('updatedAt'), view['now'])}</td></tr>"
        )
    headers = (
        "agent",
        "status",
        "region",
        "deployment",
        "serving",
        "replicas warm",
        "active sessions",
        "sessions",
        "updated",
    )
    count = f"{len(rows)}"
    return section(
        "agents",
        "Agents",
        count,
        "/_emulator/dashboard/view",
        table("agents", headers, rows, "No agents yet."),
        True,
    )


def deployment_state(agent: dict[str, Any], deployment: dict[str, Any], current: bool) -> str:
    """A deployment's phase, as its agent's revisions report it."""
    body = agent["json"]
    if current:
        revision = body.get("currentRevision") or {}
        phase = str(revision.get("phase") or "")
        reason = (revision.get("health") or {}).get("reason")
        return chip(str(reason), "bad") if reason else chip(phase)
    previous = body.get("previousRevision") or {}
    if previous.get("deploymentID") == deployment["id"]:
        return chip(str(previous.get("phase") or "Draining"))
    return chip("replaced")


def settings_summary(settings: dict[str, Any], bound: dict[str, Any]) -> str:
    """A deployment's settings, in a few words: profile, scaling, sets (with the version it
    bound), session limit."""
    said = []
    profile = settings.get("agentProfile")
    if profile:
        said.append(f"<code>{e(profile)}</code>")
    elif settings.get("resources"):
        resources = settings["resources"]
        said.append(f"<code>{e(resources.get('cpu'))} CPU, {e(resources.get('memory'))}</code>")
    scaling = settings.get("autoScaling") or {}
    said.append(f"{e(scaling.get('minAgents'))}\u2013{e(scaling.get('maxAgents'))} agents")
    for field, label in (("secretSet", "secrets"), ("imagePullSecretSet", "pull secret")):
        name = settings.get(field)
        if name:
            version = (bound.get(field) or {}).get("version")
            suffix = f" v{e(version)}" if version is not None else ""
            said.append(f"{label} {link(f'/_emulator/secrets/{part(name)}', name)}{suffix}")
    if settings.get("maxSessionDuration") is not None:
        said.append(f"max session {e(settings['maxSessionDuration'])} s")
    if settings.get("architecture"):
        said.append(e(settings["architecture"]))
    return '<span class="sep"> · </span>'.join(said)


def deployments_section(view: dict[str, Any]) -> str:
    rows = []
    for agent in view["agents"]:
        name, deployments = agent["name"], agent["deployments"]
        for index, deployment in reversed(list(enumerate(deployments))):
            current = index == len(deployments) - 1
            build_id = deployment.get("buildId")
            runs = (
                f"build {link(f'/_emulator/builds/{part(build_id)}', build_id[:8], build_id)}"
                if build_id
                else f'<code class="image" title="{e(deployment.get("image"))}">'
                f"{e(deployment.get('image'))}</code>"
            )
            rows.append(
                f'<tr data-agent="{e(name)}" data-deployment="{e(deployment["id"])}">'
                f"<td>{link(f'/_emulator/agents/{part(name)}', name)}</td>"
                f"<td>{short(deployment['id'])}</td>"
                f"<td>{'current' if current else 'previous'}</td>"
                f'<td class="status">{deployment_state(agent, deployment, current)}</td>'
                f"<td>{runs}</td>"
                f'<td class="wrap">'
                f"{settings_summary(deployment['settings'], deployment['boundSets'])}</td>"
                "</tr>"
            )
    headers = ("agent", "deployment", "", "phase", "runs", "settings")
    return section(
        "deployments",
        "Deployments",
        f"{len(rows)}",
        "/_emulator/dashboard/view",
        table("deployments", headers, rows, "No deployments yet."),
        True,
    )


def sessions_section(view: dict[str, Any]) -> str:
    rows = []
    for agent in view["agents"]:
        name = agent["name"]
        for session in agent["sessions"]:
            state = session["endState"]
            start = {True: "cold", False: "warm"}.get(session.get("coldStart"), "—")
            bot = session.get("botStartSeconds")
            rows.append(
                f'<tr data-agent="{e(name)}" data-session="{e(session["sessionId"])}">'
                f"<td>{link(f'/_emulator/agents/{part(name)}', name, AGENT_JSON)}</td>"
                f"<td>{short(session['sessionId'])}</td>"
                f'<td class="status">{chip(state)}</td>'
                f"<td>{e(start)}</td>"
                f'<td class="num">{e("—" if bot is None else f"{bot} s")}</td>'
                f"<td>{ago(session.get('createdAt'), view['now'])}</td>"
                f"<td>{ago(session.get('endedAt'), view['now'])}</td></tr>"
            )
    headers = ("agent", "session", "end state", "start", "bot start", "created", "ended")
    return section(
        "sessions",
        "Recent sessions",
        f"{len(rows)}",
        "/_emulator/dashboard/view",
        table("sessions", headers, rows, "No sessions yet."),
        False,
    )


def builds_section(view: dict[str, Any]) -> str:
    rows = []
    for build in view["builds"]:
        build_id = build["id"]
        json_link = link(f"/_emulator/builds/{part(build_id)}", build_id[:8], build_id)
        logs = link(f"/_emulator/builds/{part(build_id)}/logs", "logs", "its log (text)")
        rows.append(
            f'<tr data-build="{e(build_id)}">'
            f'<td>{json_link} <span class="sep">·</span> {logs}</td>'
            f'<td class="status">{chip(build["status"])}</td>'
            f"<td><code>{e(build['contextHash'])}</code></td>"
            f"<td><code>{e(build['dockerfilePath'])}</code></td>"
            f"<td>{e(build['region'])}</td>"
            f"<td>{ago(build.get('createdAt'), view['now'])}</td></tr>"
        )
        error = build.get("errorMessage")
        if error:
            rows.append(
                f'<tr class="detail" data-build="{e(build_id)}"><td colspan="99">'
                f'<div class="error" title="{e(error)}">{e(error)}</div></td></tr>'
            )
    headers = ("build", "status", "contextHash", "Dockerfile", "region", "created")
    shown = len(view["builds"])
    total = view["buildsTotal"]
    count = f"{shown}" if shown == total else f"newest {shown} of {total}"
    return section(
        "builds",
        "Builds",
        count,
        "/_emulator/dashboard/view",
        table("builds", headers, rows, "No builds yet."),
        False,
    )


def secrets_section(view: dict[str, Any]) -> str:
    rows = []
    for found in view["secretSets"]:
        name = found["name"]
        kind = "image pull secret" if found["type"] == "imagePullSecret" else "secrets"
        keys = ", ".join(f"<code>{e(k['fieldName'])}</code>" for k in found["secrets"])
        error = found.get("errorMessage")
        said = chip(found["status"]) + (
            f' <span class="error" title="{e(error)}">{e(error)}</span>' if error else ""
        )
        rows.append(
            f'<tr data-set="{e(name)}">'
            f"<td>{link(f'/_emulator/secrets/{part(name)}', name, 'its keys (JSON)')}</td>"
            f"<td>{e(kind)}</td><td>{e(found['region'])}</td>"
            f'<td class="status">{said}</td><td class="keys">{keys}</td></tr>'
        )
    return section(
        "secrets",
        "Secret sets",
        f"{len(rows)}",
        "/_emulator/dashboard/view",
        table(
            "secrets",
            ("set", "type", "region", "status", "keys (values never shown)"),
            rows,
            "No secret sets yet.",
        ),
        False,
    )


def fault_effect(fault: dict[str, Any]) -> str:
    """A queued fault's effect, from its control JSON: `503`, `drop`, `hold 5 s`..."""
    if fault.get("actThenDrop"):
        said = "act, then drop"
    elif fault.get("drop"):
        said = "drop"
    elif "hold" in fault:
        said = f"hold {fault['hold']} s"
    elif "status" in fault:
        said = str(fault["status"])
        if fault.get("body"):
            said += f" {fault['body']}"
    else:
        said = ""
    if fault.get("delay"):
        said = f"delay {fault['delay']} s" + (f", {said}" if said else "")
    return said


def faults_section(view: dict[str, Any]) -> str:
    queued = [
        f'<tr class="queued"><td>{chip("queued", "busy")}</td>'
        f"<td><code>{e(fault['route'])}</code></td><td>{e(fault_effect(fault))}</td>"
        f'<td class="num">{e(fault["times"])} left</td></tr>'
        for fault in view["faults"]
    ]
    fired = [
        f'<tr class="fired"><td>{chip("fired", "bad")}</td>'
        f"<td><code>{e(fault['route'])}</code></td><td>{e(fault['fault'])}</td>"
        f'<td class="num">{e(clock_time(fault["at"]))}</td></tr>'
        for fault in view["fired"]
    ]
    count = f"{len(queued)} queued, {view['faultsFired']} fired"
    return section(
        "faults",
        "Faults",
        count,
        "/_emulator/faults",
        table("faults", ("", "route", "effect", "left / at (UTC)"), queued + fired, "None."),
        False,
    )


def request_path(entry: dict[str, Any]) -> tuple[str, str]:
    """(method, path) of a logged request: its route's template with the URL's variables."""
    method, _, template = entry["route"].partition(" ")
    args = entry["args"]
    if template == "(unmatched)":
        return method, f"{args.get('path', '')} (no such route)"
    for name, value in args.items():
        template = template.replace("{" + name + "}", value)
    return method, template


def milliseconds(seconds: float) -> str:
    took = seconds * 1000
    return f"{took:.1f} ms" if took < 10 else f"{took:,.0f} ms"


def status_tone(status: int | None) -> str:
    if status is None:
        return "bad"
    if status >= 500:
        return "bad"
    if status >= 400:
        return "warn"
    return "ok"


def requests_section(view: dict[str, Any]) -> str:
    rows = []
    for entry in view["requests"][:REQUESTS_SHOWN]:
        method, path = request_path(entry)
        status = entry["status"]
        said = "dropped" if status is None else str(status)
        fault = entry.get("fault")
        rows.append(
            f'<tr data-request="{e(entry["id"])}" data-client="{e(entry["client"])}">'
            f'<td class="time">{e(clock_time(entry["at"]))}</td>'
            f"<td>{e(entry['client'])}</td>"
            f'<td><span class="method">{e(method)}</span> <code>{e(path)}</code></td>'
            f'<td class="status">{chip(said, status_tone(status))}</td>'
            f'<td class="num">{e(milliseconds(entry["seconds"]))}</td>'
            f"<td>{chip(fault, 'bad') if fault else ''}</td></tr>"
        )
    total = view["requestsTotal"]
    count = f"newest {len(rows)} of {total}" if total > len(rows) else f"{total}"
    return section(
        "requests",
        "Requests",
        count,
        "/_emulator/requests",
        table(
            "requests",
            ("time (UTC)", "client", "request", "status", "took", "fault"),
            rows,
            "No requests yet.",
            "log",
        ),
        True,
    )


def summary(view: dict[str, Any]) -> str:
    active = sum(a["json"].get("activeSessionCount", 0) for a in view["agents"])
    figures = (
        ("builds", view["buildsTotal"]),
        ("agents", len(view["agents"])),
        ("active sessions", active),
        ("secret sets", len(view["secretSets"])),
        ("requests", view["requestsTotal"]),
        ("faults fired", view["faultsFired"]),
    )
    cells = "".join(
        f'<div class="figure"><b>{e(n)}</b><span>{e(label)}</span></div>' for label, n in figures
    )
    advanced = view["advanced"]
    clock = f"service time {clock_time(view['now'])} UTC" + (
        f", clock moved on {advanced:g} s" if advanced else ""
    )
    return (
        f'<div class="summary">{cells}<div class="clock">{e(clock)}'
        f'<br><span id="stamp"></span></div></div>'
    )


def live(view: dict[str, Any]) -> str:
    """The part of the page that follows the emulator: the summary and every table."""
    return "".join(
        (
            summary(view),
            agents_section(view),
            deployments_section(view),
            sessions_section(view),
            builds_section(view),
            secrets_section(view),
            faults_section(view),
            requests_section(view),
        )
    )


# -- the controls and the page ---------------------------------------------------------------


def controls(routes: list[str]) -> str:
    """Forms to the dashboard's control routes: queue a fault, clear the faults, reset the
    traffic (stats, request log, faults fired), move the clock on."""
    options = "".join(f'<option value="{e(r)}">{e(r)}</option>' for r in routes)
    forms = (
        '<form method="post" action="/_emulator/dashboard/faults" class="fault">'
        f'<label>route <select name="route">{options}</select></label>'
        '<label>effect <select name="effect"><option value="status">status</option>'
        '<option value="drop">drop the connection</option>'
        '<option value="actThenDrop">act, then drop</option>'
        '<option value="hold">hold</option></select></label>'
        '<label>status <input name="status" type="number" min="400" max="599" value="503">'
        "</label>"
        '<label>body <select name="body"><option>json</option><option>html</option>'
        "<option>malformed</option></select></label>"
        '<label>times <input name="times" type="number" min="1" value="1"></label>'
        '<label>delay / hold s <input name="seconds" type="number" min="0" step="any"></label>'
        "<button>Queue fault</button></form>"
        '<form method="post" action="/_emulator/dashboard/faults/clear">'
        "<button>Clear faults</button></form>"
        '<form method="post" action="/_emulator/dashboard/reset">'
        "<button>Reset stats and request log</button></form>"
        '<form method="post" action="/_emulator/dashboard/clock">'
        '<label>move the clock on (s) <input name="advance" type="number" min="0" step="any" '
        'value="10"></label><button>Advance</button></form>'
    )
    return (
        '<section id="controls" class="card wide"><header><h2>Controls</h2>'
        '<span class="count">answered from this machine only</span>'
        f'<a class="json" href="/_emulator/config">settings JSON</a></header>'
        f'<div class="forms">{forms}</div></section>'
    )


STYLE = """
:root { --ink:#1f2328; --soft:#59636e; --line:#d1d9e0; --bg:#f6f8fa; --card:#fff;
  --ok:#1a7f37; --ok-bg:#dafbe1; --busy:#9a6700; --busy-bg:#fff8c5; --bad:#cf222e;
  --bad-bg:#ffebe9; --warn:#bc4c00; --warn-bg:#fff1e5; --live:#0969da; --live-bg:#ddf4ff;
  --muted:#59636e; --muted-bg:#eff2f5; }
* { box-sizing: border-box; }
body { margin:0; font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--ink); background:var(--bg); }
body > header { display:flex; align-items:baseline; gap:16px; padding:10px 20px;
  background:#24292f; color:#fff; }
body > header h1 { font-size:16px; margin:0; font-weight:600; }
body > header .where { color:#c9d1d9; font-size:12px; }
body > header code { color:#fff; }
main { display:grid; grid-template-columns:1fr 1fr; gap:12px; padding:12px 20px 24px; }
#live { display:contents; }
.summary { grid-column:1 / -1; display:flex; gap:10px; align-items:stretch; }
.figure { background:var(--card); border:1px solid var(--line); border-radius:6px;
  padding:6px 14px; display:flex; flex-direction:column; min-width:96px; }
.figure b { font-size:18px; font-weight:600; }
.figure span { color:var(--soft); font-size:11px; text-transform:uppercase; letter-spacing:.03em; }
.clock { margin-left:auto; color:var(--soft); font-size:12px; text-align:right; align-self:center; }
.card { background:var(--card); border:1px solid var(--line); border-radius:6px;
  overflow-x:auto; min-width:0; }
.card.wide { grid-column:1 / -1; }
.card > header { display:flex; align-items:baseline; gap:8px; padding:7px 12px;
  border-bottom:1px solid var(--line); background:#fafbfc; }
.card h2 { font-size:13px; margin:0; font-weight:600; }
.count { color:var(--soft); font-size:12px; }
a.json { margin-left:auto; font-size:11px; }
a { color:var(--live); text-decoration:none; }
a:hover { text-decoration:underline; }
table { width:100%; border-collapse:collapse; }
th { text-align:left; font-weight:600; color:var(--soft); font-size:11px; padding:4px 10px;
  border-bottom:1px solid var(--line); white-space:nowrap; }
td { padding:4px 10px; border-bottom:1px solid #eef1f4; vertical-align:top;
  white-space:nowrap; }
td.wrap, td.keys { white-space:normal; }
tr.detail td { padding-top:0; border-top:none; }
tr:has(+ tr.detail) td { border-bottom:none; }
td.time { font-variant-numeric:tabular-nums; color:var(--soft); }
tr:last-child td { border-bottom:none; }
tr.empty td { color:var(--soft); font-style:italic; }
td.num { text-align:right; white-space:nowrap; font-variant-numeric:tabular-nums; }
code { font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
code.image { display:inline-block; max-width:320px; overflow:hidden; text-overflow:ellipsis;
  white-space:nowrap; vertical-align:top; }
.chip { display:inline-block; padding:0 7px; border-radius:10px; font-size:11px;
  font-weight:600; line-height:18px; white-space:nowrap; }
.chip.ok { color:var(--ok); background:var(--ok-bg); }
.chip.busy { color:var(--busy); background:var(--busy-bg); }
.chip.bad { color:var(--bad); background:var(--bad-bg); }
.chip.warn { color:var(--warn); background:var(--warn-bg); }
.chip.live { color:var(--live); background:var(--live-bg); }
.chip.muted { color:var(--muted); background:var(--muted-bg); }
.error { color:var(--bad); font-size:11px; white-space:nowrap; overflow:hidden;
  text-overflow:ellipsis; max-width:560px; }
.none { color:#9aa4ae; }
.sep { color:#9aa4ae; }
.method { font-weight:600; font-size:11px; color:var(--soft); display:inline-block; width:46px; }
table.log td { padding-top:2px; padding-bottom:2px; }
.forms { display:flex; flex-wrap:wrap; gap:10px 18px; padding:10px 12px; align-items:flex-end; }
form { display:flex; flex-wrap:wrap; gap:8px; align-items:flex-end; margin:0; }
label { display:flex; flex-direction:column; font-size:11px; color:var(--soft); gap:2px; }
input, select { font:12px system-ui,sans-serif; padding:3px 5px; border:1px solid var(--line);
  border-radius:4px; background:#fff; }
input[type=number] { width:72px; }
button { font:600 12px system-ui,sans-serif; padding:4px 10px; border:1px solid #1f883d;
  border-radius:5px; background:#1f883d; color:#fff; cursor:pointer; }
form:not(.fault) button { background:#f6f8fa; color:var(--ink); border-color:var(--line); }
.banner { grid-column:1 / -1; padding:8px 12px; border-radius:6px; color:var(--bad);
  background:var(--bad-bg); border:1px solid #ffcecb; }
"""

SCRIPT = f"""
(() => {{
  const live = document.getElementById("live");
  async function poll() {{
    if (!document.hidden) {{
      try {{
        const answer = await fetch("{LIVE_PATH}", {{cache: "no-store"}});
        if (answer.ok) {{
          live.innerHTML = await answer.text();
          document.getElementById("stamp").textContent = "live: updated every second";
        }}
      }} catch (error) {{
        const stamp = document.getElementById("stamp");
        if (stamp) stamp.textContent = "the emulator does not answer";
      }}
    }}
    setTimeout(poll, {REFRESH_MS});
  }}
  setTimeout(poll, {REFRESH_MS});
}})();
"""


def page(view: dict[str, Any], routes: list[str], problem: str | None = None) -> str:
    """The whole dashboard: the live part, then the controls (`routes`: the routes a fault
    may target); `problem`: what a control form was refused for."""
    banner = f'<div class="banner" role="alert">{e(problem)}</div>' if problem else ""
    where = (
        f"API <code>{e(view['apiUrl'])}</code> · organization "
        f"<code>{e(view['organizationId'])}</code>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pipecat Cloud emulator</title>
<link rel="icon" href="data:,">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<style>{STYLE}</style></head>
<body><header><h1>Pipecat Cloud emulator</h1><span class="where">{where}</span></header>
<main>{banner}<div id="live">{live(view)}</div>{controls(routes)}</main>
<script>{SCRIPT}</script></body></html>
"""
