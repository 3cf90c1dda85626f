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
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    UpdateResult,
)
from pulumi.runtime.rpc import UNKNOWN
from pulumi.runtime.settings import get_monitor

from pcc_provider import api, cancel, ownership, recovery, watch
from pcc_provider.errors import PipecatError
from pcc_provider.resource import (
    OwnedObjectProvider,
    Patience,
    PipecatResource,
    Progress,
    StillThere,
    poll,
    refuse_import,
    region_for,
    region_problem,
    settings_problem,
)

# The API's rule for set names (the /secrets path parameter), and the official CLI's for keys.
SET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
SECRET_KEY_MAX = 64
DEFAULT_READY_TIMEOUT = 5 * 60
REPLACE_ON = ("set_name", "region")


class SecretSetError(PipecatError):
    """A refused or failed secret set; str() is for the user and never holds a value."""


class ProvisioningFailed(SecretSetError):
    """The service says the set failed, it vanished, or it stayed pending past the timeout:
    a set this call created is deleted again."""


# -- checks ----------------------------------------------------------------------------------


def set_name_problem(name: Any) -> str | None:
    if isinstance(name, str) and 3 <= len(name) <= 63 and SET_NAME.fullmatch(name):
        return None
    return (
        f"set_name {name!r} is not a valid secret set name: use 3 to 63 lowercase letters, "
        "digits, hyphens and dots, starting and ending with a letter or digit"
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


def host_problem(host: Any) -> str | None:
    parts = urlsplit(host) if isinstance(host, str) else None
    if parts is not None and parts.scheme == "https" and parts.hostname:
        return None
    return (
        f"host {host!r} must be an https:// registry URL, such as https://ghcr.io or "
        "https://index.docker.io/v1/"
    )


def secret_set_problems(given: Mapping[str, Any]) -> list[str]:
    """Everything the API would refuse in a SecretSet's inputs (unknown values are skipped)."""
    found = [
        p
        for p in (set_name_problem(given.get("set_name")), region_problem(given.get("region")))
        if p
    ]
    secrets = given.get("secrets")
    if secrets == UNKNOWN:
        return found
    if not isinstance(secrets, Mapping) or not secrets:
        return [*found, "secrets is empty: declare at least one KEY: value"]
    for key, value in secrets.items():
        problem = key_problem(key) or value_problem(key, value)
        if problem:
            found.append(problem)
    return found


def image_pull_problems(given: Mapping[str, Any]) -> list[str]:
    found = [
        set_name_problem(given.get("set_name")),
        region_problem(given.get("region")),
        None if given.get("host") == UNKNOWN else host_problem(given.get("host")),
    ]
    for prop in ("username", "password"):
        value = given.get(prop)
        if value != UNKNOWN and not (isinstance(value, str) and value):
            found.append(f"{prop} must be a non-empty string")
    return [p for p in found if p]


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
    kind: str  # "secret" or "imagePullSecret"
    region: str
    revision: pulumi.Output[str]  # secret; resolves once the set's step is done


# Per run of the program, set name -> the set declared in it, so an Agent that names it finds
# its revision. The runtime connects to a new engine monitor for each run, also when an
# Automation API program runs twice in one process (preview, then up).
_DECLARED: weakref.WeakKeyDictionary[Any, dict[str, Declared]] = weakref.WeakKeyDictionary()
_OUTSIDE_A_RUN: dict[str, Declared] = {}


def _declared() -> dict[str, Declared]:
    run = get_monitor()
    if run is None:
        return _OUTSIDE_A_RUN
    return _DECLARED.setdefault(run, {})


def _declare(resource_name: str, set_name: str, declared: Declared) -> None:
    registry = _declared()
    if set_name in registry:
        raise pulumi.RunError(
            f"{resource_name!r}: secret set {set_name!r} is declared twice in this program: "
            "give each SecretSet and ImagePullSecret its own set_name"
        )
    registry[set_name] = declared


def bindings(
    secret_set: pulumi.Input[str] | None, image_pull_secret_set: pulumi.Input[str] | None
) -> tuple[pulumi.Output[str | None] | None, pulumi.Output[dict[str, str]] | None]:
    """For an Agent: (the revision of the secret set it binds, the regions of the bound sets)
    of the sets declared in this program; both depend on those sets being ready."""
    if secret_set is None and image_pull_secret_set is None:
        return None, None
    registry = _declared()

    def look(names: list[Any]) -> pulumi.Output[list[Any]]:
        found = {n: registry[n] for n in names if isinstance(n, str) and n in registry}
        # Waiting on the revisions waits for the sets' steps: they resolve through the URN.
        ready = pulumi.Output.all(*[d.revision for d in found.values()])
        regions = ready.apply(lambda _: {n: d.region for n, d in found.items()})
        declared = found.get(names[0]) if isinstance(names[0], str) else None
        tracked = declared.revision if declared and declared.kind == "secret" else None
        return pulumi.Output.all(regions, tracked)

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

    what, error, adopt = "secret set", SecretSetError, "adopt_existing"
    watched = watch.SECRET_SETS
    reasons = (SecretSetError,)
    claim = "secretSet"
    named_by, replace_on = "set_name", REPLACE_ON

    # What cannot be read back from Pipecat Cloud: a set brought in by `pulumi import` has
    # none of these in its state, and the program may leave them out (`values_unmanaged`).
    unreadable: ClassVar[tuple[str, ...]] = ("secrets",)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        if self.values_unmanaged(olds, news):
            return CheckResult(news, [])
        # No property named: the engine would print the property's value beside the reason.
        failures = [CheckFailure("", reason) for reason in self._problems(news)]
        return CheckResult(news if failures else self._stamped(olds, news), failures)

    def _claim_facts(self, name: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        # A set's claim proves something only if no set of the name existed when it was made
        # (ownership.claim): asked now, just before the engine creates it.
        if self.config is None:
            return None  # not configured by an engine: no one to ask
        try:
            with self._client() as client:
                free = self._find(client, name) is None
        except (api.ApiError, SecretSetError):
            free = False
        return {"keys": self._declared_keys(inputs), "free": free}

    def values_unmanaged(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
        """An imported set (the state holds no values) whose program declares none either
        (`secrets: {}`, as `pulumi import` writes it): its values are left as they are in
        Pipecat Cloud. Once the program declares them, the next `up` sets them all."""
        return (
            bool(olds.get("set_name"))
            and olds.get("set_name") == news.get("set_name")
            and all(not olds.get(k) and not news.get(k) for k in self.unreadable)
        )

    def _problems(self, given: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # The engine diffs what its state holds: the create's claim is settled (ownership.py).
        self._settled(olds, olds.get("set_name") or _id)
        replaces = [k for k in REPLACE_ON if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(replaces) or self._changed(olds, news),
            replaces=replaces,
            # Names are unique: a set moving region must go first; a renamed one need not.
            delete_before_replace="set_name" not in replaces,
        )

    def _changed(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _remove(self, client: api.Client, name: str) -> None:
        client.delete_secret_set(name)

    def _timeout(self, props: Mapping[str, Any]) -> float:
        return float(props.get("ready_timeout") or DEFAULT_READY_TIMEOUT)

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
        name, urn = props["set_name"], props.get("__urn") or ""
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
                f"did not create it: choose another set_name, or delete it (`pcc secrets delete "
                f"{name}`) and run `pulumi up` again"
            )
        if not props.get("adopt_existing"):
            how = ""
            if keys is not None and keys != declared:
                how = f" (it has the keys {', '.join(keys) or 'none'}; this program declares "
                how += f"{', '.join(declared)})"
            elif keys is not None:
                how = " (with the same keys)"
            raise SecretSetError(
                f"it already exists in Pipecat Cloud and this stack did not create it{how}: "
                "pass adopt_existing=True to take it over (its values are replaced by the "
                "declared ones and `pulumi destroy` deletes it), choose another set_name, or "
                f"delete it (`pcc secrets delete {name}`)"
                + (f"; {recovery.advice(urn)}" if urn else "")
            )
        extra = sorted(set(keys or []) - set(declared))
        progress.warn(
            f"{self.what} {name} already exists: adopt_existing=True takes it over, sets the "
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
        name, progress = props["set_name"], self._progress(props)
        urn = props.get("__urn") or ""
        with self._client(progress=progress) as client:
            with self.reported(name, props):
                cancel.check(f"creating {self.what} {name}")
                found = self._find(client, name)
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
        if "set_name" not in props:
            # `pulumi import` (native provider): name, region and key names; the values
            # cannot be read back, so the state holds none (`values_unmanaged`).
            props = {
                "set_name": name,
                "region": found.get("region"),
                "ready_timeout": DEFAULT_READY_TIMEOUT,
                "adopt_existing": False,
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
        name = props["set_name"]
        timeout = self._timeout(props)
        patience = Patience(self.timings)
        pending: dict[str, Any] = {"status": "pending"}
        latest: list[dict[str, Any] | None] = [pending]
        with watch.Lookout.waiting(
            self.watched, client, name, self._detail(name), pending, self.timings.poll_interval
        ) as (lookout, waiter):
            seen = watch.fetcher(lookout, waiter)

            def fetch() -> dict[str, Any]:
                latest[0] = patience.call(seen, latest[0])
                if latest[0] is None:
                    raise ProvisioningFailed("it disappeared while being provisioned")
                return latest[0]

            found = poll(
                pending,
                fetch,
                lambda s: s.get("status") != "pending",
                timeout=timeout,
                describe=lambda _, took: f"provisioning {self.what} {name} ({took:.0f}s)",
                expired=lambda _: ProvisioningFailed(
                    f"still pending after {timeout:g}s (ready_timeout)"
                ),
                progress=progress,
                timings=self.timings,
                interval=0,  # the lookout paces the looks
                answered=lambda: lookout.last_answer,
                rate_limited=client.pause.describe,
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
    def _problems(self, given: Mapping[str, Any]) -> list[str]:
        return secret_set_problems(given)

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
        client.put_secret_set(props["set_name"], props["secrets"], props["region"])

    def _after_put(self, client: api.Client, olds: dict[str, Any], news: dict[str, Any]) -> None:
        had = set(olds.get("keys") or []) | set(olds.get("secrets") or {})
        for key in sorted(had - set(news["secrets"])):
            with contextlib.suppress(api.NotFound):  # already gone
                client.delete_secret(news["set_name"], key)

    def _outputs(self, props: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
        outs = super()._outputs(props, found)
        keys = self._keys(found) or []
        outs["keys"] = keys
        # Values cannot be read back: the state keeps the declared ones of the keys that exist.
        if props.get("secrets") is not None:
            outs["secrets"] = {k: v for k, v in props["secrets"].items() if k in keys}
        return outs


class ImagePullSecretProvider(SetProvider):
    what = "image pull secret"
    claim = "imagePullSecret"
    unreadable = ("host", "username", "password")

    def _problems(self, given: Mapping[str, Any]) -> list[str]:
        return image_pull_problems(given)

    def _changed(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        return any(olds.get(k) != news.get(k) for k in ("host", "username", "password"))

    def _detail(self, name: str) -> watch.Detail | None:
        return None  # the list entry is all there is: GET /secrets/{name} refuses these

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        # GET /secrets/{name} refuses image pull secrets: the list says how they are.
        for found in client.list_secret_sets():
            if found.get("name") == name:
                if found.get("type") != "imagePullSecret":
                    raise SecretSetError(f"{name} is a secret set, not an image pull secret")
                return found
        return None

    def _values(self, props: Mapping[str, Any]) -> list[str]:
        username, password = props.get("username"), props.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return []
        return [password, f"{username}:{password}", pull_credentials(username, password)]

    def _put(self, client: api.Client, props: dict[str, Any]) -> None:
        credentials = pull_credentials(props["username"], props["password"])
        client.put_image_pull_secret(props["set_name"], props["host"], credentials, props["region"])


# -- resources --------------------------------------------------------------------------------


def _fail_early(kind: str, resource_name: str, found: list[str]) -> None:
    complaint = settings_problem(pulumi.Config("pipecat"))
    if complaint:
        found.append(complaint)
    if found:
        raise pulumi.RunError(f"{kind} {resource_name!r}: {found[0]}")


class SecretSet(PipecatResource, module="pipecat", name="SecretSet"):
    """A Pipecat Cloud secret set: environment variables for the agents that bind it.

    :param set_name: the set's name in Pipecat Cloud (3-63 lowercase letters, digits, hyphens).
    :param secrets: KEY -> value. Every value is kept a Pulumi secret, plain ones too.
    :param region: default: config `pipecat:region`, else "us-west". Agents that bind the
        set must be in the same region.
    :param ready_timeout: seconds to wait for the set to be provisioned (default 300).
    :param adopt_existing: take over a set of this name that already exists and that this
        stack did not create (made by `pcc secrets set`, say): its values are replaced by
        these, keys not declared are removed, and `pulumi destroy` deletes it. Off by
        default: such a set fails the create, and is left as it is.

    Property names here are the Python ones in the state too: the SDK would otherwise
    camel-case the secret keys along with the property names.
    """

    set_name: Annotated[pulumi.Output[str], "The secret set's name in Pipecat Cloud."]
    region: Annotated[pulumi.Output[str], "The region of the set."]
    status: Annotated[pulumi.Output[str], "The set's status as the service reports it."]
    keys: Annotated[pulumi.Output[list[str]], "The key names the service reports, never values."]
    revision: Annotated[
        pulumi.Output[str],
        "A secret digest of the values: changes exactly when a value or key changes.",
    ]

    def __init__(
        self,
        resource_name: str,
        *,
        set_name: str,
        secrets: Mapping[str, pulumi.Input[str]],
        region: str | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        adopt_existing: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        refuse_import("SecretSet", resource_name, opts)
        region = region_for(region)
        if isinstance(secrets, pulumi.Output) or not isinstance(secrets, Mapping):
            # The keys must be known in the program: they are plain, and agents rely on them.
            raise pulumi.RunError(
                f"SecretSet {resource_name!r}: secrets must be a dict of KEY: value (values "
                f"may be secrets), not {type(secrets).__name__}: e.g. "
                '{"OPENAI_API_KEY": cfg.require_secret("openaiKey")}'
            )
        given = {k: UNKNOWN if isinstance(v, pulumi.Output) else v for k, v in secrets.items()}
        found = secret_set_problems({"set_name": set_name, "region": region, "secrets": given})
        if not ready_timeout > 0:
            found.append("ready_timeout must be a positive number of seconds")
        if not isinstance(adopt_existing, bool):
            found.append("adopt_existing must be True or False")
        _fail_early("SecretSet", resource_name, found)
        values = {k: pulumi.Output.secret(v) for k, v in secrets.items()}
        props: dict[str, Any] = {
            "set_name": set_name,
            "region": region,
            "secrets": values,
            "keys": sorted(values),
            "status": None,
            "ready_timeout": ready_timeout,
            "adopt_existing": adopt_existing,
        }
        super().__init__(SecretSetProvider(), resource_name, props, opts)
        digest: pulumi.Output[str] = pulumi.Output.all(**values).apply(
            lambda v: revision_digest("secret", set_name, v)
        )
        # Through the URN: known at preview, resolved only once the set's step is done.
        self.revision = pulumi.Output.secret(
            pulumi.Output.all(self.urn, digest).apply(lambda pair: pair[1])
        )
        _declare(resource_name, set_name, Declared("secret", region, self.revision))


class ImagePullSecret(PipecatResource, module="pipecat", name="ImagePullSecret"):
    """Credentials Pipecat Cloud uses to pull an agent's image from a private registry.

    :param set_name: the name agents give as `image_pull_secret_set`.
    :param host: the registry, https:// only (e.g. "https://ghcr.io").
    :param username, password: sent as base64 of `username:password`, as `pcc secrets
        image-pull-secret` does; the password is kept a Pulumi secret.
    :param region: default: config `pipecat:region`, else "us-west".
    :param ready_timeout: seconds to wait for the secret to be provisioned (default 300).
    :param adopt_existing: take over an image pull secret of this name that this stack did
        not create: its credentials are replaced and `pulumi destroy` deletes it.
    """

    set_name: Annotated[pulumi.Output[str], "The image pull secret's name in Pipecat Cloud."]
    region: Annotated[pulumi.Output[str], "The region of the secret."]
    host: Annotated[pulumi.Output[str], "The registry it logs in to."]
    username: Annotated[pulumi.Output[str], "The registry user name."]
    status: Annotated[pulumi.Output[str], "The secret's status as the service reports it."]
    revision: Annotated[pulumi.Output[str], "A secret digest of host and credentials."]

    def __init__(
        self,
        resource_name: str,
        *,
        set_name: str,
        host: pulumi.Input[str],
        username: pulumi.Input[str],
        password: pulumi.Input[str],
        region: str | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        adopt_existing: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        refuse_import("ImagePullSecret", resource_name, opts)
        region = region_for(region)
        given = {
            "set_name": set_name,
            "region": region,
            "host": host,
            "username": username,
            "password": password,
        }
        found = image_pull_problems(
            {k: UNKNOWN if isinstance(v, pulumi.Output) else v for k, v in given.items()}
        )
        if not ready_timeout > 0:
            found.append("ready_timeout must be a positive number of seconds")
        if not isinstance(adopt_existing, bool):
            found.append("adopt_existing must be True or False")
        _fail_early("ImagePullSecret", resource_name, found)
        props: dict[str, Any] = {
            **given,
            "password": pulumi.Output.secret(password),
            "status": None,
            "ready_timeout": ready_timeout,
            "adopt_existing": adopt_existing,
        }
        super().__init__(ImagePullSecretProvider(), resource_name, props, opts)
        digest: pulumi.Output[str] = pulumi.Output.all(host, username, props["password"]).apply(
            lambda v: revision_digest(
                "imagePullSecret",
                set_name,
                dict(zip(("host", "username", "password"), v, strict=True)),
            )
        )
        self.revision = pulumi.Output.secret(
            pulumi.Output.all(self.urn, digest).apply(lambda pair: pair[1])
        )
        _declare(resource_name, set_name, Declared("imagePullSecret", region, self.revision))
