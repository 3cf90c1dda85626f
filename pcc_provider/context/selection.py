"""Which files a build of a context folder uploads, chosen as the official CLI chooses them.

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pcc_provider.errors import PipecatError

__all__ = [
    "DEFAULT_EXCLUSIONS",
    "MAX_CONTEXT_BYTES",
    "Context",
    "ContextError",
    "File",
    "entries",
    "quote",
    "select",
    "unreadable",
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


class ContextError(PipecatError):
    """A build context that cannot be archived; str() is one line naming problem and fix."""

    def __init__(self, message: str) -> None:
        # File names may contain newlines; the message must stay one line.
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


class File(NamedTuple):
    """A selected file as the listing saw it."""

    name: str  # posix path relative to the context root: the tar member name
    path: str  # absolute path to read from
    size: int
    executable: bool  # os.access(X_OK), as the official CLI asks: the archive's mode
    # With path and size, what tells the cache a file is unchanged (cache.stat_key says why).
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int
    mode: int
    # Read through when the listing saw a symlink to a file; otherwise opened O_NOFOLLOW, so a
    # symlink swapped in after the listing is refused rather than followed.
    symlink: bool = False


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
    # What the user should know about how the files were chosen, one line each.
    warnings: tuple[str, ...] = ()
    # What the cache and the archive read: the listing's stat of each file, in archive order,
    # and when the scan began (files changed since may change again unseen: cache.racy).
    entries: tuple[File, ...] = field(default=(), repr=False, compare=False)
    scanned_ns: int = field(default=0, repr=False, compare=False)


def quote(text: str) -> str:
    """Quote a name for a message: JSON escapes keep odd names readable and on one line."""
    return json.dumps(text, ensure_ascii=False)


def unreadable(exc: OSError) -> str:
    """Why an entry cannot be read and what to do, for "cannot read X: <this>"."""
    if exc.errno == errno.ENAMETOOLONG:
        return (
            "its path is longer than this system allows (File name too long): shorten the "
            "names of the folders that hold it, move the context to a shorter path, or add "
            "it to .dockerignore"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{exc.strerror}: fix its permissions or add it to .dockerignore"
    return f"{exc.strerror}: fix it, remove it or add it to .dockerignore"


class _Patterns:
    """Exclusion patterns with the official CLI's semantics: an entry is excluded when
    fnmatch matches any component of its relative path, or the whole relative path.

    The walk never enters excluded folders, so for each entry only its own name and its
    relative path need testing; its ancestors' names were tested on the way down.
    """

    def __init__(
        self, patterns: Iterable[str], source: str, warnings: tuple[str, ...] = ()
    ) -> None:
        self.patterns = tuple(sorted(set(patterns)))
        self.source = source
        self.warnings = warnings
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
            f"exclude patterns {', '.join(quote(p) for p in extra)} are ignored because "
            f"{ignore} exists (it replaces all other exclusions): "
            "move them into .dockerignore and remove them from exclude"
        )
    try:
        # Never blocks on a FIFO, and reads only a regular file.
        fd = os.open(ignore, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ContextError(
                f"{ignore} is not a regular file: make it a regular file or remove it"
            )
        # Text mode: lines end at \n, \r\n or \r, as when the official CLI reads it.
        with open(fd, encoding="utf-8") as lines:
            numbered = [
                (number, line.strip())
                for number, line in enumerate(lines, 1)
                if line.strip() and not line.strip().startswith("#")
            ]
    except (OSError, UnicodeDecodeError) as exc:
        # The official CLI falls back to the default exclusions here, silently.
        reason = (
            "it is not UTF-8"
            if isinstance(exc, UnicodeDecodeError)
            else unreadable(exc).split(": ", 1)[0]
        )
        raise ContextError(
            f"cannot read {ignore}: {reason}: fix or remove the .dockerignore file"
        ) from None
    patterns = [_normalize(line) for _, line in numbered]
    # The official CLI has no re-include: "!name" is an fnmatch pattern like any other, which
    # matches only names that begin with "!". Kept so the hash stays the CLI's; said aloud.
    warnings = tuple(
        f'{ignore} line {number} {quote(line)}: "!" (re-include) is not supported and the '
        "line is ignored, as the official CLI ignores it: what other lines exclude stays "
        "excluded; narrow those lines instead"
        for number, line in numbered
        if line.startswith("!")
    )
    return _Patterns((p for p in patterns if p), f"{ignore}", warnings)


class _Scan(NamedTuple):
    files: list[File]
    symlinked_dirs: list[str]


def _scan(root: str, patterns: _Patterns) -> _Scan:
    """Walk like the official CLI's os.walk: symlinks to files are read through, symlinks
    to folders are neither followed nor stored, excluded folders are not entered."""
    files: list[File] = []
    links: list[str] = []
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            # os.walk skips unreadable folders silently; their files would be missing.
            where = quote(prefix.rstrip("/")) if prefix else "the context folder"
            raise ContextError(
                f"cannot read {where} in context {root}: {unreadable(exc)}"
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
                if entry.is_symlink() and exc.errno == errno.ENOENT:
                    raise ContextError(
                        f"{quote(rel)} in context {root} is a broken symlink: "
                        "fix it, remove it or add it to .dockerignore"
                    ) from None
                raise ContextError(
                    f"cannot read {quote(rel)} in context {root}: {unreadable(exc)}"
                ) from None
            if not stat.S_ISREG(st.st_mode):
                # A FIFO would hang the official CLI; sockets and devices make it crash.
                raise ContextError(
                    f"{quote(rel)} in context {root} is not a regular file: "
                    "remove it or add it to .dockerignore"
                )
            files.append(
                File(
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
                    entry.is_symlink(),
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
            f"Dockerfile {quote(name)} must be a path relative to the context {root}: "
            f"pass dockerfile={quote(hint)}"
        )
    normal = os.path.normpath(name).replace(os.sep, "/") if name else "."
    if normal == ".." or normal.startswith("../"):
        raise ContextError(
            f"Dockerfile {quote(name)} is outside the context {root}: move it into the context "
            'and pass dockerfile="path/inside/context"'
        )
    return normal


def _dockerfile_problem(root: Path, name: str, patterns: _Patterns) -> ContextError:
    """Why the Dockerfile `name` is not among the selected files."""
    full = root / name
    if not full.exists():
        return ContextError(
            f"Dockerfile {quote(name)} not found in context {root}: "
            'create it or pass dockerfile="path/inside/context"'
        )
    if full.is_dir():
        return ContextError(
            f"Dockerfile {quote(name)} in context {root} is a folder: "
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
                f"Dockerfile {quote(name)} is excluded from context {root} by the {where} "
                f"{quote(culprit)}: {fix}"
            )
        return ContextError(
            f"Dockerfile {quote(name)} is excluded from context {root} by the pattern "
            f"{quote(culprit)} in {patterns.source}: remove or narrow that pattern"
        )
    parts = name.split("/")
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth])
        if (root / folder).is_symlink():
            return ContextError(
                f"Dockerfile {quote(name)} is inside {quote(folder)}, a symlink to a folder, and "
                f"symlinked folders are not uploaded: make {quote(folder)} a real folder "
                "or move the Dockerfile"
            )
    return ContextError(
        f"Dockerfile {quote(name)} is not among the files uploaded from context {root} "
        "(names are case-sensitive): pass dockerfile with the exact path inside the context"
    )


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def _largest(files: Sequence[File], count: int = 3) -> list[tuple[str, int]]:
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
        warnings=patterns.warnings,
        entries=tuple(scan.files),
        scanned_ns=scanned_ns,
    )


def entries(ctx: Context) -> tuple[File, ...]:
    """The files of `ctx` as listed, checked to be the ones its `files` name."""
    if len(ctx.entries) != len(ctx.files) or any(
        f.name != n for f, n in zip(ctx.entries, ctx.files, strict=True)
    ):
        raise ValueError("Context must come from context.select()")
    return ctx.entries
