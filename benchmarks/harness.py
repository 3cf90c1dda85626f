"""What both benchmarks share: measured children and the verdict on the targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any


def measure(code: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `code` in a child; its JSON result plus the child's own peak RSS."""
    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        out = child.stdout.read()
        # Reaped here, not by Popen.wait, so that its rusage is ours to read.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            err.seek(0)
            sys.exit(f"benchmark child failed ({child.returncode}): {out}{err.read()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    result["rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def verdict(checks: list[tuple[str, bool]]) -> int:
    """Print each target's result; the exit code is 1 if any was missed."""
    print()
    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(ok for _, ok in checks) else 1
