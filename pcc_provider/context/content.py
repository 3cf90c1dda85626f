"""The content digest of a selected context: what decides whether the image changes.

A SHA-256 per file, combined in archive order with each file's path, executable bit and
size. The same on every machine (unlike the contextHash, which depends on zlib, tarfile and
os.access), and cheap to keep up to date: an edit rehashes only the edited files.

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from collections.abc import Callable, Sequence

from pcc_provider.context.selection import ContextError, File, quote, unreadable

__all__ = [
    "CHUNK",
    "LEGACY_PREFIX",
    "PREFIX",
    "combine",
    "executable_bit",
    "hash_files",
    "legacy_digest",
    "open_regular",
    "unchanged_while_read",
]

CHUNK = 1 << 20  # read, hash and compress in 1 MiB pieces
# The digest's label and encoding; a new one means a new digest for every context.
PREFIX = "files-sha256:"
_FORMAT = b"pcc-provider-content-2\n"
# pcc-provider before per-file digests: one SHA-256 over every file's bytes in a row
# ("sha256:<hex>"). Still read in states an earlier version wrote (build.BuildProvider.diff).
LEGACY_PREFIX = "sha256:"
_LEGACY_FORMAT = b"pcc-provider-content-1\n"
# Files hashed at once: reading and hashing release the GIL, so two cores hash in parallel.
_THREADS = 4

Progress = Callable[[int], None]  # called with the bytes just hashed


def executable_bit(f: File) -> bytes:
    """The owner's x bit, as git records it: os.access depends on the user and the mount."""
    return b"x" if f.mode & stat.S_IXUSR else b"-"


def combine(files: Sequence[File], digests: Sequence[str]) -> str:
    """The content digest of `files` whose SHA-256s (hex) are `digests`.

    Per file "name NUL x-or-dash NUL size NUL sha256-hex LF": names hold no NUL and the
    field count is fixed, so the encoding is unambiguous."""
    combined = hashlib.sha256(_FORMAT)
    for f, digest in zip(files, digests, strict=True):
        combined.update(
            b"%s\0%s\0%d\0%s\n"
            % (
                f.name.encode("utf-8", "surrogateescape"),
                executable_bit(f),
                f.size,
                digest.encode(),
            )
        )
    return PREFIX + combined.hexdigest()


def open_regular(f: File, doing: str = "archived") -> io.FileIO:
    """`f` opened for reading, or ContextError: never blocks (a FIFO swapped in after the
    listing would block open() and read() forever) and never yields anything but a regular
    file; a symlink swapped in for a file the listing saw as a file is not followed."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not f.symlink:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(f.path, flags)
    except FileNotFoundError:
        raise ContextError(
            f"{quote(f.name)} disappeared while the build context was being {doing}: "
            "run again once it stops changing"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not f.symlink:
            raise ContextError(
                f"{quote(f.name)} became a symlink while the build context was being {doing}: "
                "run again once it stops changing"
            ) from None
        raise ContextError(f"cannot read {quote(f.name)}: {unreadable(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ContextError(
                f"{quote(f.name)} is no longer a regular file (it was replaced while the build "
                f"context was being {doing}): make it a regular file, remove it or add it "
                "to .dockerignore"
            )
        # Regular files ignore O_NONBLOCK; reads stay ordinary.
        return io.FileIO(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def unchanged_while_read(f: File, source: io.FileIO, left: int, doing: str) -> None:
    """ContextError unless `f` still is what the listing saw, after reading it whole."""
    now = os.fstat(source.fileno())
    if left or (now.st_size, now.st_mtime_ns, now.st_ctime_ns) != (f.size, f.mtime_ns, f.ctime_ns):
        raise ContextError(
            f"{quote(f.name)} changed while the build context was being {doing}: "
            "run again once it stops changing"
        )


def _hash_file(f: File, progress: Progress) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(min(CHUNK, max(f.size, 1)))
    view = memoryview(buffer)
    with open_regular(f, "hashed") as source:
        left = f.size
        while left:
            got = source.readinto(view[: min(left, len(buffer))])
            if not got:
                break
            digest.update(view[:got])
            left -= got
            progress(got)
        unchanged_while_read(f, source, left, "hashed")
    return digest.hexdigest()


def hash_files(files: Sequence[File], progress: Progress = lambda _: None) -> list[str]:
    """The SHA-256 (hex) of each of `files`, several at a time."""
    if len(files) < 2 or sum(f.size for f in files) < 8 * CHUNK:
        return [_hash_file(f, progress) for f in files]
    from concurrent.futures import ThreadPoolExecutor

    # Largest first, so that one big file does not end the run alone.
    order = sorted(range(len(files)), key=lambda i: -files[i].size)
    found: dict[int, str] = {}
    with ThreadPoolExecutor(min(_THREADS, os.cpu_count() or 1), "pcc-context-hash") as pool:
        hashed = pool.map(lambda i: _hash_file(files[i], progress), order)
        for i, digest in zip(order, hashed, strict=True):
            found[i] = digest
    return [found[i] for i in range(len(files))]


def legacy_digest(files: Sequence[File]) -> str:
    """The content digest as pcc-provider wrote it before per-file digests: one SHA-256 of
    "name NUL x-or-dash NUL size LF" and the bytes, per file in archive order."""
    digest = hashlib.sha256(_LEGACY_FORMAT)
    for f in files:
        digest.update(
            b"%s\0%s\0%d\n" % (f.name.encode("utf-8", "surrogateescape"), executable_bit(f), f.size)
        )
        with open_regular(f, "hashed") as source:
            left = f.size
            while left and (data := source.read(min(left, CHUNK))):
                digest.update(data)
                left -= len(data)
            unchanged_while_read(f, source, left, "hashed")
    return LEGACY_PREFIX + digest.hexdigest()
