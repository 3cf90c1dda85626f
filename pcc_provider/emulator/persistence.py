"""The emulator's state on disk: one JSON file per entity, replaced atomically on change.

A restarted emulator carries on where it stopped. Secret values are stored in plaintext, so
the state directory and every file in it are the owner's only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pcc_provider.emulator.entities import Organization

T = TypeVar("T")
KINDS = ("uploads", "builds", "agents", "secrets")


class Records:
    """The files under `root`: entities by kind and name, the identity, the properties, and
    the upload objects (in `objects/`, written through `partial/`)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        for sub in (*KINDS, "objects", "partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Secret values are stored in plaintext: only their owner may read them.
        self.root.chmod(0o700)
        # Leftovers of uploads that were cut short when the emulator stopped.
        for leftover in (self.root / "partial").iterdir():
            leftover.unlink(missing_ok=True)

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
