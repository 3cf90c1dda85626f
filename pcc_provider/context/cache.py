"""The context cache: hashes and archives of unchanged contexts, private to their user and
signed with a key kept outside the cache.

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from pcc_provider.context.selection import Context, _File
from pcc_provider.context.tarball import _CHUNK, Digest

_CACHE_ENV = "PCC_PROVIDER_CACHE_DIR"
# Bumped whenever the archive layout or the cache entry format changes.
_FORMAT = "pcc-provider-context-2"
_SIGNING_KEY_BYTES = 32
_MAX_HASH_ENTRIES = 1024
_MAX_ARCHIVE_CACHE_BYTES = 2 * 1024**3
_STALE_TMP_SECONDS = 24 * 3600
# A file whose ctime is this close to the scan may still change without its ctime changing
# (timestamps come from a coarse clock), so such a scan is not cached ("racy git" problem).
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 3_000_000_000  # filesystems with whole-second timestamps


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
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _cache_key(files: Sequence[_File]) -> str:
    import zlib

    # Python and zlib versions: tarfile's headers and deflate's output are theirs.
    version = sys.version_info
    key = hashlib.sha256(
        f"{_FORMAT}\0{version[0]}.{version[1]}\0{zlib.ZLIB_RUNTIME_VERSION}\n".encode()
    )
    # Names hold no NUL and the field count is fixed, so this encoding is unambiguous.
    key.update(
        "".join(
            f"{f.name}\0{f.size}\0{f.executable:d}\0{f.mtime_ns}\0{f.ctime_ns}"
            f"\0{f.ino}\0{f.dev}\0{f.mode}\n"
            for f in files
        ).encode("utf-8", "surrogateescape")
    )
    return key.hexdigest()


def _racy(ctx: Context) -> bool:
    """Whether a file changed so recently that it could change again with the same ctime."""
    files = ctx._entries
    if not files:
        return False
    newest = max(f.ctime_ns for f in files)
    coarse = all(f.ctime_ns % 1_000_000_000 == 0 for f in files)
    return newest >= ctx._scanned_ns - (_RACY_COARSE_NS if coarse else _RACY_NS)


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


def _create_private(path: Path) -> BinaryIO:
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
        with _create_private(tmp) as out:
            out.write(os.urandom(_SIGNING_KEY_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # never replaces a key another process made first
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _read_signing_key(path)


def _sign(secret: bytes, entry: dict[str, object]) -> str:
    message = json.dumps(entry, sort_keys=True).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class _Cache:
    """In a folder only its owner can enter (0700; files 0600):

    hashes/<key>.json: fingerprint of the selected files → Digest, signed (HMAC-SHA256) with
      this user's key from _signing_key_path(), which lives outside the cache folder.
    archives/<contextHash>.tar.gz: the archive itself, checked against the SHA-256 in its
      signed entry before every use.
    tmp/: files being written (renamed into place atomically) and upload hard links.
    locks/<sha256>.lock: one per image built, flocked by image_lock() (not part of _Cache).

    A folder of another user, or no usable key, means no cache: that only costs time.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hashes = root / "hashes"
        self.archives = root / "archives"
        self.tmp = root / "tmp"
        self._secret: bytes | None = None

    def _open(self) -> bytes:
        """The signing key, once every cache folder is private; raises OSError."""
        if self._secret is None:
            secret = _signing_key()
            for folder in (self.root, self.hashes, self.archives, self.tmp):
                private_dir(folder)
            self._secret = secret
        return self._secret

    def lookup(self, key: str) -> Digest | None:
        path = self.hashes / f"{key}.json"
        try:
            secret = self._open()
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as entry:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None  # never read a FIFO or device planted in the cache
                data = json.loads(entry.read(4096))
            check = data.pop("check")
            if not (
                data["format"] == _FORMAT
                and data["key"] == key
                and hmac.compare_digest(str(check), _sign(secret, data))
            ):
                return None
            found = Digest(
                data["context_hash"],
                data["archive_bytes"],
                cached=True,
                content_digest=data["content_digest"],
                _archive_sha256=data["archive_sha256"],
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used goes first
        return found

    def store(self, key: str, found: Digest) -> None:
        entry: dict[str, object] = {
            "format": _FORMAT,
            "key": key,
            "context_hash": found.context_hash,
            "archive_bytes": found.archive_bytes,
            "content_digest": found.content_digest,
            "archive_sha256": found._archive_sha256,
        }
        try:
            entry["check"] = _sign(self._open(), entry)
            self._write_atomic(self.hashes / f"{key}.json", json.dumps(entry).encode())
            _evict(self.hashes, ".json", max_count=_MAX_HASH_ENTRIES)
        except OSError:
            pass  # a cache that cannot be written only costs time

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            with _create_private(tmp) as out:
                out.write(data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def workdir(self) -> Path:
        import tempfile

        self._open()
        _evict(self.tmp, "", max_age=_STALE_TMP_SECONDS)
        return Path(tempfile.mkdtemp(dir=self.tmp, prefix=f"{os.getpid()}-"))

    def keep(self, path: Path, found: Digest) -> None:
        """Add the finished archive at `path` (in a workdir) to the archive cache."""
        if found.archive_bytes > _MAX_ARCHIVE_CACHE_BYTES:
            return
        try:
            self._open()
            staged = path.with_name(path.name + ".keep")
            os.link(path, staged)
            os.replace(staged, self.archives / f"{found.context_hash}.tar.gz")
            _evict(self.archives, ".tar.gz", max_bytes=_MAX_ARCHIVE_CACHE_BYTES)
        except OSError:
            pass

    def fetch(self, found: Digest, workdir: Path) -> Path | None:
        """A verified private link to the cached archive for `found`, or None."""
        cached = self.archives / f"{found.context_hash}.tar.gz"
        mine = workdir / "context.tar.gz"
        try:
            os.link(cached, mine)  # eviction by another process cannot touch our link
        except FileNotFoundError:
            return None
        except OSError:
            try:
                import shutil

                shutil.copyfile(cached, mine)
                os.chmod(mine, 0o600)
            except OSError:
                return None
        sha256 = hashlib.sha256()
        size = 0
        with open(mine, "rb", buffering=0) as data:
            while chunk := data.read(_CHUNK):
                sha256.update(chunk)
                size += len(chunk)
        if size != found.archive_bytes or not hmac.compare_digest(
            sha256.hexdigest(), found._archive_sha256
        ):
            with contextlib.suppress(OSError):
                os.unlink(cached)
            os.unlink(mine)
            return None
        with contextlib.suppress(OSError):
            os.utime(cached)
        return mine


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
                import shutil

                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        count -= 1
        total -= size
