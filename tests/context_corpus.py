"""Build-context folders for the context tests: a hypothesis strategy, a seeded generator
of large trees, and the official CLI as oracle.

A `Tree` is a plain description (files, symlinks, .dockerignore lines, extra patterns,
Dockerfile path) that `write_tree` turns into a folder.
"""

from __future__ import annotations

import io
import os
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

PLAIN = ["app.py", "main.py", "README.md", "data.json", "x", "src", "lib", "a-b", "a.b", "a b"]
ODD = [
    "café.txt",
    "日本語.py",
    "emoji-🎉.txt",
    "[brackets].txt",
    "star*.txt",
    "q?.txt",
    "#hash",
    "-dash",
    "back\\slash",
    "new\nline.txt",
    "tab\tname",
    " lead space",
    "trail space ",
    "n" * 150,  # a name over 100 bytes: PAX path record
    "é" * 127,  # 254 bytes, just under NAME_MAX
    os.fsdecode(b"bad-\xff\xfe.bin"),  # not UTF-8: tar hdrcharset=BINARY
]
# Names caught by the default exclusions, some as folders, some as files.
EXCLUDED = [
    ".git",
    "node_modules",
    "__pycache__",
    "mod.pyc",
    "build",
    "dist",
    ".env",
    ".env.local",
    "key.pem",
    "id.key",
    "debug.log",
    ".venv",
    "venv",
    "env",
    "ENV",
    "Thumbs.db",
    "pkg.egg-info",
    ".cache",
    "pcc-deploy.toml",
    ".DS_Store",
    ".github",
    ".vscode",
    "lib.so",
]
NAMES = PLAIN + ODD + EXCLUDED
# Long folder names make relative paths over 255 bytes.
FOLDERS = [*PLAIN[5:], "nested", "d" * 200, "ü" * 90, "build", "node_modules", ".git", "docs"]

IGNORE_LINES = [
    "# a comment",
    "#node_modules",
    "",
    "   ",
    "  *.md  ",
    "\t.env\t",
    "docs/",
    "./docs",
    "./build/",
    "build",
    "**/*.txt",
    "*.tmp",
    "src/*",
    "lib/*.py",
    "[a-c]*",
    "?",
    "node_modules",
    "!README.md",  # negation is not supported by the official matcher: a literal name
    "/x",  # a leading slash never matches there
    "nested/",
    "*/app.py",
    ".git",
    "*.log",
    "café*",
    "*.pem",
    "Dockerfile.*",
    "docker",
    ".//",
    "a b",
]
EXTRA_PATTERNS = [
    "*.md",
    "  docs/ ",
    "./src",
    "nested/*",
    "x",
    "*.json",
    "",
    "lib/",
    "[!a]*.py",
    "Dockerfile*",
]
DOCKERFILES = ["Dockerfile", "Dockerfile", "docker/Dockerfile", "sub dir/Dockerfile.prod"]
SIZES = [0, 1, 17, 511, 512, 513, 1000, 10_000, 70_000]
MODES = [0o644, 0o755, 0o700, 0o600, 0o744, 0o444, 0o711]


@dataclass
class Tree:
    # relative path → (size, content seed, mode)
    files: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # relative link path → ("file" | "dir", relative target) or ("outside", "")
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    dockerignore: list[str] | None = None
    extra: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"


def content(size: int, seed: int) -> bytes:
    """Deterministic content: text-like for even seeds, incompressible for odd ones."""
    rng = random.Random(seed)
    if seed % 2:
        return rng.randbytes(size)
    words = [b"import", b"def", b"return", b"pipecat", b"agent", b"\n", b"    ", b"# x"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


class _Layout:
    """Places paths so that no path is both a file and a folder."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.dirs: set[str] = set()

    def claim(self, path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if path in self.taken or path in self.dirs or any(p in self.taken for p in prefixes):
            return False
        self.taken.add(path)
        self.dirs.update(prefixes)
        return True


def make_tree(
    files: list[tuple[tuple[str, ...], int, int, int]],
    links: list[tuple[tuple[str, ...], str, int]],
    dockerignore: list[str] | None,
    extra: list[str],
    dockerfile: str,
) -> Tree:
    tree = Tree(dockerignore=dockerignore, extra=extra, dockerfile=dockerfile)
    layout = _Layout()
    layout.claim(dockerfile)
    tree.files[dockerfile] = (20, 0, 0o644)
    for parts, size, seed, mode in files:
        path = "/".join(parts)
        if layout.claim(path):
            tree.files[path] = (size, seed, mode)
    file_names = sorted(tree.files)
    dir_names = sorted(layout.dirs)
    for parts, kind, pick in links:
        path = "/".join(parts)
        if kind == "file":
            target = file_names[pick % len(file_names)]
        elif kind == "dir" and dir_names:
            target = dir_names[pick % len(dir_names)]
        else:
            kind, target = "outside", ""
        # A symlinked folder above the Dockerfile would hide it (tested separately).
        if not dockerfile.startswith(path + "/") and layout.claim(path):
            tree.links[path] = (kind, target)
    if dockerignore is not None and not layout.claim(".dockerignore"):
        tree.dockerignore = None
    return tree


def trees(max_files: int = 60) -> st.SearchStrategy[Tree]:
    folders = st.lists(st.sampled_from(FOLDERS), max_size=3)
    paths = st.tuples(folders, st.sampled_from(NAMES)).map(lambda fn: (*fn[0], fn[1]))
    file_specs = st.tuples(
        paths, st.sampled_from(SIZES), st.integers(0, 2**31), st.sampled_from(MODES)
    )
    link_specs = st.tuples(paths, st.sampled_from(["file", "dir", "outside"]), st.integers(0))
    return st.builds(
        make_tree,
        files=st.lists(file_specs, min_size=3, max_size=max_files),
        links=st.lists(link_specs, max_size=4),
        dockerignore=st.none() | st.lists(st.sampled_from(IGNORE_LINES), max_size=8),
        extra=st.lists(st.sampled_from(EXTRA_PATTERNS), max_size=3),
        dockerfile=st.sampled_from(DOCKERFILES),
    )


def seeded_tree(seed: int, files: int = 400, big: tuple[int, ...] = ()) -> Tree:
    """A large reproducible tree: `files` small files, plus binaries of the `big` sizes."""
    rng = random.Random(seed)
    specs = []
    for _ in range(files):
        depth = rng.choice([0, 1, 1, 2, 2, 3, 4])
        base = rng.choice(NAMES)
        while len(os.fsencode(base)) > 240:  # room for the suffix under NAME_MAX
            base = base[:-1]
        parts = (*rng.choices(FOLDERS, k=depth), f"{base}-{rng.randrange(10**6)}")
        specs.append((parts, rng.choice(SIZES), rng.randrange(2**31), rng.choice(MODES)))
    for i, size in enumerate(big):
        specs.append((("assets", f"blob{i}.bin"), size, 2 * i + 1, 0o644))
    links = [
        (("link", f"l{i}"), rng.choice(["file", "dir", "outside"]), rng.randrange(10**6))
        for i in range(6)
    ]
    return make_tree(specs, links, None, [], "Dockerfile")


def write_tree(tree: Tree, root: Path) -> None:
    """Create `tree` in `root` (which must not exist); links marked "outside" point to a
    file next to `root`, outside the context."""
    root.mkdir(parents=True)
    outside = root.parent / f"{root.name}-outside.txt"
    outside.write_bytes(b"outside the context\n")
    for path, (size, seed, mode) in tree.files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content(size, seed) if path != tree.dockerfile else b"FROM python:3.12\n")
        full.chmod(mode)
    for path, (kind, target) in tree.links.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        goal = outside if kind == "outside" else root / target
        full.symlink_to(os.path.relpath(goal, full.parent), target_is_directory=kind == "dir")
    if tree.dockerignore is not None:
        (root / ".dockerignore").write_text("\n".join(tree.dockerignore) + "\n", "utf-8")


@dataclass
class Official:
    tarball: bytes
    context_hash: str
    total_size: int
    names: list[str]


def official(
    root: Path, dockerfile: str = "Dockerfile", extra: list[str] | None = None
) -> Official:
    """The official CLI's archive of `root`, as `pcc deploy` builds it."""
    from pipecatcloud._utils.build_utils import create_deterministic_tarball, get_exclusions

    built = create_deterministic_tarball(
        str(root), get_exclusions(root.resolve(), extra or None), dockerfile
    )
    with tarfile.open(fileobj=io.BytesIO(built.tarball)) as tar:
        names = tar.getnames()
    return Official(built.tarball, built.context_hash, built.total_size, names)
