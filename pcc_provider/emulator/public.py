"""The public API's route table: `/v1/builds`, `/v1/agents` (with their sessions and logs),
`/v1/public/{agent}/start`, `/v1/secrets`, regions, properties.

Starting a session is the one route a public API key opens (the app authorizes it so): it
is refused with 404 for no such agent, 402 (`SPEND_LIMIT_REACHED`) while the spend limit
blocks new sessions, and 400 (`PCC-1001`, the spec's ServiceNotAvailable) while no deployment
of the agent is ready. Stopping a session that has ended is not refused: the answer gives
the state it ended in (`{"status": "completed", ...}`), so a stop retried after its answer
was lost succeeds as the first did.

Each handler validates its request (web.py), calls one backend operation and renders the
entity it gets back (render.py); openapi.json is the description these routes answer to.
Where the real service goes beyond it, so do they (each place says so): no `region` on
`POST /v1/builds/upload-url` and `POST /v1/builds` means the organization's default region,
and `GET /v1/builds` filters on `dockerfilePath` (the GitHub deploy action relies on both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator import render
from pcc_provider.emulator.backend import Backend
from pcc_provider.emulator.entities import Build
from pcc_provider.emulator.storage import UploadTarget
from pcc_provider.emulator.web import (
    agent_logs_query,
    bad_request,
    build_request,
    builds_query,
    check_build_id,
    check_session_id,
    check_set_name,
    create_agent_request,
    include_deployment,
    json_response,
    logs_json,
    logs_page,
    opt_str,
    query_str,
    read_json,
    secret_set_request,
    sessions_query,
    start_request,
    update_agent_request,
)

# startService, served on the spec's public server (`.../v1/public`); pcc's `start_path`.
START_ROUTE = "/v1/public/<agentName>/start"


class PublicApi:
    """Handlers for the public API over one backend; `base_url()` is the emulator's address,
    used in uploadUrl and logsUrl (known once the server has bound its port)."""

    def __init__(self, backend: Backend, uploads: UploadTarget, base_url: Callable[[], str]):
        self.backend = backend
        self.uploads = uploads
        self.base_url = base_url

    def rules(self) -> list[Rule]:
        return [
            Rule("/v1/builds/upload-url", methods=["POST"], endpoint=self.upload_url),
            Rule("/v1/builds", methods=["GET"], endpoint=self.list_builds),
            Rule("/v1/builds", methods=["POST"], endpoint=self.create_build),
            Rule("/v1/builds/<build:buildId>", methods=["GET"], endpoint=self.get_build),
            Rule("/v1/builds/<build:buildId>/logs", methods=["GET"], endpoint=self.build_logs),
            Rule("/v1/agents", methods=["GET"], endpoint=self.list_agents),
            Rule("/v1/agents", methods=["POST"], endpoint=self.create_agent),
            Rule("/v1/agents/<agentName>", methods=["GET"], endpoint=self.get_agent),
            Rule("/v1/agents/<agentName>", methods=["POST"], endpoint=self.update_agent),
            Rule("/v1/agents/<agentName>", methods=["DELETE"], endpoint=self.delete_agent),
            Rule("/v1/agents/<agentName>/sessions", methods=["GET"], endpoint=self.sessions),
            Rule(
                "/v1/agents/<agentName>/sessions/<sessionId>",
                methods=["GET"],
                endpoint=self.session,
            ),
            Rule(
                "/v1/agents/<agentName>/sessions/<sessionId>",
                methods=["DELETE"],
                endpoint=self.stop_session,
            ),
            Rule("/v1/agents/<agentName>/logs", methods=["GET"], endpoint=self.agent_logs),
            # PublicKeyAuth: the app takes an organization's public key here, and only here.
            Rule(START_ROUTE, methods=["POST"], endpoint=self.start),
            Rule("/v1/regions", methods=["GET"], endpoint=self.regions),
            Rule("/v1/properties", methods=["GET"], endpoint=self.properties_get),
            Rule("/v1/properties", methods=["PATCH"], endpoint=self.properties_update),
            Rule("/v1/properties/schema", methods=["GET"], endpoint=self.properties_schema),
            Rule("/v1/secrets", methods=["GET"], endpoint=self.list_secret_sets),
            Rule("/v1/secrets/<setName>", methods=["PUT"], endpoint=self.put_secret_set),
            Rule("/v1/secrets/<setName>", methods=["GET"], endpoint=self.get_secret_set),
            Rule("/v1/secrets/<setName>", methods=["DELETE"], endpoint=self.delete_secret_set),
            Rule(
                "/v1/secrets/<setName>/<secretKey>", methods=["DELETE"], endpoint=self.delete_secret
            ),
        ]

    # -- builds ------------------------------------------------------------------------------

    def upload_url(self, request: Request) -> Response:
        body = read_json(request)
        # Beyond the spec (which marks it required): like the real service, a request without
        # a region uses the organization's default; the GitHub deploy action relies on it.
        region = opt_str(body, "region") or self.backend.default_region()
        upload = self.backend.create_upload(region)
        return json_response(
            render.upload_json(upload, self.base_url(), self.uploads.presign(upload))
        )

    def create_build(self, request: Request) -> Response:
        upload_id, region, dockerfile_path = build_request(
            read_json(request), self.backend.default_region()
        )
        build, cached = self.backend.create_build(upload_id, region, dockerfile_path)
        return json_response(
            {
                "build": self._build_json(build),
                "contextHash": build.context_hash,
                "cached": cached,
            },
            200 if cached else 201,
        )

    def list_builds(self, request: Request) -> Response:
        query = builds_query(request)
        builds, total = self.backend.list_builds(**query)
        return json_response(
            {
                "builds": [self._build_json(b) for b in builds],
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
            }
        )

    def get_build(self, request: Request, buildId: str) -> Response:
        build = self.backend.get_build(check_build_id(buildId))
        return json_response({"build": self._build_json(build)})

    def build_logs(self, request: Request, buildId: str) -> Response:
        build_id = check_build_id(buildId)
        start, limit = logs_page(request)
        build = self.backend.get_build(build_id)
        lines = render.build_logs(build, self.backend.clock.now(), self.backend.organization)
        return json_response(logs_json(lines, start, limit))

    def _build_json(self, build: Build) -> dict[str, Any]:
        return render.build_json(
            build, self.backend.clock.now(), self.backend.organization, self.base_url()
        )

    # -- agents ------------------------------------------------------------------------------

    def create_agent(self, request: Request) -> Response:
        body = read_json(request)
        name, region, image, build_id, settings = create_agent_request(body)
        agent = self.backend.create_agent(name, region, image, build_id, settings, body)
        return json_response(
            render.agent_json(agent, self.backend.clock.now(), self.backend.organization)
        )

    def list_agents(self, request: Request) -> Response:
        with_deployment = include_deployment(request)
        agents = self.backend.list_agents(query_str(request, "region"))
        now, organization = self.backend.clock.now(), self.backend.organization
        return json_response(
            {
                "services": [
                    render.agent_list_item(a, now, organization, with_deployment) for a in agents
                ]
            }
        )

    def get_agent(self, request: Request, agentName: str) -> Response:
        agent = self.backend.get_agent(agentName)
        return json_response(
            render.agent_json(agent, self.backend.clock.now(), self.backend.organization)
        )

    def update_agent(self, request: Request, agentName: str) -> Response:
        agent = self.backend.get_agent(agentName, "Service not found")
        body = read_json(request)
        image, build_id, changes, force = update_agent_request(body, agent.current.settings)
        agent = self.backend.update_agent(agentName, image, build_id, changes, force, body)
        return json_response(
            render.agent_json(agent, self.backend.clock.now(), self.backend.organization)
        )

    def delete_agent(self, request: Request, agentName: str) -> Response:
        self.backend.delete_agent(agentName)
        return json_response({"status": "OK"})

    def regions(self, request: Request) -> Response:
        return json_response({"regions": render.regions_json()})

    # -- sessions and logs -------------------------------------------------------------------

    def start(self, request: Request, agentName: str) -> Response:
        started = start_request(read_json(request))
        agent, session = self.backend.start_session(agentName)
        organization = self.backend.organization
        return json_response(
            render.session_start_json(agent, session, organization, self.base_url(), started)
        )

    def sessions(self, request: Request, agentName: str) -> Response:
        query = sessions_query(request)
        limit, offset = query.pop("limit"), query.pop("offset")
        now = self.backend.clock.now()
        agent, found = self.backend.sessions(agentName, now, **query)
        page = found[offset : offset + limit]
        organization = self.backend.organization
        return json_response(
            {
                "total_count": len(found),
                "sessions": [render.session_json(agent, s, organization, now) for s in page],
            }
        )

    def session(self, request: Request, agentName: str, sessionId: str) -> Response:
        agent, session = self.backend.get_session(agentName, sessionId)
        now = self.backend.clock.now()
        return json_response(render.session_json(agent, session, self.backend.organization, now))

    def stop_session(self, request: Request, agentName: str, sessionId: str) -> Response:
        _, session = self.backend.stop_session(agentName, check_session_id(sessionId))
        # An ended session is not refused: its end state is answered, so a retried stop
        # (its first answer lost) succeeds as the first did.
        state = session.state(self.backend.clock.now())
        return json_response({"status": state, "session_id": session.id})

    def agent_logs(self, request: Request, agentName: str) -> Response:
        query = agent_logs_query(request)
        agent = self.backend.get_agent(agentName)
        lines = render.agent_log_lines(agent, self.backend.clock.now(), **query["filters"])
        return json_response(
            render.agent_logs_json(lines, query["order"], query["offset"], query["limit"])
        )

    # -- properties --------------------------------------------------------------------------

    def properties_get(self, request: Request) -> Response:
        return json_response({"properties": self.backend.properties()})

    def properties_update(self, request: Request) -> Response:
        updated = self.backend.update_properties(read_json(request))
        # The spec answers a PATCH with the whole schema, current values included.
        return json_response({"properties": render.property_schema_json(updated)})

    def properties_schema(self, request: Request) -> Response:
        return json_response({"properties": render.property_schema_json(self.backend.properties())})

    # -- secrets -----------------------------------------------------------------------------

    def put_secret_set(self, request: Request, setName: str) -> Response:
        name = check_set_name(setName)
        body = read_json(request)
        region = opt_str(body, "region")
        values, host = secret_set_request(body)
        secret_set = self.backend.put_secret_set(name, region, values, host)
        return json_response({"status": "OK", "region": secret_set.region}, 202)

    def list_secret_sets(self, request: Request) -> Response:
        now = self.backend.clock.now()
        sets = [render.secret_set_json(s, now, False) for s in self.backend.list_secret_sets()]
        return json_response({"sets": sets})

    def get_secret_set(self, request: Request, setName: str) -> Response:
        secret_set = self.backend.get_secret_set(check_set_name(setName))
        if secret_set.type == "imagePullSecret":
            bad_request("Cannot retrieve image pull secrets by name")
        return json_response(render.secret_set_json(secret_set, self.backend.clock.now(), True))

    # A name no set can have is simply not found here: the spec documents no 400 for these.
    def delete_secret_set(self, request: Request, setName: str) -> Response:
        self.backend.delete_secret_set(setName)
        return json_response({"status": "OK"})

    def delete_secret(self, request: Request, setName: str, secretKey: str) -> Response:
        self.backend.delete_secret(setName, secretKey)
        return json_response({"status": "OK"})
