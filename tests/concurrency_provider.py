"""A provider for tests/engine/test_concurrency.py, loaded by the SDK's dynamic-provider plugin.

It lives in its own module so that dill serializes it by reference and the plugin process
imports it from this folder (on its PYTHONPATH).
"""

from __future__ import annotations

import threading
from typing import Any

from pulumi.dynamic import CheckResult

from pcc_provider.resource import ApiProvider

# As many calls at once as the engine's default --parallel on 2 cores (4 x cores).
AT_ONCE = 8

_barrier = threading.Barrier(AT_ONCE)
_inside = 0
_most_inside = 0
_count = threading.Lock()


class RendezvousProvider(ApiProvider):
    """check() with `wait` set returns only once AT_ONCE such checks are inside it together."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        global _inside, _most_inside
        if news.get("wait"):
            with _count:
                _inside += 1
                _most_inside = max(_most_inside, _inside)
            try:
                _barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                raise RuntimeError(
                    f"at most {_most_inside} calls ran at once in the dynamic-provider plugin, "
                    f"not {AT_ONCE}"
                ) from None
            finally:
                with _count:
                    _inside -= 1
        return CheckResult(news, [])
