"""What the benchmark scripts share."""

from __future__ import annotations

import subprocess
import sys
import time


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one command; a failing command ends the benchmark."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n"
                 f"{result.stderr[-3000:]}")
    return elapsed
