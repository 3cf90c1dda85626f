"""The emulator's runtime settings, declared once: each with its default, bounds and help.

`Settings` drives everything that names them: `Emulator(...)`/`serve(...)` keywords (the field
names), the `python -m pcc_provider emulator` flags (`--build-seconds`, from the field names)
and the control endpoint `/_emulator/config` (`buildSeconds`, camelCase). They change live and
are not persisted: each build and deployment records the durations it was created with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# The largest duration a setting takes, in seconds: far beyond any test, short of overflow.
MAX_SECONDS = 1e9


def _setting(default: float, help: str, *, low: float, high: float = MAX_SECONDS) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "low": low, "high": high})


@dataclass
class Settings:
    build_seconds: float = _setting(3.0, "how long a build takes", low=0)
    upload_ttl_seconds: float = _setting(900.0, "how long an upload URL lasts", low=0)
    max_upload_bytes: int = _setting(500 * 1024 * 1024, "upload size limit", low=1, high=1 << 40)
    agent_ready_seconds: float = _setting(1.0, "how long a deployment takes", low=0)
    secret_ready_seconds: float = _setting(
        0.5, "how long a secret set takes to be provisioned", low=0
    )
    agent_delete_seconds: float = _setting(
        0.0, "how long a deletion takes (a deleted agent is still seen meanwhile)", low=0
    )

    def to_json(self) -> dict[str, Any]:
        """The settings by their control-endpoint names."""
        return {s.json_name: getattr(self, s.name) for s in SETTINGS}


@dataclass(frozen=True)
class Setting:
    """One field of `Settings`, with the names it goes by."""

    name: str  # the keyword: build_seconds
    default: float
    whole: bool  # an integer (a byte count), not a number of seconds
    low: float
    high: float
    help: str

    @property
    def json_name(self) -> str:  # buildSeconds
        first, *rest = self.name.split("_")
        return first + "".join(word.title() for word in rest)

    @property
    def flag(self) -> str:  # --build-seconds
        return "--" + self.name.replace("_", "-")

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this setting ("must be ..."), or None."""
        kind = "an integer" if self.whole else "a number"
        wrong_type = isinstance(value, bool) or not isinstance(value, int | float)
        if wrong_type or (self.whole and not isinstance(value, int)) or value != value:
            return f"must be {kind}"
        if not self.low <= value <= self.high:
            return f"must be between {_number(self.low)} and {_number(self.high)}"
        return None

    def parse(self, text: str) -> float:
        """The value a command-line flag gives; ValueError says what is wrong with it."""
        try:
            value: float = int(text) if self.whole else float(text)
        except ValueError:
            raise ValueError(f"must be {'an integer' if self.whole else 'a number'}") from None
        problem = self.problem(value)
        if problem:
            raise ValueError(problem)
        return value


def _number(bound: float) -> str:
    return "1e9" if bound == MAX_SECONDS else str(int(bound) if bound == int(bound) else bound)


_DEFAULTS = Settings()
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(
        name=f.name,
        default=getattr(_DEFAULTS, f.name),
        whole=isinstance(getattr(_DEFAULTS, f.name), int),
        low=f.metadata["low"],
        high=f.metadata["high"],
        help=f.metadata["help"],
    )
    for f in dataclasses.fields(Settings)
)
