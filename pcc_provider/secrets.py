"""The SecretSet and ImagePullSecret resources: Pipecat Cloud secret sets declared as code.

    cfg = pulumi.Config()
    bot_secrets = SecretSet("bot-secrets", set_name="bot-secrets",
                            secrets={"OPENAI_API_KEY": cfg.require_secret("openaiKey")})
    registry = ImagePullSecret("registry", set_name="ghcr", host="https://ghcr.io",
                               username="bot", password=cfg.require_secret("ghcrToken"))
    Agent("bot", service_name="bot", build_id=..., secret_set=bot_secrets.set_name)

Every value is a Pulumi secret: encrypted in the state, `[secret]` in diffs, and sent only in
the body of `PUT /secrets/{setName}`. Key names are plain.

Rollout: a SecretSet's `revision` is a digest of its values, computed in the program (so a
preview knows it) and kept a Pulumi secret. An Agent that binds a set declared in the same
program, by name or by passing the SecretSet, takes that revision as an input: a changed
value changes the agent's input, so the same `pulumi up` redeploys the agent after the set is
ready again. The revision also carries the set as a dependency, so an agent is deployed only
once the sets it binds are ready.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Required, TypedDict, Unpack
from urllib.parse import urlsplit

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    UpdateResult,
)
from pulumi.runtime.settings import get_monitor

from pcc_provider import api, cancel, dotenv, ownership, recovery, taken, watch
from pcc_provider.description import (
    PYTHON,
    SCHEMA,
    UNKNOWN,
    Derive,
    Description,
    Door,
    Field,
    camel,
    describe,
    description_of,
    flag,
    positive_seconds,
    present,
    region_problem,
)
from pcc_provider.errors import PipecatError
from pcc_provider.resource import (
    OwnedObjectProvider,
    PipecatResource,
    Progress,
    StillThere,
    checked,
    refuse_import,
)

# The API's rule for set names (the /secrets path parameter), and the official CLI's for keys.
SET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
SECRET_KEY_MAX = 64
DEFAULT_READY_TIMEOUT = 5 * 60
# The names the sets' states had before they took the schema's (camelCase) names.
LEGACY_NAMES = ("set_name", "ready_timeout", "adopt_existing")


class SecretSetError(PipecatError):
    """A refused or failed secret set; str() is for the user and never holds a value."""


class ProvisioningFailed(SecretSetError):
    """The service says the set failed, it vanished, or it stayed pending past the timeout:
    a set this call created is deleted again."""


# -- checks ----------------------------------------------------------------------------------


def set_name_problem(name: Any, door: Door = PYTHON) -> str | None:
    if isinstance(name, str) and 3 <= len(name) <= 63 and SET_NAME.fullmatch(name):
        return None
    return (
        f"{door['setName']} {name!r} is not a valid secret set name: use 3 to 63 lowercase "
        "letters, digits, hyphens and dots, starting and ending with a letter or digit"
    )


def key_problem(key: Any) -> str | None:
    if isinstance(key, str) and len(key) <= SECRET_KEY_MAX and SECRET_KEY.fullmatch(key):
        return None
    return (
        f"secret key {key!r} is not valid: use at most 64 letters, digits, underscores and hyphens"
    )


def value_problem(key: str, value: Any) -> str | None:
    """Never names the value: only which key's value is wrong."""
    if value == UNKNOWN or (isinstance(value, str) and value):
        return None
    if value is None:
        return f"the value of secret {key} is missing (is the config set?)"
    if isinstance(value, str):
        return f"the value of secret {key} is empty: Pipecat Cloud refuses empty values"
    return f"the value of secret {key} must be a string, not {type(value).__name__}"


def _secrets_problem(secrets: Any, door: Door) -> str | None:
    if not isinstance(secrets, Mapping) or not secrets:
        return f"{door['secrets']} is empty: declare at least one KEY: value"
    for key, value in secrets.items():
        problem = key_problem(key) or value_problem(key, value)
        if problem:
            return problem
    return None


def with_file(args: dict[str, Any], door: Door) -> tuple[dict[str, Any], str | None]:
    """`args` with the secrets of `secretsFile`, read as `pcc secrets set --file` reads it
    (pcc_provider.dotenv), or why not: no file, a refused line, or `secrets` given too. What
    both doors do before anything else sees the values (each door marks them secret)."""
    path = args.get("secretsFile")
    if path is None or path == UNKNOWN or not isinstance(path, str) or not path:
        return args, None  # none, not known yet, or not a path (its check says so)
    if args.get("secrets") is not None:
        return args, (
            f"give {door['secrets']} or {door['secretsFile']}, not both: the file's "
            "KEY=value lines are the set's secrets"
        )
    try:
        return {**args, "secrets": dotenv.read(path)}, None
    except dotenv.DotenvError as exc:
        return args, f"{door['secretsFile']} {exc}"


def _set_rules(given: Mapping[str, Any], door: Door) -> list[tuple[str, str]]:
    if given.get("secrets") is None and given.get("secretsFile") is None:
        return [
            (
                "secrets",
                f"give {door['secrets']} (KEY: value) or {door['secretsFile']} (a dotenv file)",
            )
        ]
    return []


def host_problem(host: Any, door: Door = PYTHON) -> str | None:
    parts = urlsplit(host) if isinstance(host, str) else None
    if parts is not None and parts.scheme == "https" and parts.hostname:
        return None
    return (
        f"{door['host']} {host!r} must be an https:// registry URL, such as https://ghcr.io or "
        "https://index.docker.io/v1/"
    )


def _text(name: str) -> Any:
    def check(value: Any, door: Door) -> str | None:
        ok = isinstance(value, str) and value
        return None if ok else f"{door[name]} must be a non-empty string"

    return check


def pull_credentials(username: str, password: str) -> str:
    """As `pcc secrets image-pull-secret` sends them: base64 of `username:password`."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def revision_digest(kind: str, set_name: str, values: Mapping[str, Any]) -> str:
    """A digest of everything a set holds. Kept a Pulumi secret wherever it goes: a hash of a
    short value must not be readable, or the value could be guessed from it."""
    canonical = json.dumps([kind, set_name, sorted(values.items())], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# -- what a program declares ------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """A set declared in the program, for the agents that bind it (`bound`)."""

    kind: str  # "secret" or "imagePullSecret"
    region: str
    # Secret. In the Python door an Output, resolved once the set's step is done; in the
    # native door the digest itself (the engine checks a set before the agents naming it).
    revision: Any


class Program:
    """The sets one program declares, by name, for the agents that bind them (`bound`): a
    name is declared by one resource only. Both doors keep one per run of the program."""

    def __init__(self) -> None:
        self.declared: dict[str, Declared] = {}
        self.owners: dict[str, str] = {}  # set name -> the resource that declared it

    def declare(self, name: str, owner: str, declared: Declared | None, door: Door) -> None:
        """Record a set (None: its revision is not known yet, its name is taken all the same);
        SecretSetError when another resource of the program declared the name."""
        if self.owners.setdefault(name, owner) != owner:
            raise SecretSetError(
                f"secret set {name!r} is declared twice in this program: give each SecretSet "
                f"and ImagePullSecret its own {door['setName']}"
            )
        if declared is not None:
            self.declared[name] = declared


# Per run of the program, the sets declared in it, so an Agent that names one finds its
# revision. The runtime connects to a new engine monitor for each run, also when an
# Automation API program runs twice in one process (preview, then up).
_PROGRAMS: weakref.WeakKeyDictionary[Any, Program] = weakref.WeakKeyDictionary()
_OUTSIDE_A_RUN = Program()


def _program() -> Program:
    run = get_monitor()
    if run is None:
        return _OUTSIDE_A_RUN
    return _PROGRAMS.setdefault(run, Program())


def bound(names: list[Any], declared: Mapping[str, Any]) -> tuple[dict[str, Any], Any | None]:
    """Of the sets an Agent binds (its secret set first), those declared in this program, and
    the declared secret set whose revision it tracks (an image pull secret rolls nothing out).
    Both doors bind through this: `declared` holds secrets.Declared or the native door's."""
    found = {n: declared[n] for n in names if isinstance(n, str) and n in declared}
    first = found.get(names[0]) if names and isinstance(names[0], str) else None
    return found, first if first is not None and first.kind == "secret" else None


def values(kind: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """What a set of `kind` holds, whose digest is its revision (revision_digest)."""
    if kind == "secret":
        return dict(args.get("secrets") or {})
    return {k: args.get(k) for k in ("host", "username", "password")}


def bindings(
    secret_set: pulumi.Input[str] | None, image_pull_secret_set: pulumi.Input[str] | None
) -> tuple[pulumi.Output[str | None] | None, pulumi.Output[dict[str, str]] | None]:
    """For an Agent: (the revision of the secret set it binds, the regions of the bound sets)
    of the sets declared in this program; both depend on those sets being ready."""
    if secret_set is None and image_pull_secret_set is None:
        return None, None
    registry = _program().declared

    def look(names: list[Any]) -> pulumi.Output[list[Any]]:
        found, tracked = bound(names, registry)
        # Waiting on the revisions waits for the sets' steps: they resolve through the URN.
        ready = pulumi.Output.all(*[d.revision for d in found.values()])
        regions = ready.apply(lambda _: {n: d.region for n, d in found.items()})
        return pulumi.Output.all(regions, tracked.revision if tracked else None)

    both: pulumi.Output[list[Any]] = pulumi.Output.all(secret_set, image_pull_secret_set).apply(
        look  # an Output returned by apply is awaited
    )
    revision: pulumi.Output[str | None] = pulumi.Output.secret(both.apply(lambda b: b[1]))
    # The regions are plain: only the revision is secret.
    regions: pulumi.Output[dict[str, str]] = pulumi.Output.unsecret(both.apply(lambda b: b[0]))
    return revision, regions


# -- providers --------------------------------------------------------------------------------


class SetProvider(OwnedObjectProvider):
    """What both kinds of set share: replace on name or region, wait until ready, delete."""

    what, error, adopt = "secret set", SecretSetError, "adoptExisting"
    watched = watch.SECRET_SETS
    reasons = (SecretSetError,)
    claim = "secretSet"
    named_by = "setName"

    # What cannot be read back from Pipecat Cloud: a set brought in by `pulumi import` has
    # none of these in its state, and the program may leave them out (`values_unmanaged`).
    unreadable: ClassVar[tuple[str, ...]] = ("secrets",)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        olds = self.description.current(olds)
        if self.values_unmanaged(olds, news):
            return CheckResult(news, [])
        # No property named: the engine would print the property's value beside the reason.
        found = self.description.problems(news, self.door)
        failures = [CheckFailure("", reason) for _, reason in found]
        return CheckResult(news if failures else self._stamped(olds, news), failures)

    def _claim_facts(self, name: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        # A set's claim proves something only if no set of the name existed when it was made
        # (ownership.claim): asked now, just before the engine creates it.
        if self.config is None:
            return None  # not configured by an engine: no one to ask
        try:
            with self._client() as client:
                # The run's one list of sets (taken.py), as the agents' check has it: the
                # create then looks again, freshly, before it writes.
                free = name not in taken.listed(client.identity, "sets", client.list_secret_sets)
        except (api.ApiError, SecretSetError):
            free = False
        return {"keys": self._declared_keys(inputs), "free": free}

    def _listed(self, client: api.Client) -> Mapping[str, Mapping[str, Any]]:
        """The sets of the organization by name, from a list that began after this ask: the
        creates and checks of a program's sets, which ask together, share one call (a PUT
        writes over a name, so whether it is free must be known first, and freshly)."""
        return taken.fresh(client.identity, "sets", client.list_secret_sets)

    def _look(self, client: api.Client, name: str) -> dict[str, Any] | None:
        """The set of this name before a create writes it, or None: from the shared list,
        and in detail only when it exists (the rare case: a take-over or a refusal)."""
        if name not in self._listed(client):
            return None
        return self._find(client, name)

    def values_unmanaged(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
        """An imported set (the state holds no values) whose program declares none either
        (`secrets: {}`, as `pulumi import` writes it): its values are left as they are in
        Pipecat Cloud. Once the program declares them, the next `up` sets them all."""
        return (
            bool(olds.get("setName"))
            and olds.get("setName") == news.get("setName")
            and all(not olds.get(k) and not news.get(k) for k in self.unreadable)
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A state of an earlier version, in its names, of the same values: no change.
        olds = self.description.current(olds)
        # The engine diffs what its state holds: the create's claim is settled (ownership.py).
        self._settled(olds, olds.get("setName") or _id)
        replaces = [k for k in self.description.replace_on if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(replaces) or self._changed(olds, news),
            replaces=replaces,
            # Names are unique: a set moving region must go first; a renamed one need not.
            delete_before_replace="setName" not in replaces,
        )

    def _changed(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _remove(self, client: api.Client, name: str) -> None:
        client.delete_secret_set(name)

    def _timeout(self, props: Mapping[str, Any]) -> float:
        return float(props.get("readyTimeout") or DEFAULT_READY_TIMEOUT)

    def _put(self, client: api.Client, props: dict[str, Any]) -> None:
        raise NotImplementedError

    def _values(self, props: Mapping[str, Any]) -> list[str]:
        """What must never appear in an error: the declared values, as they go on the wire."""
        raise NotImplementedError

    def _secrets(self, *props: Mapping[str, Any]) -> list[str]:
        return [value for given in props for value in self._values(given)]

    def _hide(self, said: Exception, *props: Mapping[str, Any]) -> str:
        """An error, as it may be shown: what the service said in it is withheld if it echoes
        a declared value, old or new (redaction). Our own messages never hold one, and the
        client has vetted the service's words against the API key already."""
        if isinstance(said, api.ApiError):
            return str(said.hiding(self._secrets(*props)))
        return str(said)

    def _keys(self, found: Mapping[str, Any]) -> list[str] | None:
        """The key names a set reports (GET /secrets/{set}), None where the API shows none."""
        return None

    def _declared_keys(self, props: Mapping[str, Any]) -> list[str]:
        return []

    def _take_over(self, props: dict[str, Any], found: dict[str, Any], progress: Progress) -> None:
        """Refuse a set of the declared name that this stack did not create, unless the program
        adopts it on purpose or it is provably what this resource's interrupted `up` left."""
        name, urn = props["setName"], props.get("__urn") or ""
        keys, declared = self._keys(found), self._declared_keys(props)
        where = found.get("region")
        claim = ownership.claimed(urn, self.claim, name)
        if claim is not None and claim.region == where and (keys is None or keys == claim.keys):
            # No set of this name existed when that create claimed it (the claim is written
            # only then), and this one has the keys it was about to write.
            progress.warn(
                f"{self.what} {name} was created by an interrupted `pulumi up` of this stack: "
                "its values are set to the declared ones"
            )
            return
        if where != props["region"]:
            raise SecretSetError(
                f"a {self.what} of this name already exists in region {where}, and this stack "
                f"did not create it: choose another {self.door['setName']}, or delete it "
                f"(`pcc secrets delete "
                f"{name}`) and run `pulumi up` again"
            )
        if not props.get("adoptExisting"):
            how = ""
            if keys is not None and keys != declared:
                how = f" (it has the keys {', '.join(keys) or 'none'}; this program declares "
                how += f"{', '.join(declared)})"
            elif keys is not None:
                how = " (with the same keys)"
            raise SecretSetError(
                f"it already exists in Pipecat Cloud and this stack did not create it{how}: "
                f"pass {self.door.assign('adoptExisting', True)} to take it over (its values are "
                "replaced by the declared ones and `pulumi destroy` deletes it), choose another "
                f"{self.door['setName']}, or "
                f"delete it (`pcc secrets delete {name}`)"
                + (f"; {recovery.advice(urn)}" if urn else "")
            )
        extra = sorted(set(keys or []) - set(declared))
        progress.warn(
            f"{self.what} {name} already exists: {self.door.assign('adoptExisting', True)} "
            "takes it over, sets the "
            "declared values"
            + (f", removes the keys {', '.join(extra)}" if extra else "")
            + ", and `pulumi destroy` will delete it"
        )

    def _stranger(self, state: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
        """Why the set found under the state's name is not the one the state records (deleted
        and made again by someone else), or None. Sets have no creation time: a set in
        another region, or one that shares none of the recorded keys, is another set.
        A state that records neither (`pulumi import`) proves nothing either way."""
        if not state.get("region"):
            return None
        if found.get("region") != state.get("region"):
            return f"it is in region {found.get('region')}, this stack's in {state.get('region')}"
        keys, recorded = self._keys(found), state.get("keys")
        if keys is not None and recorded and not set(keys) & set(recorded):
            return (
                f"it has the keys {', '.join(keys) or 'none'}, this stack's had "
                f"{', '.join(recorded)}"
            )
        return None

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, progress = props["setName"], self._progress(props)
        urn = props.get("__urn") or ""
        with self._client(progress=progress) as client:
            with self.reported(name, props):
                cancel.check(f"creating {self.what} {name}")
                found = self._look(client, name)
                if found is not None:
                    self._take_over(props, found, progress)
                else:
                    # Nothing of this name exists now: what is found under it after an
                    # interrupted `up` is this create's (ownership.py).
                    keys = self._declared_keys(props)
                    ownership.claim(urn, self.claim, name, props["region"], keys)
                progress.status(f"creating {self.what} {name}")
                self._put(client, props)
                if found is not None:
                    self._after_put(client, {"keys": self._keys(found) or []}, props)
            try:
                found = self._wait(client, props, progress)
            except ProvisioningFailed as exc:
                # Nothing half-made stays behind: the next `pulumi up` starts clean.
                try:
                    deleted = self._delete(client, name, props, progress)
                    undone = "; the set was deleted again" if deleted else "; the set is gone"
                    ownership.release(urn, self.claim, name)
                except (api.ApiError, StillThere):
                    undone = "; deleting it again failed too: delete it before retrying"
                why = self._hide(exc, props)
                raise SecretSetError(f"{self.what} {name}: {why}{undone}") from None
            except (api.ApiError, SecretSetError) as exc:
                # It may still become ready: the next `pulumi up` takes it up again.
                raise SecretSetError(f"{self.what} {name}: {self._hide(exc, props)}") from None
        # The claim stays until the engine shows it has the set in its state (diff, delete):
        # an engine killed while this call ran never records it, and only the claim lets the
        # next `up` recover the set instead of refusing it as someone else's.
        return CreateResult(name, self._outputs(props, found))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # The engine calls update only when diff reported a change without a replacement.
        progress = self._progress(news, olds)
        with self.reported(id_, news, olds), self._client(progress=progress) as client:
            progress.status(f"updating {self.what} {id_}")
            found = self._ensure_ours(client, id_, olds, news)
            self._put(client, news)
            # Keys the service holds beyond the declared ones go too (added outside).
            held = set(olds.get("keys") or []) | set(self._keys(found or {}) or [])
            self._after_put(client, {**olds, "keys": sorted(held)}, news)
            found = self._wait(client, news, progress, olds)
        return UpdateResult(self._outputs(news, found))

    def _after_put(self, client: api.Client, olds: dict[str, Any], news: dict[str, Any]) -> None:
        pass

    def _observed(
        self, name: str, props: dict[str, Any], found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        props = self.description.current(props)
        if "setName" not in props:
            # `pulumi import` (native provider): name, region and key names; the values
            # cannot be read back, so the state holds none (`values_unmanaged`).
            props = {
                "setName": name,
                "region": found.get("region"),
                "readyTimeout": DEFAULT_READY_TIMEOUT,
                "adoptExisting": False,
                **{k: None for k in self.unreadable},
            }
        outs = self._outputs(props, found)
        # What the service now holds becomes the inputs the engine diffs the program against,
        # so a key removed outside Pulumi shows in `keys` (names only; values stay secret).
        inputs = {k: v for k, v in outs.items() if k != "status" and not k.startswith("__")}
        return outs, inputs

    def _wait(
        self,
        client: api.Client,
        props: dict[str, Any],
        progress: Progress,
        olds: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Until provisioning ends. ProvisioningFailed for `failed`, a set that vanished, or
        the timeout; an API error that may pass (5xx, 429, network) is tolerated a few times.
        `olds`: the values an update replaces, which the service may echo too."""
        name = props["setName"]
        timeout = self._timeout(props)
        pending: dict[str, Any] = {"status": "pending"}

        def looked(found: dict[str, Any] | None) -> dict[str, Any]:
            if found is None:
                raise ProvisioningFailed("it disappeared while being provisioned")
            return found

        found = self._watch(
            client,
            name,
            pending,
            pending,
            looked,
            lambda s: s.get("status") != "pending",
            timeout=timeout,
            describe=lambda _, took: f"provisioning {self.what} {name} ({took:.0f}s)",
            expired=lambda _: ProvisioningFailed(
                f"still pending after {timeout:g}s ({self.door['readyTimeout']})"
            ),
            progress=progress,
        )
        if found.get("status") != "ready":
            said = str(found.get("errorMessage") or "no error message")
            reason = client.vetted(said, self._secrets(props, olds or {}))
            raise ProvisioningFailed(f"provisioning {found.get('status')}: {reason}")
        progress.info(f"{self.what} {name} is ready in {found.get('region')}")
        return found

    def _outputs(self, props: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
        # Not the create's claim (ownership.STAMP): it is for the pending create alone.
        outs = {k: v for k, v in props.items() if k != ownership.STAMP}
        outs.update(status=found.get("status"), region=found.get("region") or props["region"])
        return outs


class SecretSetProvider(SetProvider):
    def _changed(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        if self.values_unmanaged(olds, news):
            return False
        # `keys` in the old state is what the service last reported: keys added or removed
        # outside Pulumi are a change too.
        wanted = sorted(news.get("secrets") or {})
        return olds.get("secrets") != news.get("secrets") or olds.get("keys") != wanted

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        try:
            return client.get_secret_set(name)
        except api.NotFound:
            return None

    def _values(self, props: Mapping[str, Any]) -> list[str]:
        return [v for v in (props.get("secrets") or {}).values() if isinstance(v, str)]

    def _keys(self, found: Mapping[str, Any]) -> list[str] | None:
        """The keys a set's detail lists; None for a list entry, which names none."""
        if "secrets" not in found:
            return None
        return sorted(
            str(s["fieldName"])
            for s in found.get("secrets") or []
            if isinstance(s, dict) and s.get("fieldName")
        )

    def _declared_keys(self, props: Mapping[str, Any]) -> list[str]:
        return sorted(props.get("secrets") or {})

    def _claim_facts(self, name: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        if not isinstance(inputs.get("secrets"), dict):
            return None  # its keys are not known yet
        return super()._claim_facts(name, inputs)

    def _put(self, client: api.Client, props: dict[str, Any]) -> None:
        client.put_secret_set(props["setName"], props["secrets"], props["region"])

    def _after_put(self, client: api.Client, olds: dict[str, Any], news: dict[str, Any]) -> None:
        had = set(olds.get("keys") or []) | set(olds.get("secrets") or {})
        for key in sorted(had - set(news["secrets"])):
            with contextlib.suppress(api.NotFound):  # already gone
                client.delete_secret(news["setName"], key)

    def _outputs(self, props: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
        outs = super()._outputs(props, found)
        # A wait ends on the list's entry, which names no keys: the set holds what was just
        # written (the keys beyond it were deleted), as a refresh would read it.
        keys = self._keys(found)
        keys = self._declared_keys(props) if keys is None else keys
        outs["keys"] = keys
        # Values cannot be read back: the state keeps the declared ones of the keys that exist.
        if props.get("secrets") is not None:
            outs["secrets"] = {k: v for k, v in props["secrets"].items() if k in keys}
        return outs


class ImagePullSecretProvider(SetProvider):
    what = "image pull secret"
    claim = "imagePullSecret"
    unreadable = ("host", "username", "password")

    def _changed(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        if self.values_unmanaged(olds, news):
            return False  # imported, and the program (its generated code) gives no credentials
        return any(olds.get(k) != news.get(k) for k in ("host", "username", "password"))

    def _detail(self, name: str) -> watch.Detail | None:
        return None  # the list entry is all there is: GET /secrets/{name} refuses these

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        # GET /secrets/{name} refuses image pull secrets: the list says how they are.
        listed = {str(s.get("name")): s for s in client.list_secret_sets()}
        return self._typed(name, listed.get(name))

    def _look(self, client: api.Client, name: str) -> dict[str, Any] | None:
        return self._typed(name, self._listed(client).get(name))

    @staticmethod
    def _typed(name: str, found: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if found is not None and found.get("type") != "imagePullSecret":
            raise SecretSetError(f"{name} is a secret set, not an image pull secret")
        return dict(found) if found is not None else None

    def _values(self, props: Mapping[str, Any]) -> list[str]:
        username, password = props.get("username"), props.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return []
        return [password, f"{username}:{password}", pull_credentials(username, password)]

    def _put(self, client: api.Client, props: dict[str, Any]) -> None:
        credentials = pull_credentials(props["username"], props["password"])
        client.put_image_pull_secret(props["setName"], props["host"], credentials, props["region"])


# -- resources --------------------------------------------------------------------------------


def derived(kind: str, revision: bool = True, reads_file: bool = True) -> Derive:
    """What a door adds to a set's checked inputs: the secrets of its `secretsFile`
    (`reads_file`: the Python door reads it in the constructor, to name it as Python does),
    the key names a secret set declares, no status yet, and (`revision`) the digest of its
    values once they are known, which the Python door computes as an Output instead
    (SetResource)."""

    def derive(
        args: dict[str, Any], declared: Mapping[str, Any], progress: Any
    ) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
        if kind == "secret" and reads_file:
            args, problem = with_file(args, SCHEMA)
            if problem:
                return args, [("", problem)], []
        found = {**args, "status": None}
        if kind == "secret":
            given = args.get("secrets")
            found["keys"] = sorted(given) if isinstance(given, Mapping) else None
        name, given = args.get("setName"), args.get("secrets")
        known = isinstance(name, str) and (kind != "secret" or isinstance(given, Mapping))
        held = values(kind, args) if known else {}
        if revision and known and not any(v == UNKNOWN for v in held.values()):
            found["revision"] = revision_digest(kind, str(name), held)
        return found, [], []

    return derive


_REGION = 'default: config `pipecat:region`, else "us-west".'
_READY = "seconds to wait for the {} to be provisioned (default 300)."


class SecretSetArgs(TypedDict, total=False):
    """The inputs of a SecretSet, by their Python names (pcc_provider.description)."""

    set_name: Required[
        Annotated[
            str,
            Field(
                "the set's name in Pipecat Cloud (3-63 lowercase letters, digits, hyphens).",
                replaces=True,
                check=set_name_problem,
            ),
        ]
    ]
    secrets: Annotated[
        Mapping[str, pulumi.Input[str]],
        Field(
            "KEY -> value. Every value is kept a Pulumi secret, plain ones too. Give this or "
            "`secrets_file`.",
            secret=True,
            check=_secrets_problem,
        ),
    ]
    region: Annotated[
        str | None,
        Field(
            f"{_REGION} Agents that bind the set must be in the same region.",
            replaces=True,
            check=region_problem,
        ),
    ]
    ready_timeout: Annotated[
        float,
        Field(
            _READY.format("set"),
            default=DEFAULT_READY_TIMEOUT,
            check=positive_seconds("readyTimeout"),
        ),
    ]
    adopt_existing: Annotated[
        bool,
        Field(
            "take over a set of this name that already exists and that this stack did not "
            "create (made by `pcc secrets set`, say): its values are replaced by these, keys "
            "not declared are removed, and `pulumi destroy` deletes it. Off by default: such "
            "a set fails the create, and is left as it is.",
            default=False,
            check=flag("adoptExisting"),
        ),
    ]
    secrets_file: Annotated[
        str | None,
        Field(
            "a dotenv file of `KEY=value` lines, relative to the program, read as `pcc "
            "secrets set --file` reads it: the set's secrets, instead of `secrets`. Its values "
            "are Pulumi secrets from the first read; an edit shows as the keys it changes.",
            check=_text("secretsFile"),
        ),
    ]


_CREDENTIALS = (
    "sent as base64 of `username:password`, as `pcc secrets image-pull-secret` does; the "
    "password is kept a Pulumi secret."
)


class ImagePullSecretArgs(TypedDict, total=False):
    """The inputs of an ImagePullSecret, by their Python names (pcc_provider.description)."""

    set_name: Required[
        Annotated[
            str,
            Field(
                "the name agents give as `image_pull_secret_set`.",
                replaces=True,
                check=set_name_problem,
            ),
        ]
    ]
    host: Required[
        Annotated[
            pulumi.Input[str],
            Field('the registry, https:// only (e.g. "https://ghcr.io").', check=host_problem),
        ]
    ]
    username: Required[Annotated[pulumi.Input[str], Field(_CREDENTIALS, check=_text("username"))]]
    password: Required[
        Annotated[pulumi.Input[str], Field(_CREDENTIALS, secret=True, check=_text("password"))]
    ]
    region: Annotated[str | None, Field(_REGION, replaces=True, check=region_problem)]
    ready_timeout: Annotated[
        float,
        Field(
            _READY.format("secret"),
            default=DEFAULT_READY_TIMEOUT,
            check=positive_seconds("readyTimeout"),
        ),
    ]
    adopt_existing: Annotated[
        bool,
        Field(
            "take over an image pull secret of this name that this stack did not create: its "
            "credentials are replaced and `pulumi destroy` deletes it.",
            default=False,
            check=flag("adoptExisting"),
        ),
    ]


class SetResource(PipecatResource):
    """A set in the Python door. Its state has the schema's names, as the native door's: the
    SDK would translate the keys inside `secrets` along with the property names, so the
    inputs go as they are, and the outputs the class declares are also given their Python
    names (`set_name`)."""

    kind: ClassVar[str]  # what its revision digests: "secret" or "imagePullSecret"
    revision: pulumi.Output[str]

    def translate_output_property(self, prop: str) -> str:
        # The state of an earlier version, in Python's names, resolves the same outputs.
        return camel(prop) if prop in LEGACY_NAMES else prop

    def _register(
        self,
        resource_name: str,
        provider: SetProvider,
        args: dict[str, Any],
        opts: pulumi.ResourceOptions | None,
    ) -> None:
        super().__init__(provider, resource_name, args, opts)
        for f in description_of(type(self)).outputs:
            setattr(self, f.python, getattr(self, f.name, None))
        held = values(self.kind, args)
        digest: pulumi.Output[str] = pulumi.Output.all(**held).apply(
            lambda v: revision_digest(self.kind, args["setName"], v)
        )
        # Through the URN: known at preview, resolved only once the set's step is done.
        self.revision = pulumi.Output.secret(
            pulumi.Output.all(self.urn, digest).apply(lambda pair: pair[1])
        )
        declared = Declared(self.kind, args["region"], self.revision)
        try:
            _program().declare(args["setName"], resource_name, declared, PYTHON)
        except SecretSetError as exc:
            raise pulumi.RunError(f"{resource_name!r}: {exc}") from None


class SecretSet(SetResource, module="pipecat", name="SecretSet"):
    """A Pipecat Cloud secret set: environment variables for the agents that bind it."""

    kind = "secret"
    set_name: Annotated[pulumi.Output[str], "The secret set's name in Pipecat Cloud."]
    region: Annotated[pulumi.Output[str], "The region of the set."]
    status: Annotated[pulumi.Output[str], "The set's status as the service reports it."]
    keys: Annotated[
        pulumi.Output[list[str]],
        Field("The key names the service reports, never values.", computed=True),
    ]
    revision: Annotated[
        pulumi.Output[str],
        Field(
            "A secret digest of the values: changes exactly when a value or key changes.",
            secret=True,
            computed=True,
        ),
    ]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[SecretSetArgs],
    ) -> None:
        refuse_import("SecretSet", resource_name, opts)
        given: dict[str, Any] = dict(args)
        path = given.get("secrets_file")
        if isinstance(path, pulumi.Output):
            raise pulumi.RunError(
                f"SecretSet {resource_name!r}: secrets_file must be a path known in the "
                "program, not an Output: its keys are plain, and agents rely on them"
            )
        if path is not None:
            # Read here, in the program: the values become Pulumi secrets below, before the
            # engine or a diff sees them.
            read, problem = with_file({camel(k): v for k, v in given.items()}, PYTHON)
            if problem:
                raise pulumi.RunError(f"SecretSet {resource_name!r}: {problem}")
            given["secrets"] = read.get("secrets")
        secrets = given.get("secrets")
        if secrets is not None and (
            isinstance(secrets, pulumi.Output) or not isinstance(secrets, Mapping)
        ):
            # The keys must be known in the program: they are plain, and agents rely on them.
            raise pulumi.RunError(
                f"SecretSet {resource_name!r}: secrets must be a dict of KEY: value (values "
                f"may be secrets), not {type(secrets).__name__}: e.g. "
                '{"OPENAI_API_KEY": cfg.require_secret("openaiKey")}'
            )
        props, _, _ = derived("secret", revision=False, reads_file=False)(
            checked("SecretSet", resource_name, SECRET_SET, given), {}, None
        )
        props["secrets"] = {k: pulumi.Output.secret(v) for k, v in (secrets or {}).items()}
        self._register(resource_name, SecretSetProvider(), props, opts)

    @classmethod
    def from_dotenv(
        cls,
        resource_name: str,
        path: str | os.PathLike[str],
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[SecretSetArgs],
    ) -> SecretSet:
        """A set of the `KEY=value` lines of the dotenv file at `path` (relative to the
        program), read as `pcc secrets set NAME --file PATH` reads it: `secrets_file=path`.
        The other keywords are SecretSet's (`set_name`, `region`, ...)."""
        given: dict[str, Any] = {**args, "secrets_file": os.fspath(path)}
        return cls(resource_name, opts=opts, **given)


class ImagePullSecret(SetResource, module="pipecat", name="ImagePullSecret"):
    """Credentials Pipecat Cloud uses to pull an agent's image from a private registry."""

    kind = "imagePullSecret"
    set_name: Annotated[pulumi.Output[str], "The image pull secret's name in Pipecat Cloud."]
    region: Annotated[pulumi.Output[str], "The region of the secret."]
    host: Annotated[pulumi.Output[str], "The registry it logs in to."]
    username: Annotated[pulumi.Output[str], "The registry user name."]
    status: Annotated[pulumi.Output[str], "The secret's status as the service reports it."]
    revision: Annotated[
        pulumi.Output[str],
        Field("A secret digest of host and credentials.", secret=True, computed=True),
    ]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[ImagePullSecretArgs],
    ) -> None:
        refuse_import("ImagePullSecret", resource_name, opts)
        props, _, _ = derived("imagePullSecret", revision=False)(
            checked("ImagePullSecret", resource_name, IMAGE_PULL_SECRET, args), {}, None
        )
        props["password"] = pulumi.Output.secret(props["password"])
        self._register(resource_name, ImagePullSecretProvider(), props, opts)


SECRET_SET: Description = describe(
    "SecretSet",
    SecretSetArgs,
    SecretSet,
    provider=SecretSetProvider,
    derive=derived("secret"),
    rules=_set_rules,
    declares="secret",
    legacy=LEGACY_NAMES,
    imported=("keys",),
    example={
        "python": """\
from pcc_provider import SecretSet

cfg = pulumi.Config()
creds = SecretSet("creds", set_name="bot-secrets",
                  secrets={"OPENAI_API_KEY": cfg.require_secret("openaiKey")})""",
        "yaml": """\
config:
  openaiKey: {type: string, secret: true}
resources:
  creds:
    type: pipecat:index:SecretSet
    properties:
      setName: bot-secrets
      secrets: {OPENAI_API_KEY: "${openaiKey}"}""",
        "typescript": """\
const config = new pulumi.Config();
const creds = new pipecat.SecretSet("creds", {
    setName: "bot-secrets",
    secrets: { OPENAI_API_KEY: config.requireSecret("openaiKey") },
});""",
    },
)
IMAGE_PULL_SECRET: Description = describe(
    "ImagePullSecret",
    ImagePullSecretArgs,
    ImagePullSecret,
    provider=ImagePullSecretProvider,
    derive=derived("imagePullSecret"),
    declares="imagePullSecret",
    legacy=LEGACY_NAMES,
    example={
        "python": """\
from pcc_provider import ImagePullSecret

registry = ImagePullSecret("registry", set_name="ghcr", host="https://ghcr.io",
                           username="bot", password=cfg.require_secret("ghcrToken"))""",
        "yaml": """\
resources:
  registry:
    type: pipecat:index:ImagePullSecret
    properties:
      setName: ghcr
      host: https://ghcr.io
      username: bot
      password: ${ghcrToken}""",
        "typescript": """\
const registry = new pipecat.ImagePullSecret("registry", {
    setName: "ghcr",
    host: "https://ghcr.io",
    username: "bot",
    password: config.requireSecret("ghcrToken"),
});""",
    },
)
present(SecretSet, "SECRET_SET")
present(ImagePullSecret, "IMAGE_PULL_SECRET")
