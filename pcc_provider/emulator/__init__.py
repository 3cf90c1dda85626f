"""A local Pipecat Cloud: builds, uploads, agents and secret sets over real HTTP on loopback.

    from pcc_provider.emulator import Emulator
    with Emulator(state_dir, api_key="k", build_seconds=0.5) as emu:
        emu.api_url  # point a client here

`python -m pcc_provider emulator` runs `serve`. Layers, each importing only those above it:
    spec.py         what requests may contain, read from openapi.json (the official API)
    entities.py     uploads, builds, agents, sessions, secret sets: their status at a time,
                    what fails them
    archive.py      reading an uploaded context: a tar.gz, and its Dockerfile
    settings.py     the runtime settings (durations, upload limits)
    persistence.py  one JSON file per entity in the state directory, locked by one emulator;
                    records it cannot read set aside in unreadable/, with a line
    backend.py      the operations, returning entities (moto's "backend")
    render.py       the API's JSON of an entity at a time `now`: pure functions
    web.py          HTTP helpers: the error shape, JSON bodies, request validators
    storage.py      the presigned-POST upload target (an S3 bucket)
    traffic.py      request counts, injected faults, the request log (a ring buffer)
    page.py         the dashboard's HTML, from the API's JSON (render.py): pure functions
    public.py, organization.py, control.py, dashboard.py   the route tables (handlers are
                    their endpoints); dashboard.py: `GET /` and its forms
    app.py          the WSGI app composing them: dispatch, auth, faults, stats
    server.py       waitress, in a thread (`Emulator`) or in the foreground (`serve`)

Two API route tables over one backend: the public API (`/v1/builds`, `/v1/agents` with their
sessions and logs, `/v1/public/{agent}/start`, `/v1/regions`, `/v1/properties`) and the
organization-scoped API the official CLI (`pipecatcloud` 1.4.0) calls
(`/v1/organizations/{org}/...`, `/v1/users`). With PIPECAT_API_HOST=<emulator url>
PIPECAT_TOKEN=<api key> PIPECAT_ORG=<any name>, the CLI's `regions list`, `deploy`, `build
list|status|logs`, `agent list|status|delete`, `agent start|sessions|stop|logs`,
`organizations list|properties|default-region` and `auth whoami` work; organization.py lists
what is not served. Daily's GitHub deploy action (v2.0.3, `api-url` = the emulator url, no
`/v1`) works too; for it the public routes go beyond openapi.json where the real service does:
no `region` on `POST /v1/builds/upload-url` and `POST /v1/builds` means the organization's
`defaultRegion`, `GET /v1/builds` filters on `dockerfilePath`, and builds of other Dockerfiles
over one context get other image tags (tests/emulator/test_github_action.py).

Builds fail from content alone: a Dockerfile line `RUN exit 1` fails the build, a missing
Dockerfile fails it, `RUN sleep infinity` makes it time out.
Deployments too: a build whose Dockerfile has `CMD exit N` (or ENTRYPOINT) crash-loops with
exit code N, an image reference containing `crashloop` crash-loops with exit code 1, one
containing `does-not-exist` cannot be pulled and ends in phase Failed. And the sessions a
public key starts (`POST /v1/public/{agent}/start`) play the bot of the deployment serving:
a Dockerfile line `ENV PCC_EMULATOR_BOT=crash|hang|ends:N`, or an image reference containing
`bot-crash`, `bot-hang` or `bot-ends-N`, makes it fail at start (`agent_error`, a traceback in
the agent's logs), never start (`agent_start_timeout` after 60 s) or end `completed` N s after
it started; any other bot runs until stopped or maxSessionDuration. Request limits come from
openapi.json (spec.py).

The dashboard, `GET /` (dashboard.py, page.py): the builds, agents with their deployments and
sessions, secret sets (keys only), faults and the request log, as the API renders them, every
string vetted with the provider's redaction rule against the secrets the emulator holds.

Control endpoints (no auth, not counted in the stats):
    GET/DELETE /_emulator/stats   {"requests": {"GET /v1/builds/{buildId}": n, ...},
                                   "uploadedBytes": n, "uploadAuthorizationHeaders": n,
                                   "faultsFired": n (requests a queued fault changed),
                                   "sessionsCut": n, "sessionsCutByAgent": {name: n}
                                   (sessions still active when their agent was deleted)}
    GET/POST   /_emulator/config  {"buildSeconds": 3.0, ...}: each setting of settings.py,
                                   by its camelCase name
    GET/POST   /_emulator/clock   {"advance": seconds}: the service's time moves on that much
                                   (builds end, deployments and sets get ready, upload URLs
                                   expire); answers {"now": ..., "advanced": seconds in all}
    GET/POST/DELETE /_emulator/faults
               {"route": "GET /v1/builds/{buildId}", "status": 503, "times": 2}
               {"route": ..., "status": 429, "retryAfter": 1} | {"route": ..., "drop": true}
               | {"route": ..., "actThenDrop": true}  (handled, then the answer is dropped)
               | {"route": ..., "status": 503, "retryAfter": "soon"}  (any string, sent as
                 it is: invalid values and HTTP-dates too)
               | {"route": "GET /v1/builds", "body": "endless", "total": "abc", "times": 500}
                 (the first page whatever the offset, saying `total`; 1e9 if not given)
    GET        /_emulator/builds/{buildId}   as `GET /v1/builds/{buildId}`; `/logs`: its log, text
    DELETE     /_emulator/builds/{buildId}   (the real API cannot delete builds)
    GET        /_emulator/secrets/{setName}  its name, type, region, status and keys; no value
    GET        /_emulator/requests  the request log (newest first) and the faults fired
    POST       /_emulator/secrets/{setName}/fail  {"errorMessage": ...}: its next
               provisioning ends `failed`
    GET        /_emulator/agents/{agentName}  each deployment's build (or image), settings and
               the version of each secret set it bound; its sessions as they stand, with
               the bot each plays
    POST       /_emulator/agents/{agentName}/sessions  {"endState": "completed", "seconds": 30,
               "botStartSeconds": 2, "coldStart": true} (no endState: active; with
               "endsAfter": seconds it ends `completed` that long from now)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pcc_provider.emulator.server import Emulator, serve

__all__ = ["Emulator", "serve"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that reading the settings (the CLI's flags) loads no server.
    if name in __all__:
        from pcc_provider.emulator import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
