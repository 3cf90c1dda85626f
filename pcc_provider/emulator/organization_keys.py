"""The official CLI's routes for the organization's keys: `pcc organizations keys list|create|
revoke` (`/apiKeys`) and `pcc organizations registry-keys list|mint|revoke` (`/registry-keys`),
wired into organization.py's table.

The shapes are what pipecatcloud 1.4.0 sends and reads: `POST .../apiKeys` {name, type:
"public"}, its list under `public`, each with `metadata.name`, `key`, `createdAt`, `revoked`;
`POST .../registry-keys` {name}, answered with the material once (`key`, `username`,
`registry_host`), its list under `registry_keys` in snake_case. A revoke keeps the record
(listed as revoked); a public key is refused by the private API, as the real one is, and is
what starting a session takes (`POST /v1/public/{agent}/start`, public.py), until revoked.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator import render
from pcc_provider.emulator.backend import Backend
from pcc_provider.emulator.web import json_response, opt_str, read_json, req_str

ORG = "/v1/organizations/<org>"


class KeysApi:
    def __init__(self, backend: Backend, base_url: Callable[[], str]) -> None:
        self.backend = backend
        self.base_url = base_url

    def rules(self) -> list[Rule]:
        return [
            Rule(f"{ORG}/apiKeys", methods=["GET"], endpoint=self.list_api_keys),
            Rule(f"{ORG}/apiKeys", methods=["POST"], endpoint=self.create_api_key),
            Rule(f"{ORG}/apiKeys/<keyId>", methods=["DELETE"], endpoint=self.revoke_api_key),
            Rule(f"{ORG}/registry-keys", methods=["GET"], endpoint=self.list_registry_keys),
            Rule(f"{ORG}/registry-keys", methods=["POST"], endpoint=self.mint_registry_key),
            Rule(
                f"{ORG}/registry-keys/<keyId>",
                methods=["DELETE"],
                endpoint=self.revoke_registry_key,
            ),
        ]

    def list_api_keys(self, request: Request, org: str) -> Response:
        keys = [render.api_key_json(k) for k in self.backend.list_api_keys()]
        return json_response({"public": keys})

    def create_api_key(self, request: Request, org: str) -> Response:
        body = read_json(request)
        key = self.backend.create_api_key(req_str(body, "name"), opt_str(body, "type") or "public")
        return json_response(render.api_key_json(key), 201)

    def revoke_api_key(self, request: Request, org: str, keyId: str) -> Response:
        return json_response(render.api_key_json(self.backend.revoke_api_key(keyId)))

    def list_registry_keys(self, request: Request, org: str) -> Response:
        keys = [render.registry_key_json(k) for k in self.backend.list_registry_keys()]
        return json_response({"registry_keys": keys})

    def mint_registry_key(self, request: Request, org: str) -> Response:
        key, material = self.backend.mint_registry_key(req_str(read_json(request), "name"))
        host = urlsplit(self.base_url()).netloc  # the registry of this "environment"
        return json_response(render.registry_key_minted(key, material, host), 201)

    def revoke_registry_key(self, request: Request, org: str, keyId: str) -> Response:
        revoked = self.backend.revoke_registry_key(keyId)
        return json_response({"id": revoked.id, "status": revoked.status})
