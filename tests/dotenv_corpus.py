"""Dotenv files for the SecretSet `secretsFile` tests: what pcc 1.4.0's `secrets set --file`
makes of each (checked against pcc itself in tests/engine/test_dotenv_pcc.py), or None where
pcc refuses the file, with the line our message names. Refused files hold `s3cr3t` in a
value, which no message may show."""

from __future__ import annotations

# name -> (the file's bytes, the secrets pcc sets from it, or None, then the line refused)
ACCEPTED: dict[str, tuple[bytes, dict[str, str]]] = {
    "plain": (
        b"OPENAI_API_KEY=sk-123\nGREETING=hello\n",
        {"OPENAI_API_KEY": "sk-123", "GREETING": "hello"},
    ),
    "comments-and-blank-lines": (
        b"# the bot's keys\n\n   \nA=1\n  # indented comment\nB=2",
        {"A": "1", "B": "2"},
    ),
    "spaces-around": (b"  KEY  =  some value  \n", {"KEY": "some value"}),
    "equals-in-value": (
        b"TOKEN=abc==\nURL=https://x?a=b&c=d\n",
        {"TOKEN": "abc==", "URL": "https://x?a=b&c=d"},
    ),
    "double-quotes-dropped": (
        b'QUOTED="with spaces"\nINNER="a"b"\n',
        {"QUOTED": "with spaces", "INNER": 'a"b'},
    ),
    "single-quotes-kept": (b"SINGLE='kept'\n", {"SINGLE": "'kept'"}),
    "hash-after-value-kept": (
        b"WITH_HASH=value # not a comment\n",
        {"WITH_HASH": "value # not a comment"},
    ),
    "duplicate-last-wins": (b"DUP=first\nDUP=second\n", {"DUP": "second"}),
    "crlf": (b"A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    "backslash-kept": (b"PATH_LIKE=C:\\dir\\n\n", {"PATH_LIKE": "C:\\dir\\n"}),
    "unicode": ("NAME=café ☕\n".encode(), {"NAME": "café ☕"}),
    "hyphen-key": (b"my-key_2=v\n", {"my-key_2": "v"}),
}
REFUSED: dict[str, tuple[bytes, int | None]] = {
    "no-equals": (b"A=s3cr3t\njust-a-s3cr3t-value\n", 2),
    "empty-value": (b"A=s3cr3t\nB=\n", 2),
    "empty-quoted-value": (b'A=""\n', 1),
    "empty-key": (b"=s3cr3t\n", 1),
    "export": (b"export KEY=s3cr3t\n", 1),
    "bad-key": (b"MY KEY=s3cr3t\n", 1),
    "long-key": (b"K" * 65 + b"=s3cr3t\n", 1),
    "only-comments": (b"# nothing\n\n", None),
    "empty-file": (b"", None),
}
