"""The OrganizationDefaults resource: the organization's properties (its default region), as
`pcc organizations default-region` and `pcc organizations properties set` set them.

    OrganizationDefaults("defaults", default_region="eu-central")

Each input is one property of GET/PATCH /properties (the public API's; pcc calls the same
under /organizations/{org}). The organization has one set of properties, so one resource may
declare them: a second one, in this program or in another stack on this machine, is refused
(ownership.hold). Create records what each property was before it set it (`previous`);
destroy puts those back, for the properties that still hold what this resource set, and
leaves the others as they are.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Annotated, Any, Required, TypedDict, Unpack

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, UpdateResult
from pulumi.runtime.settings import get_monitor

from pcc_provider import api, ownership
from pcc_provider.description import Description, Door, describe, present
from pcc_provider.description import Field as Described
from pcc_provider.errors import PipecatError
from pcc_provider.organization_objects import OrganizationObjectProvider, organization_of
from pcc_provider.resource import (
    ApiResource,
    checked,
    refuse_import,
)

HOLD = "organizationDefaults"


class OrganizationDefaultsError(PipecatError):
    """A refused or failed change of the organization's properties; str() is for the user."""


class OrganizationDefaultsArgs(TypedDict, total=False):
    """The inputs of OrganizationDefaults, by their Python names: each one a property of
    /properties, by the same (schema) name."""

    default_region: Required[
        Annotated[
            str,
            Described(
                "the region of agents and builds a request names none for (`pcc deploy` "
                "without --region): one of `pcc regions list`.",
                check=_region,
            ),
        ]
    ]


def _region(value: Any, door: Door) -> str | None:
    ok = isinstance(value, str) and value.strip()
    return None if ok else f'{door["defaultRegion"]} must be a region, such as "us-west"'


def twice(resource: str) -> str:
    return (
        f"the organization's defaults are already declared by {resource}: an organization "
        "has one set of properties, so declare one OrganizationDefaults and set every "
        "property there"
    )


# The resources of this run that declare the defaults: the Python door's program (by run,
# as secrets._PROGRAMS), the native door's plugin process (which serves one run), by the
# stack and project its URNs name.
_DECLARED: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_NATIVE_DECLARED: dict[str, str] = {}


def _declared_in_native(
    args: dict[str, Any], declared: Mapping[str, Any], progress: Any
) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
    """The native door's check: a second resource of the program is refused."""
    urn = getattr(progress, "urn", "") or ""
    program = urn.rsplit("::", 2)[0]  # urn:pulumi:STACK::PROJECT: the program's resources
    first = _NATIVE_DECLARED.setdefault(program, urn)
    if urn and first != urn:
        return args, [("", twice(repr(first.split("::")[-1])))], []
    return args, [], []


class OrganizationDefaultsProvider(OrganizationObjectProvider):
    what, error, adopt, claim = "organization defaults", OrganizationDefaultsError, "", HOLD
    reasons = (OrganizationDefaultsError,)
    named_by = "organization"

    @property
    def properties(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.description.inputs)

    def _scope(self, client: api.Client) -> str:
        return f"{client.api_url}\0{client.organization()}"

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        organization_of(client, name, OrganizationDefaultsError)
        return client.get_properties()

    def _stranger(self, state: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
        return None

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in self.properties))

    def create(self, props: dict[str, Any]) -> CreateResult:
        progress, urn = self._progress(props), props.get("__urn") or ""
        with self._client(progress=progress) as client:
            organization = client.organization()
            with self.reported(organization, props):
                scope = self._scope(client)
                held = ownership.holding(HOLD, scope)
                if held is not None and held.urn != urn:
                    raise OrganizationDefaultsError(twice(_stack_of(held.urn)))
                found = client.get_properties()
                # Taken before the change, with what was there: an interrupted `up` of this
                # resource finds its own hold, and what was there before that.
                before = ownership.hold(
                    urn, HOLD, scope, {k: found.get(k) for k in self.properties}
                )
                client.update_properties({k: props[k] for k in self.properties})
        previous = {k: v for k, v in before.before.items() if v is not None}
        return CreateResult(organization, self._outputs(props, organization, previous))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        progress = self._progress(news, olds)
        with self.reported(id_, news, olds), self._client(progress=progress) as client:
            found = self._ensure_ours(client, id_, olds, news) or {}
            previous = dict(olds.get("previous") or {})
            for k in self.properties:
                # A property set only now: what it was before is what destroy puts back.
                if olds.get(k) is None and found.get(k) is not None:
                    previous[k] = found[k]
            client.update_properties(
                {k: news[k] for k in self.properties if news.get(k) is not None}
            )
        return UpdateResult(self._outputs(news, id_, previous))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        progress = self._progress(props)
        with self.reported(id_, props), self._client(True, progress) as client:
            found = self._find(client, id_) or {}
            previous = props.get("previous") or {}
            # Only what still holds this resource's value: a change made since is someone's.
            restored = {
                k: v
                for k, v in previous.items()
                if k in self.properties and found.get(k) == props.get(k)
            }
            if restored:
                client.update_properties(restored)
                shown = ", ".join(f"{k} {v}" for k, v in sorted(restored.items()))
                progress.info(f"the organization's {shown} is put back")
            ownership.let_go(props.get("__urn") or "", HOLD, self._scope(client))

    def _observed(
        self, name: str, props: dict[str, Any], found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        inputs = {k: found.get(k) for k in self.properties}
        # Imported: it set nothing, so destroy puts nothing back.
        previous = props.get("previous") or {}
        return self._outputs({**props, **inputs}, name, previous), inputs

    @staticmethod
    def _outputs(
        props: Mapping[str, Any], organization: str, previous: Mapping[str, Any]
    ) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if k != ownership.STAMP}
        outs.update(organization=organization, previous=dict(previous))
        return outs


def _stack_of(urn: str) -> str:
    """urn:pulumi:STACK::PROJECT::TYPE::NAME -> 'NAME of stack PROJECT/STACK'."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "another resource"
    stack = parts[0].rsplit(":", 1)[-1]
    return f"{parts[-1]!r} of stack {parts[1]}/{stack}"


class OrganizationDefaults(ApiResource, module="pipecat", name="OrganizationDefaults"):
    """The organization's defaults (its default region), as `pcc organizations default-region`
    sets them. One per organization; destroy puts back what each property was before."""

    organization: Annotated[pulumi.Output[str], "The organization whose defaults they are."]
    previous: Annotated[
        pulumi.Output[dict[str, str]],
        "What each property was before this resource set it: what destroy puts back.",
    ]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[OrganizationDefaultsArgs],
    ) -> None:
        refuse_import("OrganizationDefaults", resource_name, opts)
        props = checked("OrganizationDefaults", resource_name, DESCRIPTION, args)
        run = get_monitor()
        if run is not None:
            first = _DECLARED.setdefault(run, resource_name)
            if first != resource_name:
                raise pulumi.RunError(
                    f"OrganizationDefaults {resource_name!r}: {twice(repr(first))}"
                )
        super().__init__(OrganizationDefaultsProvider(), resource_name, props, opts)


DESCRIPTION: Description = describe(
    "OrganizationDefaults",
    OrganizationDefaultsArgs,
    OrganizationDefaults,
    provider=OrganizationDefaultsProvider,
    derive=_declared_in_native,
    example={
        "python": """\
from pcc_provider import OrganizationDefaults

defaults = OrganizationDefaults("defaults", default_region="eu-central")""",
        "yaml": """\
resources:
  defaults:
    type: pipecat:index:OrganizationDefaults
    properties:
      defaultRegion: eu-central""",
        "typescript": """\
const defaults = new pipecat.OrganizationDefaults("defaults", { defaultRegion: "eu-central" });""",
    },
)
present(OrganizationDefaults)
