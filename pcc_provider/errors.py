"""The root of pcc-provider's errors, and the mark of those that may pass. No imports.

    PipecatError           a message for the user: str() says what is wrong and how to fix it
      Transient            ... about something that may pass on its own (an overloaded or
                           unreachable service, a proxy's page): waits tolerate it a few times

Every error the package raises for the user derives from PipecatError, so a door (the dynamic
plugin, the native plugin, the command line) tells "ours, show its line" from "a bug, keep the
traceback" with isinstance alone (tests/unit/test_errors.py walks the package to hold it so).
"""

from __future__ import annotations


class PipecatError(Exception):
    """An error of pcc-provider meant for the user; str() is its message."""


class Transient(PipecatError):
    """A mark: the cause may pass on its own (5xx, 429, no answer, an answer not in the API's
    shape), so a wait goes on and a create whose answer is in doubt looks before repeating.
    Mixed into the errors that are so (api.Unavailable, api.NotTheApi)."""
