"""A dotenv file read as `pcc secrets set NAME --file .env` reads it (pipecatcloud 1.4.0,
`cli/commands/secrets.py` `create_set`, then `validate_secrets`), so that a file gives a
SecretSet exactly the secrets `pcc` would set from it. No Pulumi.

pcc's rules, line by line (Python's universal newlines: \\n, \\r\\n or \\r):
- surrounding whitespace is stripped; a blank line, or one starting with `#`, is skipped;
- a line is `KEY=value`, split at its first `=` (so a value may hold `=`), key and value
  stripped of surrounding whitespace;
- a value in double quotes loses them (`"a b"` is `a b`); single quotes, a `#` after the
  value and backslashes are kept as they are (pcc reads no escapes nor inline comments);
- a key given twice takes its last value;
- refused: a line without `=`, an empty key or value (`KEY=` and `KEY=""`), a key that is not
  at most 64 letters, digits, `_` and `-` (so `export KEY=value`: pcc has no `export`), and
  a file with no secret at all.

Errors name the file and the line, never the line's text: it may hold a value.
"""

from __future__ import annotations

import io
import re
from os import PathLike
from pathlib import Path

from pcc_provider.errors import PipecatError

# pcc's `validate_secrets`, whose `$` also matches before a final newline: a stripped line
# has none.
KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
KEY_MAX = 64


class DotenvError(PipecatError):
    """A file pcc would refuse; str() names the file and line, never a value."""


def parse(text: str, where: str = ".env") -> dict[str, str]:
    """The secrets pcc sets from a file holding `text`; DotenvError at its first mistake.
    `where`: how the message names the file."""
    found: dict[str, str] = {}
    # As `for line in open(path)` splits it (newline=None: \r and \r\n end lines too).
    for number, raw in enumerate(io.StringIO(text, newline=None), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        at = f"{where}, line {number}"
        if "=" not in line:
            raise DotenvError(f"{at}: not a KEY=value line (no `=`); pcc refuses it too")
        key, value = (part.strip() for part in line.split("=", 1))
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        if not key or not value:
            empty = "key" if not key else "value"
            raise DotenvError(f"{at}: empty {empty}; Pipecat Cloud refuses empty values")
        if len(key) > KEY_MAX or not KEY.match(key):
            hint = (
                "remove `export ` (pcc does not read it)"
                if key.startswith("export ") or key.startswith("export\t")
                else "use at most 64 letters, digits, underscores and hyphens"
            )
            raise DotenvError(f"{at}: the key is not a valid secret name: {hint}")
        found[key] = value
    if not found:
        raise DotenvError(f"{where}: no KEY=value line; pcc refuses an empty file too")
    return found


def read(path: str | PathLike[str]) -> dict[str, str]:
    """The secrets in the file at `path`, as pcc reads them; DotenvError in one line for a
    file that is missing, unreadable, not UTF-8 or refused (`parse`)."""
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DotenvError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise DotenvError(f"{where} is a folder, not a dotenv file") from None
    except OSError as exc:
        raise DotenvError(f"{where} cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DotenvError(f"{where}, line {line}: not UTF-8 text") from None
    return parse(text, where)
