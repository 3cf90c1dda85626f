"""The content digest (what decides a rebuild, the same on every machine) and the privacy
and integrity of the context cache."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from context_corpus import official

from pcc_provider import context

# Each test its own context cache and cache key (conftest.py).
pytestmark = pytest.mark.usefixtures("cache")


@pytest.fixture
def context_dir(tmp_path: Path) -> Path:
    """A build context: a Dockerfile, a source folder with an executable and a 200 kB file."""
    root = tmp_path / "agent"
    (root / "src").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM python:3.12\nCOPY . /app\n")
    (root / "src" / "bot.py").write_text("print('hello')\n" * 200)
    (root / "src" / "run.sh").write_text("#!/bin/sh\nexec python bot.py\n")
    (root / "src" / "run.sh").chmod(0o755)
    (root / "src" / "data.bin").write_bytes(os.urandom(200_000))
    return root


def reference_digest(root: Path, names: tuple[str, ...]) -> str:
    """The documented encoding, written out independently of the module."""
    digest = hashlib.sha256(b"pcc-provider-content-2\n")
    for name in names:
        path = root / name
        executable = "x" if path.stat().st_mode & stat.S_IXUSR else "-"
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        digest.update(f"{name}\0{executable}\0{len(data)}\0{sha}\n".encode())
    return "files-sha256:" + digest.hexdigest()


def settle() -> None:
    import time

    time.sleep(0.15)  # past the window in which a fresh scan is not cached


# --------------------------------------------------------------------------- the digest


def test_digest_is_paths_executable_bits_and_bytes(context_dir: Path) -> None:
    settle()
    ctx = context.select(context_dir)
    expected = reference_digest(context_dir, ctx.files)
    assert context.content_digest(ctx) == expected
    assert context.content_digest(context.select(context_dir)) == expected  # from the cache
    fresh = context.digest(ctx)
    assert fresh.content_digest == expected and not fresh.cached
    cached = context.digest(context.select(context_dir))
    assert cached.content_digest == expected and cached.cached
    with context.archive(context.select(context_dir)) as (_, found):
        assert found.content_digest == expected


def test_another_deflate_changes_the_hash_not_the_digest(
    context_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine whose Python links zlib-ng (recent Fedora) writes other gzip bytes for the
    same files: another contextHash, the same content digest."""
    zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")
    here = context.digest(context.select(context_dir))
    assert here.context_hash == official(context_dir).context_hash

    monkeypatch.setitem(sys.modules, "zlib", zlib_ng)
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(tmp_path / "other-machine-cache"))
    with context.archive(context.select(context_dir)) as (path, there):
        tar = gzip.decompress(path.read_bytes())
    assert there.context_hash != here.context_hash
    assert there.content_digest == here.content_digest
    assert tar == gzip.decompress(official(context_dir).tarball)  # the same files, other deflate


def test_os_access_changes_the_hash_not_the_digest(
    context_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.access(X_OK) differs by user and mount (root, noexec): the archive's modes follow
    it, as the official CLI's do; the digest reads the owner's x bit."""
    here = context.digest(context.select(context_dir))
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    monkeypatch.setenv("PCC_PROVIDER_CACHE_DIR", str(tmp_path / "noexec-cache"))
    there = context.digest(context.select(context_dir))
    assert there.context_hash != here.context_hash
    assert there.content_digest == here.content_digest


# --------------------------------------------------------------------------- the cache


def modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode)
        for path in [root, *root.rglob("*")]
    }


def test_cache_is_private(context_dir: Path, cache: Path, tmp_path: Path) -> None:
    cache.mkdir(mode=0o755)  # as an earlier version left it
    settle()
    context.digest(context.select(context_dir))
    found = modes(cache)
    assert {name for name in found if "/" not in name} == {".", "files", "hashes", "tmp"}
    for name, mode in found.items():
        if (cache / name).is_dir():
            assert mode == 0o700, name
        else:
            assert mode == 0o600, name
    assert any(name.startswith("files/") for name in found)
    assert any(name.startswith("hashes/") for name in found)
    key = tmp_path / "config" / "pcc-provider" / "cache.key"
    assert modes(key.parent) == {".": 0o700, "cache.key": 0o600}
    assert cache not in key.parents


def test_archive_for_upload_is_private(context_dir: Path) -> None:
    with context.archive(context.select(context_dir)) as (path, _):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_cache_folder_of_another_user_is_not_used(context_dir: Path, cache: Path) -> None:
    cache.mkdir(mode=0o777)
    try:
        os.chown(cache, 65534, 65534)
    except PermissionError:
        # Not root (a developer's machine, CI's runner): sudo without a password, where there
        # is one, makes the folder another user's as well.
        sudo = shutil.which("sudo")
        chown = [sudo or "sudo", "-n", "chown", "65534:65534", str(cache)]
        if not sudo or subprocess.run(chown, capture_output=True, check=False).returncode:
            pytest.skip("making a folder of another user needs root or sudo without a password")
    expected = official(context_dir)
    settle()
    assert context.digest(context.select(context_dir)).context_hash == expected.context_hash
    assert not context.digest(context.select(context_dir)).cached
    with context.archive(context.select(context_dir)) as (path, found):
        assert path.read_bytes() == expected.tarball and not found.cached
    assert list(cache.iterdir()) == []  # nothing of ours was written there


def test_symlinked_cache_folder_is_not_used(context_dir: Path, cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o777)
    cache.symlink_to(elsewhere)
    settle()
    context.digest(context.select(context_dir))
    assert not context.digest(context.select(context_dir)).cached
    assert list(elsewhere.iterdir()) == []


def forge(cache: Path, tarball: bytes, sign: bytes | None) -> str:
    """What someone who can write the cache folder, but not read the key, can do: point this
    content's entry at the hash of an archive of their own, every field consistent, signed
    with a plain hash of the body or with another key."""
    forged_hash = hashlib.md5(tarball).hexdigest()[:16]
    for path in (cache / "hashes").iterdir():
        entry = json.loads(path.read_bytes().split(b"\n", 1)[1])
        entry.update(context_hash=forged_hash, archive_bytes=len(tarball))
        body = json.dumps(entry, separators=(",", ":")).encode()
        check = (
            hashlib.sha256(body).hexdigest()
            if sign is None
            else hmac.new(sign, body, "sha256").hexdigest()
        )
        path.write_bytes(check.encode() + b"\n" + body)
    return forged_hash


@pytest.mark.parametrize("sign", [None, b"k" * 32], ids=["unkeyed", "another key"])
def test_forged_cache_entry_is_not_trusted(
    context_dir: Path, cache: Path, tmp_path: Path, sign: bytes | None
) -> None:
    expected = official(context_dir)
    settle()
    context.digest(context.select(context_dir))
    other = tmp_path / "other"
    other.mkdir()
    (other / "Dockerfile").write_text("FROM evil\n")
    forged_hash = forge(cache, official(other).tarball, sign)

    assert context.cached_digest(context.select(context_dir)) is None
    planned = context.digest(context.select(context_dir))
    assert planned.context_hash == expected.context_hash != forged_hash
    assert not planned.cached
    forge(cache, official(other).tarball, sign)
    with context.archive(context.select(context_dir)) as (path, found):
        assert path.read_bytes() == expected.tarball
        assert found.context_hash == expected.context_hash and not found.cached


def test_unreadable_key_means_no_cache(context_dir: Path, tmp_path: Path) -> None:
    key = tmp_path / "config" / "pcc-provider" / "cache.key"
    key.parent.mkdir(parents=True, mode=0o700)
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)  # readable by others: not a secret any more
    expected = official(context_dir)
    settle()
    assert context.digest(context.select(context_dir)).context_hash == expected.context_hash
    assert not context.digest(context.select(context_dir)).cached
