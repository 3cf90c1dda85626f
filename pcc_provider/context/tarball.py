"""The .tar.gz of a selected context, byte for byte the official CLI's, its contextHash and
its content digest, in one streaming pass.

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from pcc_provider.context.selection import ContextError, _File, _q, _unreadable

if TYPE_CHECKING:
    import queue
    import threading

# The content digest's encoding; a new one means a new digest for every context.
_CONTENT_FORMAT = b"pcc-provider-content-1\n"
_CHUNK = 1 << 20  # read and compress in 1 MiB pieces
_QUEUE_DEPTH = 8  # bounds the memory in flight between pipeline stages
_BLOCK = 512
_RECORD = 20 * _BLOCK  # tarfile pads the archive to whole 10 KiB records
# gzip member header as gzip.GzipFile(fileobj=BytesIO(), mtime=0) writes it at level 9:
# magic, deflate, no flags (a BytesIO has no name, so no FNAME), mtime 0, XFL 2 (best), OS 255.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
_GZIP_LEVEL = 9


@dataclass(frozen=True)
class Digest:
    context_hash: str  # Pipecat Cloud's name for the archive: MD5 of the .tar.gz, 16 hex
    archive_bytes: int
    cached: bool
    # "sha256:<hex>" of the paths, executable bits and bytes: the same on every machine.
    content_digest: str
    # SHA-256 of the .tar.gz, what a cached archive is checked against before upload.
    _archive_sha256: str = field(default="", repr=False, compare=False)


def _tar_chunks(
    files: Sequence[_File], content: Callable[[bytes], object] = lambda _: None
) -> Iterator[bytes]:
    """The uncompressed tar stream, in pieces of about _CHUNK bytes, as tarfile.open(mode="w")
    writes it: PAX format, regular files only, mtime/uid/gid 0, empty owner names.

    Feeds `content` the machine-independent encoding of the same files as they are read:
    per file "name NUL x-or-dash NUL size LF" then its bytes (sizes make it unambiguous).
    """
    import tarfile

    # tarfile's defaults for a TarFile opened for writing.
    encoding = sys.getfilesystemencoding()
    buf = bytearray()
    for f in files:
        info = tarfile.TarInfo(f.name)
        info.size = f.size
        info.mode = 0o755 if f.executable else 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        buf += info.tobuf(tarfile.PAX_FORMAT, encoding, "surrogateescape")
        # The owner's x bit, as git records it: os.access depends on the user and the mount.
        executable = b"x" if f.mode & stat.S_IXUSR else b"-"
        content(b"%s\0%s\0%d\n" % (f.name.encode("utf-8", "surrogateescape"), executable, f.size))
        source = _open_regular(f)
        with source:
            left = f.size
            while left:
                data = source.read(min(left, _CHUNK))
                if not data:
                    break
                left -= len(data)
                content(data)
                if not buf and len(data) == _CHUNK:
                    yield data
                    continue
                buf += data
                if len(buf) >= _CHUNK:
                    yield bytes(buf)
                    buf.clear()
            now = os.fstat(source.fileno())
        if left or (now.st_size, now.st_mtime_ns, now.st_ctime_ns) != (
            f.size,
            f.mtime_ns,
            f.ctime_ns,
        ):
            raise ContextError(
                f"{_q(f.name)} changed while the build context was being archived: "
                "run again once it stops changing"
            )
        buf += bytes(-f.size % _BLOCK)
    if buf:
        yield bytes(buf)


def _open_regular(f: _File) -> BinaryIO:
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
            f"{_q(f.name)} disappeared while the build context was being archived: "
            "run again once it stops changing"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not f.symlink:
            raise ContextError(
                f"{_q(f.name)} became a symlink while the build context was being archived: "
                "run again once it stops changing"
            ) from None
        raise ContextError(f"cannot read {_q(f.name)}: {_unreadable(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ContextError(
                f"{_q(f.name)} is no longer a regular file (it was replaced while the build "
                "context was being archived): make it a regular file, remove it or add it "
                "to .dockerignore"
            )
        # Regular files ignore O_NONBLOCK; reads stay ordinary.
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _put(q: queue.Queue[bytes | None], item: bytes | None, stop: threading.Event) -> bool:
    import queue as queue_module

    while True:
        try:
            q.put(item, timeout=0.05)
            return True
        except queue_module.Full:
            if stop.is_set():
                return False


class _Sink:
    """The end of the pipeline: MD5, SHA-256 and size of the .tar.gz, and optionally a copy
    on disk."""

    def __init__(self, out: BinaryIO | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.out = out

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        self.sha256.update(data)
        self.size += len(data)
        if self.out is not None:
            self.out.write(data)
        return len(data)


def _compress(files: Sequence[_File], out: BinaryIO | None) -> Digest:
    """Walk → tar → gzip → MD5 (→ `out`) in one pass, in three threads so that reading and
    hashing overlap deflate, the bottleneck. zlib and hashlib release the GIL. The reader
    also computes the content digest from the bytes it reads."""
    import queue
    import struct
    import threading
    import zlib

    stop = threading.Event()
    raw: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
    packed: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
    errors: list[BaseException] = []
    tail: list[int] = []  # crc32 and length of the tar stream, set by the reader
    sink = _Sink(out)
    content = hashlib.sha256(_CONTENT_FORMAT)

    def read() -> None:
        crc = size = 0
        try:
            for chunk in _tar_stream(files, content.update):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
                if not _put(raw, chunk, stop):
                    return
            tail.extend((crc, size))
        except BaseException as exc:
            errors.append(exc)
        finally:
            _put(raw, None, stop)

    def write() -> None:
        while (chunk := packed.get()) is not None:
            if errors:
                continue  # keep draining so the compressor never blocks
            try:
                sink.write(chunk)
            except BaseException as exc:
                errors.append(exc)
                stop.set()

    reader = threading.Thread(target=read, name="pcc-context-read", daemon=True)
    writer = threading.Thread(target=write, name="pcc-context-write", daemon=True)
    reader.start()
    writer.start()
    try:
        packed.put(_GZIP_HEADER)
        deflate = zlib.compressobj(
            _GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0
        )
        while (chunk := raw.get()) is not None:
            if not errors and (data := deflate.compress(chunk)):
                packed.put(data)
        reader.join()
        if not errors:
            crc, size = tail
            packed.put(deflate.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF))
    except BaseException:
        stop.set()
        raise
    finally:
        packed.put(None)
        writer.join()
        reader.join()
    if errors:
        raise errors[0]
    return Digest(
        sink.md5.hexdigest()[:16],
        sink.size,
        cached=False,
        content_digest=f"sha256:{content.hexdigest()}",
        _archive_sha256=sink.sha256.hexdigest(),
    )


def _tar_stream(files: Sequence[_File], content: Callable[[bytes], object]) -> Iterator[bytes]:
    """_tar_chunks plus the end-of-archive blocks and record padding of TarFile.close()."""
    length = 0
    for chunk in _tar_chunks(files, content):
        length += len(chunk)
        yield chunk
    length += 2 * _BLOCK
    yield bytes(2 * _BLOCK + (-length % _RECORD))


def _archive_bound(files: Sequence[_File]) -> int:
    """An upper bound of the .tar.gz size: tar size plus deflate's stored-block overhead."""
    tar = sum(3 * _BLOCK + f.size + len(f.name.encode("utf-8", "surrogateescape")) for f in files)
    return tar + tar // 1000 + _RECORD + 64
