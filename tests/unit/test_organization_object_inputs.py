"""Bad input to AgentProfile, SpendLimit and OrganizationDefaults: one line each, naming the
input as the program's door does (Python's keywords, the schema's names for YAML/TS/Go)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pcc_provider.agent_profile import DESCRIPTION as PROFILE
from pcc_provider.description import PYTHON, SCHEMA, Description
from pcc_provider.organization_defaults import DESCRIPTION as DEFAULTS
from pcc_provider.spend_limit import DESCRIPTION as LIMIT
from pcc_provider.spend_limit import cents

SIZED = {"name": "big", "cpu": "2", "memory": "4Gi"}


@pytest.mark.parametrize(
    ("described", "given", "python", "schema"),
    [
        (
            PROFILE,
            {**SIZED, "name": "Big"},
            "name 'Big' is not a valid profile name: use at most 63 lowercase",
            "name 'Big' is not a valid profile name",
        ),
        (PROFILE, {**SIZED, "name": "agent-2x"}, "is a platform profile", "is a platform profile"),
        (
            PROFILE,
            {**SIZED, "cpu": "2 cores"},
            "cpu '2 cores' is not a quantity: write it as Kubernetes does",
            "cpu '2 cores' is not a quantity",
        ),
        (PROFILE, {**SIZED, "displayName": " "}, "display_name must be", "displayName must be"),
        (PROFILE, {"name": "big", "cpu": "2"}, "memory is required", "memory is required"),
        (
            LIMIT,
            {"amount": 12.345},
            "amount must be a number of dollars, zero or more, with at most two decimal places",
            "amount must be a number of dollars",
        ),
        (LIMIT, {"amount": -1}, "amount must be", "amount must be"),
        (LIMIT, {"amount": 5, "adoptExisting": "yes"}, "adopt_existing must be", "adoptExisting"),
        (DEFAULTS, {}, "default_region is required", "defaultRegion is required"),
        (DEFAULTS, {"defaultRegion": ""}, "default_region must be", "defaultRegion must be"),
    ],
)
def test_bad_input_is_one_line_in_the_doors_names(
    described: Description, given: dict[str, Any], python: str, schema: str
) -> None:
    for door, expected in ((PYTHON, python), (SCHEMA, schema)):
        _, failures = described.check(given, door)
        assert len(failures) == 1, failures
        assert expected in failures[0][1], failures


def test_amounts_are_cents_as_pcc_reads_them() -> None:
    assert [cents(a) for a in (50, 12.34, "0.1", 0, 75.5)] == [5000, 1234, 10, 0, 7550]
    assert [cents(a) for a in (12.345, -1, True, None, "x", float("nan"))] == [None] * 6


def test_a_second_declaration_of_the_defaults_is_refused_in_the_native_door() -> None:
    derive = DEFAULTS.derive
    assert derive is not None

    def seen(urn: str) -> list[tuple[str, str]]:
        return derive({"defaultRegion": "us-east"}, {}, SimpleNamespace(urn=urn))[1]

    base = "urn:pulumi:{}::proj::pipecat:index:OrganizationDefaults::{}"
    assert seen(base.format("unit-a", "defaults")) == []
    assert seen(base.format("unit-a", "defaults")) == []  # checked again: the same one
    assert seen(base.format("unit-b", "defaults")) == []  # another stack's program
    (failure,) = seen(base.format("unit-a", "again"))
    assert failure[1].startswith("the organization's defaults are already declared by 'defaults'")
