"""What the providers of the organization's own objects share (AgentProfile, SpendLimit,
OrganizationDefaults): their check, and the claims of their creates, which name the
organization where an agent's or a set's name a region (ownership.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult

from pcc_provider import api, ownership
from pcc_provider.errors import PipecatError
from pcc_provider.resource import OwnedObjectProvider


class OrganizationObjectProvider(OwnedObjectProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = self.description.problems(news, self.door)
        failures = [CheckFailure(prop, reason) for prop, reason in found]
        return CheckResult(news if failures else self._stamped(olds, news), failures)

    def _claimed_object(self, inputs: dict[str, Any]) -> tuple[str | None, list[str]] | None:
        """(the object's name, None: the organization's; what the claim records of it), or
        None: no claim proves anything for this kind."""
        return None

    def _stamped(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs with the claim a create of them makes (ownership.STAMP), so that
        `recover` can bring it to another machine: asked of Pipecat Cloud just before the
        engine creates (the organization, and whether the name was free), never for an
        object the state holds already."""
        inputs = {k: v for k, v in news.items() if k != ownership.STAMP}
        creating = not olds or any(
            olds.get(k) != inputs.get(k) for k in self.description.replace_on
        )
        claimed = self._claimed_object(inputs)
        if not creating or claimed is None or self.config is None:
            return inputs
        name, keys = claimed
        try:
            with self._client() as client:
                organization = client.organization()
                named = name or organization
                free = self._find(client, named) is None
        except (api.ApiError, PipecatError):
            return inputs  # not reachable now: the create says what is wrong
        inputs[ownership.STAMP] = ownership.stamp(self.claim, named, organization, keys, free)
        return inputs


def organization_of(client: api.Client, name: str, error: type[PipecatError]) -> str:
    """The organization the client acts for, which must be `name` when one is given (an
    import's id)."""
    organization = client.organization()
    if name and name != organization:
        raise error(
            f"this provider is configured for organization {organization}: set "
            f"`pulumi config set pipecat:organization {name}` to manage {name}'s"
        )
    return organization
