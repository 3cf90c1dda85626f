"""Build contexts: which files a build uploads, their .tar.gz, its contextHash and digest.

Pipecat Cloud names a build context by the first 16 hex characters of the MD5 of the
uploaded .tar.gz, and the official CLI (`pipecatcloud` 1.4.0) looks builds up by that hash
before uploading. So that a build made by `pcc deploy` is reused here and the other way
round, the archive built here is byte for byte the one the official CLI builds for the same
folder: same file selection, order, tar headers and gzip stream.

The contextHash depends on the machine (the zlib Python links, tarfile, os.access), so what
decides whether the image changes is the content digest: a SHA-256 of the selected files'
paths, executable bits and bytes, computed in the same pass, the same on every machine.

Unlike the official CLI this module streams (memory does not grow with the context), checks
the size limit before compressing, refuses contexts that cannot build instead of uploading
them, and caches hashes and archives so that an unchanged context is never compressed twice.
The cache is private to its user and its entries are signed with a key kept outside it.

selection.py chooses the files, tarball.py streams the archive and its hashes, cache.py keeps
them; this module ties them together: select(), digest(), archive().

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pcc_provider.context import cache as _cache
from pcc_provider.context.cache import (
    _Cache,
    _cache_key,
    _create_private,
    _racy,
    cache_dir,
    image_lock,
)
from pcc_provider.context.selection import (
    DEFAULT_EXCLUSIONS,
    MAX_CONTEXT_BYTES,
    Context,
    ContextError,
    _entries,
    select,
)
from pcc_provider.context.tarball import Digest, _archive_bound, _compress

__all__ = [
    "DEFAULT_EXCLUSIONS",
    "MAX_CONTEXT_BYTES",
    "Context",
    "ContextError",
    "Digest",
    "archive",
    "cache_dir",
    "digest",
    "image_lock",
    "select",
]


def digest(ctx: Context) -> Digest:
    """The contextHash of `ctx`, from the cache when no selected file changed."""
    files = _entries(ctx)
    cache = _Cache(cache_dir())
    key = _cache_key(files)
    known = cache.lookup(key)
    if known is not None:
        return known
    # Keep the archive too, so an upload right after a preview does not compress again.
    workdir: Path | None = None
    if _archive_bound(files) <= _cache._MAX_ARCHIVE_CACHE_BYTES:
        with contextlib.suppress(OSError):
            workdir = cache.workdir()
    try:
        if workdir is None:
            found = _compress(files, None)
        else:
            path = workdir / "context.tar.gz"
            with _create_private(path) as out:
                found = _compress(files, out)
            cache.keep(path, found)
        if not _racy(ctx):
            cache.store(key, found)
        return found
    finally:
        if workdir is not None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def archive(ctx: Context) -> Iterator[tuple[Path, Digest]]:
    """A .tar.gz of `ctx` on disk for upload, with its Digest; removed on exit.

    Comes from the archive cache when it holds a verified copy, else is written in the
    same single pass that computes the hash.
    """
    files = _entries(ctx)
    cache = _Cache(cache_dir())
    key = _cache_key(files)
    try:
        workdir = cache.workdir()
        usable = True
    except OSError:
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="pcc-context-"))
        usable = False
    try:
        known = cache.lookup(key) if usable else None
        path = cache.fetch(known, workdir) if known is not None else None
        if path is not None and known is not None:
            found = known
        else:
            path = workdir / "context.tar.gz"
            with _create_private(path) as out:
                found = _compress(files, out)
            if usable:
                cache.keep(path, found)
                if not _racy(ctx):
                    cache.store(key, found)
        yield path, found
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
