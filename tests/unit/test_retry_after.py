"""api.retry_after: a Retry-After header as HTTP reads it (RFC 9110 10.2.3): delay-seconds or
an HTTP-date; anything else is ignored (None), never an error."""

from __future__ import annotations

import email.utils
import time

import pytest

from pcc_provider import api


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0.0), ("5", 5.0), (" 120 ", 120.0), ("3600", 3600.0)]
)
def test_delay_seconds_are_read_uncapped(value: str, seconds: float) -> None:
    assert api.retry_after(value) == seconds


@pytest.mark.parametrize(
    "value",
    [None, "", "-5", "soon", "1e9", "1.5", "+5", "5 s", "٣", "Mon, 99 Foo 2015 07:28:00 GMT"],
)
def test_anything_else_is_ignored(value: str | None) -> None:
    assert api.retry_after(value) is None


def test_an_http_date_is_the_seconds_until_it() -> None:
    later = api.retry_after(email.utils.formatdate(time.time() + 30, usegmt=True))
    assert later is not None and 28 <= later <= 30
    assert api.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # passed: no wait


def test_a_huge_number_is_a_long_wait_not_an_error() -> None:
    assert api.retry_after("9" * 400) == 1e9
