"""The emulator's state on disk: one JSON file per entity, replaced atomically on change.

A restarted emulator carries on where it stopped. One emulator at a time: an emulator holds
a lock on the folder (`emulator.lock`, with its pid) from its start to its stop, and the
operating system lets go of it when the process ends however it ends, so a crashed emulator
blocks no one. A record that cannot be read (not JSON, cut short, not the shape of its
entity) is moved to `unreadable/` with a warning line on stderr, never dropped unseen; only
`emulator.json` (the organization and the upload signing key, without which no other record
means what it says) stops the start instead. Secret values are stored in plaintext, so the
state directory and every file in it are the owner's only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
import secrets
import sys
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pcc_provider.emulator.entities import Organization
from pcc_provider.errors import PipecatError

T = TypeVar("T")
KINDS = ("uploads", "builds", "agents", "secrets", "profiles", "api-keys", "registry-keys")
LOCK_FILE = "emulator.lock"
UNREADABLE = "unreadable"  # where records that cannot be read are moved


class StateError(PipecatError, RuntimeError):
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


class UnreadableIdentity(StateError):
    def __init__(self, path: Path, why: str) -> None:
        self.path, self.why = path, why
        super().__init__(
            f"cannot read {path} ({why}): it holds the emulator's organization and upload "
            "signing key, so it is not set aside; restore it, or start afresh with an empty "
            "--state-dir"
        )


class UnreadableRecord(ValueError):
    """Why a record cannot be read, in a few words (`not JSON: ...`, `no field region`)."""


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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


# -- reading records ------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """The JSON value in the file at `path`; UnreadableRecord says why there is none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableRecord(exc.strerror or type(exc).__name__) from None
    if not data:
        raise UnreadableRecord("an empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableRecord("not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UnreadableRecord(f"not JSON: {exc}") from None


def entity_from(cls: type[T], data: Any) -> T:
    """The entity (a dataclass of entities.py) that a record holds: each field there, of its
    declared type (nested entities too), and no other; UnreadableRecord says what is not."""
    built: T = _build(cls, data, "")
    return built


_KIND_NAMES = (
    (bool, "a boolean"),  # before int: True is an int to isinstance
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "an object"),
    (type(None), "null"),
)


def _what(value: Any) -> str:
    return next((name for kind, name in _KIND_NAMES if isinstance(value, kind)), "a value")


def _expected(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_expected(option) for option in typing.get_args(hint))
    if dataclasses.is_dataclass(hint):
        return "an object"
    hint = typing.get_origin(hint) or hint
    return next((name for kind, name in _KIND_NAMES if hint is kind), str(hint))


def wrong_type(value: Any, hint: Any, where: str = "") -> UnreadableRecord:
    """The reason a value (at `where` in its record) is not of type `hint`."""
    said = f"{_what(value)}, not {_expected(hint)}"
    return UnreadableRecord(f"{where} is {said}" if where else said)


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) of each field of the dataclass `cls`."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise wrong_type(data, cls, where)
    prefix = f"{where}." if where else ""
    fields = _fields(cls)
    known = {name for name, _, _ in fields}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UnreadableRecord(f"an unknown field {prefix}{unknown[0]}")
    values: dict[str, Any] = {}
    for name, hint, required in fields:
        if name in data:
            values[name] = _check(data[name], hint, prefix + name)
        elif required:
            raise UnreadableRecord(f"no field {prefix}{name}")
    return cls(**values)


def _check(value: Any, hint: Any, where: str) -> Any:
    """`value` if it is of type `hint` (as JSON gives it), nested entities built."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            with contextlib.suppress(UnreadableRecord):
                return _check(value, option, where)
        raise wrong_type(value, hint, where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if list in (origin, hint):
        if not isinstance(value, list):
            raise wrong_type(value, hint, where)
        item = args[0] if args else Any
        return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if dict in (origin, hint):
        if not isinstance(value, dict):
            raise wrong_type(value, hint, where)
        of = args[1] if args else Any
        return {k: _check(v, of, f"{where}[{k!r}]") for k, v in value.items()}
    if hint is float:  # a JSON number: 3 is a float's value too
        fits = isinstance(value, int | float) and not isinstance(value, bool)
    elif hint in (int, str, bool, type(None)):
        fits = isinstance(value, hint) and (hint is bool or not isinstance(value, bool))
    else:  # a field of a type not taught here yet: the emulator's bug, not the record's
        raise TypeError(f"cannot check a record's {where} against {hint!r}")
    if not fits:
        raise wrong_type(value, hint, where)
    return value


# -- the folder -----------------------------------------------------------------------------


class Records:
    """The files under `root`: entities by kind and name, the identity, the properties, and
    the upload objects (in `objects/`, written through `partial/`). Open (the folder locked)
    from construction until `close()`; `open()` takes it again."""

    def __init__(self, root: str | os.PathLike[str], warn: Callable[[str], None] = _warn) -> None:
        self.root = Path(root)
        self.warn = warn  # says, in one line, that a record was set aside
        self.set_aside: list[tuple[Path, Path]] = []  # (where a record was, where it is now)
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
        """(the key that signs upload policies, the organization), made on first start.
        UnreadableIdentity when the file cannot be read: it is never replaced."""
        path = self.root / "emulator.json"
        if not path.exists():
            self.write_json(
                path,
                {
                    # Persisted so that URLs handed out before a restart still work.
                    "secret": secrets.token_hex(32),
                    "organizationId": "org_" + secrets.token_hex(6),
                    "accountId": str(100000000000 + secrets.randbelow(900000000000)),
                },
            )
        try:
            data = read_json(path)
            if not isinstance(data, dict):
                raise wrong_type(data, dict, "")
            for name in ("secret", "organizationId", "accountId"):
                if name not in data:
                    raise UnreadableRecord(f"no field {name}")
                if not isinstance(data[name], str):
                    raise wrong_type(data[name], str, name)
            try:
                secret = bytes.fromhex(data["secret"])
            except ValueError:
                raise UnreadableRecord("secret is not hexadecimal") from None
        except UnreadableRecord as exc:
            raise UnreadableIdentity(path, str(exc)) from None
        return secret, Organization(data["organizationId"], data["accountId"])

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

    def load_all(
        self, kind: str, cls: type[T], key: str, check: Callable[[T], None] | None = None
    ) -> Iterator[T]:
        """Each saved entity of `kind`, a `cls` (entity_from); a record that cannot be read,
        that `check` refuses (UnreadableRecord), or whose `key` field is not its file's name,
        is set aside."""
        for path in sorted((self.root / kind).glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                entity = entity_from(cls, read_json(path))
                if check is not None:
                    check(entity)
                if getattr(entity, key) != path.stem:
                    raise UnreadableRecord(
                        f"the record of {getattr(entity, key)}, not of {path.stem}"
                    )
            except UnreadableRecord as exc:
                self.set_aside_record(path, str(exc))
                continue
            yield entity

    def check_properties(self, check: Callable[[Any], None]) -> None:
        """At the start: set the properties file aside if it cannot be read or `check`
        (UnreadableRecord) refuses what it holds."""
        path = self.root / "properties.json"
        if not path.exists():
            return
        try:
            check(read_json(path))
        except UnreadableRecord as exc:
            self.set_aside_record(path, str(exc))

    def set_aside_record(self, path: Path, why: str) -> None:
        """Move the record at `path` to `unreadable/` (beside any moved there before), and
        say so in one line; StateError when it cannot be moved either."""
        relative = path.relative_to(self.root)
        target = self.root / UNREADABLE / relative
        for n in itertools.count(1):
            if not target.exists():
                break
            target = target.with_name(f"{path.stem}.{n}{path.suffix}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except OSError as exc:
            raise StateError(
                f"cannot read {path} ({why}), nor move it to {target} ({exc.strerror}): "
                "move it away or delete it"
            ) from None
        self.set_aside.append((path, target))
        self.warn(
            f"warning: cannot read {path} ({why}): moved it to {target}; the emulator starts "
            "without it"
        )

    def read_properties(self) -> Any:
        """The stored organization properties; {} when none are, or they cannot be read (as
        checked at the start, they can unless changed behind the emulator's back)."""
        stored: Any = {}
        with contextlib.suppress(ValueError, OSError):
            stored = json.loads((self.root / "properties.json").read_text())
        return stored

    def write_properties(self, properties: dict[str, Any]) -> None:
        self.write_json(self.root / "properties.json", properties)

    def read_single(self, name: str, cls: type[T]) -> T | None:
        """The organization's one record `name` (spend-limit), or None when there is none; one
        that cannot be read is set aside, as an entity's is."""
        path = self.root / f"{name}.json"
        if not path.exists():
            return None
        try:
            return entity_from(cls, read_json(path))
        except UnreadableRecord as exc:
            self.set_aside_record(path, str(exc))
            return None

    def write_single(self, name: str, entity: Any) -> None:
        self.write_json(self.root / f"{name}.json", dataclasses.asdict(entity))

    def partial_file(self) -> Path:
        """Where an upload in flight is written before it is known to be acceptable."""
        return self.root / "partial" / uuid.uuid4().hex

    def object_path(self, upload_id: str) -> Path:
        return self.root / "objects" / f"{upload_id}.tar.gz"

    def store_object(self, partial: Path, upload_id: str) -> None:
        # Like S3, a second POST to the same key replaces the object.
        os.replace(partial, self.object_path(upload_id))
