"""The second route table: the organization-scoped API the official CLI (`pipecatcloud` 1.4.0,
`pcc`) calls, over the same store and the same handlers as the public API in app.py.

The CLI never calls the public `/v1/builds` or `/v1/agents`: it calls
`/v1/organizations/{org}/...` (paths from `pipecatcloud/config.py`), sends agent updates as
`PUT .../services` with the name in the body, and reads an agent wrapped in `{"body": ...}`.
None of this is in the public spec; each shape below names the CLI code that reads it. The
handlers only translate: validation, business rules and response bodies stay in app.py and
models.py, so both APIs always agree.

Commands served: `regions list`; `deploy` (cloud build, or `--build-id`/an image; create,
update, `--force`, the organization's default region when none is given); `build list`,
`build status ID`, `build logs ID`; `agent list`, `agent status NAME`, `agent delete NAME`;
`organizations list`, `organizations properties list|schema|set`,
`organizations default-region`; `auth whoami`; `secrets set|list|unset|delete`,
`secrets image-pull-secret`, and `deploy` binding `secret_set`/`image_credentials` (the CLI
checks the set exists, the API refuses one that is not ready with 409). Not served (404):
API keys, sessions, agent logs and deployments, agent start, GitHub, spend limits, self-hosted
regions (so `secrets reference`, a POST to `.../secrets/references`, gets 405).

The emulator is one organization: any `{org}` in a path names it (the key decides, as a real
key pins its organization), and `/v1/organizations` lists it under its emulator id.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator.app import json_response, read_json, req_str, route_key

if TYPE_CHECKING:
    from pcc_provider.emulator.app import EmulatorApp

# (path, methods, endpoint), as in app.ROUTES; stats name them "<METHOD> <path template>".
ROUTES: list[tuple[str, list[str], str]] = [
    ("/v1/users", ["GET"], "org_user"),
    ("/v1/organizations", ["GET"], "org_organizations"),
    ("/v1/organizations/<org>/regions", ["GET"], "org_regions"),
    ("/v1/organizations/<org>/properties", ["GET"], "org_properties_get"),
    ("/v1/organizations/<org>/properties", ["PATCH"], "org_properties_update"),
    ("/v1/organizations/<org>/properties/schema", ["GET"], "org_properties_schema"),
    ("/v1/organizations/<org>/builds/upload-url", ["POST"], "org_upload_url"),
    ("/v1/organizations/<org>/builds", ["GET"], "org_list_builds"),
    ("/v1/organizations/<org>/builds", ["POST"], "org_create_build"),
    ("/v1/organizations/<org>/builds/<build:buildId>", ["GET"], "org_get_build"),
    ("/v1/organizations/<org>/builds/<build:buildId>/logs", ["GET"], "org_build_logs"),
    ("/v1/organizations/<org>/services", ["GET"], "org_list_services"),
    ("/v1/organizations/<org>/services", ["POST"], "org_create_service"),
    ("/v1/organizations/<org>/services", ["PUT"], "org_update_service"),
    ("/v1/organizations/<org>/services/<agentName>", ["GET"], "org_get_service"),
    ("/v1/organizations/<org>/services/<agentName>", ["DELETE"], "org_delete_service"),
    ("/v1/organizations/<org>/secrets", ["GET"], "org_list_secret_sets"),
    ("/v1/organizations/<org>/secrets/<setName>", ["PUT"], "org_put_secret_set"),
    ("/v1/organizations/<org>/secrets/<setName>", ["GET"], "org_get_secret_set"),
    ("/v1/organizations/<org>/secrets/<setName>", ["DELETE"], "org_delete_secret_set"),
    ("/v1/organizations/<org>/secrets/<setName>/<secretKey>", ["DELETE"], "org_delete_secret"),
]


def with_body(request: Request, body: dict[str, Any]) -> Request:
    """`request` with `body` as its JSON body, for handing to a public handler."""
    data = json.dumps(body).encode()
    environ = dict(request.environ)
    environ.update(
        {
            "wsgi.input": io.BytesIO(data),
            "CONTENT_LENGTH": str(len(data)),
            "CONTENT_TYPE": "application/json",
        }
    )
    return Request(environ)


def body_of(response: Response) -> Any:
    return json.loads(response.get_data())


class OrganizationApi:
    """Handlers for ROUTES; each takes the `{org}` path segment and delegates to `app`."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.store = app.store

    def register(self) -> None:
        for path, methods, endpoint in ROUTES:
            self.app.url_map.add(Rule(path, methods=methods, endpoint=endpoint))
            self.app.handlers[endpoint] = getattr(self, f"on_{endpoint}")
            for method in methods:
                self.app.faultable[route_key(method, path)] = endpoint

    def _with_region(self, request: Request) -> Request:
        """The request with the organization's default region filled in when it names none:
        the CLI leaves `region` out and expects the API to choose (deploy.py, api.py)."""
        body = read_json(request)
        if body.get("region") is None:
            body["region"] = self.store.default_region()
        return with_body(request, body)

    # -- account (auth whoami, organizations list) --------------------------------------------

    def on_org_user(self, request: Request) -> Response:
        # auth.py `whoami` prints user.emails[0].emailAddress, else user.userId.
        return json_response(
            {
                "user": {
                    "userId": f"user_{self.store.organization_id}",
                    "emails": [{"emailAddress": "emulator@localhost"}],
                }
            }
        )

    def on_org_organizations(self, request: Request) -> Response:
        # api.py `_organizations` reads organizations[].name and .verboseName; with no
        # PIPECAT_ORG the CLI uses the first name in every path (auth_utils.py).
        return json_response(
            {
                "organizations": [
                    {"name": self.store.organization_id, "verboseName": "Pipecat Cloud emulator"}
                ]
            }
        )

    # -- regions and properties ----------------------------------------------------------

    def on_org_regions(self, request: Request, org: str) -> Response:
        regions = body_of(self.app.on_regions(request))["regions"]
        for region in regions:
            # Read by `regions list` and `deploy --architecture` (regions.py); the emulator's
            # agents run on arm (nodeType "arm"), as Daily-hosted regions do.
            region["supported_architectures"] = ["arm64"]
            region["default_architecture"] = "arm64"
        return json_response({"regions": regions})

    def on_org_properties_get(self, request: Request, org: str) -> Response:
        return self.app.on_properties_get(request)

    def on_org_properties_schema(self, request: Request, org: str) -> Response:
        return self.app.on_properties_schema(request)

    def on_org_properties_update(self, request: Request, org: str) -> Response:
        # Unlike the public PATCH (which answers with the schema), the CLI reads plain values
        # back: `properties set` prints data.get(name) (organizations.py).
        return json_response({"properties": self.store.update_properties(read_json(request))})

    # -- builds ------------------------------------------------------------------------------

    def on_org_upload_url(self, request: Request, org: str) -> Response:
        return self.app.on_upload_url(self._with_region(request))

    def on_org_create_build(self, request: Request, org: str) -> Response:
        return self.app.on_create_build(self._with_region(request))

    def on_org_list_builds(self, request: Request, org: str) -> Response:
        return self.app.on_list_builds(request)

    def on_org_get_build(self, request: Request, org: str, buildId: str) -> Response:
        return self.app.on_get_build(request, buildId)

    def on_org_build_logs(self, request: Request, org: str, buildId: str) -> Response:
        return self.app.on_build_logs(request, buildId)

    # -- services (agents) -------------------------------------------------------------------

    def on_org_list_services(self, request: Request, org: str) -> Response:
        # `include=git` (agent list) is ignored: the emulator has no GitHub bindings.
        return self.app.on_list_agents(request)

    def on_org_create_service(self, request: Request, org: str) -> Response:
        return self.app.on_create_agent(self._with_region(request))

    def on_org_update_service(self, request: Request, org: str) -> Response:
        # `deploy` of an existing agent: PUT with the whole config and the name in the body.
        body = read_json(request)
        name = req_str(body, "serviceName")
        before = self.store.get_agent(name, "Service not found").current.id
        updated = body_of(self.app.on_update_agent(with_body(request, body), name))
        if updated["desiredDeploymentId"] == before and not body.get("forceRedeploy"):
            # deploy.py prints result["warning"] "when identical config was deployed without
            # --force"; the message is ours.
            updated["warning"] = (
                "The configuration is unchanged, so no new deployment was made. "
                "Use --force to redeploy."
            )
        return json_response(updated)

    def on_org_get_service(self, request: Request, org: str, agentName: str) -> Response:
        agent = body_of(self.app.on_get_agent(request, agentName))
        build_id = self.store.get_agent(agentName).current.build_id
        if build_id is not None:
            # A cloud-built deployment carries its build id and no image: `agent status` shows
            # "Build: <id>" from deployment.buildId (agent.py `_image_display`).
            agent["deployment"]["buildId"] = build_id
            agent["deployment"]["manifest"]["spec"].pop("image", None)
        # api.py `_agent` returns result["body"], and None (a new agent) without it.
        return json_response({"body": agent})

    def on_org_delete_service(self, request: Request, org: str, agentName: str) -> Response:
        return self.app.on_delete_agent(request, agentName)

    # -- secrets -----------------------------------------------------------------------------

    def on_org_list_secret_sets(self, request: Request, org: str) -> Response:
        sets = body_of(self.app.on_list_secret_sets(request))["sets"]
        # `secrets list --region` sends ?region= (api.py `_secrets_list`); the public list
        # takes no filter.
        region = request.args.get("region")
        if region is not None:
            sets = [s for s in sets if s["region"] == region]
        return json_response({"sets": sets})

    def on_org_put_secret_set(self, request: Request, org: str, setName: str) -> Response:
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
        return self.app.on_put_secret_set(with_body(request, body), setName)

    def on_org_get_secret_set(self, request: Request, org: str, setName: str) -> Response:
        return self.app.on_get_secret_set(request, setName)

    def on_org_delete_secret_set(self, request: Request, org: str, setName: str) -> Response:
        return self.app.on_delete_secret_set(request, setName)

    def on_org_delete_secret(
        self, request: Request, org: str, setName: str, secretKey: str
    ) -> Response:
        return self.app.on_delete_secret(request, setName, secretKey)


__all__ = ["ROUTES", "OrganizationApi"]
