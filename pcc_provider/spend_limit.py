"""The SpendLimit resource: the organization's spend limit, as `pcc spend-limit set` sets it.

    SpendLimit("limit", amount=50)  # dollars; at most two decimal places

One per organization (its id is the organization's name). Routes (pcc 1.4.0's, under
/organizations/{org}): GET /spend-limit, PUT /spend-limit {limitCents} (null clears it). At
the limit new sessions are refused and running ones go on; pcc's `set` takes only the
amount, so that is all there is to declare. Destroy clears the limit, as `pcc spend-limit
clear` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Required, TypedDict, Unpack

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, UpdateResult

from pcc_provider import api, ownership, recovery
from pcc_provider.description import Description, Door, Field, describe, flag, present
from pcc_provider.errors import PipecatError
from pcc_provider.organization_objects import OrganizationObjectProvider, organization_of
from pcc_provider.resource import (
    ApiResource,
    Progress,
    checked,
    refuse_import,
)

CLAIM = "spendLimit"


class SpendLimitError(PipecatError):
    """A refused or failed spend limit; str() is for the user."""


def cents(amount: Any) -> int | None:
    """The amount in cents, as pcc reads `spend-limit set AMOUNT`; None if it is not a
    non-negative number of dollars with at most two decimal places."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None
    try:
        hundred = Decimal(str(amount)) * 100
    except InvalidOperation:
        return None
    if not hundred.is_finite() or hundred < 0 or hundred != hundred.to_integral_value():
        return None
    return int(hundred)


def dollars(limit_cents: int) -> str:
    return f"${limit_cents / 100:,.2f}"


def _amount(value: Any, door: Door) -> str | None:
    if cents(value) is not None:
        return None
    return (
        f"{door['amount']} must be a number of dollars, zero or more, with at most two "
        f"decimal places (e.g. 50 or 12.34), not {value!r}"
    )


class SpendLimitArgs(TypedDict, total=False):
    """The inputs of a SpendLimit, by their Python names (pcc_provider.description)."""

    amount: Required[
        Annotated[
            float,
            Field(
                "the limit in US dollars, at most two decimal places (0 blocks every new session).",
                check=_amount,
            ),
        ]
    ]
    adopt_existing: Annotated[
        bool,
        Field(
            "take over a limit the organization already has that this stack did not set (with "
            "`pcc spend-limit set`, say): it is set to this amount, and `pulumi destroy` clears "
            "it. Off by default: such a limit fails the create.",
            default=False,
            check=flag("adoptExisting"),
        ),
    ]


class SpendLimitProvider(OrganizationObjectProvider):
    what, error, adopt, claim = "spend limit", SpendLimitError, "adoptExisting", CLAIM
    reasons = (SpendLimitError,)
    named_by = "organization"

    def _find(self, client: api.Client, name: str) -> dict[str, Any] | None:
        organization_of(client, name, SpendLimitError)
        found = client.get_spend_limit()
        return found if found.get("limitCents") is not None else None  # None: no limit

    def _stranger(self, state: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
        return None  # one per organization: what is there is the state's, changed or not

    def _claimed_object(self, inputs: dict[str, Any]) -> tuple[str | None, list[str]] | None:
        wanted = cents(inputs.get("amount"))
        return None if wanted is None else (None, [str(wanted)])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        self._settled(olds, olds.get("organization") or _id)
        return DiffResult(changes=cents(olds.get("amount")) != cents(news.get("amount")))

    def create(self, props: dict[str, Any]) -> CreateResult:
        progress, urn = self._progress(props), props.get("__urn") or ""
        with self._client(progress=progress) as client:
            organization = client.organization()
            with self.reported(organization, props):
                found = self._find(client, organization)
                wanted = cents(props["amount"])
                if found is not None:
                    self._take_over(organization, props, found, progress)
                else:
                    # No limit now: a limit of this amount found after an interrupted `up`
                    # is this create's (ownership.py).
                    ownership.claim(urn, self.claim, organization, organization, [str(wanted)])
                found = client.put_spend_limit(wanted)
        return CreateResult(organization, self._outputs(props, organization, found))

    def _take_over(
        self, organization: str, props: dict[str, Any], found: dict[str, Any], progress: Progress
    ) -> None:
        held, urn = int(found["limitCents"]), props.get("__urn") or ""
        claim = ownership.claimed(urn, self.claim, organization)
        if claim is not None and claim.keys == [str(held)]:
            progress.warn(
                f"the spend limit of {organization} was set by an interrupted `pulumi up` of "
                "this stack"
            )
            return
        if not props.get("adoptExisting"):
            raise SpendLimitError(
                f"the organization already has a limit of {dollars(held)}, which this stack did "
                f"not set: pass {self.door.assign('adoptExisting', True)} to take it over (it "
                "is set to the declared amount and `pulumi destroy` clears it), or clear it "
                "first (`pcc spend-limit clear`); an organization has one limit, declared once"
                + (f"; {recovery.advice(urn)}" if urn else "")
            )
        progress.warn(
            f"the spend limit of {organization} ({dollars(held)}) is taken over: "
            "`pulumi destroy` will clear it"
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        progress = self._progress(news, olds)
        with self.reported(id_, news, olds), self._client(progress=progress) as client:
            self._ensure_ours(client, id_, olds, news)
            found = client.put_spend_limit(cents(news["amount"]))
        return UpdateResult(self._outputs(news, id_, found))

    def _delete(
        self, client: api.Client, name: str, props: Mapping[str, Any], progress: Progress
    ) -> bool:
        client.put_spend_limit(None)  # as `pcc spend-limit clear`
        progress.info(f"the spend limit of {name} is cleared")
        return True

    def _observed(
        self, name: str, props: dict[str, Any], found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        held = int(found["limitCents"])
        amount: float = held / 100
        inputs = {
            "amount": int(amount) if amount.is_integer() else amount,
            "adoptExisting": bool(props.get("adoptExisting", False)),
        }
        return self._outputs({**props, **inputs}, name, found), inputs

    @staticmethod
    def _outputs(
        props: Mapping[str, Any], organization: str, found: Mapping[str, Any]
    ) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if k != ownership.STAMP}
        outs.update(
            organization=organization,
            limitCents=found.get("limitCents"),
            blocked=bool(found.get("blocked")),
        )
        return outs


class SpendLimit(ApiResource, module="pipecat", name="SpendLimit"):
    """The organization's spend limit: at it, new sessions are refused (running ones go on).
    One per organization; destroy clears it, as `pcc spend-limit clear` does."""

    organization: Annotated[pulumi.Output[str], "The organization whose limit it is."]
    limit_cents: Annotated[pulumi.Output[int], "The limit as the service holds it, in cents."]
    blocked: Annotated[
        pulumi.Output[bool], "Whether new sessions were being refused at the last read."
    ]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[SpendLimitArgs],
    ) -> None:
        refuse_import("SpendLimit", resource_name, opts)
        props = checked("SpendLimit", resource_name, DESCRIPTION, args)
        super().__init__(SpendLimitProvider(), resource_name, props, opts)


DESCRIPTION: Description = describe(
    "SpendLimit",
    SpendLimitArgs,
    SpendLimit,
    provider=SpendLimitProvider,
    example={
        "python": """\
from pcc_provider import SpendLimit

limit = SpendLimit("limit", amount=50)""",
        "yaml": """\
resources:
  limit:
    type: pipecat:index:SpendLimit
    properties:
      amount: 50""",
        "typescript": """\
const limit = new pipecat.SpendLimit("limit", { amount: 50 });""",
    },
)
present(SpendLimit)
