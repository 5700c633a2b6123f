"""What the benchmark scripts share."""

from __future__ import annotations

import statistics
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


def startup(env: dict[str, str]) -> float:
    """The tool's start-up: `tlbuild --help` (every command's parser, no day
    loaded), the median of five runs; a no-op rerun is set against it."""
    return statistics.median(timed([sys.executable, "-m", "tlbuild.cli", "--help"], env)
                             for _ in range(5))
