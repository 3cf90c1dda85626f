"""The upload target: an S3 bucket that accepts presigned POST uploads (SigV4 POST policy).

Pipecat Cloud hands out presigned S3 POSTs; this imitates how S3 checks them: the form field
names are compared case-sensitively (the official docs warn that `x-amz-*` fails), the policy
is signed for real with HMAC-SHA256 and a per-emulator secret, its conditions and expiry are
enforced, and refusals carry S3's XML error body. The file streams to disk as it is parsed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.routing import Rule
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wrappers import Request, Response

from pcc_provider.emulator.backend import Backend
from pcc_provider.emulator.entities import Upload, bucket_region
from pcc_provider.emulator.render import iso

ALGORITHM = "AWS4-HMAC-SHA256"
CONTENT_TYPE = "application/gzip"
# The fields in the order the official docs' curl example sends them; `file` comes last.
FIELD_ORDER = (
    "key",
    "bucket",
    "Content-Type",
    "Policy",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
)
# S3 insists on these before it looks at the policy; the rest fail the policy's conditions.
REQUIRED = ("key", "Policy", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature")
# Policy condition names (case-insensitive in S3) and the form field each one binds.
CONDITION_FIELDS = {
    "bucket": "bucket",
    "key": "key",
    "content-type": "Content-Type",
    "x-amz-algorithm": "X-Amz-Algorithm",
    "x-amz-credential": "X-Amz-Credential",
    "x-amz-date": "X-Amz-Date",
    "x-amz-security-token": "X-Amz-Security-Token",
}
# The form fields (everything but `file`) may not exceed this; S3's own limit is 20 KB.
MAX_FORM_FIELDS_BYTES = 64 * 1024
CHUNK = 256 * 1024


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


# Characters XML 1.0 cannot carry even escaped; client-chosen field names may contain them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    return escape(_NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", value))


def s3_error_response(status: int, code: str, message: str, **extra: str) -> Response:
    parts = "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{_xml_text(code)}</Code><Message>{_xml_text(message)}</Message>{parts}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId>"
        f"<HostId>{base64.b64encode(secrets.token_bytes(24)).decode()}</HostId></Error>"
    )
    return Response(body, status=status, mimetype="application/xml")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _amz_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Signer:
    """SigV4 for POST policies: the signature is an HMAC of the base64 policy, keyed by a
    key derived from the secret, the date, the region and the service, as S3 does."""

    secret: bytes

    @property
    def access_key_id(self) -> str:
        digest = hashlib.sha256(b"akid" + self.secret).hexdigest().upper()
        return "ASIA" + digest[:16]

    def signature(self, policy_b64: str, date: str, aws_region: str) -> str:
        key = _hmac(b"AWS4" + self.secret, date)
        key = _hmac(key, aws_region)
        key = _hmac(key, "s3")
        key = _hmac(key, "aws4_request")
        return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()

    def presign(self, upload: Upload, aws_region: str, max_bytes: int) -> dict[str, str]:
        amz_date = _amz_date(upload.created_at)
        credential = f"{self.access_key_id}/{amz_date[:8]}/{aws_region}/s3/aws4_request"
        token = base64.b64encode(secrets.token_bytes(48)).decode()
        policy = {
            "expiration": iso(upload.expires_at),
            "conditions": [
                {"bucket": upload.bucket},
                {"key": upload.key},
                {"Content-Type": CONTENT_TYPE},
                ["content-length-range", 1, max_bytes],
                {"x-amz-algorithm": ALGORITHM},
                {"x-amz-credential": credential},
                {"x-amz-date": amz_date},
                {"x-amz-security-token": token},
            ],
        }
        policy_b64 = base64.b64encode(json.dumps(policy).encode()).decode()
        return {
            "key": upload.key,
            "bucket": upload.bucket,
            "Content-Type": CONTENT_TYPE,
            "Policy": policy_b64,
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": credential,
            "X-Amz-Date": amz_date,
            "X-Amz-Security-Token": token,
            "X-Amz-Signature": self.signature(policy_b64, amz_date[:8], aws_region),
        }


@dataclass(frozen=True)
class Accepted:
    """What a verified form allows: which upload it is for and how big its file may be."""

    upload: Upload
    min_bytes: int
    max_bytes: int


class UploadTarget:
    """Serves `POST /_storage/<bucket>` for the uploads the backend hands out."""

    def __init__(self, backend: Backend, on_stored: Callable[[int], None]) -> None:
        self.backend = backend
        self.signer = Signer(backend.secret)
        self.on_stored = on_stored

    def presign(self, upload: Upload) -> dict[str, str]:
        aws_region = bucket_region(upload.bucket) or "us-west-2"
        return self.signer.presign(upload, aws_region, self.backend.settings.max_upload_bytes)

    def rules(self) -> list[Rule]:
        """The upload target's one route; stats and faults name it `POST /_storage/{bucket}`."""
        return [Rule("/_storage/<bucket>", methods=["POST"], endpoint=self.handle)]

    def handle(self, request: Request, bucket: str) -> Response:
        try:
            return self._handle(request, bucket)
        except S3Error as exc:
            return s3_error_response(exc.status, exc.code, exc.message, **exc.extra)

    def _handle(self, request: Request, bucket: str) -> Response:
        if "Authorization" in request.headers:
            # Presigned uploads carry their credentials in the form; a bearer token sent here
            # would leak the Pipecat API key to the storage provider.
            raise S3Error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
                ArgumentName="Authorization",
            )
        if bucket_region(bucket) is None:
            raise S3Error(
                404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket
            )
        mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
        if mimetype != "multipart/form-data":
            raise S3Error(
                412,
                "PreconditionFailed",
                "Bucket POST must be of the enclosure-type multipart/form-data",
                Condition="Bucket POST must be of the enclosure-type multipart/form-data",
            )
        boundary = options.get("boundary", "")
        if not boundary or len(boundary) > 200:
            raise S3Error(
                400,
                "MalformedPOSTRequest",
                "The body of your POST request is not well-formed multipart/form-data.",
            )
        length = request.content_length
        if length is None:
            raise S3Error(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        limit = self.backend.settings.max_upload_bytes
        if length > limit + MAX_FORM_FIELDS_BYTES:
            # Under our server, waitress refuses this from the Content-Length before reading
            # the body (server.py); this answer is for the app served by another server.
            raise S3Error(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=str(length),
                MaxSizeAllowed=str(limit),
            )
        partial = self.backend.partial_file()
        try:
            accepted, size, md5 = self._receive(request.stream, boundary.encode(), bucket, partial)
            if size < accepted.min_bytes:
                raise S3Error(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    ProposedSize=str(size),
                    MinSizeAllowed=str(accepted.min_bytes),
                )
            self.backend.complete_upload(accepted.upload, partial, size, md5)
        finally:
            partial.unlink(missing_ok=True)
        self.on_stored(size)
        location = f"{request.host_url.rstrip('/')}/_storage/{bucket}/{accepted.upload.key}"
        response = Response(status=204, headers={"ETag": f'"{md5}"', "Location": location})
        del response.headers["Content-Type"]  # S3 sends none with its empty 204
        return response

    def _receive(
        self, stream: IO[bytes], boundary: bytes, bucket: str, partial: Path
    ) -> tuple[Accepted, int, str]:
        # No max_form_memory_size: it caps each received chunk, not the fields; field sizes
        # and the decoder's buffer are bounded below instead.
        decoder = MultipartDecoder(boundary)
        fields: list[tuple[str, str]] = []
        field_name: str | None = None
        field_value = bytearray()
        out: IO[bytes] | None = None
        accepted: Accepted | None = None
        digest = hashlib.md5()
        size = 0
        done = False
        try:
            while not done:
                chunk = stream.read(CHUNK)
                decoder.receive_data(chunk or None)
                event = decoder.next_event()
                while not isinstance(event, NeedData | Epilogue):
                    if isinstance(event, Field | File):
                        if event.name == "file":
                            # Every field S3 honours precedes the file; check them before
                            # writing a byte to disk.
                            accepted = self._verify(fields, bucket)
                            out = partial.open("wb")
                        else:
                            field_name = event.name or ""
                            field_value.clear()
                    elif isinstance(event, Data):
                        if out is not None:
                            out.write(event.data)
                            digest.update(event.data)
                            size += len(event.data)
                            assert accepted is not None
                            if size > accepted.max_bytes:
                                raise S3Error(
                                    400,
                                    "EntityTooLarge",
                                    "Your proposed upload exceeds the maximum allowed size",
                                    ProposedSize=str(size),
                                    MaxSizeAllowed=str(accepted.max_bytes),
                                )
                            if not event.more_data:
                                done = True  # S3 ignores whatever follows the file
                                break
                        else:
                            field_value += event.data
                            if len(field_value) > MAX_FORM_FIELDS_BYTES:
                                raise RequestEntityTooLarge()
                            if not event.more_data and field_name is not None:
                                fields.append((field_name, field_value.decode("utf-8", "replace")))
                                field_name = None
                    event = decoder.next_event()
                if len(decoder.buffer) > MAX_FORM_FIELDS_BYTES + 2 * CHUNK:
                    # Part headers or a preamble that never end would otherwise pile up here.
                    raise RequestEntityTooLarge()
                if isinstance(event, Epilogue) or not chunk:
                    break
        except RequestEntityTooLarge as exc:
            raise S3Error(
                400,
                "MaxPostPreDataLengthExceeded",
                "Your POST request fields preceding the upload file were too large.",
            ) from exc
        except ValueError as exc:
            raise S3Error(
                400,
                "MalformedPOSTRequest",
                "The body of your POST request is not well-formed multipart/form-data.",
            ) from exc
        finally:
            if out is not None:
                out.close()
        if accepted is None or not done:
            self._verify(fields, bucket)  # a bad form is reported as such, before the file
            raise S3Error(
                400,
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
                ArgumentName="file",
                ArgumentValue="0",
            )
        return accepted, size, digest.hexdigest()

    def _verify(self, fields: list[tuple[str, str]], bucket: str) -> Accepted:
        names = [name for name, _ in fields]
        form = dict(fields)
        expected_lower = {n.lower(): n for n in FIELD_ORDER}
        for name in names:
            if name not in FIELD_ORDER and name.lower() in expected_lower:
                raise S3Error(
                    403,
                    "AccessDenied",
                    f"Invalid according to Policy: Extra input fields: {name} "
                    f"(field names are case-sensitive: expected {expected_lower[name.lower()]})",
                )
        for name in set(names):
            if names.count(name) > 1:
                raise S3Error(
                    400,
                    "InvalidArgument",
                    f"Bucket POST must contain exactly one field named '{name}'.",
                    ArgumentName=name,
                )
        for name in REQUIRED:
            if name not in form:
                raise S3Error(
                    400,
                    "InvalidArgument",
                    f"Bucket POST must contain a field named '{name}'.  "
                    "If it is specified, please check the order of the fields.",
                    ArgumentName=name,
                    ArgumentValue="",
                )
        if form["X-Amz-Algorithm"] != ALGORITHM:
            raise S3Error(
                400,
                "InvalidArgument",
                "Only AWS4-HMAC-SHA256 is supported",
                ArgumentName="X-Amz-Algorithm",
                ArgumentValue=form["X-Amz-Algorithm"],
            )
        parts = form["X-Amz-Credential"].split("/")
        if len(parts) != 5 or parts[3:] != ["s3", "aws4_request"]:
            raise S3Error(
                400,
                "AuthorizationQueryParametersError",
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
            )
        if not hmac.compare_digest(parts[0], self.signer.access_key_id):
            raise S3Error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                AWSAccessKeyId=parts[0],
            )
        expected = self.signer.signature(form["Policy"], parts[1], parts[2])
        if not hmac.compare_digest(expected, form["X-Amz-Signature"]):
            raise S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )
        policy = self._decode_policy(form["Policy"])
        expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        if expiration.timestamp() <= self.backend.clock.now():
            raise S3Error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        min_bytes, max_bytes = 0, self.backend.settings.max_upload_bytes
        allowed = {"Policy", "X-Amz-Signature", "file"}
        for condition in policy["conditions"]:
            if isinstance(condition, list) and condition[0] == "content-length-range":
                min_bytes = int(condition[1])
                max_bytes = min(max_bytes, int(condition[2]))
                continue
            if not isinstance(condition, dict):
                continue
            for cond_name, value in condition.items():
                field_name = CONDITION_FIELDS.get(str(cond_name).lower(), str(cond_name))
                allowed.add(field_name)
                if field_name == "bucket":
                    # The bucket is named by the URL and, as uploadFields has it, by a field.
                    ok = bucket == value and form.get("bucket") == value
                else:
                    ok = form.get(field_name) == value
                if not ok:
                    raise S3Error(
                        403,
                        "AccessDenied",
                        "Invalid according to Policy: Policy Condition failed: "
                        f'["eq", "${cond_name}", "{value}"]',
                    )
        extra = [n for n in names if n not in allowed and not n.lower().startswith("x-ignore-")]
        if extra:
            raise S3Error(
                403,
                "AccessDenied",
                f"Invalid according to Policy: Extra input fields: {', '.join(extra)}",
            )
        upload = self.backend.upload_for_key(form["key"])
        if upload is None:
            raise S3Error(403, "AccessDenied", "Access Denied")
        return Accepted(upload=upload, min_bytes=min_bytes, max_bytes=max_bytes)

    @staticmethod
    def _decode_policy(policy_b64: str) -> dict[str, Any]:
        try:
            policy = json.loads(base64.b64decode(policy_b64, validate=True))
            if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
                raise ValueError("not a policy document")
            return policy
        except ValueError as exc:
            raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from exc
