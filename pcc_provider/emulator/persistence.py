"""The emulator's state on disk: one JSON file per entity, replaced atomically on change.

A restarted emulator carries on where it stopped. One emulator at a time: an emulator holds
a lock on the folder (`emulator.lock`, with its pid) from its start to its stop, and the
operating system lets go of it when the process ends however it ends, so a crashed emulator
blocks no one. Secret values are stored in plaintext, so the state directory and every file
in it are the owner's only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pcc_provider.emulator.entities import Organization

T = TypeVar("T")
KINDS = ("uploads", "builds", "agents", "secrets")
LOCK_FILE = "emulator.lock"


class StateError(RuntimeError):
    """The state folder cannot be used: the message is one line, what is wrong and what to do."""


class StateFolderInUse(StateError):
    def __init__(self, folder: Path, pid: int | None) -> None:
        self.folder, self.pid = folder, pid
        who = ""
        if pid is not None:
            who = f" (pid {pid}, this process)" if pid == os.getpid() else f" (pid {pid})"
        super().__init__(
            f"the state folder {folder} is in use by another emulator{who}: stop it, or give "
            "this one another --state-dir"
        )


# -- the lock -------------------------------------------------------------------------------

if sys.platform == "win32":
    import msvcrt

    _LOCKED_BYTE = 1 << 20  # beyond the pid, which others read while the byte is locked

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except PermissionError:  # EACCES: another handle holds it
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        # flock, not fcntl's record locks: two opens in one process exclude each other too.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FolderLock:
    """The exclusive lock on a state folder: a lock on `emulator.lock` in it, which holds the
    holder's pid. Never deleted (a deleted lock file lets two holders lock two files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take it, or raise StateFolderInUse naming the holder's pid."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not _try_lock(fd):
                raise StateFolderInUse(self.folder, _read_pid(fd))
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no pid of a stopped emulator left behind
            _unlock(fd)
        except OSError:
            pass  # closing lets go of it all the same
        finally:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The pid the holder wrote, or None while it has not written it yet."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return int(os.read(fd, 32).decode().strip())
    except (OSError, ValueError):
        return None


# -- the folder -----------------------------------------------------------------------------


class Records:
    """The files under `root`: entities by kind and name, the identity, the properties, and
    the upload objects (in `objects/`, written through `partial/`). Open (the folder locked)
    from construction until `close()`; `open()` takes it again."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock = FolderLock(self.root)
        self.open()

    @property
    def is_open(self) -> bool:
        return self._lock.held

    def open(self) -> None:
        """Lock the folder (StateFolderInUse if another emulator has it), then clear what an
        emulator that stopped or crashed left half done."""
        if self.is_open:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except OSError as exc:
            raise StateError(f"cannot use {self.root} as the state folder: {exc}") from None
        try:
            for sub in (*KINDS, "objects", "partial"):
                (self.root / sub).mkdir(exist_ok=True)
            # Secret values are stored in plaintext: only their owner may read them.
            self.root.chmod(0o700)
            # Leftovers of uploads cut short, and of writes cut short before their rename:
            # only now, under the lock, are they surely no other emulator's work in flight.
            for leftover in (self.root / "partial").iterdir():
                leftover.unlink(missing_ok=True)
            for folder in (self.root, *(self.root / kind for kind in KINDS)):
                for leftover in folder.glob(".*.tmp"):
                    leftover.unlink(missing_ok=True)
        except OSError as exc:
            self.close()
            raise StateError(f"cannot use {self.root} as the state folder: {exc}") from None

    def close(self) -> None:
        """Let go of the folder (harmless when not open)."""
        self._lock.release()

    def identity(self) -> tuple[bytes, Organization]:
        """(the key that signs upload policies, the organization), made on first start."""
        path = self.root / "emulator.json"
        if path.exists():
            data: dict[str, str] = json.loads(path.read_text())
        else:
            data = {
                # Persisted so that URLs handed out before a restart still work.
                "secret": secrets.token_hex(32),
                "organizationId": "org_" + secrets.token_hex(6),
                "accountId": str(100000000000 + secrets.randbelow(900000000000)),
            }
            self.write_json(path, data)
        return bytes.fromhex(data["secret"]), Organization(
            data["organizationId"], data["accountId"]
        )

    def write_json(self, path: Path, data: Any) -> None:
        # Write beside the target, then rename: readers and restarts never see half a file.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        # Owner-only from the start: records hold secret values and the signing key.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)

    def save(self, kind: str, name: str, entity: Any) -> None:
        self.write_json(self.root / kind / f"{name}.json", dataclasses.asdict(entity))

    def remove(self, kind: str, name: str) -> None:
        (self.root / kind / f"{name}.json").unlink(missing_ok=True)

    def load_all(self, kind: str, parse: Callable[[dict[str, Any]], T]) -> Iterator[T]:
        """Each saved entity of `kind`, parsed from its dict by `parse`; unreadable ones skipped."""
        for path in sorted((self.root / kind).glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                yield parse(json.loads(path.read_text()))
            except (ValueError, TypeError, KeyError):
                continue  # an unreadable record is skipped rather than fatal

    def read_properties(self) -> Any:
        """The stored organization properties; {} when none are, or they cannot be read."""
        stored: Any = {}
        # An unreadable file means the defaults, as an unreadable record is skipped elsewhere.
        with contextlib.suppress(ValueError, OSError):
            stored = json.loads((self.root / "properties.json").read_text())
        return stored

    def write_properties(self, properties: dict[str, Any]) -> None:
        self.write_json(self.root / "properties.json", properties)

    def partial_file(self) -> Path:
        """Where an upload in flight is written before it is known to be acceptable."""
        return self.root / "partial" / uuid.uuid4().hex

    def object_path(self, upload_id: str) -> Path:
        return self.root / "objects" / f"{upload_id}.tar.gz"

    def store_object(self, partial: Path, upload_id: str) -> None:
        # Like S3, a second POST to the same key replaces the object.
        os.replace(partial, self.object_path(upload_id))
