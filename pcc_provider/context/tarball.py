"""The .tar.gz of a selected context, byte for byte the official CLI's, with its contextHash
and content digest, in one streaming pass.

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from pcc_provider.context.content import CHUNK, combine, open_regular, unchanged_while_read
from pcc_provider.context.selection import File

if TYPE_CHECKING:
    import queue
    import threading

__all__ = ["Digest", "compress"]

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
    cached: bool  # known from the cache: nothing was compressed
    # The content digest (content.combine) of the files as they were archived.
    content_digest: str
    # The SHA-256 of each file as it was archived (none when known from the cache).
    file_digests: tuple[str, ...] = field(default=(), repr=False, compare=False)


def _tar_chunks(
    files: Sequence[File], digests: list[str], progress: Callable[[int], object]
) -> Iterator[bytes]:
    """The uncompressed tar stream, in pieces of about CHUNK bytes, as tarfile.open(mode="w")
    writes it: PAX format, regular files only, mtime/uid/gid 0, empty owner names.

    Appends to `digests` the SHA-256 of each file's bytes as they are read, and tells
    `progress` how many bytes were read."""
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
        content = hashlib.sha256()
        with open_regular(f) as source:
            left = f.size
            while left:
                data = source.read(min(left, CHUNK))
                if not data:
                    break
                left -= len(data)
                content.update(data)
                progress(len(data))
                if not buf and len(data) == CHUNK:
                    yield data
                    continue
                buf += data
                if len(buf) >= CHUNK:
                    yield bytes(buf)
                    buf.clear()
            unchanged_while_read(f, source, left, "archived")
        digests.append(content.hexdigest())
        buf += bytes(-f.size % _BLOCK)
    if buf:
        yield bytes(buf)


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
    """The end of the pipeline: MD5 and size of the .tar.gz, and optionally a copy on disk."""

    def __init__(self, out: BinaryIO | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.out = out

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        self.size += len(data)
        if self.out is not None:
            self.out.write(data)
        return len(data)


def compress(
    files: Sequence[File],
    out: BinaryIO | None,
    progress: Callable[[int], object] = lambda _: None,
) -> Digest:
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
    digests: list[str] = []

    def read() -> None:
        crc = size = 0
        try:
            for chunk in _tar_stream(files, digests, progress):
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
        content_digest=combine(files, digests),
        file_digests=tuple(digests),
    )


def _tar_stream(
    files: Sequence[File], digests: list[str], progress: Callable[[int], object]
) -> Iterator[bytes]:
    """_tar_chunks plus the end-of-archive blocks and record padding of TarFile.close()."""
    length = 0
    for chunk in _tar_chunks(files, digests, progress):
        length += len(chunk)
        yield chunk
    length += 2 * _BLOCK
    yield bytes(2 * _BLOCK + (-length % _RECORD))
