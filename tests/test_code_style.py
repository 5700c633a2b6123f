"""The code keeps the habits ruff checks (configured in pyproject.toml): part of the
test command, so CI and every developer run it."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "tlbuild", "tests",
                             "bench", "dodo.py"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
