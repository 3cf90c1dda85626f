"""The emulator's WSGI app: composes the route tables; keeps dispatch, auth, faults and stats.

Five areas, each a route table whose endpoints are its handler methods:
- `/v1/...`: the Pipecat Cloud API (public.py) and the official CLI's organization-scoped
  routes (organization.py), bearer-key auth: the private key, but a public key of the
  organization (organization_keys.py) under `/v1/public/` (starting a session);
- `/_storage/<bucket>`: the presigned-POST upload target (storage.py);
- `/_emulator/...`: control endpoints for tests and demos (control.py), no auth, not counted;
- `/`: the dashboard (dashboard.py), its live part and forms under `/_emulator/dashboard/`.

Each request to the first two areas (and any not understood) is counted under its route and
logged (traffic.RequestLog: route, the URL's variables, status, time taken, client), with the
fault that fired on it; the dashboard and the control endpoints are neither.

Any request that is not understood gets a 4xx with `{error, code}`; an unexpected exception
becomes a 500 with the same shape, never a dead server.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from waitress.channel import ClientDisconnected
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator.backend import Backend
from pcc_provider.emulator.control import ControlApi
from pcc_provider.emulator.dashboard import DashboardApi
from pcc_provider.emulator.errors import NotFound as Unknown
from pcc_provider.emulator.errors import ServiceError
from pcc_provider.emulator.organization import OrganizationApi
from pcc_provider.emulator.public import PublicApi
from pcc_provider.emulator.storage import UploadTarget, s3_error_response
from pcc_provider.emulator.traffic import Fault, Faults, Logged, Stats, client_of, echoed
from pcc_provider.emulator.web import (
    CONVERTERS,
    error_response,
    json_response,
    route_key,
)

log = logging.getLogger("pcc_provider.emulator")
# The routes a public API key opens (and the private key does not).
PUBLIC_KEY_ROUTES = "/v1/public/"
# Where a request the app counts and logs stashes what the log says of it (its route, the
# URL's variables, the fault that fired), in the WSGI environ.
LOGGED = "pcc_emulator.logged"
FAULTED = "pcc_emulator.fault"


class DropConnection(ClientDisconnected):  # type: ignore[misc]
    """Raised to make waitress close the socket without writing any response."""


class EmulatorApp:
    """The WSGI callable. `base_url` is the emulator's own address, used in uploadUrl and
    logsUrl; the server sets it once the port is bound."""

    def __init__(self, store: Backend, api_key: str, base_url: str = "http://127.0.0.1") -> None:
        if not api_key:
            raise ValueError("the emulator needs a non-empty API key")
        self.store = store
        self.api_key = api_key
        self.base_url = base_url
        # Called after the control API changes a setting (the server follows the upload limit).
        self.on_config: Callable[[], None] = lambda: None
        self.stats = Stats()
        store.on_sessions_cut = self.stats.sessions_cut
        self.faults = Faults()
        self.storage = UploadTarget(store, self.stats.stored)
        served = [
            *PublicApi(store, self.storage, self._base_url).rules(),
            *OrganizationApi(store, self.storage, self._base_url).rules(),
            *self.storage.rules(),
        ]
        # The routes a fault may target: everything but the control endpoints.
        self.faultable = {
            route_key(method, rule.rule)
            for rule in served
            for method in rule.methods or ()
            if method != "HEAD"  # werkzeug adds it to each GET rule; no client sends it
        }
        control = ControlApi(
            store,
            self.stats,
            self.faults,
            self.faultable,
            self._base_url,
            lambda: self.on_config(),
        )
        dashboard = DashboardApi(
            store,
            self.stats,
            self.faults,
            control,
            sorted(self.faultable),
            self._base_url,
            self._secrets,
        )
        self.url_map = Map(
            [*served, *control.rules(), *dashboard.rules()],
            strict_slashes=False,
            merge_slashes=False,
            redirect_defaults=False,
            converters=CONVERTERS,
        )

    def _base_url(self) -> str:
        return self.base_url

    def _secrets(self) -> list[str]:
        """What no page may show: the API key and what the service holds (secret values, an
        image pull secret's credentials, public keys, registry key starts)."""
        return [self.api_key, *self.store.secret_words()]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        came, started = self.store.clock.now(), time.perf_counter()
        status: int | None = None
        try:
            response = self.dispatch(request)
            status = response.status_code
        finally:
            self._log(request, came, status, time.perf_counter() - started)
        return response(environ, start_response)

    def _log(self, request: Request, came: float, status: int | None, seconds: float) -> None:
        """Log a counted request (not the dashboard's, nor the control API's): no body, no
        query, no header but the client's name."""
        logged = request.environ.get(LOGGED)
        if logged is None:
            return
        route, args = logged
        self.stats.log.add(
            Logged(
                at=came,
                route=route,
                args=args,
                status=status,
                seconds=seconds,
                client=client_of(request.headers.get("User-Agent", "")),
                fault=request.environ.get(FAULTED),
            )
        )

    def dispatch(self, request: Request) -> Response:
        is_api = request.path == "/v1" or request.path.startswith("/v1/")
        is_storage = request.path.startswith("/_storage/")
        try:
            adapter = self.url_map.bind_to_environ(request.environ)
            try:
                rule, args = adapter.match(return_rule=True)
            except MethodNotAllowed as exc:
                self._count(request, f"{request.method} (unmatched)", is_storage, None)
                if is_storage:
                    return s3_error_response(
                        405,
                        "MethodNotAllowed",
                        "The specified method is not allowed against this resource.",
                        Method=request.method,
                        ResourceType="OBJECT",
                    )
                if is_api:
                    self._authorize(request)
                allow = ", ".join(sorted(exc.valid_methods or []))
                raise ServiceError(
                    "Method not allowed", status=405, headers={"Allow": allow}
                ) from None
            except (NotFound, RequestRedirect):
                self._count(request, f"{request.method} (unmatched)", is_storage, None)
                if is_storage:
                    return s3_error_response(404, "NoSuchKey", "The specified key does not exist.")
                if is_api:
                    self._authorize(request)
                raise Unknown("Not found") from None
            route = route_key(request.method, rule.rule)
            fault = endless = None
            if not _is_control(rule.rule):
                self._count(request, route, is_storage, args)
                fault = self.faults.take(route)
                if fault is not None:
                    self.stats.fired(fault, self.store.clock.now())
                    request.environ[FAULTED] = fault.describe()
                if fault is not None and fault.delay:
                    self.faults.wait(fault)
                if fault is not None and fault.body == "endless":
                    endless, fault = fault, None  # answered, from the first page on
                if fault is not None and not fault.acted:
                    if fault.delay and not fault.hold and not fault.status:
                        fault = None  # only delayed: answered as usual
                    else:
                        return self._fault_response(fault, is_storage, request)
            if is_api:
                self._authorize(request)
            handler: Callable[..., Response] = rule.endpoint
            if endless is not None:
                return self._endless(endless, handler(_first_page(request), **args), request)
            response = handler(request, **args)
            if fault is not None:
                # The service has acted on the request; its answer never reaches the client.
                raise DropConnection("fault injected: answer dropped after acting")
            return response
        except ServiceError as exc:
            return error_response(exc)
        except DropConnection:
            raise
        except HTTPException as exc:
            return error_response(ServiceError(exc.description or exc.name, status=exc.code or 400))
        except Exception:
            log.exception("emulator bug while serving %s %s", request.method, request.path)
            return error_response(ServiceError("Internal server error", status=500))

    def _count(
        self, request: Request, key: str, is_storage: bool, args: Mapping[str, Any] | None
    ) -> None:
        """Count the request under `key`, and mark it for the log: its route and the URL's
        variables (`args`; None: no route matched, and the path is what the log keeps)."""
        self.stats.count(
            key, upload_authorization=is_storage and "Authorization" in request.headers
        )
        variables = {"path": request.path} if args is None else {k: str(v) for k, v in args.items()}
        request.environ[LOGGED] = (key, variables)

    def _authorize(self, request: Request) -> None:
        """The private key everywhere under `/v1`, but under `/v1/public/` (the spec's
        PublicKeyAuth: startService) one of the organization's public keys, not revoked.
        Neither kind of key opens the other's routes, as on the real service."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":
            ok = False
        elif request.path.startswith(PUBLIC_KEY_ROUTES):
            ok = self.store.accepts_public_key(token)
        else:
            ok = hmac.compare_digest(token.encode("utf-8", "replace"), self.api_key.encode())
        if not ok:
            raise ServiceError(
                "Unauthorized", status=401, headers={"WWW-Authenticate": 'Bearer realm="api"'}
            )

    def _fault_response(self, fault: Fault, is_storage: bool, request: Request) -> Response:
        if fault.drop or fault.hold:
            raise DropConnection("fault injected: connection dropped")
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.body == "html":  # a proxy's or gateway's own page
            title = f"<head><title>{fault.status}</title></head>"
            page = f"<html>{title}<body>{fault.message}</body></html>"
            return Response(page, fault.status, headers, content_type="text/html")
        if fault.body == "malformed":
            return Response('{"build": {"id": ', fault.status, headers, mimetype="application/json")
        if fault.body == "echo":  # a service that quotes the request it refuses
            token = request.headers.get("Authorization", "").partition(" ")[2].strip()
            body = request.get_data(as_text=True)
            said = echoed(fault.message, body, token, fault.echoes, fault.encoding)
            return error_response(ServiceError(said, status=fault.status, headers=headers))
        if is_storage:
            code = "SlowDown" if fault.status in (429, 503) else "InternalError"
            response = s3_error_response(fault.status, code, "Fault injected by the emulator")
            response.headers.update(headers)
            return response
        return error_response(ServiceError(fault.message, status=fault.status, headers=headers))

    @staticmethod
    def _endless(fault: Fault, response: Response, request: Request) -> Response:
        """A list that never ends: its first page whatever the offset asked (answered by the
        handler), saying it holds `fault.total` entries and starts at the offset asked."""
        if response.status_code != 200 or response.mimetype != "application/json":
            return response  # refused (a bad query, no key): as usual
        page = json.loads(response.get_data())
        page["total"] = fault.total
        if "offset" in page:
            page["offset"] = request.args.get("offset", type=int, default=0)
        return json_response(page)


def _is_control(rule: str) -> bool:
    """The control endpoints and the dashboard: neither counted, logged nor faultable."""
    return rule == "/" or rule.startswith("/_emulator")


def _first_page(request: Request) -> Request:
    """The request without its `offset`: what a service that ignores it answers."""
    environ = dict(request.environ)
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    environ["QUERY_STRING"] = urlencode([(k, v) for k, v in query if k != "offset"])
    return Request(environ)


__all__ = ["EmulatorApp", "Fault"]
