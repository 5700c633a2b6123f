"""The README's own command blocks, run as written (on the demo camera, in a folder of
their own) with the exit codes the README promises: a command that the README shows
and that fails is a bug of the README or of tlbuild."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
# the documented exit codes of commands that do not end in 0 on a demo day
EXPECTED = {"status --camera demo --from 2024-01-01 --to 2024-01-31": 1}  # days missing


def section_commands(heading: str) -> list[str]:
    """The command lines of the first ```sh block under `heading`, comments cut."""
    section = README[README.index(heading):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = []
    for line in block.splitlines():
        line = re.sub(r"\s#\s.*$", "", line).strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def as_demo(line: str) -> list[str] | None:
    """A README line for the demo camera: `driveway` is the demo, and a line that
    needs a real device (`--host https://192.168.1.1`) or another file is left out."""
    if "192.168." in line or "my.toml" in line:
        return None
    return shlex.split(line.replace("driveway", "demo"))


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "config", folder / "config")
    return folder


def run(argv: list[str], folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TLBUILD_CONFIG": str(folder / "config" / "tlbuild.toml")}
    if argv[0] == "doit":  # from the project's dodo.py, in the demo's folder
        argv = [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), "-d",
                str(folder), *argv[1:]]
    elif argv[0] == "tlbuild":
        argv = [sys.executable, "-m", "tlbuild.cli", *argv[1:]]
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_the_every_day_and_doit_commands_of_the_readme_run(demo_folder):
    every_day = section_commands("## Every day: status, doctor, cameras, prune")
    with_doit = section_commands("## Building a camera-day with doit")
    assert len(every_day) >= 6 and len(with_doit) >= 6
    # the first doit line builds the day the others look at; `doit clean` comes last
    ran = 0
    for line in [with_doit[0], *every_day, *with_doit[1:]]:
        argv = as_demo(line)
        if argv is None:
            continue
        result = run(argv, demo_folder)
        expected = EXPECTED.get(" ".join(argv[1:]), 0)
        assert result.returncode == expected, f"{line}: {result.stderr[-800:]}"
        assert "Traceback" not in result.stderr, line
        ran += 1
    assert ran >= 12
    assert not (demo_folder / "out" / "demo" / "2024-01-15" / "timelapse").exists()  # clean
