"""The release `make dist` wrote into dist/, and a release host serving it on 127.0.0.1 over
HTTPS.

The host stands in for the project's GitHub releases (the schema's pluginDownloadURL,
github://api.github.com/pcc-provider/pcc-provider): the engine is pointed at it with
PULUMI_PLUGIN_DOWNLOAD_URL_OVERRIDES, as any mirror of a release would be. It also serves
the Go SDK as a module proxy (dist/goproxy), where `go get` finds it as it will once the
sdk/v<V> tag is pushed.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pulumi_stack import REPO
from waiting import eventually

import pcc_provider
from pcc_provider.native.archive import archive_name
from pcc_provider.native.schema import PLUGIN_DOWNLOAD_URL

DIST = REPO / "dist"
VERSION = pcc_provider.__version__


def released(name: str) -> Path:
    """A file of the release, checked against SHA256SUMS."""
    sums = DIST / "SHA256SUMS"
    if not sums.exists():
        raise AssertionError(f"{DIST} holds no release: run `make dist` (make test does)")
    listed = dict(reversed(line.split("  ", 1)) for line in sums.read_text().splitlines())
    path = DIST / name
    assert name in listed, f"{name} is not in SHA256SUMS: {sorted(listed)}"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == listed[name], f"{name} changed"
    return path


def plugin_archive() -> Path:
    return released(archive_name())


def checksum(name: str) -> str:
    return hashlib.sha256(released(name).read_bytes()).hexdigest()


@dataclass
class ReleaseHost:
    url: str
    # SSL_CERT_FILE for the processes that fetch from it: the system's CAs and the host's.
    ca_bundle: Path
    log: Path

    @property
    def overrides(self) -> str:
        """PULUMI_PLUGIN_DOWNLOAD_URL_OVERRIDES sending the schema's URL here."""
        return f"^{PLUGIN_DOWNLOAD_URL}={self.url}"

    @property
    def requests(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self.log.read_text().splitlines()[1:]]

    def downloads(self, name: str) -> int:
        return sum(1 for path in self.requests if path.rsplit("/", 1)[-1] == name)


@contextmanager
def release_host(workdir: Path, folder: Path = DIST) -> Iterator[ReleaseHost]:
    """tests/release_host (Go): HTTPS and HTTP/2 on 127.0.0.1, as GitHub serves releases."""
    binary = workdir / "release-host"
    subprocess.run(
        ["go", "build", "-o", binary, "."], cwd=Path(__file__).parent / "release_host", check=True
    )
    log, bundle = workdir / "release-host.log", workdir / "ca-bundle.pem"
    with log.open("w") as out:
        proc = subprocess.Popen([binary, folder, bundle], stdout=out, stderr=subprocess.STDOUT)

    def written() -> str:
        assert proc.poll() is None, log.read_text()
        return log.read_text()

    try:
        first = eventually(
            written,
            until=lambda text: text.startswith("serving "),
            timeout=30,
            what="the release host to serve",
        ).partition("\n")[0]
        yield ReleaseHost(first.split(" ", 1)[1], bundle, log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
