"""The one error of the emulated API, as moto's JsonRESTError: a request refused, with the HTTP
status and code it is answered with. Raised wherever the refusal is decided (a validator, the
backend, the app's dispatch); render.error gives the body the API answers (`{error, code}`).
Storage answers in its own XML (storage.S3Error)."""

from __future__ import annotations

# The API's codes (ErrorResponse.code in its spec) by status, where a refusal names none.
CODES = {
    400: "GENERIC_BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class ServiceError(Exception):
    """A request the service refuses: `status` (the class's, unless given), `code` (the
    status's in CODES, unless given), and the headers the answer carries."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.status if status is None else status
        self.code = code or CODES.get(self.status, str(self.status))
        self.headers = headers or {}


class BadRequest(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409
