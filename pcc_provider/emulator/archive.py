"""Reading an uploaded build context as the build service does: a tar.gz, and its Dockerfile.

Streams through the archive, so a 500 MB context never sits in memory; a truncated or
corrupted archive is refused as the build service's untar would refuse it.
"""

from __future__ import annotations

import gzip
import posixpath
import tarfile
import zlib
from pathlib import Path

MAX_DOCKERFILE_BYTES = 1024 * 1024


class InvalidArchive(Exception):
    pass


def read_dockerfile(path: Path, dockerfile_path: str) -> str | None:
    """Check that `path` is a gzip-compressed tar and read `dockerfile_path` out of it: its
    text, or None when the archive has no such file.

    A Dockerfile that is a symlink inside the context is followed, as docker build follows it.
    """
    with path.open("rb") as f:
        if f.read(2) != b"\x1f\x8b":
            raise InvalidArchive("the build context is not gzip-compressed")
    wanted = _normalize_member(dockerfile_path)
    for _ in range(8):  # a few symlink hops at most
        found, link = _read_member(path, wanted)
        if found is not None or link is None:
            return found
        wanted = link
    return None


def _read_member(path: Path, wanted: str) -> tuple[str | None, str | None]:
    """(the text of regular file `wanted`, None) or (None, where symlink `wanted` points)."""
    text: str | None = None
    link: str | None = None
    try:
        with gzip.open(path, "rb") as gz:
            # Stream mode: one pass, the member is read as it goes by.
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for member in tar:
                    if text is not None or _normalize_member(member.name) != wanted:
                        continue
                    if member.isfile():
                        extracted = tar.extractfile(member)
                        if extracted is not None:
                            raw = extracted.read(MAX_DOCKERFILE_BYTES)
                            text, link = raw.decode("utf-8", "replace"), None
                    elif member.issym():
                        parent = posixpath.dirname(wanted)
                        target = posixpath.normpath(posixpath.join(parent, member.linkname))
                        if not target.startswith("../") and target != "..":
                            link = _normalize_member(target)
            # tar stops at its end marker; reading on checks the rest and the gzip CRC, so a
            # truncated or corrupted upload is refused as the build service's untar would.
            while gz.read(1024 * 1024):
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InvalidArchive(f"the build context is not a valid tar.gz archive ({exc})") from exc
    return text, link


def _normalize_member(name: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)
