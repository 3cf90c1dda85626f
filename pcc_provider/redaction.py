"""Whether a service's words may be printed: one rule for every error path of both doors.
No Pulumi.

    shown = redaction.vetted(text, secrets, status)  # `text`, or the fixed sentence

Pipecat Cloud, or a proxy or error page in front of it, may quote what it was sent or what it
holds, in any form: verbatim, JSON- or HTML-escaped, percent-encoded, `\\uXXXX`-escaped, hex,
base64 (of a value, or of the whole request body), upper-cased, shell-quoted, truncated.
Hiding the forms one thought of leaves the others readable (a value HTML-escaped by an error
page was printed whole), so the rule is not to hide but to withhold: the service's words
(an API error's message and code, a set's `errorMessage`) are printed only if no secret can
be found in them; otherwise the message keeps what the provider says (the call and its
status) and says `withheld(status)` in their place.

Found means: once the words are decoded, repeatedly and in any order (HTML entities, percent
escapes, backslash escapes: `\\n`, `\\"`, `\\uXXXX`, `\\xXX`, octal; shell quoting; runs of hex
or base64, each decoded run decoded again the same way) and case and Unicode compatibility
forms are folded, a secret appears whole, or RUN characters of it in a row appear (a
truncated or partial echo), also once everything but letters and digits is dropped from both
(quotes spliced in, separators between characters, zero-width characters).

The secrets: the API key (api.Client holds it and vets every error it raises) and a set's
declared values, with an image pull secret's `username:password` and its base64 (the set
providers vet what reaches their errors).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import unquote

# RUN characters of a value in a row count as an echo of it: a truncated or partial echo. At
# eight, letters and digits of an ordinary message run together rarely match eight of a
# value's, and a fragment shorter than that says little about a token of 16 or more.
RUN = 8
WITHHELD = "the service's answer echoed a secret value; not shown"
# Words too long to look through, or decoding into too many forms, are withheld: a rule that
# gave up would let them through.
MAX_TEXT = 20_000
MAX_VIEWS = 20_000
DEPTH = 3  # a decoded run decoded again: base64 of a body that holds a value's base64

_ESCAPE = re.compile(
    r"\\(?:(u\{[0-9a-fA-F]{1,6}\})"  # \u{1F600}
    r"|(u[0-9a-fA-F]{4}(?:\\u[0-9a-fA-F]{4})*)"  # \uXXXX, a run of them (surrogate pairs)
    r"|(U[0-9a-fA-F]{8})"  # \UXXXXXXXX
    r"|((?:x[0-9a-fA-F]{2}|[0-7]{1,3})(?:\\(?:x[0-9a-fA-F]{2}|[0-7]{1,3}))*)"  # bytes
    r"|(.))",  # \n, \", \\, \<: the character (shell and C quoting)
    re.DOTALL,
)
_BYTE = re.compile(r"x([0-9a-fA-F]{2})|([0-7]{1,3})")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a"}
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{6,}={0,2}")
_HEX = re.compile(r"[0-9A-Fa-f]{6,}|[0-9A-Fa-f]{2}(?:[ :-][0-9A-Fa-f]{2}){2,}")
_URLSAFE = str.maketrans("-_", "+/")


def withheld(status: int | None = None) -> str:
    """What a message says in place of the service's words: the fixed sentence, and what to
    do when the rest of the message does not say it (a refused key's does)."""
    if status == 401:
        return WITHHELD
    if status is not None and (status == 429 or status >= 500):
        return f"{WITHHELD}: try again later"
    return f"{WITHHELD}: check this resource's inputs"


def vetted(text: str, secrets: Iterable[str], status: int | None = None) -> str:
    """`text` if it echoes none of `secrets`, else `withheld(status)`."""
    return withheld(status) if echoes(text, secrets) else text


def echoes(text: str, secrets: Iterable[str]) -> bool:
    """Whether any of `secrets` can be found in `text` in any form (see the module's doc)."""
    needles = [_Needle(s) for s in {s for s in secrets if isinstance(s, str) and s.strip()}]
    if not text or not needles:
        return False
    if len(text) > MAX_TEXT:
        return True
    views = _views(text)
    if views is None:
        return True
    return any(needle.in_view(folded, skeleton) for folded, skeleton in views for needle in needles)


class _Needle:
    """A secret as it is looked for: whole, and by its runs, folded and as a skeleton."""

    def __init__(self, secret: str) -> None:
        forms = {_fold(secret), _fold(_unescaped(secret)[-1])}
        self.whole = forms
        self.runs = {f[i : i + RUN] for f in forms for i in range(len(f) - RUN + 1)}
        skeletons = {_skeleton(f) for f in forms}
        self.skeleton_runs = {s[i : i + RUN] for s in skeletons for i in range(len(s) - RUN + 1)}

    def in_view(self, folded: str, skeleton: str) -> bool:
        return (
            any(form in folded for form in self.whole)
            or _has_run(folded, self.runs)
            or _has_run(skeleton, self.skeleton_runs)
        )


def _has_run(text: str, runs: set[str]) -> bool:
    return bool(runs) and any(text[i : i + RUN] in runs for i in range(len(text) - RUN + 1))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _skeleton(folded: str) -> str:
    return "".join(c for c in folded if c.isalnum())


def _views(text: str) -> list[tuple[str, str]] | None:
    """Every form `text` decodes into (itself included), folded and as skeletons; None when
    there are more than MAX_VIEWS."""
    seen: set[str] = set()
    todo = [(text, 0)]
    while todo:
        view, depth = todo.pop()
        for form in (view, *_unescaped(view)):
            if form in seen:
                continue
            seen.add(form)
            if len(seen) > MAX_VIEWS:
                return None
            if depth < DEPTH:
                todo.extend((run, depth + 1) for run in _decoded_runs(form))
    folded = [_fold(v) for v in seen]
    return [(f, _skeleton(f)) for f in folded]


def _unescaped(text: str) -> list[str]:
    """`text` after each round of unescaping, until a round changes nothing."""
    rounds: list[str] = []
    for _ in range(8):
        before = text
        text = html.unescape(text)
        text = unquote(text, errors="replace")
        # Shell quoting: a quote inside single quotes is spliced in as '"'"' or '\''.
        text = text.replace("'\"'\"'", "'").replace("'\\''", "'")
        text = _ESCAPE.sub(_unescape_one, text)
        if text == before:
            break
        rounds.append(text)
    return rounds or [text]


def _unescape_one(match: re.Match[str]) -> str:
    braced, units, wide, octets, char = match.groups()
    if braced or wide:
        code = int((braced or wide)[1:].strip("{}"), 16)
        return chr(code) if code <= 0x10FFFF else match.group(0)
    if units:
        codes = [int(unit.lstrip("u"), 16) for unit in units.split("\\")]
        raw = b"".join(code.to_bytes(2, "little") for code in codes)
        return raw.decode("utf-16-le", errors="replace")
    if octets:
        raw = bytes(int(h, 16) if h else int(o, 8) % 256 for h, o in _BYTE.findall(octets))
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return _SIMPLE.get(char, char)


def _decoded_runs(text: str) -> list[str]:
    """What each run of base64 or hex in `text` decodes to, at each alignment."""
    found: list[str] = []
    for match in _BASE64.finditer(text):
        run = match.group(0)
        letters = run.rstrip("=")
        if letters.isalpha() and (letters.islower() or letters.isupper()):
            continue  # a word, not base64 (base64 of anything mixes cases and digits)
        letters = letters.translate(_URLSAFE)
        for start in range(4):
            chunk = letters[start:]
            chunk = chunk[: len(chunk) - (len(chunk) % 4 == 1)]  # one letter more says nothing
            try:
                raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4))
            except (binascii.Error, ValueError):
                continue
            if raw:
                found.append(raw.decode(errors="replace"))
    for match in _HEX.finditer(text):
        digits = re.sub(r"[ :-]", "", match.group(0))
        for start in (0, 1):
            chunk = digits[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 2]
            if chunk:
                found.append(bytes.fromhex(chunk).decode(errors="replace"))
    return found
