"""Process-wide setup shared by dodo.py and the CLI: signals and console logging."""

from __future__ import annotations

import atexit
import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import terminal
from .files import printable
from .http import abort_connections
from .stop import stop_requested

STOP_SECONDS = 3.0  # how long a stopping run waits for actions and children


class LineFormatter(logging.Formatter):
    """One log record, one line: control characters in names from devices (a newline
    in an archive name, an escape sequence) are shown as escapes."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


_active_actions = 0
_actions_changed = threading.Condition()


class running_action:
    """Counts task actions in flight, so a stopping process can wait for them to
    abandon their work and remove their partial files before it exits."""

    def __enter__(self) -> None:
        global _active_actions
        with _actions_changed:
            _active_actions += 1

    def __exit__(self, *exc: object) -> None:
        global _active_actions
        with _actions_changed:
            _active_actions -= 1
            _actions_changed.notify_all()


def wait_for_actions(timeout: float = STOP_SECONDS) -> None:
    if stop_requested.is_set():
        with _actions_changed:
            _actions_changed.wait_for(lambda: _active_actions == 0, timeout)


_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()
PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """Linux's prctl(2), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def spawn(command: list[str], death_signal: int = signal.SIGKILL,
          **kwargs: Any) -> subprocess.Popen:
    """Start a child (ffmpeg, a batch shard) that cannot outlive tlbuild: in its own
    session (a Ctrl-C reaches it only through tlbuild, which stops it on purpose),
    registered so a stop request stops it, and with a parent-death signal: the kernel
    sends it `death_signal` when tlbuild dies, even by kill -9 or the OOM killer
    (SIGKILL for ffmpeg, whose output is a temporary file; SIGTERM for a shard, which
    then saves its state)."""
    def die_with_parent() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, death_signal)
    process = subprocess.Popen(command, start_new_session=True,
                               preexec_fn=die_with_parent, **kwargs)
    with _children_lock:
        _children.add(process)
    if stop_requested.is_set():
        process.terminate()
    return process


def release(process: subprocess.Popen) -> None:
    with _children_lock:
        _children.discard(process)


def run_captured(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    """subprocess.run(capture_output=True, text=True) for a child that a stop request
    or the timeout ends at once."""
    process = spawn(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    finally:
        release(process)
    if stop_requested.is_set():
        raise KeyboardInterrupt
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def wait_for_children(timeout: float = STOP_SECONDS) -> None:
    """After a stop: give the children a moment to save their state, then kill."""
    with _children_lock:
        children = list(_children)
    deadline = time.monotonic() + timeout
    for process in children:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            process.kill()


def _stop(signum: int, frame: FrameType | None) -> None:
    if stop_requested.is_set():
        return  # already stopping: let doit finish saving its state
    stop_requested.set()
    with _children_lock:
        for process in _children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
    abort_connections()  # downloads blocked in a read give up at once
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _quiet_interrupt(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    """Under plain `doit` a stop ends in an uncaught KeyboardInterrupt: say what it
    means in one line instead of a traceback (the exit status stays the signal's)."""
    if issubclass(kind, KeyboardInterrupt):
        terminal.interrupted(str(error) or "Ctrl-C")
        return
    sys.__excepthook__(kind, error, trace)


def install_signal_handlers() -> None:
    """SIGTERM (cron, systemd, schedulers) stops like Ctrl-C: doit then saves the
    state of every finished task, and workers abandon their downloads promptly."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        atexit.register(wait_for_actions)  # plain `doit` exits straight after a stop
        sys.excepthook = _quiet_interrupt


def setup_console_logging(verbose: bool = False, quiet: bool = False) -> None:
    terminal.setup(verbose=verbose, quiet=quiet)
