"""The official CLI's route table: the organization-scoped API `pipecatcloud` 1.4.0 calls.

It runs over the same backend and renderers as the public API (public.py).

The CLI never calls the public `/v1/builds` or `/v1/agents`: it calls
`/v1/organizations/{org}/...` (paths from `pipecatcloud/config.py`), sends agent updates as
`PUT .../services` with the name in the body, and reads an agent wrapped in `{"body": ...}`.
None of this is in the public spec; each shape below names the CLI code that reads it. The
handlers only translate: they validate with web.py, act through the backend and render with
render.py, as the public routes do, so both APIs always agree.

Commands served: `regions list`; `deploy` (cloud build, or `--build-id`/an image; create,
update, `--force`, the organization's default region when none is given; `websocketAuth`,
`architecture` and `resources`, which only these routes take; `git`, github.py); `build list`,
`build status ID`, `build logs ID`; `agent list`, `agent status NAME`, `agent delete NAME`;
`organizations list`, `organizations properties list|schema|set`,
`organizations default-region`; `auth whoami`; `secrets set|list|unset|delete`,
`secrets image-pull-secret`, and `deploy` binding `secret_set`/`image_credentials` (the CLI
checks the set exists, the API refuses one that is not ready with 409); `agent profiles
list|create|update|enable|disable` (a custom profile in any region: the emulator has no
self-hosted ones); `spend-limit show|set|clear`; `organizations keys list|create|revoke`,
`organizations registry-keys list|mint|revoke` (organization_keys.py); `agent start` (its
`/v1/public/{agent}/start` is the public API's route, public.py, taking a public key),
`agent sessions` (`--end-state`, `--id`: the sessions started, and those a test adds through
the control API), `agent stop`, `agent logs` (`--session-id`, `--deployment`). Not served
(404): agent deployments, GitHub beyond a create's `git`, self-hosted regions (so `secrets
reference`, a POST to `.../secrets/references`, gets 405).

The emulator is one organization: any `{org}` in a path names it (the key decides, as a real
key pins its organization), and `/v1/organizations` lists it under its emulator id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator import github, render
from pcc_provider.emulator.backend import Backend
from pcc_provider.emulator.entities import ARCHITECTURES, Agent, Build
from pcc_provider.emulator.organization_keys import KeysApi
from pcc_provider.emulator.storage import UploadTarget
from pcc_provider.emulator.web import (
    agent_logs_query,
    bad_request,
    build_request,
    builds_query,
    check_build_id,
    check_set_name,
    create_agent_request,
    include_deployment,
    json_response,
    logs_json,
    logs_page,
    opt_str,
    organization_settings,
    profile_resources,
    query_str,
    read_json,
    req_str,
    secret_set_request,
    update_agent_request,
)

ORG = "/v1/organizations/<org>"


class OrganizationApi:
    """Handlers for the organization-scoped routes; each takes the `{org}` path segment, which
    any name fills (the key decides the organization)."""

    def __init__(self, backend: Backend, uploads: UploadTarget, base_url: Callable[[], str]):
        self.backend = backend
        self.uploads = uploads
        self.base_url = base_url

    def rules(self) -> list[Rule]:
        return [
            Rule("/v1/users", methods=["GET"], endpoint=self.user),
            Rule("/v1/organizations", methods=["GET"], endpoint=self.organizations),
            Rule(f"{ORG}/regions", methods=["GET"], endpoint=self.regions),
            Rule(f"{ORG}/properties", methods=["GET"], endpoint=self.properties_get),
            Rule(f"{ORG}/properties", methods=["PATCH"], endpoint=self.properties_update),
            Rule(f"{ORG}/properties/schema", methods=["GET"], endpoint=self.properties_schema),
            Rule(f"{ORG}/builds/upload-url", methods=["POST"], endpoint=self.upload_url),
            Rule(f"{ORG}/builds", methods=["GET"], endpoint=self.list_builds),
            Rule(f"{ORG}/builds", methods=["POST"], endpoint=self.create_build),
            Rule(f"{ORG}/builds/<build:buildId>", methods=["GET"], endpoint=self.get_build),
            Rule(f"{ORG}/builds/<build:buildId>/logs", methods=["GET"], endpoint=self.build_logs),
            Rule(f"{ORG}/services", methods=["GET"], endpoint=self.list_services),
            Rule(f"{ORG}/services", methods=["POST"], endpoint=self.create_service),
            Rule(f"{ORG}/services", methods=["PUT"], endpoint=self.update_service),
            Rule(f"{ORG}/services/<agentName>", methods=["GET"], endpoint=self.get_service),
            Rule(f"{ORG}/services/<agentName>", methods=["DELETE"], endpoint=self.delete_service),
            Rule(f"{ORG}/services/<agentName>/sessions", methods=["GET"], endpoint=self.sessions),
            Rule(
                f"{ORG}/services/<agentName>/sessions/<sessionId>",
                methods=["GET"],
                endpoint=self.session,
            ),
            Rule(
                f"{ORG}/services/<agentName>/sessions/<sessionId>",
                methods=["DELETE"],
                endpoint=self.stop_session,
            ),
            Rule(f"{ORG}/services/<agentName>/logs", methods=["GET"], endpoint=self.agent_logs),
            Rule(f"{ORG}/secrets", methods=["GET"], endpoint=self.list_secret_sets),
            Rule(f"{ORG}/secrets/<setName>", methods=["PUT"], endpoint=self.put_secret_set),
            Rule(f"{ORG}/secrets/<setName>", methods=["GET"], endpoint=self.get_secret_set),
            Rule(f"{ORG}/secrets/<setName>", methods=["DELETE"], endpoint=self.delete_secret_set),
            Rule(
                f"{ORG}/secrets/<setName>/<secretKey>",
                methods=["DELETE"],
                endpoint=self.delete_secret,
            ),
            Rule(f"{ORG}/agent-profiles", methods=["GET"], endpoint=self.list_profiles),
            Rule(f"{ORG}/agent-profiles", methods=["POST"], endpoint=self.create_profile),
            Rule(f"{ORG}/agent-profiles/<name>", methods=["PATCH"], endpoint=self.update_profile),
            Rule(f"{ORG}/spend-limit", methods=["GET"], endpoint=self.spend_limit_get),
            Rule(f"{ORG}/spend-limit", methods=["PUT"], endpoint=self.spend_limit_put),
            *KeysApi(self.backend, self.base_url).rules(),
        ]

    def _with_region(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with the organization's default region filled in when it names none: the
        CLI leaves `region` out and expects the API to choose (deploy.py, api.py)."""
        if body.get("region") is None:
            body["region"] = self.backend.default_region()
        return body

    def _build_json(self, build: Build) -> dict[str, Any]:
        body = render.build_json(
            build, self.backend.clock.now(), self.backend.organization, self.base_url()
        )
        if build.commit_sha is not None:
            # A build of a GitHub source: pcc's `build status` shows it (not in the spec).
            body["commitSha"] = build.commit_sha
        return body

    # -- account (auth whoami, organizations list) --------------------------------------------

    def user(self, request: Request) -> Response:
        # auth.py `whoami` prints user.emails[0].emailAddress, else user.userId.
        return json_response(
            {
                "user": {
                    "userId": f"user_{self.backend.organization.organization_id}",
                    "emails": [{"emailAddress": "emulator@localhost"}],
                }
            }
        )

    def organizations(self, request: Request) -> Response:
        # api.py `_organizations` reads organizations[].name and .verboseName; with no
        # PIPECAT_ORG the CLI uses the first name in every path (auth_utils.py).
        name = self.backend.organization.organization_id
        return json_response(
            {"organizations": [{"name": name, "verboseName": "Pipecat Cloud emulator"}]}
        )

    # -- regions and properties ----------------------------------------------------------

    def regions(self, request: Request, org: str) -> Response:
        regions = render.regions_json()
        for region in regions:
            # Read by `regions list` and `deploy --architecture` (regions.py).
            region["supported_architectures"] = list(ARCHITECTURES[region["code"]])
            region["default_architecture"] = ARCHITECTURES[region["code"]][0]
        return json_response({"regions": regions})

    def properties_get(self, request: Request, org: str) -> Response:
        return json_response({"properties": self.backend.properties()})

    def properties_schema(self, request: Request, org: str) -> Response:
        schema = render.property_schema_json(self.backend.properties())
        return json_response({"properties": schema})

    def properties_update(self, request: Request, org: str) -> Response:
        # Unlike the public PATCH (which answers with the schema), the CLI reads plain values
        # back: `properties set` prints data.get(name) (organizations.py).
        return json_response({"properties": self.backend.update_properties(read_json(request))})

    # -- builds ------------------------------------------------------------------------------

    def upload_url(self, request: Request, org: str) -> Response:
        body = self._with_region(read_json(request))
        region = opt_str(body, "region") or self.backend.default_region()
        upload = self.backend.create_upload(region)
        return json_response(
            render.upload_json(upload, self.base_url(), self.uploads.presign(upload))
        )

    def create_build(self, request: Request, org: str) -> Response:
        body = self._with_region(read_json(request))
        upload_id, region, dockerfile_path = build_request(body, self.backend.default_region())
        build, cached = self.backend.create_build(upload_id, region, dockerfile_path)
        return json_response(
            {"build": self._build_json(build), "contextHash": build.context_hash, "cached": cached},
            200 if cached else 201,
        )

    def list_builds(self, request: Request, org: str) -> Response:
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

    def get_build(self, request: Request, org: str, buildId: str) -> Response:
        build = self.backend.get_build(check_build_id(buildId))
        return json_response({"build": self._build_json(build)})

    def build_logs(self, request: Request, org: str, buildId: str) -> Response:
        build_id = check_build_id(buildId)
        start, limit = logs_page(request)
        build = self.backend.get_build(build_id)
        lines = render.build_logs(build, self.backend.clock.now(), self.backend.organization)
        return json_response(logs_json(lines, start, limit))

    # -- services (agents) -------------------------------------------------------------------

    def list_services(self, request: Request, org: str) -> Response:
        # `include=git` (agent list) is ignored: the emulator has no GitHub bindings.
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

    def _service_json(self, agent: Agent) -> dict[str, Any]:
        now = self.backend.clock.now()
        body = render.service_json(agent, now, self.backend.organization)
        if agent.git is not None:
            build = self.backend.builds.get(agent.current.build_id or "")
            body.update(github.rendered(agent, build, now))
        return body

    def create_service(self, request: Request, org: str) -> Response:
        sent = read_json(request)
        body = self._with_region(dict(sent))
        git = github.source(body)  # its image comes from the build this create starts
        name, region, image, build_id, settings = create_agent_request(body)
        settings.update(organization_settings(body, None))
        if git is not None:
            # Nothing is pulled for a git build (pcc drops the pull secret too).
            settings["imagePullSecretSet"] = None
            agent = self.backend.create_git_agent(name, region, git, settings, sent)
        else:
            agent = self.backend.create_agent(name, region, image, build_id, settings, sent)
        return json_response(self._service_json(agent))

    def update_service(self, request: Request, org: str) -> Response:
        # `deploy` of an existing agent: PUT with the whole config and the name in the body.
        body = read_json(request)
        name = req_str(body, "serviceName")
        current = self.backend.get_agent(name, "Service not found").current
        image, build_id, changes, force = update_agent_request(body, current.settings)
        changes.update(organization_settings(body, current.settings))
        agent = self.backend.update_agent(name, image, build_id, changes, force, body)
        updated = self._service_json(agent)
        if updated["desiredDeploymentId"] == current.id and not body.get("forceRedeploy"):
            # deploy.py prints result["warning"] "when identical config was deployed without
            # --force"; the message is ours.
            updated["warning"] = (
                "The configuration is unchanged, so no new deployment was made. "
                "Use --force to redeploy."
            )
        return json_response(updated)

    def get_service(self, request: Request, org: str, agentName: str) -> Response:
        agent = self.backend.get_agent(agentName)
        body = self._service_json(agent)
        build_id = agent.current.build_id
        if build_id is not None:
            # A cloud-built deployment carries its build id and no image: `agent status` shows
            # "Build: <id>" from deployment.buildId (agent.py `_image_display`).
            body["deployment"]["buildId"] = build_id
            body["deployment"]["manifest"]["spec"].pop("image", None)
        # api.py `_agent` returns result["body"], and None (a new agent) without it.
        return json_response({"body": body})

    def delete_service(self, request: Request, org: str, agentName: str) -> Response:
        self.backend.delete_agent(agentName)
        return json_response({"status": "OK"})

    # -- sessions and logs (agent sessions, stop, logs; start is public.py's) ----------------

    def sessions(self, request: Request, org: str, agentName: str) -> Response:
        # api.py `_agent_sessions` sends ?endState= (`agent sessions --end-state`); agent.py
        # reads sessions[].sessionId, createdAt, endedAt, botStartSeconds, coldStart, endState.
        now = self.backend.clock.now()
        agent, found = self.backend.sessions(
            agentName, now, end_state=query_str(request, "endState")
        )
        organization = self.backend.organization
        listed = [render.session_json(agent, s, organization, now) for s in found]
        return json_response({"total_count": len(listed), "sessions": listed})

    def session(self, request: Request, org: str, agentName: str, sessionId: str) -> Response:
        # `agent sessions --id`: one session (api.py `_agent_session`), 404 when unknown.
        agent, session = self.backend.get_session(agentName, sessionId)
        now = self.backend.clock.now()
        return json_response(render.session_json(agent, session, self.backend.organization, now))

    def stop_session(self, request: Request, org: str, agentName: str, sessionId: str) -> Response:
        # `agent stop --session-id` (api.py `_agent_session_terminate`): as the public stop,
        # but an id that is no UUID is simply not found (pcc reads a 404 as "no such session").
        _, session = self.backend.stop_session(agentName, sessionId)
        state = session.state(self.backend.clock.now())
        return json_response({"status": state, "session_id": session.id})

    def agent_logs(self, request: Request, org: str, agentName: str) -> Response:
        # `agent logs` (api.py `_agent_logs`: limit, deploymentId, sessionId; it prints each
        # logs[].log with its timestamp in the order given).
        query = agent_logs_query(request)
        agent = self.backend.get_agent(agentName)
        lines = render.agent_log_lines(agent, self.backend.clock.now(), **query["filters"])
        return json_response(
            render.agent_logs_json(lines, query["order"], query["offset"], query["limit"])
        )

    # -- secrets -----------------------------------------------------------------------------

    def list_secret_sets(self, request: Request, org: str) -> Response:
        # `secrets list --region` sends ?region= (api.py `_secrets_list`); the public list
        # takes no filter.
        region = request.args.get("region")
        now = self.backend.clock.now()
        sets = [
            render.secret_set_json(s, now, False)
            for s in self.backend.list_secret_sets()
            if region is None or s.region == region
        ]
        return json_response({"sets": sets})

    def put_secret_set(self, request: Request, org: str, setName: str) -> Response:
        body = read_json(request)
        if not body.get("isImagePullSecret") and "secretKey" in body:
            # `secrets set` sends one PUT per key, {name, isImagePullSecret: false, secretKey,
            # secretValue, region?} (secrets.py `create_set`): the public API's `secrets`
            # array of one. `image-pull-secret` sends the public shape already.
            body = {
                "secrets": [
                    {"secretKey": body["secretKey"], "secretValue": body.get("secretValue")}
                ],
                **({"region": body["region"]} if "region" in body else {}),
            }
        name = check_set_name(setName)
        region = opt_str(body, "region")
        values, host = secret_set_request(body)
        secret_set = self.backend.put_secret_set(name, region, values, host)
        return json_response({"status": "OK", "region": secret_set.region}, 202)

    def get_secret_set(self, request: Request, org: str, setName: str) -> Response:
        secret_set = self.backend.get_secret_set(check_set_name(setName))
        if secret_set.type == "imagePullSecret":
            bad_request("Cannot retrieve image pull secrets by name")
        return json_response(render.secret_set_json(secret_set, self.backend.clock.now(), True))

    def delete_secret_set(self, request: Request, org: str, setName: str) -> Response:
        self.backend.delete_secret_set(setName)
        return json_response({"status": "OK"})

    def delete_secret(self, request: Request, org: str, setName: str, secretKey: str) -> Response:
        self.backend.delete_secret(setName, secretKey)
        return json_response({"status": "OK"})

    # -- agent profiles (agent_profiles.py) and the spend limit (spend_limit.py) -------------

    def list_profiles(self, request: Request, org: str) -> Response:
        # `agent profiles list` reads agentProfiles[].api_name, display_name, resources.cpu
        # and .memory, custom, enabled.
        profiles = render.agent_profiles_json(self.backend.list_profiles())
        return json_response({"agentProfiles": profiles})

    def create_profile(self, request: Request, org: str) -> Response:
        # api.py `_agent_profiles_create`: {apiName, displayName, resources: {cpu, memory}}.
        body = read_json(request)
        name = req_str(body, "apiName")
        cpu, memory = profile_resources(body)
        if cpu is None or memory is None:
            bad_request("'resources' with 'cpu' and 'memory' is required")
        profile = self.backend.create_profile(
            name, opt_str(body, "displayName") or name, cpu, memory
        )
        return json_response({"agentProfile": render.custom_profile_json(profile)}, 201)

    def update_profile(self, request: Request, org: str, name: str) -> Response:
        # api.py `_agent_profiles_update`: any of displayName, resources (both), enabled.
        body = read_json(request)
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            bad_request("'enabled' must be a boolean")
        cpu, memory = profile_resources(body)
        sized = (cpu, memory) if cpu is not None and memory is not None else None
        display = opt_str(body, "displayName")
        profile = self.backend.update_profile(name, display, sized, enabled)
        return json_response({"agentProfile": render.custom_profile_json(profile)})

    def spend_limit_get(self, request: Request, org: str) -> Response:
        now = self.backend.clock.now()
        return json_response(render.spend_limit_json(self.backend.spend_limit(), now))

    def spend_limit_put(self, request: Request, org: str) -> Response:
        # api.py `_spend_limit_update`: {limitCents: cents or null (clear)}.
        body = read_json(request)
        if "limitCents" not in body:
            bad_request("'limitCents' is required (null clears the limit)")
        cents = body["limitCents"]
        if cents is not None and (
            not isinstance(cents, int) or isinstance(cents, bool) or cents < 0
        ):
            bad_request("'limitCents' must be a whole number of cents, zero or more, or null")
        limit = self.backend.set_spend_limit(cents)
        return json_response(render.spend_limit_json(limit, self.backend.clock.now()))
