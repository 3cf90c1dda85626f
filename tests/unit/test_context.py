"""pcc_provider.context: the cache, the refusals, the size limit and the CLI commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from context_corpus import official

from pcc_provider import context
from pcc_provider.context import ContextError

MiB = 1024**2


# Each test its own context cache and cache key (conftest.py).
pytestmark = pytest.mark.usefixtures("cache")


@pytest.fixture
def context_dir(tmp_path: Path) -> Path:
    """A build context: a Dockerfile, a source folder with a 200 kB file, and a `.env`."""
    root = tmp_path / "agent"
    (root / "src").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM python:3.12\nCOPY . /app\n")
    (root / "src" / "bot.py").write_text("print('hello')\n")
    (root / "src" / "data.bin").write_bytes(os.urandom(200_000))
    (root / ".env").write_text("SECRET=1\n")
    return root


def settle() -> None:
    """Let files age past the window in which a write could keep the same ctime: scans of
    younger files are not cached (see test_just_written_files_are_not_trusted_to_cache)."""
    time.sleep(0.15)


def fresh_digest(root: Path, *args: object) -> context.Digest:
    return context.digest(context.select(root, *args))  # type: ignore[arg-type]


def cached_digest(root: Path) -> context.Digest:
    """Digest `root` so that the next digest of the unchanged tree is answered from cache."""
    settle()
    first = fresh_digest(root)
    assert fresh_digest(root).cached
    return first


def no_compression(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("compressed again")

    monkeypatch.setattr(context.cache, "compress", refuse)


def files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files that the content digest reads from now on."""
    read: list[str] = []
    hash_files = context.cache.hash_files

    def recording(files: list[Any], *args: Any) -> list[str]:
        read.extend(f.name for f in files)
        return hash_files(files, *args)

    monkeypatch.setattr(context.cache, "hash_files", recording)
    return read


# --------------------------------------------------------------------------- cache


def test_unchanged_context_is_not_compressed_again(
    context_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settle()
    first = fresh_digest(context_dir)
    assert not first.cached
    assert first.context_hash == official(context_dir).context_hash
    no_compression(monkeypatch)
    again = fresh_digest(context_dir)
    assert again == context.Digest(
        first.context_hash, first.archive_bytes, cached=True, content_digest=first.content_digest
    )


def test_just_written_files_are_not_trusted_to_cache(
    context_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # File times come from a coarse clock: a file rewritten within the same tick keeps its
    # ctime, so the digest of a file that young is not kept; the others' are.
    settle()
    context.content_digest(context.select(context_dir))
    (context_dir / "src" / "bot.py").write_text("print('hi')\n")
    read = files_read(monkeypatch)
    first = context.content_digest(context.select(context_dir))
    second = context.content_digest(context.select(context_dir))
    assert read == ["src/bot.py", "src/bot.py"] and first == second
    settle()
    context.content_digest(context.select(context_dir))
    context.content_digest(context.select(context_dir))
    assert read == ["src/bot.py"] * 3


def test_an_edit_reads_only_the_edited_file(
    context_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settle()
    before = context.content_digest(context.select(context_dir))
    (context_dir / "src" / "bot.py").write_text("print('edited')\n")
    read = files_read(monkeypatch)
    no_compression(monkeypatch)
    after = context.content_digest(context.select(context_dir))
    assert read == ["src/bot.py"] and after != before
    assert after == fresh_digest_compressed(context_dir)


def fresh_digest_compressed(root: Path) -> str:
    """The content digest of what an archive of `root` holds (computed while compressing)."""
    import pcc_provider.context.tarball as tarball

    return tarball.compress(context.select(root).entries, None).content_digest


def _same_size_restored_mtime(root: Path) -> None:
    path = root / "src" / "bot.py"
    before = path.stat()
    path.write_text("print('HELLO')\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


CHANGES: dict[str, Callable[[Path], None]] = {
    "content, same size, mtime restored": _same_size_restored_mtime,
    "rename": lambda root: (root / "src" / "bot.py").rename(root / "src" / "main.py"),
    "chmod +x": lambda root: (root / "src" / "bot.py").chmod(0o755),
    "add file": lambda root: (root / "src" / "new.py").write_text(""),
    "add file in new folder": lambda root: (
        (root / "pkg").mkdir(),
        (root / "pkg" / "__init__.py").write_text(""),
    ),
    "remove file": lambda root: (root / "src" / "data.bin").unlink(),
    "replace file by a copy": lambda root: (
        (root / "src" / "copy").write_bytes((root / "src" / "data.bin").read_bytes()),
        (root / "src" / "copy").replace(root / "src" / "data.bin"),
    ),
    "new .dockerignore": lambda root: (root / ".dockerignore").write_text("*.bin\n"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_changes_the_hash(context_dir: Path, change: str) -> None:
    before = cached_digest(context_dir)
    CHANGES[change](context_dir)
    after = fresh_digest(context_dir)
    expected = official(context_dir).context_hash
    if change == "replace file by a copy":
        # The same content: its contextHash is known, nothing is compressed.
        assert after.context_hash == before.context_hash == expected
        assert after.content_digest == before.content_digest
        assert after.cached
    else:
        assert after.context_hash == expected != before.context_hash
        assert after.content_digest != before.content_digest
        assert not after.cached


@pytest.mark.parametrize(
    "corrupt",
    [
        b"\x00garbage",
        b"",
        b'{"format": "pcc-provider-context-1"',
    ],
)
def test_corrupt_cache_entry_is_ignored(context_dir: Path, cache: Path, corrupt: bytes) -> None:
    good = cached_digest(context_dir)
    for entry in [*(cache / "hashes").iterdir(), *(cache / "files").iterdir()]:
        entry.write_bytes(corrupt)
    again = fresh_digest(context_dir)
    assert (again.context_hash, again.content_digest) == (good.context_hash, good.content_digest)
    assert not again.cached
    assert fresh_digest(context_dir).cached  # rewritten


def tamper(entry: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the JSON body of a signed entry, keeping its signature line."""
    check, body = entry.read_bytes().split(b"\n", 1)
    data = json.loads(body)
    change(data)
    entry.write_bytes(check + b"\n" + json.dumps(data).encode())


def test_tampered_cache_entry_is_ignored(context_dir: Path, cache: Path) -> None:
    good = cached_digest(context_dir)
    for entry in (cache / "hashes").iterdir():
        tamper(entry, lambda data: data.update(context_hash="0123456789abcdef"))
    again = fresh_digest(context_dir)
    assert again.context_hash == good.context_hash
    assert not again.cached


def test_tampered_file_digest_is_ignored(
    context_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever can write the cache cannot make an edit look like no change."""
    good = cached_digest(context_dir)
    (context_dir / "src" / "bot.py").write_text("print('changed')\n")
    edited = context.content_digest(context.select(context_dir))
    settle()
    context.content_digest(context.select(context_dir))  # keeps the edited file's digest

    def restore(data: dict[str, Any]) -> None:
        held = data["files"]["src/bot.py"]
        held[-1] = "0" * 64  # claims other bytes for the same stat

    [table] = (cache / "files").iterdir()
    tamper(table, restore)
    read = files_read(monkeypatch)
    assert context.content_digest(context.select(context_dir)) == edited != good.content_digest
    assert sorted(read) == ["Dockerfile", "src/bot.py", "src/data.bin"]  # all read again


def test_cache_dir_comes_from_the_environment(
    context_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    settle()
    fresh_digest(context_dir)
    assert len(list((cache / "hashes").glob("*.json"))) == 1
    assert len(list((cache / "files").glob("*.json"))) == 1

    monkeypatch.delenv("PCC_PROVIDER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert context.cache_dir() == tmp_path / "xdg" / "pcc-provider"
    fresh_digest(context_dir)
    assert (tmp_path / "xdg" / "pcc-provider" / "files").is_dir()

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert context.cache_dir() == tmp_path / "home" / ".cache" / "pcc-provider"


def test_unusable_cache_dir_only_costs_time(
    context_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(blocker))
    expected = official(context_dir)
    settle()
    assert fresh_digest(context_dir).context_hash == expected.context_hash
    assert not fresh_digest(context_dir).cached
    with context.archive(context.select(context_dir)) as (path, found):
        assert path.read_bytes() == expected.tarball
        assert not found.cached
    assert not path.exists()


def test_hash_cache_is_bounded(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context.cache, "_MAX_HASH_ENTRIES", 3)
    roots = []
    for i in range(6):
        root = tmp_path / f"c{i}"
        root.mkdir()
        (root / "Dockerfile").write_text(f"FROM scratch {i}\n")
        roots.append(root)
    settle()
    for root in roots:
        fresh_digest(root)
        time.sleep(0.01)  # distinct mtimes: eviction order is by age
    assert len(list((cache / "hashes").glob("*.json"))) == 3
    # The newest stay.
    assert fresh_digest(roots[-1]).cached
    assert not fresh_digest(roots[0]).cached


def test_no_archive_is_kept(context_dir: Path, cache: Path) -> None:
    """After a digest and an archive for upload, the cache holds the files' digests and the
    contextHash, not the archive; the archives an earlier version kept are removed."""
    (cache / "archives").mkdir(parents=True)
    (cache / "archives" / "0123456789abcdef.tar.gz").write_bytes(os.urandom(1000))
    settle()
    fresh_digest(context_dir)
    with context.archive(context.select(context_dir)):
        pass
    kept = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
    assert [name.split("/")[0] for name in kept] == ["files", "hashes"]
    assert not (cache / "archives").exists()
    assert sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) < 2000


def test_file_digests_are_bounded(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context.cache, "_MAX_FILE_TABLES", 2)
    roots = []
    for i in range(4):
        root = tmp_path / f"c{i}"
        root.mkdir()
        (root / "Dockerfile").write_text(f"FROM scratch {i}\n")
        roots.append(root)
    settle()
    for root in roots:
        context.content_digest(context.select(root))
        time.sleep(0.01)  # distinct mtimes: eviction order is by age
    assert len(list((cache / "files").iterdir())) == 2
    read = files_read(monkeypatch)
    context.content_digest(context.select(roots[-1]))
    assert read == []
    context.content_digest(context.select(roots[0]))
    assert read == ["Dockerfile"]


def test_forgets_files_no_longer_selected(context_dir: Path, cache: Path) -> None:
    settle()
    context.content_digest(context.select(context_dir))
    (context_dir / "src" / "data.bin").unlink()
    context.content_digest(context.select(context_dir))
    [table] = (cache / "files").iterdir()
    assert b"data.bin" not in table.read_bytes()
    assert b"src/bot.py" in table.read_bytes()


# --------------------------------------------------------------------------- archive


def test_archive_is_a_temporary_file_with_the_official_bytes(
    context_dir: Path, cache: Path
) -> None:
    expected = official(context_dir)
    with context.archive(context.select(context_dir)) as (path, found):
        assert path.read_bytes() == expected.tarball
        assert (found.context_hash, found.archive_bytes) == (
            expected.context_hash,
            len(expected.tarball),
        )
        assert not found.cached
    assert not path.exists()
    assert list((cache / "tmp").iterdir()) == []


def test_a_cold_digest_reads_each_file_once(
    context_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing known, compressing digests the files in the same pass: the next content
    digest reads nothing."""
    read = files_read(monkeypatch)
    settle()
    found = fresh_digest(context_dir)
    assert read == [] and not found.cached
    assert context.content_digest(context.select(context_dir)) == found.content_digest
    assert read == []


def test_digest_of_a_preview_never_compresses(
    context_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = official(context_dir)
    monkeypatch.setattr(context.cache, "compress", lambda *_: pytest.fail("compressed"))
    assert context.content_digest(context.select(context_dir)).startswith("files-sha256:")
    assert context.cached_digest(context.select(context_dir)) is None
    monkeypatch.undo()
    with context.archive(context.select(context_dir)) as (path, found):
        assert path.read_bytes() == expected.tarball and not found.cached
    # Once archived, the contextHash of this content is known without compressing.
    no_compression(monkeypatch)
    known = context.cached_digest(context.select(context_dir))
    assert known is not None and known.context_hash == expected.context_hash


def test_memory_does_not_grow_with_the_context(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    with open(root / "zeros.bin", "wb") as sparse:
        sparse.truncate(96 * MiB)
    ctx = context.select(root)
    tracemalloc.start()
    try:
        context.digest(ctx)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * MiB


def test_files_changing_after_select_are_refused(context_dir: Path) -> None:
    ctx = context.select(context_dir)
    (context_dir / "src" / "bot.py").write_text("print('a longer program')\n")
    with pytest.raises(ContextError, match=r'^"src/bot.py" changed while the build context'):
        context.digest(ctx)
    ctx = context.select(context_dir)
    (context_dir / "src" / "data.bin").unlink()
    with pytest.raises(ContextError, match=r'^"src/data.bin" disappeared while'):
        context.digest(ctx)


def test_context_must_come_from_select(context_dir: Path) -> None:
    ctx = context.Context(context_dir, "Dockerfile", ("Dockerfile",), 10, ())
    with pytest.raises(ValueError, match="select"):
        context.digest(ctx)


# --------------------------------------------------------------------------- refusals


def refusal(*args: object, **kwargs: object) -> str:
    with pytest.raises(ContextError) as caught:
        context.select(*args, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_context_folder(tmp_path: Path) -> None:
    assert refusal(tmp_path / "nope") == (
        f"build context {tmp_path}/nope does not exist: pass the folder that holds your Dockerfile"
    )
    (tmp_path / "file").write_text("")
    assert "is not a folder" in refusal(tmp_path / "file")


def test_missing_dockerfile(context_dir: Path) -> None:
    (context_dir / "Dockerfile").unlink()
    assert refusal(context_dir) == (
        f'Dockerfile "Dockerfile" not found in context {context_dir}: '
        'create it or pass dockerfile="path/inside/context"'
    )


def test_dockerfile_outside_the_context(context_dir: Path) -> None:
    (context_dir.parent / "Dockerfile").write_text("FROM scratch\n")
    assert refusal(context_dir, "../Dockerfile") == (
        f'Dockerfile "../Dockerfile" is outside the context {context_dir}: move it into the '
        'context and pass dockerfile="path/inside/context"'
    )
    assert "is outside the context" in refusal(context_dir, "src/../../Dockerfile")
    assert refusal(context_dir, str(context_dir / "Dockerfile")).endswith(
        f'must be a path relative to the context {context_dir}: pass dockerfile="Dockerfile"'
    )


def test_dockerfile_excluded_by_dockerignore(context_dir: Path) -> None:
    (context_dir / ".dockerignore").write_text("# build files\nDocker*\n")
    assert refusal(context_dir) == (
        f'Dockerfile "Dockerfile" is excluded from context {context_dir} by the pattern "Docker*" '
        f"in {context_dir}/.dockerignore: remove or narrow that pattern"
    )


def test_dockerfile_excluded_by_default_exclusion_or_extra_pattern(context_dir: Path) -> None:
    (context_dir / "build").mkdir()
    (context_dir / "build" / "Dockerfile").write_text("FROM scratch\n")
    assert 'by the default exclusion "build": move the Dockerfile' in refusal(
        context_dir, "build/Dockerfile"
    )
    assert 'by the exclude pattern "Dockerfile*": remove it from exclude' in refusal(
        context_dir, "Dockerfile", ["Dockerfile*"]
    )


def test_dockerfile_in_a_symlinked_folder(context_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "Dockerfile").write_text("FROM scratch\n")
    (context_dir / "docker").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert 'is inside "docker", a symlink to a folder' in refusal(context_dir, "docker/Dockerfile")


def test_dockerfile_is_a_folder(context_dir: Path) -> None:
    assert refusal(context_dir, "src") == (
        f'Dockerfile "src" in context {context_dir} is a folder: '
        'pass dockerfile="path/inside/context" naming the Dockerfile itself'
    )


def test_extra_patterns_next_to_a_dockerignore(context_dir: Path) -> None:
    (context_dir / ".dockerignore").write_text(".env\n")
    assert refusal(context_dir, "Dockerfile", ["*.bin"]) == (
        f'exclude patterns "*.bin" are ignored because {context_dir}/.dockerignore exists '
        "(it replaces all other exclusions): move them into .dockerignore and remove them "
        "from exclude"
    )


def test_broken_symlink(context_dir: Path) -> None:
    (context_dir / "src" / "gone\nname").symlink_to("nowhere")
    # The official CLI crashes on it.
    with pytest.raises(FileNotFoundError):
        official(context_dir)
    assert refusal(context_dir) == (
        f'"src/gone\\nname" in context {context_dir} is a broken symlink: '
        "fix it, remove it or add it to .dockerignore"
    )
    (context_dir / ".dockerignore").write_text("gone*\n")
    context.select(context_dir)


def test_fifo(context_dir: Path) -> None:
    os.mkfifo(context_dir / "src" / "pipe")  # the official CLI would block reading it
    assert refusal(context_dir) == (
        f'"src/pipe" in context {context_dir} is not a regular file: '
        "remove it or add it to .dockerignore"
    )


def test_dockerignore_that_is_not_utf8(context_dir: Path) -> None:
    (context_dir / ".dockerignore").write_bytes(b"caf\xe9\n")
    assert refusal(context_dir) == (
        f"cannot read {context_dir}/.dockerignore: it is not UTF-8: "
        "fix or remove the .dockerignore file"
    )


_SELECT = """
import sys
from pcc_provider import context
try:
    context.select(sys.argv[1])
except context.ContextError as exc:
    print(exc)
"""


def test_unreadable_folder(context_dir: Path) -> None:
    (context_dir / "src").chmod(0)
    try:
        # Root reads every folder: as root the selection runs as `nobody` instead, so the case
        # is tested on a developer's machine and in CI alike.
        message = refusal(context_dir) if os.geteuid() != 0 else _select_as_nobody(context_dir)
        assert message == (
            f'cannot read "src" in context {context_dir}: Permission denied: fix its '
            "permissions or add it to .dockerignore"
        )
    finally:
        (context_dir / "src").chmod(0o755)


def _select_as_nobody(context_dir: Path) -> str:
    """The selection's message for a copy of `context_dir` in a folder `nobody` can reach."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    shared = Path(tempfile.mkdtemp(prefix="pcc-unreadable-"))
    try:
        shared.chmod(0o755)
        copy = shared / "agent"
        shutil.copytree(context_dir, copy)
        (copy / "src").chmod(0)
        run = subprocess.run(
            [*nobody, sys.executable, "-c", _SELECT, str(copy)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip().replace(str(copy), str(context_dir))
    finally:
        (shared / "agent" / "src").chmod(0o755)
        shutil.rmtree(shared)


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.truncate(size)


def test_size_limit_names_the_largest_files_and_folders(context_dir: Path) -> None:
    _sparse(context_dir / "assets" / "a.bin", 300 * MiB)
    _sparse(context_dir / "assets" / "b.bin", 150 * MiB)
    _sparse(context_dir / "model.bin", 100 * MiB)
    started = time.monotonic()
    message = refusal(context_dir)
    assert time.monotonic() - started < 2  # from sizes alone, nothing read
    assert message.startswith(f"build context {context_dir} holds 550.2 MiB of files, over the 500")
    assert "largest: assets/ (450.0 MiB), model.bin (100.0 MiB), src/data.bin (0.2 MiB)" in message
    assert message.endswith("add what the image does not need to .dockerignore")


def test_size_limit_is_500_mib_inclusive(tmp_path: Path) -> None:
    assert context.MAX_CONTEXT_BYTES == 500 * 1024 * 1024
    root = tmp_path / "edge"
    root.mkdir()
    (root / "Dockerfile").write_bytes(b"F" * 100)
    _sparse(root / "blob", context.MAX_CONTEXT_BYTES - 100)
    assert context.select(root).total_bytes == context.MAX_CONTEXT_BYTES
    _sparse(root / "blob", context.MAX_CONTEXT_BYTES - 99)
    assert "over the 500 MiB limit" in refusal(root)


def test_secret_files_let_through_by_a_dockerignore(context_dir: Path) -> None:
    assert context.select(context_dir).secret_files == ()
    assert ".env" not in context.select(context_dir).files
    (context_dir / "certs").mkdir()
    (context_dir / "certs" / "server.pem").write_text("-----BEGIN")
    (context_dir / ".env.production").write_text("X=1")
    (context_dir / ".dockerignore").write_text("*.bin\n")
    ctx = context.select(context_dir)
    assert ctx.secret_files == (".env", ".env.production", "certs/server.pem")


# --------------------------------------------------------------------------- CLI


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcc_provider", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_cli_hash(context_dir: Path) -> None:
    expected = official(context_dir)
    settle()
    run = cli("hash", context_dir)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == (
        f"{expected.context_hash}  3 files, {expected.total_size} bytes"
    )
    again = cli("hash", context_dir)
    assert again.stdout.splitlines()[0].startswith(f"{expected.context_hash}  ")
    assert again.stdout.rstrip().endswith("(cached)")


def test_cli_hash_json_and_secret_warning(context_dir: Path) -> None:
    (context_dir / ".dockerignore").write_text("*.bin\n")
    expected = official(context_dir)
    run = cli("hash", context_dir, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "contextHash": expected.context_hash,
        "fileCount": 4,
        "totalBytes": expected.total_size,
        "archiveBytes": len(expected.tarball),
        "cached": False,
        "secretFiles": [".env"],
        "symlinkedDirs": [],
    }
    text = cli("hash", context_dir)
    assert "warning: .env looks like a secret and would be uploaded" in text.stderr


def test_cli_files(context_dir: Path) -> None:
    run = cli("files", context_dir, "--exclude", "*.bin")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["Dockerfile", "src/bot.py"]
    listed = json.loads(cli("files", context_dir, "--json").stdout)
    assert listed == {
        "files": ["Dockerfile", "src/bot.py", "src/data.bin"],
        "totalBytes": official(context_dir).total_size,
    }


def test_cli_error_is_one_line_without_traceback(context_dir: Path) -> None:
    run = cli("hash", context_dir, "--dockerfile", "docker/Dockerfile")
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == (
        f'error: Dockerfile "docker/Dockerfile" not found in context {context_dir}: '
        'create it or pass dockerfile="path/inside/context"\n'
    )


def test_concurrent_processes_share_the_cache_safely(context_dir: Path, cache: Path) -> None:
    expected = official(context_dir).context_hash
    settle()
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pcc_provider", "hash", str(context_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
    assert {out.split()[0] for out, _ in outputs} == {expected}
    assert not (cache / "archives").exists()
    assert len(list((cache / "hashes").iterdir())) == 1
    assert len(list((cache / "files").iterdir())) == 1
    assert list((cache / "tmp").iterdir()) == []
    assert re.fullmatch(r"[0-9a-f]{16}  .*\(cached\)\n", cli("hash", context_dir).stdout)


# -- reading never blocks, and says why it cannot read (issue 16 items 5 and 10) ----------

_SWAP = """
import os, sys
from pcc_provider import context
from pcc_provider.context import ContextError
root, victim, kind = sys.argv[1:4]
selected = context.select(root)
os.unlink(victim)
if kind == "fifo":
    os.mkfifo(victim)
else:
    os.symlink(os.path.join(root, "Dockerfile"), victim)
try:
    context.digest(selected)
except ContextError as exc:
    print(exc)
    sys.exit(1)
"""


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_file_replaced_after_listing_is_refused_without_blocking(
    context_dir: Path, kind: str
) -> None:
    # In a subprocess: before the fix, opening the FIFO blocked forever; the timeout only
    # guards the test run.
    run = subprocess.run(
        [sys.executable, "-c", _SWAP, str(context_dir), str(context_dir / "src" / "bot.py"), kind],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert run.returncode == 1, run.stderr
    expected = {
        "fifo": '"src/bot.py" is no longer a regular file (it was replaced while the build '
        "context was being archived): make it a regular file, remove it or add it to "
        ".dockerignore\n",
        "symlink": '"src/bot.py" became a symlink while the build context was being '
        "archived: run again once it stops changing\n",
    }[kind]
    assert run.stdout == expected


def test_dockerignore_that_is_a_fifo_is_refused_without_blocking(context_dir: Path) -> None:
    os.mkfifo(context_dir / ".dockerignore")
    run = subprocess.run(
        [sys.executable, "-m", "pcc_provider", "hash", str(context_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr == (
        f"error: {context_dir}/.dockerignore is not a regular file: "
        "make it a regular file or remove it\n"
    )


def test_path_too_long_says_so(context_dir: Path) -> None:
    # Deeper than PATH_MAX: each level is created relative to the last one.
    fd = os.open(context_dir / "src", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(40):
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with os.fdopen(os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("x")
    finally:
        os.close(fd)
    message = refusal(context_dir)
    assert message.startswith('cannot read "src/ddd')
    assert message.endswith(
        "its path is longer than this system allows (File name too long): shorten the "
        "names of the folders that hold it, move the context to a shorter path, or add "
        "it to .dockerignore"
    )
    assert "permissions" not in message


def test_dockerignore_reinclude_keeps_the_official_hash_and_warns(context_dir: Path) -> None:
    (context_dir / ".dockerignore").write_text("# data\n*.bin\n!src/data.bin\n")
    selected = context.select(context_dir)
    assert selected.files == (".dockerignore", ".env", "Dockerfile", "src/bot.py")
    assert context.digest(selected).context_hash == official(context_dir).context_hash
    warning = (
        f'{context_dir}/.dockerignore line 3 "!src/data.bin": "!" (re-include) is not supported '
        "and the line is ignored, as the official CLI ignores it: what other lines exclude "
        "stays excluded; narrow those lines instead"
    )
    assert selected.warnings == (warning,)
    for command in ("files", "hash"):
        run = cli(command, context_dir)
        assert run.returncode == 0, run.stderr
        assert f"warning: {warning}\n" in run.stderr
