"""The context cache and the operations that use it: the content digest of a selection,
its contextHash and its archive for upload.

The cache keeps, in a folder private to its user, entries signed with a key kept outside it:

files/<sha256 of the context folder>.json: each selected file's SHA-256 with what tells an
  unchanged file (stat_key), so that a preview rehashes only what changed;
hashes/<key>.json: the contextHash and archive size of a content digest on this machine's
  Python and zlib (and the old-format digest of a content, for states written before it);
tmp/: archives being written for an upload, removed once it is done;
locks/<sha256>.lock: one per image built, flocked by image_lock().

No archive is kept: a preview needs none, and an `up` compresses once and uploads what it
compressed. A folder of another user, or no usable key, means no cache: that only costs time.

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from pcc_provider import cancel
from pcc_provider.context.content import combine, hash_files, legacy_digest
from pcc_provider.context.selection import Context, File, entries
from pcc_provider.context.tarball import Digest, compress

__all__ = [
    "Hashed",
    "archive",
    "cache_dir",
    "cached_digest",
    "content_digest",
    "create_private",
    "digest",
    "image_lock",
    "legacy_content_digest",
    "private_dir",
    "racy",
    "stat_key",
]

_CACHE_ENV = "PCC_PROVIDER_CACHE_DIR"
# Bumped whenever the archive layout or the cache entry format changes.
_FORMAT = "pcc-provider-context-3"
_SIGNING_KEY_BYTES = 32
_MAX_HASH_ENTRIES = 1024
_MAX_FILE_TABLES = 256  # context folders whose files' digests are kept
_STALE_TMP_SECONDS = 24 * 3600
# A file whose ctime is this close to the scan may still change without its stat changing
# (timestamps come from a coarse clock), so its digest is not kept ("racy git" problem).
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 3_000_000_000  # filesystems with whole-second timestamps

# Told (bytes hashed so far, bytes to hash) as files are read.
Hashed = Callable[[int, int], None]


# -- the operations -----------------------------------------------------------------------


def content_digest(ctx: Context, progress: Hashed | None = None) -> str:
    """The content digest of `ctx`: only files whose stat changed are read.

    `progress` is told (bytes hashed, bytes to hash) as files are read, at most once a
    MiB, from the hashing threads."""
    files = entries(ctx)
    cache = _Cache(cache_dir())
    digests, known = _known_digests(ctx, cache)
    todo = [i for i, d in enumerate(digests) if d is None]
    if todo:
        hashed = _counting(sum(files[i].size for i in todo), progress)
        for i, found in zip(todo, hash_files([files[i] for i in todo], hashed), strict=True):
            digests[i] = found
    complete = [d for d in digests if d is not None]
    _keep_file_digests(ctx, cache, complete, known, bool(todo))
    return combine(files, complete)


def cached_digest(ctx: Context) -> Digest | None:
    """The contextHash of `ctx` if this machine archived the same content before, else None;
    never compresses."""
    return _known_hash(_Cache(cache_dir()), entries(ctx), content_digest(ctx))


def digest(ctx: Context) -> Digest:
    """The contextHash of `ctx`: from the cache, else by compressing (nothing is written).

    Files whose stat changed are rehashed first: the same content may have been archived
    before (a `git checkout` makes new files of the same bytes), and hashing costs a
    fraction of compressing. A context none of whose files is known is compressed at once,
    which digests each file in the same pass."""
    cache = _Cache(cache_dir())
    if not any(_known_digests(ctx, cache)[0]):
        return _compressed(ctx, None)
    return _known_hash(cache, entries(ctx), content_digest(ctx)) or _compressed(ctx, None)


@contextlib.contextmanager
def archive(ctx: Context, progress: Hashed | None = None) -> Iterator[tuple[Path, Digest]]:
    """A .tar.gz of `ctx` on disk for upload, private to this user, with its Digest (of the
    bytes archived); removed on exit. Compresses every time: one `up` needs it once.
    `progress` is told (bytes read, bytes to read) as files are read."""
    cache = _Cache(cache_dir())
    try:
        workdir = cache.workdir()
    except OSError:
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="pcc-context-"))
    try:
        path = workdir / "context.tar.gz"
        with create_private(path) as out:
            found = _compressed(ctx, out, progress)
        yield path, found
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def legacy_content_digest(ctx: Context) -> str:
    """The content digest of `ctx` as versions before per-file digests computed it
    (content.LEGACY_PREFIX), for a state they wrote; kept per content once computed."""
    files = entries(ctx)
    current = content_digest(ctx)
    cache = _Cache(cache_dir())
    key = hashlib.sha256(f"{_FORMAT}\0legacy\0{current}".encode()).hexdigest()
    held = cache.lookup(key)
    if held is not None and isinstance(held.get("legacy"), str):
        return str(held["legacy"])
    # Each file is checked to be what the listing saw once read (content.unchanged_while_read).
    found = legacy_digest(files)
    cache.store(key, {"legacy": found})
    return found


def _compressed(ctx: Context, out: BinaryIO | None, progress: Hashed | None = None) -> Digest:
    """Compress `ctx` (into `out`, if given) and remember its contextHash for its content,
    and the digests of its files."""
    files = entries(ctx)
    found = compress(files, out, _counting(sum(f.size for f in files), progress))
    cache = _Cache(cache_dir())
    _keep_file_digests(ctx, cache, found.file_digests, cache.file_table(ctx.root), True)
    # Keyed by the digest of the bytes compressed: right even if a file changed meanwhile.
    cache.store(
        _hash_key(files, found.content_digest),
        {
            "context_hash": found.context_hash,
            "archive_bytes": found.archive_bytes,
            "content": found.content_digest,
        },
    )
    return found


def _counting(total: int, progress: Hashed | None) -> Callable[[int], None]:
    """A callback for the reading threads that tells `progress` (bytes so far, `total`)."""
    done, lock = [0], threading.Lock()

    def read(size: int) -> None:
        with lock:
            done[0] += size
            now = done[0]
        if progress is not None:
            progress(now, total)

    return read


def _known_digests(
    ctx: Context, cache: _Cache
) -> tuple[list[str | None], dict[str, tuple[tuple[int, ...], str]]]:
    """The cached digest of each file of `ctx` (None where its stat changed), and the table."""
    known = cache.file_table(ctx.root)
    digests: list[str | None] = []
    for f in entries(ctx):
        held = known.get(f.name)
        digests.append(held[1] if held is not None and held[0] == stat_key(f) else None)
    return digests, known


def _keep_file_digests(
    ctx: Context,
    cache: _Cache,
    digests: Sequence[str],
    known: dict[str, tuple[tuple[int, ...], str]],
    changed: bool,
) -> None:
    """Keep the digests of the files of `ctx` (but those too young to trust)."""
    files = entries(ctx)
    fresh = {
        f.name: (stat_key(f), d)
        for f, d in zip(files, digests, strict=True)
        if not racy(f, ctx.scanned_ns)
    }
    if changed or set(known) - set(fresh):
        cache.keep_file_table(ctx.root, fresh, known)


def _known_hash(cache: _Cache, files: Sequence[File], content: str) -> Digest | None:
    found = cache.lookup(_hash_key(files, content))
    if found is None:
        return None
    try:
        return Digest(str(found["context_hash"]), int(found["archive_bytes"]), True, content)
    except (KeyError, TypeError, ValueError):
        return None


# -- what identifies an unchanged file and a content -------------------------------------


def stat_key(f: File) -> tuple[int, ...]:
    """What tells that a file (by its path in the context folder) still holds the bytes it
    was hashed with, without reading it, as git's index does:

    size: an append or a truncation; mtime_ns: any ordinary write; ctime_ns: a write that
    set the mtime back (`touch -r`, `rsync --inplace -t`), which the kernel cannot hide;
    inode and device: another file put in its place (editors save to a new file and rename
    it, `git checkout` writes new files), even one copied with its times (`cp -p`); mode:
    the executable bit is part of the digest.
    """
    return (f.size, f.mtime_ns, f.ctime_ns, f.ino, f.dev, f.mode)


def racy(f: File, scanned_ns: int) -> bool:
    """Whether `f` changed so shortly before the scan that it could change again within the
    same clock tick, keeping its stat: such a digest is used, not kept."""
    coarse = f.ctime_ns % 1_000_000_000 == 0
    return f.ctime_ns >= scanned_ns - (_RACY_COARSE_NS if coarse else _RACY_NS)


def _hash_key(files: Sequence[File], content: str) -> str:
    """What the contextHash of a content depends on besides the content: the executable
    bits as os.access sees them (the archive's modes), tarfile's headers (Python) and
    deflate's output (zlib)."""
    import zlib

    version = sys.version_info
    bits = "".join("x" if f.executable else "-" for f in files)
    return hashlib.sha256(
        f"{_FORMAT}\0{version[0]}.{version[1]}\0{zlib.ZLIB_RUNTIME_VERSION}\0"
        f"{sys.getfilesystemencoding()}\0{content}\0{bits}\n".encode()
    ).hexdigest()


def cache_dir() -> Path:
    """$PCC_PROVIDER_CACHE_DIR, else $XDG_CACHE_HOME/pcc-provider, else ~/.cache/pcc-provider."""
    override = os.environ.get(_CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "pcc-provider"


@contextlib.contextmanager
def image_lock(image_key: str, waiting: Callable[[], None]) -> Iterator[None]:
    """Held by one process of this user at a time for `image_key`, so that stacks on this
    machine building the same image at the same moment upload and start it once: the
    holder looks the build up, uploads and starts it; the next finds it. `waiting` is
    called when another process holds it.

    An flock on cache/locks/<sha256 of the key>.lock: the kernel releases it when its
    holder dies, so a killed run never leaves it held. The files stay (a few bytes each):
    removing one could let two processes lock different files of the same name. Without a
    usable cache folder there is no coordination, which at worst costs a second build.
    """
    import fcntl

    folder = cache_dir() / "locks"
    name = hashlib.sha256(image_key.encode("utf-8", "surrogateescape")).hexdigest()
    try:
        private_dir(cache_dir())
        private_dir(folder)
        fd = os.open(
            folder / f"{name}.lock",
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
            0o600,
        )
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            while True:
                cancel.sleep(cancel.STEP, "waiting for another stack's build of the same image")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    continue
        yield
    finally:
        os.close(fd)  # releases the lock


def _signing_key_path() -> Path:
    """$XDG_CONFIG_HOME/pcc-provider/cache.key, else ~/.config/pcc-provider/cache.key: outside
    the cache folder, so that whoever can write the cache still cannot sign an entry."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "pcc-provider" / "cache.key"


def private_dir(path: Path) -> None:
    """Make `path` a folder only this user can enter (0700), or raise OSError: one that exists
    must be a real folder (not a symlink) owned by this user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid():
            raise PermissionError(f"{path} belongs to another user")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def create_private(path: Path) -> BinaryIO:
    """A new file that only this user can read (0600)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _read_signing_key(path: Path) -> bytes:
    # O_NONBLOCK: a FIFO planted here must not hang every run; fstat below refuses it.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as source:
        st = os.fstat(source.fileno())
        key = source.read(_SIGNING_KEY_BYTES + 1)
    if not stat.S_ISREG(st.st_mode):
        raise PermissionError(f"{path} is not a regular file")
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        raise PermissionError(f"{path} is not private to this user")
    if len(key) != _SIGNING_KEY_BYTES:
        raise PermissionError(f"{path} is not a cache key")
    return key


def _signing_key() -> bytes:
    """This user's key for the cache's entries, made on first use; raises OSError."""
    path = _signing_key_path()
    private_dir(path.parent)
    with contextlib.suppress(FileNotFoundError):
        return _read_signing_key(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        with create_private(tmp) as out:
            out.write(os.urandom(_SIGNING_KEY_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # never replaces a key another process made first
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _read_signing_key(path)


def _sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class _Cache:
    """The cache folder (see the module's docstring); every method only costs time when the
    folder or the key cannot be used."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.hashes = root / "hashes"
        self.tmp = root / "tmp"
        self._secret: bytes | None = None

    def _open(self) -> bytes:
        """The signing key, once every cache folder is private; raises OSError."""
        if self._secret is None:
            secret = _signing_key()
            for folder in (self.root, self.files, self.hashes, self.tmp):
                private_dir(folder)
            # Versions before 0.1.0 kept archives here (up to 2 GiB): none is needed now.
            shutil.rmtree(self.root / "archives", ignore_errors=True)
            self._secret = secret
        return self._secret

    # -- signed entries: "<HMAC-SHA256 of the body>\n<JSON body>" ---------------------------

    def _read(self, path: Path, limit: int) -> dict[str, Any] | None:
        try:
            secret = self._open()
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as entry:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None  # never read a FIFO or device planted in the cache
                data = entry.read(limit + 1)
            check, _, body = data.partition(b"\n")
            if len(data) > limit or not hmac.compare_digest(check, _sign(secret, body).encode()):
                return None
            found = json.loads(body)
            if not isinstance(found, dict) or found.get("format") != _FORMAT:
                return None
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used goes first
        return found

    def _write(self, path: Path, found: dict[str, Any]) -> None:
        body = json.dumps({**found, "format": _FORMAT}, separators=(",", ":")).encode()
        data = _sign(self._open(), body).encode() + b"\n" + body
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            with create_private(tmp) as out:
                out.write(data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def lookup(self, key: str) -> dict[str, Any] | None:
        found = self._read(self.hashes / f"{key}.json", 4096)
        return found if found is not None and found.get("key") == key else None

    def store(self, key: str, found: dict[str, Any]) -> None:
        try:
            self._write(self.hashes / f"{key}.json", {**found, "key": key})
            _evict(self.hashes, ".json", max_count=_MAX_HASH_ENTRIES)
        except OSError:
            pass  # a cache that cannot be written only costs time

    # -- the files' digests, one table per context folder ---------------------------------

    def _table_path(self, folder: Path) -> Path:
        name = hashlib.sha256(os.fsencode(folder)).hexdigest()
        return self.files / f"{name}.json"

    def file_table(self, folder: Path) -> dict[str, tuple[tuple[int, ...], str]]:
        """Name in the context -> (stat_key, SHA-256) as last hashed."""
        found = self._read(self._table_path(folder), 64 * 1024**2)
        if found is None or found.get("folder") != os.fsdecode(folder):
            return {}
        try:
            return {
                str(name): (tuple(int(n) for n in held[:-1]), str(held[-1]))
                for name, held in found["files"].items()
            }
        except (AttributeError, KeyError, TypeError, ValueError):
            return {}

    def keep_file_table(
        self,
        folder: Path,
        fresh: dict[str, tuple[tuple[int, ...], str]],
        known: dict[str, tuple[tuple[int, ...], str]],
    ) -> None:
        """Keep `fresh`, and those `known` files outside this selection (another Build's
        excludes) that are still unchanged on disk; the rest is forgotten."""
        table = dict(fresh)
        for name, held in known.items():
            if name in table:
                continue
            with contextlib.suppress(OSError):
                st = os.stat(folder / name)
                now = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode)
                if now == held[0]:
                    table[name] = held
        files = {name: [*key, digest] for name, (key, digest) in table.items()}
        try:
            self._write(self._table_path(folder), {"folder": os.fsdecode(folder), "files": files})
            _evict(self.files, ".json", max_count=_MAX_FILE_TABLES)
        except OSError:
            pass

    def workdir(self) -> Path:
        import tempfile

        self._open()
        _evict(self.tmp, "", max_age=_STALE_TMP_SECONDS)
        return Path(tempfile.mkdtemp(dir=self.tmp, prefix=f"{os.getpid()}-"))


def _evict(
    folder: Path,
    suffix: str,
    *,
    max_count: int | None = None,
    max_bytes: int | None = None,
    max_age: float | None = None,
) -> None:
    """Remove the oldest entries of `folder` beyond the bounds; other processes may be
    doing the same, so vanished entries are fine."""
    try:
        with os.scandir(folder) as listing:
            entries = []
            for entry in listing:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if entry.name.startswith("."):
                        # A write that died before its rename.
                        if time.time() - st.st_mtime > _STALE_TMP_SECONDS:
                            os.unlink(entry.path)
                    elif entry.name.endswith(suffix):
                        entries.append((st.st_mtime, st.st_size, entry))
    except OSError:
        return
    entries.sort(key=lambda item: item[0])
    total = sum(size for _, size, _ in entries)
    count = len(entries)
    now = time.time()
    for mtime, size, entry in entries:
        over = (
            (max_count is not None and count > max_count)
            or (max_bytes is not None and total > max_bytes)
            or (max_age is not None and now - mtime > max_age)
        )
        if not over:
            if max_age is None:
                break
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        count -= 1
        total -= size
