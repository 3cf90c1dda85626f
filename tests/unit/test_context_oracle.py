"""Our archives against the official CLI's (pipecatcloud 1.4.0): same files, same bytes,
same contextHash, on generated contexts."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from context_corpus import Tree, official, seeded_tree, trees, write_tree
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings

from pcc_provider import context


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


def members(tarball: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(name, x bit, bytes) of each member of the official archive, in order."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive:
            data = archive.extractfile(member).read()  # type: ignore[union-attr]
            name = member.name.encode("utf-8", "surrogateescape")
            yield name, b"x" if member.mode & 0o100 else b"-", data


def content_digest(tarball: bytes) -> str:
    """The content digest read back from the official archive: per member, in order, its
    name, x bit, size and the SHA-256 of its bytes."""
    digest = hashlib.sha256(b"pcc-provider-content-2\n")
    for name, x, data in members(tarball):
        file_digest = hashlib.sha256(data).hexdigest().encode()
        digest.update(b"%s\0%s\0%d\0%s\n" % (name, x, len(data), file_digest))
    return "files-sha256:" + digest.hexdigest()


def legacy_content_digest(tarball: bytes) -> str:
    """The content digest as versions before per-file digests wrote it in states: per
    member, its name, x bit and size, then its bytes, all in one SHA-256."""
    digest = hashlib.sha256(b"pcc-provider-content-1\n")
    for name, x, data in members(tarball):
        digest.update(b"%s\0%s\0%d\n" % (name, x, len(data)) + data)
    return "sha256:" + digest.hexdigest()


def note(what: str) -> None:
    """Count a branch in hypothesis statistics (--hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(what)


def normalized(pattern: str) -> str:
    pattern = pattern.strip()
    return (pattern[2:] if pattern.startswith("./") else pattern).rstrip("/")


def assert_same_as_official(root: Path, dockerfile: str, extra: list[str]) -> None:
    theirs = official(root, dockerfile, extra)
    if (root / ".dockerignore").exists() and any(normalized(p) for p in extra):
        # The official CLI ignores extra patterns when a .dockerignore exists; we refuse.
        with pytest.raises(context.ContextError, match="are ignored because"):
            context.select(root, dockerfile, extra)
        note("extra patterns refused next to a .dockerignore")
        extra = []
        theirs = official(root, dockerfile, extra)
    if dockerfile not in theirs.names:
        # The official CLI uploads a context without its Dockerfile; we refuse.
        with pytest.raises(context.ContextError, match=r"^Dockerfile .* is excluded"):
            context.select(root, dockerfile, extra)
        note("Dockerfile excluded: refused")
        return
    ctx = context.select(root, dockerfile, extra)
    note("archives compared")
    note(f"files: {'over 10' if len(ctx.files) > 10 else 'up to 10'}")
    if ctx.secret_files:
        note("secret files reported")
    if ctx.symlinked_dirs:
        note("symlinked folders dropped")
    assert list(ctx.files) == theirs.names
    assert ctx.total_bytes == theirs.total_size
    found = context.digest(ctx)
    assert (found.context_hash, found.archive_bytes) == (
        theirs.context_hash,
        len(theirs.tarball),
    )
    # The corpus's modes have the owner's x bit exactly when the official CLI sees one.
    assert found.content_digest == content_digest(theirs.tarball)
    assert context.content_digest(ctx) == found.content_digest  # from per-file digests
    assert context.legacy_content_digest(ctx) == legacy_content_digest(theirs.tarball)
    with context.archive(ctx) as (path, again):
        assert path.read_bytes() == theirs.tarball
        assert again.context_hash == theirs.context_hash
        assert again.content_digest == found.content_digest
    secret_like = [
        n
        for n in ctx.files
        if any(
            fnmatch.fnmatchcase(n.rsplit("/", 1)[-1], p)
            for p in (".env", ".env.*", "*.pem", "*.key")
        )
    ]
    assert list(ctx.secret_files) == secret_like


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree=trees())
def test_generated_contexts_match_official(tree: Tree) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ctx"
        write_tree(tree, root)
        assert_same_as_official(root, tree.dockerfile, tree.extra)


@pytest.mark.parametrize("seed", [1, 2])
def test_hundreds_of_files_and_large_binaries_match_official(seed: int, folder: Path) -> None:
    tree = seeded_tree(seed, files=400, big=(3 * 1024**2, 5 * 1024**2 + 7) if seed == 1 else ())
    root = folder / "ctx"
    write_tree(tree, root)
    assert_same_as_official(root, "Dockerfile", [])
    assert len(context.select(root).files) > 150


def test_seeded_tree_with_dockerignore_and_extras(folder: Path) -> None:
    tree = seeded_tree(3, files=300)
    tree.dockerignore = ["# keep secrets out", "", "  *.pem ", "./nested/", "d*/", "**/*.md"]
    root = folder / "ctx"
    write_tree(tree, root)
    assert_same_as_official(root, "Dockerfile", [])
    (root / ".dockerignore").unlink()
    assert_same_as_official(root, "Dockerfile", ["*.json", "./src/", "  lib "])


def test_dockerfile_in_subfolder_matches_official(folder: Path) -> None:
    (folder / "docker").mkdir()
    (folder / "docker" / "Dockerfile").write_text("FROM scratch\n")
    (folder / "app.py").write_text("print(1)\n")
    assert_same_as_official(folder, "docker/Dockerfile", [])
    assert context.select(folder, "./docker//Dockerfile").dockerfile == "docker/Dockerfile"


def test_symlinks_are_handled_as_the_official_cli_does(folder: Path) -> None:
    root = folder / "ctx"
    (root / "real").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "real" / "a.txt").write_text("a\n")
    (folder / "shared.txt").write_text("outside\n")
    (root / "to-file").symlink_to("real/a.txt")
    (root / "to-outside").symlink_to("../shared.txt")
    (root / "to-dir").symlink_to("real", target_is_directory=True)
    assert_same_as_official(root, "Dockerfile", [])
    ctx = context.select(root)
    # Files behind symlinks are stored as regular files; symlinked folders are dropped.
    assert ctx.files == ("Dockerfile", "real/a.txt", "to-file", "to-outside")
    assert ctx.symlinked_dirs == ("to-dir",)


def test_official_ordering_is_by_whole_path_string(folder: Path) -> None:
    for name in ["a/x", "a-b/x", "a.b/x", "a0/x", "A/x", "é/x", "Dockerfile"]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name)
    assert_same_as_official(folder, "Dockerfile", [])
    # "-" < "." < "/" < "0": not the order of a depth-first walk.
    assert context.select(folder).files == (
        "A/x",
        "Dockerfile",
        "a-b/x",
        "a.b/x",
        "a/x",
        "a0/x",
        "é/x",
    )


def test_dockerignore_line_endings_and_whitespace_match_official(folder: Path) -> None:
    for name in ["Dockerfile", "a.md", "src/x.py", "keep.txt", "bom", "v\x0bt", "docs/d"]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name)
    # CRLF, a lone CR, a byte order mark, a vertical tab inside a pattern, a padded comment.
    (folder / ".dockerignore").write_bytes(
        "\ufeffbom\r\n*.md\rsrc/\r\n   # docs\r\nv\x0bt\n \x0c./docs/ \n".encode()
    )
    assert_same_as_official(folder, "Dockerfile", [])
    # The BOM stays part of the first pattern (as in the official CLI), so "bom" is kept.
    assert context.select(folder).files == (".dockerignore", "Dockerfile", "bom", "keep.txt")
