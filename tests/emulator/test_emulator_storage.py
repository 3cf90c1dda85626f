"""The emulator's upload target: an S3 presigned POST, refused the way S3 refuses it.

Each refusal is asserted by status and S3 error code, and by its effect: nothing stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests
from api_contract import Client, context, post_upload
from conftest import API_KEY
from requests_toolbelt import MultipartEncoder

from pcc_provider.emulator import Emulator

pytestmark = pytest.mark.emulator(build_seconds=0.2)


def grant(api: Client, region: str = "us-west") -> dict[str, Any]:
    body: dict[str, Any] = api.call("POST", "/builds/upload-url", 200, json={"region": region})
    return body


def post_form(url: str, form: list[tuple[str, Any]], **kw: Any) -> requests.Response:
    return requests.post(url, files=form, timeout=30, **kw)


def fields_form(fields: dict[str, str], data: bytes = b"archive") -> list[tuple[str, Any]]:
    form: list[tuple[str, Any]] = [(k, (None, v)) for k, v in fields.items()]
    form.append(("file", ("context.tar.gz", data, "application/gzip")))
    return form


def refused(response: requests.Response, status: int, code: str) -> str:
    """Assert an S3-style refusal; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    assert root.findtext("Code") == code, response.text
    return root.findtext("Message") or ""


def assert_nothing_stored(api: Client, upload_id: str) -> None:
    assert api.stats()["uploadedBytes"] == 0
    assert list((api.emu.store.root / "partial").iterdir()) == []
    body = api.call("POST", "/builds", 400, json={"uploadId": upload_id, "region": "us-west"})
    assert "upload it first" in body["error"]


def test_authorization_header_is_refused_and_counted(api: Client) -> None:
    g = grant(api)
    for header in [f"Bearer {API_KEY}", "AWS4-HMAC-SHA256 Credential=x"]:
        response = post_upload(
            g["uploadUrl"], g["uploadFields"], b"data", headers={"Authorization": header}
        )
        assert "Only one auth mechanism allowed" in refused(response, 400, "InvalidArgument")
    stats = api.stats()
    assert stats["uploadAuthorizationHeaders"] == 2
    assert stats["requests"]["POST /_storage/{bucket}"] == 2
    assert_nothing_stored(api, g["uploadId"])
    assert post_upload(g["uploadUrl"], g["uploadFields"], b"data").status_code == 204
    assert api.stats()["uploadAuthorizationHeaders"] == 2


@pytest.mark.parametrize(
    ("missing", "status", "code"),
    [
        ("key", 400, "InvalidArgument"),
        ("Policy", 400, "InvalidArgument"),
        ("X-Amz-Algorithm", 400, "InvalidArgument"),
        ("X-Amz-Credential", 400, "InvalidArgument"),
        ("X-Amz-Date", 400, "InvalidArgument"),
        ("X-Amz-Signature", 400, "InvalidArgument"),
        # The rest are conditions of the signed policy.
        ("bucket", 403, "AccessDenied"),
        ("Content-Type", 403, "AccessDenied"),
        ("X-Amz-Security-Token", 403, "AccessDenied"),
    ],
)
def test_every_upload_field_is_required(api: Client, missing: str, status: int, code: str) -> None:
    g = grant(api)
    fields = {k: v for k, v in g["uploadFields"].items() if k != missing}
    message = refused(post_upload(g["uploadUrl"], fields, b"data"), status, code)
    assert missing.lower() in message.lower()
    assert_nothing_stored(api, g["uploadId"])


@pytest.mark.parametrize(
    "rename",
    [
        lambda name: name.lower(),
        lambda name: name.lower() if name.startswith("X-Amz") else name,
        lambda name: "policy" if name == "Policy" else name,
        lambda name: "content-type" if name == "Content-Type" else name,
        lambda name: "x-amz-signature" if name == "X-Amz-Signature" else name,
    ],
)
def test_field_names_are_case_sensitive(api: Client, rename: Any) -> None:
    g = grant(api)
    fields = {rename(k): v for k, v in g["uploadFields"].items()}
    message = refused(post_upload(g["uploadUrl"], fields, b"data"), 403, "AccessDenied")
    assert "case-sensitive" in message
    assert_nothing_stored(api, g["uploadId"])


def _policy(fields: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.b64decode(fields["Policy"]))
    return data


def _encode(policy: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(policy).encode()).decode()


def test_tampered_policy_or_signature_is_refused(api: Client) -> None:
    g = grant(api)
    fields = dict(g["uploadFields"])
    policy = _policy(fields)
    assert ["content-length-range", 1, 500 * 1024 * 1024] in policy["conditions"]

    longer = {**policy, "expiration": "2099-01-01T00:00:00.000Z"}
    tampered = {**fields, "Policy": _encode(longer)}
    refused(post_upload(g["uploadUrl"], tampered, b"data"), 403, "SignatureDoesNotMatch")

    bigger = json.loads(json.dumps(policy))
    for condition in bigger["conditions"]:
        if isinstance(condition, list):
            condition[2] = 10**12
    tampered = {**fields, "Policy": _encode(bigger)}
    refused(post_upload(g["uploadUrl"], tampered, b"data"), 403, "SignatureDoesNotMatch")

    signature = fields["X-Amz-Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = {**fields, "X-Amz-Signature": flipped}
    refused(post_upload(g["uploadUrl"], tampered, b"data"), 403, "SignatureDoesNotMatch")

    # A Policy that is not even base64 fails the signature before anything reads it.
    tampered = {**fields, "Policy": "not base64 at all!"}
    refused(post_upload(g["uploadUrl"], tampered, b"data"), 403, "SignatureDoesNotMatch")
    assert_nothing_stored(api, g["uploadId"])


def test_key_and_bucket_must_be_this_uploads(api: Client) -> None:
    mine, other = grant(api), grant(api)
    fields = {**mine["uploadFields"], "key": other["uploadFields"]["key"]}
    message = refused(post_upload(mine["uploadUrl"], fields, b"data"), 403, "AccessDenied")
    assert "$key" in message

    eu = grant(api, "eu-central")
    message = refused(
        post_upload(eu["uploadUrl"], mine["uploadFields"], b"data"), 403, "AccessDenied"
    )
    assert "$bucket" in message

    unknown = mine["uploadUrl"].rsplit("/", 1)[0] + "/someone-elses-bucket"
    refused(post_upload(unknown, mine["uploadFields"], b"data"), 404, "NoSuchBucket")
    assert api.stats()["uploadedBytes"] == 0
    assert_nothing_stored(api, other["uploadId"])


def test_expired_upload_url_is_refused(api: Client) -> None:
    api.control("POST", "/config", json={"uploadTtlSeconds": 60})
    g = grant(api)
    assert abs(time.time() + 60 - _ts(g["expiresAt"])) < 2
    api.advance(60)
    message = refused(post_upload(g["uploadUrl"], g["uploadFields"], b"data"), 403, "AccessDenied")
    assert message == "Invalid according to Policy: Policy expired."
    assert_nothing_stored(api, g["uploadId"])


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("content_type", ["application/x-tar", "application/octet-stream", ""])
def test_content_type_must_be_gzip(api: Client, content_type: str) -> None:
    g = grant(api)
    fields = {**g["uploadFields"], "Content-Type": content_type}
    message = refused(post_upload(g["uploadUrl"], fields, b"data"), 403, "AccessDenied")
    assert "Content-Type" in message
    assert_nothing_stored(api, g["uploadId"])


def test_size_limit_is_enforced_while_streaming_and_up_front(api: Client) -> None:
    api.control("POST", "/config", json={"maxUploadBytes": 4096})
    g = grant(api)
    assert ["content-length-range", 1, 4096] in _policy(g["uploadFields"])["conditions"]
    # Just over: found while streaming the file.
    refused(post_upload(g["uploadUrl"], g["uploadFields"], b"x" * 4097), 400, "EntityTooLarge")
    # Far over (beyond the form fields' allowance too): refused from Content-Length alone, by
    # the server before it reads the body, so with its 413 rather than S3's XML.
    far = post_upload(g["uploadUrl"], g["uploadFields"], b"x" * 300_000)
    assert far.status_code == 413, far.text
    refused(post_upload(g["uploadUrl"], g["uploadFields"], b""), 400, "EntityTooSmall")
    assert_nothing_stored(api, g["uploadId"])
    assert post_upload(g["uploadUrl"], g["uploadFields"], b"x" * 4096).status_code == 204
    assert api.stats()["uploadedBytes"] == 4096


def test_malformed_requests_are_refused(api: Client) -> None:
    g = grant(api)
    url, fields = g["uploadUrl"], g["uploadFields"]
    refused(requests.post(url, json=fields, timeout=10), 412, "PreconditionFailed")
    refused(requests.post(url, data=fields, timeout=10), 412, "PreconditionFailed")
    refused(
        requests.post(url, data=b"x", headers={"Content-Type": "multipart/form-data"}, timeout=10),
        400,
        "MalformedPOSTRequest",
    )
    garbage = b"--b\r\nno headers here"
    refused(
        requests.post(
            url,
            data=garbage,
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            timeout=10,
        ),
        400,
        "MalformedPOSTRequest",
    )
    # No file at all.
    no_file = [(k, (None, v)) for k, v in fields.items()]
    refused(post_form(url, no_file), 400, "InvalidArgument")
    # The file must come last: S3 ignores what follows it, here the signature.
    form: list[tuple[str, Any]] = [
        (k, (None, v)) for k, v in fields.items() if k != "X-Amz-Signature"
    ]
    form.append(("file", ("context.tar.gz", b"data", "application/gzip")))
    form.append(("X-Amz-Signature", (None, fields["X-Amz-Signature"])))
    assert "X-Amz-Signature" in refused(post_form(url, form), 400, "InvalidArgument")
    # A field twice.
    twice = [("key", (None, fields["key"])), *fields_form(fields)]
    refused(post_form(url, twice), 400, "InvalidArgument")
    # An extra field the policy does not allow.
    extra = [("acl", (None, "public-read")), *fields_form(fields)]
    assert "Extra input fields: acl" in refused(post_form(url, extra), 403, "AccessDenied")
    # Form fields too large.
    huge = [("x-ignore-me", (None, "y" * 100_000)), *fields_form(fields)]
    refused(post_form(url, huge), 400, "MaxPostPreDataLengthExceeded")
    refused(requests.get(url, timeout=10), 405, "MethodNotAllowed")
    refused(requests.put(url + "/object", data=b"x", timeout=10), 404, "NoSuchKey")
    assert_nothing_stored(api, g["uploadId"])


def test_fields_then_file_as_the_docs_curl_example_sends_them(api: Client, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    g = grant(api)
    archive = tmp_path / "context.tar.gz"
    archive.write_bytes(context())
    args = [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", g["uploadUrl"]]
    for name, value in g["uploadFields"].items():
        args += ["-F", f"{name}={value}"]
    args += ["-F", f"file=@{archive}"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
    assert result.stdout == "204", result.stderr
    created = api.call(
        "POST", "/builds", 201, json={"uploadId": g["uploadId"], "region": "us-west"}
    )
    assert created["contextHash"] == hashlib.md5(archive.read_bytes()).hexdigest()[:16]


def test_a_second_upload_to_the_same_key_replaces_the_object(api: Client) -> None:
    g = grant(api)
    first, second = context(), context()
    response = post_upload(g["uploadUrl"], g["uploadFields"], first)
    assert response.headers["ETag"] == f'"{hashlib.md5(first).hexdigest()}"'
    assert post_upload(g["uploadUrl"], g["uploadFields"], second).status_code == 204
    created = api.call(
        "POST", "/builds", 201, json={"uploadId": g["uploadId"], "region": "us-west"}
    )
    assert created["contextHash"] == hashlib.md5(second).hexdigest()[:16]
    assert api.stats()["uploadedBytes"] == len(first) + len(second)


def test_faults_on_the_upload_target_answer_like_s3(api: Client) -> None:
    api.control("POST", "/faults", json={"route": "POST /_storage/{bucket}", "status": 503})
    g = grant(api)
    refused(post_upload(g["uploadUrl"], g["uploadFields"], b"data"), 503, "SlowDown")
    assert post_upload(g["uploadUrl"], g["uploadFields"], b"data").status_code == 204
    api.control(
        "POST", "/faults", json={"route": "POST /_storage/{bucket}", "drop": True, "times": 1}
    )
    with pytest.raises(requests.exceptions.ConnectionError):
        post_upload(g["uploadUrl"], g["uploadFields"], b"data")


def test_a_large_upload_streams_to_disk(api: Client, tmp_path: Path) -> None:
    size = 24 * 1024 * 1024
    archive = tmp_path / "big.bin"
    with archive.open("wb") as f:
        for _ in range(size // (1024 * 1024)):
            f.write(os.urandom(1024 * 1024))
    g = grant(api)
    with archive.open("rb") as f:
        encoder = MultipartEncoder(
            [*g["uploadFields"].items(), ("file", ("context.tar.gz", f, "application/gzip"))]
        )
        tracemalloc.start()
        try:
            response = requests.post(
                g["uploadUrl"],
                data=encoder,
                headers={"Content-Type": encoder.content_type},
                timeout=60,
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status_code == 204, response.text
    # Client and server share this process: both streamed, so the peak stays far below the size.
    assert peak < size / 4, peak
    assert api.stats()["uploadedBytes"] == size
    stored = api.emu.store.object_path(g["uploadId"])
    assert (
        hashlib.md5(stored.read_bytes()).hexdigest()
        == hashlib.md5(archive.read_bytes()).hexdigest()
    )


def test_an_oversized_body_is_refused_before_it_is_read(api: Client, emu: Emulator) -> None:
    import socket
    from urllib.parse import urlsplit

    g = grant(api)
    where = urlsplit(g["uploadUrl"])
    limit = emu.config.max_upload_bytes
    head = (
        f"POST {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {limit + 10 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        # The headers and a first KiB only: the answer must not wait for the other 510 MB.
        sock.sendall(head.encode() + b"--x\r\n" + b"x" * 1024)
        answer = sock.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert api.stats()["uploadedBytes"] == 0

    # A larger limit set through the control API is followed by the server too.
    api.control("POST", "/config", json={"maxUploadBytes": limit + 20 * 1024 * 1024})
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"--x\r\n" + b"x" * 1024)
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):  # now it waits for the body it would accept
            sock.recv(4096)


def _spooled_bytes(pid: int, spool: Path) -> int:
    """Bytes in the temporary files a process holds under `spool` (waitress's are unlinked
    at once, so they are found through the process's open files, not the folder)."""
    total = sum(f.stat().st_size for f in spool.iterdir() if f.is_file())
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(str(spool)):
                total += fd.stat().st_size
        except OSError:
            continue  # closed meanwhile
    return total


def test_an_oversized_body_is_never_spooled_beyond_the_limit(tmp_path: Path) -> None:
    import re
    import select
    import socket
    import sys
    import threading
    from urllib.parse import urlsplit

    from pcc_provider.emulator.storage import MAX_FORM_FIELDS_BYTES

    limit = 1024 * 1024
    spool = tmp_path / "spool"
    spool.mkdir()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "pcc_provider", "emulator", "--api-key", API_KEY),
            *("--state-dir", str(tmp_path / "state"), "--max-upload-bytes", str(limit)),
        ],
        env={**os.environ, "TMPDIR": str(spool)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        found = re.search(r"http://[\d.]+:\d+", server.stdout.readline())
        assert found, server.stderr.read() if server.stderr else None
        headers = {"Authorization": f"Bearer {API_KEY}"}
        g = requests.post(
            f"{found[0]}/v1/builds/upload-url", json={"region": "us-west"}, headers=headers,
            timeout=10,
        ).json()  # fmt: skip
        where = urlsplit(g["uploadUrl"])
        address = (where.hostname, where.port)
        start = (
            f"POST {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
        )
        peak = 0
        sending = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not sending.is_set():
                peak = max(peak, _spooled_bytes(server.pid, spool))
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            # A Content-Length over the limit: answered after the headers and 1 KiB.
            with socket.create_connection(address, timeout=30) as sock:
                head = f"{start}Content-Length: {8 * limit}\r\n\r\n--x\r\n"
                sock.sendall(head.encode() + b"x" * 1024)
                assert sock.recv(4096).startswith(b"HTTP/1.1 413"), "no early answer"

            # A chunked body without a length: cut at the limit, answered while it is sent.
            answer = b""
            with socket.create_connection(address, timeout=30) as sock:
                sock.sendall(f"{start}Transfer-Encoding: chunked\r\n\r\n".encode())
                chunk = b"%x\r\n" % (64 * 1024) + b"x" * (64 * 1024) + b"\r\n"
                try:
                    for _ in range(8 * limit // (64 * 1024)):
                        if select.select([sock], [], [], 0.02)[0]:
                            break
                        sock.sendall(chunk)
                    else:
                        sock.sendall(b"0\r\n\r\n")
                    answer = sock.recv(4096)
                except (BrokenPipeError, ConnectionResetError):
                    pass
        finally:
            sending.set()
            watcher.join()
        assert peak <= limit + MAX_FORM_FIELDS_BYTES + 64 * 1024, f"{peak} bytes spooled"
        assert answer.startswith(b"HTTP/1.1 413"), answer
    finally:
        server.terminate()
        server.wait(timeout=30)
