"""pcc_provider.redaction: a secret is found in a service's words in any form it could be read
back from, and ordinary words are let through."""

from __future__ import annotations

import base64
import html
import json
import shlex
import time
from urllib.parse import quote

import pytest

from pcc_provider import redaction
from pcc_provider.emulator.traffic import ENCODINGS
from pcc_provider.redaction import RUN, WITHHELD, echoes, vetted, withheld

VALUES = [
    "aB3d\"eF5h<iJ7l&kL8m'nO0p'qR1s",  # a special character every four or five
    "sk-9f8eQ7zPwL\nline-two-XK31",
    "pk_test_0123456789abcdef_secret",
    "pässwörd-ünïcode-42",  # non-ASCII: UTF-8 bytes in hex, percent and base64
    "emoji-😀-in-the-middle",  # beyond the BMP: a surrogate pair in \\u escapes
    "hello 4242",  # short, with a space
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_every_form_the_emulator_echoes_is_found(value: str, encoding: str) -> None:
    said = f"Invalid request: {ENCODINGS[encoding](value)} is not allowed [BAD_REQUEST]"
    assert echoes(said, [value]), said


def body(value: str) -> str:
    return json.dumps({"secrets": [{"secretKey": "K", "secretValue": value}], "region": "us"})


def pull_body(username: str, password: str) -> str:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"isImagePullSecret": True, "secretValue": credentials})


COMBINED = {
    "base64 of the request body": lambda v: base64.b64encode(body(v).encode()).decode(),
    "base64 of a pull secret's body": lambda v: base64.b64encode(
        pull_body("robot", v).encode()
    ).decode(),
    "urlsafe base64 without padding": lambda v: (
        base64.urlsafe_b64encode(v.encode()).decode().rstrip("=")
    ),
    "base64 glued to a word": lambda v: "token" + base64.b64encode(v.encode()).decode(),
    "truncated base64": lambda v: base64.b64encode(v.encode()).decode()[:16],
    "hex of the body": lambda v: body(v).encode().hex(),
    "hex with separators": lambda v: ":".join(f"{b:02x}" for b in v.encode()),
    "upper-cased hex": lambda v: v.encode().hex().upper(),
    "\\x escapes": lambda v: "".join(f"\\x{b:02x}" for b in v.encode()),
    "octal escapes": lambda v: "".join(f"\\{b:03o}" for b in v.encode()),
    "html of JSON": lambda v: html.escape(json.dumps(v)),
    "JSON of html": lambda v: json.dumps(html.escape(v)),
    "percent of base64": lambda v: quote(base64.b64encode(v.encode()).decode(), safe=""),
    "JSON twice": lambda v: json.dumps(json.dumps(v)),
    "upper-cased percent": lambda v: quote(v, safe="").upper(),
    "printf %q": lambda v: "".join(c if c.isalnum() else "\\" + c for c in v),
    "shell-quoted in double quotes": lambda v: '"' + v.replace('"', '\\"') + '"',
    "spaced out": lambda v: " ".join(v),
    "zero-width joined": lambda v: "\u200b".join(v),
    "fullwidth": lambda v: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in v),
    "a run of RUN characters": lambda v: "..." + v[3 : 3 + RUN] + "...",
    "shell-quoted and html-escaped": lambda v: html.escape(shlex.quote(v)),
}


@pytest.mark.parametrize("value", VALUES[:4])
@pytest.mark.parametrize("form", list(COMBINED))
def test_forms_nested_or_combined_are_found(value: str, form: str) -> None:
    said = f"refused: {COMBINED[form](value)}"
    assert echoes(said, [value]), said


ORDINARY = [
    "Unauthorized",
    "Secret set 'bot-secrets' not found",
    "Invalid request body: secretValue must be a non-empty string [GENERIC_BAD_REQUEST]",
    "Agent my-agent already exists in region us-west",
    "Build 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b not found [NOT_FOUND]",
    "Rate limit exceeded, retry after 30 seconds",
    "deployment 7c9e6679-7425-40de-944b-e07fc1f90ae7 failed: CrashLoopBackOff (exit code 1)",
    "Image pull secret ghcr could not log in to https://ghcr.io: 401 Unauthorized",
    "Fault injected by the emulator",
]


@pytest.mark.parametrize("said", ORDINARY)
def test_ordinary_words_are_let_through(said: str) -> None:
    assert not echoes(said, VALUES[:4])
    assert vetted(said, VALUES[:4], 400) == said


def test_a_fragment_shorter_than_a_run_is_not_an_echo() -> None:
    value = VALUES[1]
    assert not echoes(f"refused ...{value[3 : 3 + RUN - 1]}...", [value])
    assert echoes(f"refused ...{value[3 : 3 + RUN]}...", [value])


def test_a_short_value_is_looked_for_whole() -> None:
    assert echoes("the value HELLO was refused", ["hello"])
    assert echoes("the value aGVsbG8= was refused", ["hello"])
    assert not echoes("the value was refused", ["hello"])
    assert not echoes("anything", ["   "])  # nothing to find in blanks


def test_words_too_long_or_too_tangled_to_look_through_are_withheld() -> None:
    assert echoes("x" * (redaction.MAX_TEXT + 1), ["a-secret-value"])
    ordinary = " ".join(["Invalid request body for field", *ORDINARY] * 40)
    started = time.monotonic()
    assert not echoes(ordinary[: redaction.MAX_TEXT], VALUES)
    assert time.monotonic() - started < 5


def test_what_is_said_instead_names_what_to_do() -> None:
    assert withheld(400) == f"{WITHHELD}: check this resource's inputs"
    assert withheld(None) == f"{WITHHELD}: check this resource's inputs"
    assert withheld(503) == withheld(429) == f"{WITHHELD}: try again later"
    assert withheld(401) == WITHHELD  # a refused key's message says what to do
    assert vetted(f"bad value {VALUES[0]}", VALUES, 422) == withheld(422)
