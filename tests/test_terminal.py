"""What a person sees: runs in a real pseudo-terminal, replayed through a terminal
emulator (pyte), and the plain lines cron gets. The display must never share a line
with a log message, --quiet must print nothing on success, every error is said once
in one line, and Ctrl-C says "interrupted" and nothing false."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import DATE, REPO, unifi_camera

from tlbuild.cli import main

pyte = pytest.importorskip("pyte", reason="pyte (the test extra) emulates the terminal")

BAR = re.compile(r"[━╸╺]")
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d \S+ \d{4}-\d\d-\d\d: ")
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (yard \d{4}-\d\d-\d\d|tlbuild): ")


def in_terminal(argv: list[str], ctrl_c_when=None, timeout: float = 120
                ) -> tuple[int, list[list[str]]]:
    """Run argv in a pseudo-terminal of 100x30; returns its exit code and every screen
    the terminal showed (one per chunk of output). `ctrl_c_when`: a function
    checked while it runs; when it returns True, Ctrl-C is typed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal's program
        os.environ.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    screen = pyte.Screen(100, 30)
    stream = pyte.ByteStream(screen)
    screens: list[list[str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ctrl_c_when is not None and ctrl_c_when():
            os.write(fd, b"\x03")  # the terminal turns it into SIGINT
            ctrl_c_when = None
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the program ended and closed the terminal
            break
        if not data:
            break
        stream.feed(data)
        screens.append(list(screen.display))
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), screens


def cli(config, *args: str) -> list[str]:
    return [sys.executable, "-m", "tlbuild.cli", "--config", str(config), *args]


def test_the_live_display_never_shares_a_line_with_log_messages(make_nvr, write_config):
    sim = make_nvr(events_per_day=8)
    sim.fault("export", "slow", times=100, delay=0.2)  # long enough to watch
    config = write_config({"yard": unifi_camera(sim, workers=1)})
    code, screens = in_terminal(cli(config, "--camera", "yard", "run", "--date", DATE))
    assert code == 0, "\n".join(screens[-1] if screens else [])
    lines = [line for screen in screens for line in screen]
    bars = [line for line in lines if BAR.search(line)]
    assert any("yard 2024-01-15" in bar and "tasks" in bar and " MB" in bar for bar in bars)
    assert not [line for line in bars if LOG_LINE.search(line)]
    assert not [line for line in lines if ".partial" in line]  # never a temporary name
    final = [line.rstrip() for line in screens[-1] if line.strip()]
    assert not [line for line in final if BAR.search(line)]  # the display is gone
    assert any(LOG_LINE.match(line) and "verified yard_2024-01-15_timelapse.mp4" in line
               for line in final)


def test_quiet_prints_nothing_on_success_even_in_a_terminal(nvr, write_config):
    config = write_config({"yard": unifi_camera(nvr)})
    code, screens = in_terminal(cli(config, "--quiet", "--camera", "yard", "run",
                                    "--date", DATE))
    assert code == 0
    assert not any(line.strip() for screen in screens for line in screen)
    # and plain doit with quiet=1, rendering again
    code, screens = in_terminal([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"),
                                 "--always-execute", f"config={config}", "camera=yard",
                                 f"date={DATE}", "quiet=1", "render"])
    assert code == 0
    assert not any(line.strip() for screen in screens for line in screen)


def test_ctrl_c_says_interrupted_once_and_nothing_false(make_nvr, write_config):
    sim = make_nvr(events_per_day=8)
    sim.fault("export", "stall", times=100, delay=30)  # every download hangs mid-body
    config = write_config({"yard": unifi_camera(sim, workers=2)})
    code, screens = in_terminal(cli(config, "--camera", "yard", "run", "--date", DATE),
                                ctrl_c_when=lambda: len(sim.state.exports()) >= 2)
    assert code == 130
    text = [line.strip() for line in screens[-1] if line.strip()]
    assert len([line for line in text if "interrupted" in line]) == 1, text
    assert not [line for line in text if "warning" in line or "error" in line
                or "not valid" in line or "retry" in line], text


@pytest.mark.slow
def test_a_batch_shows_a_row_per_shard_while_they_build(make_nvr, write_config):
    sim = make_nvr(events_per_day=6)
    sim.fault("export", "slow", times=100, delay=0.3)
    config = write_config({"yard": unifi_camera(sim, workers=1)})
    code, screens = in_terminal(cli(config, "batch", "--camera", "yard", "--from", DATE,
                                    "--to", "2024-01-16", "-j", "2"))
    assert code == 0
    both = [screen for screen in screens
            if any(BAR.search(line) and "yard 2024-01-15" in line for line in screen)
            and any(BAR.search(line) and "yard 2024-01-16" in line for line in screen)]
    assert both, "no screen showed both shards building"
    assert any(BAR.search(line) and line.startswith("batch") for line in both[0])
    lines = [line for screen in screens for line in screen]
    assert not [line for line in lines if BAR.search(line) and LOG_LINE.search(line)]
    assert "batch: 2 shards: 2 ok" in "\n".join(screens[-1])


def test_errors_are_said_once_in_one_timestamped_line(make_nvr, write_config, capsys,
                                                      monkeypatch):
    sim = make_nvr()
    monkeypatch.setenv("UPVS_PASSWORD", "not-the-password")
    config = write_config({"yard": unifi_camera(sim)})
    assert main(["--config", str(config), "--camera", "yard", "run", "--date", DATE]) == 3
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if "authentication failed" in line]) == 1, err
    assert all(PLAIN_LINE.match(line) for line in err), err  # cron's lines: time and day
    # plain doit: the same one line, no doit internals, no traceback
    result = subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"),
                             f"config={config}", "camera=yard", f"date={DATE}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.count("authentication failed") == 1, result.stderr
    for internal in ("TaskFailed", "taskid", "Traceback", "#####"):
        assert internal not in result.stdout + result.stderr
    # a mistyped task name: one line naming the tasks there are
    result = subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"),
                             f"config={config}", "camera=yard", f"date={DATE}", "rendr"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown task 'rendr'" in result.stderr
