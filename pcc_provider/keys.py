"""What the ApiKey and RegistryKey resources share: a key of the organization, made by one POST
of pcc's organization routes, found in its list by id, never changed (a new name or type
makes a new key), revoked on delete.

Ownership (ownership.py): a key is the stack's by its id, which only the create that made it
learnt, or which `pulumi import` names on purpose. A create whose answer was lost (the
engine killed, the connection dropped) leaves a key nobody holds: its claim (in this
machine's cache, and in the pending create the engine keeps, for `recover` elsewhere) lets
the next create of the same resource find it (same name, made after the claim began) and
revoke it before making a new one, since its value was never recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult

from pcc_provider import api, cancel, ownership
from pcc_provider.description import Door
from pcc_provider.errors import PipecatError, Transient
from pcc_provider.resource import (
    ApiResource,
    OwnedObjectProvider,
    Progress,
    checked,
    refuse_import,
)


class OrganizationKeyError(PipecatError):
    """A key refused or not made; str() is for the user and never holds a key."""


def name_problem(value: Any, door: Door) -> str | None:
    """pcc's rule: a key needs a name (`A key name is required`), which tells keys apart."""
    if isinstance(value, str) and value.strip():
        return None
    return f"{door['name']} must be a non-empty name, which tells the key apart in `pcc` lists"


class KeyProvider(OwnedObjectProvider):
    """An organization key. The state's id is the key's id; `name` (and an API key's `type`)
    replace it; delete revokes it (the service keeps it, listed as revoked)."""

    error = OrganizationKeyError
    reasons = (OrganizationKeyError,)
    adopt = "import"  # never adopted by an input: `pulumi import` takes one over
    named_by = "name"
    readable: ClassVar[bool]  # whether the list shows the key itself (an API key's does)

    # -- what each kind says of its list and its create

    def _listing(self, client: api.Client) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _make(self, client: api.Client, props: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _seen(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A listed or created key as the state's outputs name it (keyId, name, createdAt...)."""
        raise NotImplementedError

    @staticmethod
    def _revoked(entry: Mapping[str, Any]) -> bool:
        return bool(entry.get("revoked")) or entry.get("status") in ("revoked", "expired")

    # -- OwnedObjectProvider

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        """The key of this id, None when it is gone or revoked (a revoked key is no key)."""
        for entry in self._listing(client):
            if entry.get("id") == name:
                return None if self._revoked(entry) else entry
        return None

    def _stranger(self, state: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
        return None  # ids are never reused: the key of the state's id is the state's

    def _settled(self, props: Mapping[str, Any], name: str) -> None:
        # Claims name the key's name, not its id (the create knows no id before its answer).
        ownership.release(props.get("__urn") or "", self.claim, str(props.get("name") or ""))

    def _delete(
        self, client: api.Client, name: str, props: Mapping[str, Any], progress: Progress
    ) -> bool:
        """Revoke: done when answered (no wait)."""
        progress.status(f"revoking {self.what} {props.get('name') or name}")
        try:
            self._remove(client, name)
        except api.NotFound:
            return False
        return True

    def _hide(self, said: Exception, *props: Mapping[str, Any]) -> str:
        if isinstance(said, api.ApiError):
            keys = [str(p["key"]) for p in props if isinstance(p.get("key"), str) and p["key"]]
            return str(said.hiding(keys))
        return str(said)

    def _observed(
        self, name: str, props: dict[str, Any], found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        seen = self._seen(found)
        if not self.readable:
            seen.pop("key", None)  # the list never shows it: the state keeps what create saw
        outs = {k: v for k, v in props.items() if k != ownership.STAMP}
        outs.update(seen)
        # `pulumi import` (no inputs in the state): the key as listed, without its value
        # where the list does not show it. Then, or when renamed outside Pulumi (an API has
        # no rename today), the inputs are what the service holds.
        inputs = {f.name: outs.get(f.name) for f in self.description.inputs}
        return outs, inputs

    # -- the engine's calls

    def _claimed_where(self, inputs: Mapping[str, Any]) -> Any:
        return ownership.ORGANIZATION

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = self.description.problems(news, self.door)
        failures = [CheckFailure(prop, reason) for prop, reason in found]
        # A create's claim travels in the state's pending create (recovery.py).
        return CheckResult(news if failures else self._stamped(olds, news), failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        self._settled(olds, _id)
        replaces = [k for k in self.description.replace_on if olds.get(k) != news.get(k)]
        # A key is never changed in place; names are not unique, so the new one comes first.
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, urn = str(props["name"]), props.get("__urn") or ""
        progress = self._progress(props)
        with self.reported(name, props), self._client(progress=progress) as client:
            cancel.check(f"creating {self.what} {name}")
            self._revoke_leftovers(client, urn, name, progress)
            ownership.claim(urn, self.claim, name, ownership.ORGANIZATION)
            progress.status(f"creating {self.what} {name}")
            try:
                made = self._make(client, props)
            except api.ApiError as exc:
                if not isinstance(exc, Transient):
                    ownership.release(urn, self.claim, name)  # refused: nothing was made
                raise
            seen = self._seen(made)
            # What only the list says (a registry key's prefix; an API key's id, which pcc
            # never reads from the create's answer), when it answers.
            with contextlib.suppress(api.ApiError):
                listed = self._listed(client, seen)
                if listed is not None:
                    seen = {**self._seen(listed), **{k: v for k, v in seen.items() if v}}
            if not seen.get("keyId") or not seen.get("key"):
                # Made or not, its value is not known: the claim lets the next `up` revoke it.
                raise OrganizationKeyError("Pipecat Cloud's answer carries no key and its id")
        # The claim stays until the engine shows it holds the key (its next diff, read or
        # delete): an engine killed now never records it, and the next create revokes it.
        outs = {k: v for k, v in props.items() if k != ownership.STAMP}
        return CreateResult(seen["keyId"], {**outs, **seen})

    def _listed(self, client: api.Client, seen: Mapping[str, Any]) -> dict[str, Any] | None:
        """The list's entry of a key just made: by its id, else by the key itself where the
        list shows it."""
        if seen.get("keyId"):
            return self._find(client, str(seen["keyId"]))
        if not self.readable or not seen.get("key"):
            return None
        return next((e for e in self._listing(client) if e.get("key") == seen["key"]), None)

    def _revoke_leftovers(
        self, client: api.Client, urn: str, name: str, progress: Progress
    ) -> None:
        """Revoke what an interrupted create of this resource provably made: a key of its
        name made after its claim began. Its value was never recorded, so it serves no one."""
        claim = ownership.claimed(urn, self.claim, name)
        if claim is None:
            return
        for entry in self._listing(client):
            seen = self._seen(entry)
            left = (
                seen.get("name") == name
                and not self._revoked(entry)
                and claim.covers(seen.get("createdAt"), self.timings.clock_skew)
            )
            if left:
                with_id = str(seen["keyId"])
                try:
                    self._remove(client, with_id)
                except api.NotFound:
                    continue
                progress.warn(
                    f"{self.what} {name} ({with_id}) was made by an interrupted `pulumi up` of "
                    "this stack, which never recorded it: it is revoked, and a new one is made"
                )
        ownership.release(urn, self.claim, name)


class KeyResource(ApiResource):
    """A key in the Python door: its value a secret output."""

    def _register(
        self,
        kind: str,
        resource_name: str,
        provider: KeyProvider,
        args: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None,
    ) -> None:
        refuse_import(kind, resource_name, opts)
        props = checked(kind, resource_name, provider.description, args)
        secret = pulumi.ResourceOptions(additional_secret_outputs=["key"])
        super().__init__(provider, resource_name, props, pulumi.ResourceOptions.merge(opts, secret))
