"""eventually(): what it returns, and what its failure says."""

from __future__ import annotations

import pytest
from waiting import eventually


def test_it_returns_the_first_value_that_holds() -> None:
    looks = iter(["pending", "building", "success", "never looked at"])
    found = eventually(lambda: next(looks), until=lambda s: s == "success", every=0, what="x")
    assert found == "success"


def test_its_failure_names_what_was_awaited_and_the_last_value_seen() -> None:
    looks = iter(range(1000))
    with pytest.raises(AssertionError) as failed:
        eventually(lambda: next(looks) * 0, timeout=0.1, every=0.01, what="the build to end")
    assert str(failed.value) == "waited 0.1 s for the build to end; last seen: 0"


def test_an_error_in_the_look_ends_the_wait_at_once() -> None:
    def look() -> bool:
        raise AssertionError("the process ended")

    with pytest.raises(AssertionError, match=r"^the process ended$"):
        eventually(look, timeout=60, what="x")
