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

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import hmac
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

if TYPE_CHECKING:
    import queue
    import threading

__all__ = [
    "DEFAULT_EXCLUSIONS",
    "MAX_CONTEXT_BYTES",
    "Context",
    "ContextError",
    "Digest",
    "archive",
    "cache_dir",
    "digest",
    "select",
]

# The official CLI refuses more than 500 * 1024 * 1024 bytes of selected files (MiB, though
# it prints "MB"); exactly the limit is accepted.
MAX_CONTEXT_BYTES = 500 * 1024 * 1024

# The official CLI's default exclusions, used when the context has no .dockerignore. The set
# must stay identical to pipecatcloud's, or the selection (and so the hash) diverges.
DEFAULT_EXCLUSIONS: frozenset[str] = frozenset(
    {
        # version control and CI
        ".git",
        ".gitignore",
        ".gitattributes",
        ".github",
        # secrets
        ".env",
        ".env.*",
        "*.pem",
        "*.key",
        # Python
        "__pycache__",
        "*.pyc",
        "*.pyo",
        "*.pyd",
        "*.so",
        ".Python",
        ".venv",
        "venv",
        "ENV",
        "env",
        ".pytest_cache",
        ".coverage",
        "htmlcov",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        "dist",
        "build",
        "*.egg-info",
        "*.egg",
        ".eggs",
        # editors and tools
        ".vscode",
        ".idea",
        "*.swp",
        "*.swo",
        ".claude",
        ".codex",
        ".cursor",
        ".cache",
        ".DS_Store",
        "Thumbs.db",
        "*.log",
        "node_modules",
        "pcc-deploy.toml",
    }
)

# Names that usually hold credentials; reported when a .dockerignore lets them through.
_SECRET_PATTERNS = (".env", ".env.*", "*.pem", "*.key")
_is_secret = re.compile("|".join(fnmatch.translate(p) for p in _SECRET_PATTERNS)).match

_CACHE_ENV = "PCC_PROVIDER_CACHE_DIR"
# Bumped whenever the archive layout or the cache entry format changes.
_FORMAT = "pcc-provider-context-2"
# The content digest's encoding; a new one means a new digest for every context.
_CONTENT_FORMAT = b"pcc-provider-content-1\n"
_SIGNING_KEY_BYTES = 32
_MAX_HASH_ENTRIES = 1024
_MAX_ARCHIVE_CACHE_BYTES = 2 * 1024**3
_STALE_TMP_SECONDS = 24 * 3600
# A file whose ctime is this close to the scan may still change without its ctime changing
# (timestamps come from a coarse clock), so such a scan is not cached ("racy git" problem).
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 3_000_000_000  # filesystems with whole-second timestamps

_CHUNK = 1 << 20  # read and compress in 1 MiB pieces
_QUEUE_DEPTH = 8  # bounds the memory in flight between pipeline stages
_BLOCK = 512
_RECORD = 20 * _BLOCK  # tarfile pads the archive to whole 10 KiB records
# gzip member header as gzip.GzipFile(fileobj=BytesIO(), mtime=0) writes it at level 9:
# magic, deflate, no flags (a BytesIO has no name, so no FNAME), mtime 0, XFL 2 (best), OS 255.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
_GZIP_LEVEL = 9


class ContextError(Exception):
    """A build context that cannot be archived; str() is one line naming problem and fix."""

    def __init__(self, message: str) -> None:
        # File names may contain newlines; the message must stay one line.
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


class _File(NamedTuple):
    name: str  # posix path relative to the context root: the tar member name
    path: str  # absolute path to read from
    size: int
    executable: bool
    # What the cache key is made of, besides name, size and executable bit. ctime catches
    # writes that keep the size and restore the mtime; ino/dev catch replaced files.
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int
    mode: int


@dataclass(frozen=True)
class Context:
    """The files a build of `root` uploads, in archive order."""

    root: Path
    dockerfile: str
    files: tuple[str, ...]
    total_bytes: int
    secret_files: tuple[str, ...]
    # Symlinks to folders: the official CLI neither follows nor stores them, so their
    # contents are not uploaded. Reported so callers can warn.
    symlinked_dirs: tuple[str, ...] = ()
    _entries: tuple[_File, ...] = field(default=(), repr=False, compare=False)
    _scanned_ns: int = field(default=0, repr=False, compare=False)


@dataclass(frozen=True)
class Digest:
    context_hash: str  # Pipecat Cloud's name for the archive: MD5 of the .tar.gz, 16 hex
    archive_bytes: int
    cached: bool
    # "sha256:<hex>" of the paths, executable bits and bytes: the same on every machine.
    content_digest: str
    # SHA-256 of the .tar.gz, what a cached archive is checked against before upload.
    _archive_sha256: str = field(default="", repr=False, compare=False)


# --------------------------------------------------------------------------- selection


def _q(text: str) -> str:
    """Quote a name for a message: JSON escapes keep odd names readable and on one line."""
    return json.dumps(text, ensure_ascii=False)


class _Patterns:
    """Exclusion patterns with the official CLI's semantics: an entry is excluded when
    fnmatch matches any component of its relative path, or the whole relative path.

    The walk never enters excluded folders, so for each entry only its own name and its
    relative path need testing; its ancestors' names were tested on the way down.
    """

    def __init__(self, patterns: Iterable[str], source: str) -> None:
        self.patterns = tuple(sorted(set(patterns)))
        self.source = source
        # Literal patterns are compared as strings; the rest form one regex.
        self._literals = frozenset(p for p in self.patterns if not any(c in p for c in "*?["))
        globs = [p for p in self.patterns if p not in self._literals]
        self._glob: Callable[[str], object] | None = (
            re.compile("|".join(fnmatch.translate(p) for p in globs)).match if globs else None
        )

    def excludes(self, name: str, rel: str) -> bool:
        if name in self._literals or rel in self._literals:
            return True
        glob = self._glob
        return glob is not None and (glob(name) is not None or glob(rel) is not None)

    def culprit(self, rel: str) -> str | None:
        """The first pattern that excludes `rel` or one of its parent folders."""
        parts = rel.split("/")
        for pattern in self.patterns:
            for depth in range(1, len(parts) + 1):
                if fnmatch.fnmatchcase(parts[depth - 1], pattern) or fnmatch.fnmatchcase(
                    "/".join(parts[:depth]), pattern
                ):
                    return pattern
        return None


def _normalize(pattern: str) -> str:
    # As the official CLI: surrounding whitespace, one leading "./" and trailing slashes go.
    pattern = pattern.strip()
    if pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern.rstrip("/")


def _patterns(root: Path, extra: Sequence[str]) -> _Patterns:
    ignore = root / ".dockerignore"
    if not ignore.exists():
        normalized = (_normalize(p) for p in extra)
        return _Patterns(
            DEFAULT_EXCLUSIONS.union(p for p in normalized if p), "the default exclusions"
        )
    extra = [p for p in extra if _normalize(p)]
    if extra:
        # The official CLI silently drops them; refuse rather than upload what the user
        # asked to leave out.
        raise ContextError(
            f"exclude patterns {', '.join(_q(p) for p in extra)} are ignored because "
            f"{ignore} exists (it replaces all other exclusions): "
            "move them into .dockerignore and remove them from exclude"
        )
    try:
        # Text mode: lines end at \n, \r\n or \r, as when the official CLI reads it.
        with open(ignore, encoding="utf-8") as lines:
            patterns = [
                _normalize(line)
                for line in lines
                if line.strip() and not line.strip().startswith("#")
            ]
    except (OSError, UnicodeDecodeError) as exc:
        # The official CLI falls back to the default exclusions here, silently.
        reason = "it is not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise ContextError(
            f"cannot read {ignore}: {reason}: fix or remove the .dockerignore file"
        ) from None
    return _Patterns((p for p in patterns if p), f"{ignore}")


class _Scan(NamedTuple):
    files: list[_File]
    symlinked_dirs: list[str]


def _scan(root: str, patterns: _Patterns) -> _Scan:
    """Walk like the official CLI's os.walk: symlinks to files are read through, symlinks
    to folders are neither followed nor stored, excluded folders are not entered."""
    files: list[_File] = []
    links: list[str] = []
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            # os.walk skips unreadable folders silently; their files would be missing.
            where = _q(prefix.rstrip("/")) if prefix else "the context folder"
            raise ContextError(
                f"cannot read {where} in context {root}: {exc.strerror}: "
                "fix its permissions or add it to .dockerignore"
            ) from None
        for entry in entries:
            name = entry.name
            rel = prefix + name
            if patterns.excludes(name, rel):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if entry.is_symlink():
                    links.append(rel)
                else:
                    pending.append((rel + "/", entry.path))
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                problem = (
                    "is a broken symlink"
                    if entry.is_symlink()
                    else f"cannot be read ({exc.strerror})"
                )
                raise ContextError(
                    f"{_q(rel)} in context {root} {problem}: "
                    "fix it, remove it or add it to .dockerignore"
                ) from None
            if not stat.S_ISREG(st.st_mode):
                # A FIFO would hang the official CLI; sockets and devices make it crash.
                raise ContextError(
                    f"{_q(rel)} in context {root} is not a regular file: "
                    "remove it or add it to .dockerignore"
                )
            files.append(
                _File(
                    rel,
                    entry.path,
                    st.st_size,
                    # The official CLI asks the OS whether *this user* may execute the file
                    # (through symlinks, honouring noexec mounts), not the mode bits.
                    os.access(entry.path, os.X_OK),
                    st.st_mtime_ns,
                    st.st_ctime_ns,
                    st.st_ino,
                    st.st_dev,
                    st.st_mode,
                )
            )
    # Archive order: the relative path strings, sorted as Python sorts str.
    files.sort(key=lambda f: f.name)
    links.sort()
    return _Scan(files, links)


def _dockerfile_name(root: Path, dockerfile: str) -> str:
    name = os.fspath(dockerfile).replace(os.sep, "/")
    if os.path.isabs(name):
        # The official CLI accepts it, then the remote build cannot find it.
        inside = os.path.relpath(name, root).replace(os.sep, "/")
        hint = inside if not inside.startswith("../") else "path/inside/context"
        raise ContextError(
            f"Dockerfile {_q(name)} must be a path relative to the context {root}: "
            f"pass dockerfile={_q(hint)}"
        )
    normal = os.path.normpath(name).replace(os.sep, "/") if name else "."
    if normal == ".." or normal.startswith("../"):
        raise ContextError(
            f"Dockerfile {_q(name)} is outside the context {root}: move it into the context "
            'and pass dockerfile="path/inside/context"'
        )
    return normal


def _dockerfile_problem(root: Path, name: str, patterns: _Patterns) -> ContextError:
    """Why the Dockerfile `name` is not among the selected files."""
    full = root / name
    if not full.exists():
        return ContextError(
            f"Dockerfile {_q(name)} not found in context {root}: "
            'create it or pass dockerfile="path/inside/context"'
        )
    if full.is_dir():
        return ContextError(
            f"Dockerfile {_q(name)} in context {root} is a folder: "
            'pass dockerfile="path/inside/context" naming the Dockerfile itself'
        )
    culprit = patterns.culprit(name)
    if culprit is not None:
        if patterns.source == "the default exclusions":
            fix = (
                "remove it from exclude"
                if culprit not in DEFAULT_EXCLUSIONS
                else "move the Dockerfile, or add a .dockerignore (it replaces the defaults)"
            )
            where = "exclude pattern" if culprit not in DEFAULT_EXCLUSIONS else "default exclusion"
            return ContextError(
                f"Dockerfile {_q(name)} is excluded from context {root} by the {where} "
                f"{_q(culprit)}: {fix}"
            )
        return ContextError(
            f"Dockerfile {_q(name)} is excluded from context {root} by the pattern "
            f"{_q(culprit)} in {patterns.source}: remove or narrow that pattern"
        )
    parts = name.split("/")
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth])
        if (root / folder).is_symlink():
            return ContextError(
                f"Dockerfile {_q(name)} is inside {_q(folder)}, a symlink to a folder, and "
                f"symlinked folders are not uploaded: make {_q(folder)} a real folder "
                "or move the Dockerfile"
            )
    return ContextError(
        f"Dockerfile {_q(name)} is not among the files uploaded from context {root} "
        "(names are case-sensitive): pass dockerfile with the exact path inside the context"
    )


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def _largest(files: Sequence[_File], count: int = 3) -> list[tuple[str, int]]:
    """The biggest files or folders, none inside another. A folder is named only when no
    single entry in it accounts for most of its size (that entry is the better hint)."""
    sizes: dict[str, int] = {}
    children: dict[str, dict[str, int]] = {}
    for f in files:
        sizes[f.name] = f.size
        parts = f.name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth]) + "/"
            sizes[folder] = sizes.get(folder, 0) + f.size
            child = "/".join(parts[: depth + 1]) + ("/" if depth + 1 < len(parts) else "")
            kids = children.setdefault(folder, {})
            kids[child] = kids.get(child, 0) + f.size
    picked: list[tuple[str, int]] = []
    for name, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        if len(picked) == count:
            break
        if name.endswith("/") and max(children[name].values()) * 10 >= size * 9:
            continue
        if any(
            (p.endswith("/") and name.startswith(p)) or (name.endswith("/") and p.startswith(name))
            for p, _ in picked
        ):
            continue
        picked.append((name, size))
    return picked


def select(
    context: str | os.PathLike[str],
    dockerfile: str = "Dockerfile",
    exclude: Sequence[str] = (),
) -> Context:
    """The files a build of `context` uploads, chosen as the official CLI chooses them.

    Raises ContextError when the context cannot build: missing folder, Dockerfile missing,
    outside the context or excluded, unreadable entries, or more than MAX_CONTEXT_BYTES.
    """
    scanned_ns = time.time_ns()
    given = os.fspath(context)
    root = Path(given).resolve()
    if not root.exists():
        raise ContextError(
            f"build context {root} does not exist: pass the folder that holds your Dockerfile"
        )
    if not root.is_dir():
        raise ContextError(
            f"build context {root} is not a folder: pass the folder that holds your Dockerfile"
        )
    if isinstance(exclude, str):
        exclude = [exclude]
    name = _dockerfile_name(root, dockerfile)
    patterns = _patterns(root, exclude)
    scan = _scan(str(root), patterns)
    names = tuple(f.name for f in scan.files)
    if name not in set(names):
        raise _dockerfile_problem(root, name, patterns)
    total = sum(f.size for f in scan.files)
    if total > MAX_CONTEXT_BYTES:
        biggest = ", ".join(f"{n} ({_mib(s)})" for n, s in _largest(scan.files))
        raise ContextError(
            f"build context {root} holds {_mib(total)} of files, over the "
            f"{MAX_CONTEXT_BYTES // 1024**2} MiB limit; largest: {biggest}: "
            "add what the image does not need to .dockerignore"
        )
    secrets = tuple(n for n in names if _is_secret(n.rsplit("/", 1)[-1]))
    return Context(
        root=root,
        dockerfile=name,
        files=names,
        total_bytes=total,
        secret_files=secrets,
        symlinked_dirs=tuple(scan.symlinked_dirs),
        _entries=tuple(scan.files),
        _scanned_ns=scanned_ns,
    )


# --------------------------------------------------------------------------- archive


def _entries(ctx: Context) -> tuple[_File, ...]:
    if len(ctx._entries) != len(ctx.files) or any(
        f.name != n for f, n in zip(ctx._entries, ctx.files, strict=True)
    ):
        raise ValueError("Context must come from context.select()")
    return ctx._entries


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
        try:
            source = open(f.path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ContextError(
                f"{_q(f.name)} disappeared while the build context was being archived: "
                "run again once it stops changing"
            ) from None
        except OSError as exc:
            raise ContextError(
                f"cannot read {_q(f.name)}: {exc.strerror}: "
                "fix its permissions or add it to .dockerignore"
            ) from None
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


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """$PCC_PROVIDER_CACHE_DIR, else $XDG_CACHE_HOME/pcc-provider, else ~/.cache/pcc-provider."""
    override = os.environ.get(_CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "pcc-provider"


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


def _private_dir(path: Path) -> None:
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
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as source:
        st = os.fstat(source.fileno())
        key = source.read(_SIGNING_KEY_BYTES + 1)
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        raise PermissionError(f"{path} is not private to this user")
    if len(key) != _SIGNING_KEY_BYTES:
        raise PermissionError(f"{path} is not a cache key")
    return key


def _signing_key() -> bytes:
    """This user's key for the cache's entries, made on first use; raises OSError."""
    path = _signing_key_path()
    _private_dir(path.parent)
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
                _private_dir(folder)
            self._secret = secret
        return self._secret

    def lookup(self, key: str) -> Digest | None:
        path = self.hashes / f"{key}.json"
        try:
            secret = self._open()
            with open(path, "rb") as entry:
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


def _archive_bound(files: Sequence[_File]) -> int:
    """An upper bound of the .tar.gz size: tar size plus deflate's stored-block overhead."""
    tar = sum(3 * _BLOCK + f.size + len(f.name.encode("utf-8", "surrogateescape")) for f in files)
    return tar + tar // 1000 + _RECORD + 64


# --------------------------------------------------------------------------- public


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
    if _archive_bound(files) <= _MAX_ARCHIVE_CACHE_BYTES:
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
