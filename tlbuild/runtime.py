"""Process-wide setup shared by dodo.py and the CLI: signals and console logging."""

from __future__ import annotations

import atexit
import logging
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import Any

from .http import stop_requested

CONSOLE_FORMAT = "tlbuild: %(message)s"


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


def wait_for_actions(timeout: float = 20.0) -> None:
    if stop_requested.is_set():
        with _actions_changed:
            _actions_changed.wait_for(lambda: _active_actions == 0, timeout)


_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def spawn(command: list[str], **kwargs: Any) -> subprocess.Popen:
    """Start a child in its own session; a stop signal is forwarded to it explicitly,
    so it saves its state before this process waits for it and exits."""
    process = subprocess.Popen(command, start_new_session=True, **kwargs)
    with _children_lock:
        _children.add(process)
    return process


def release(process: subprocess.Popen) -> None:
    with _children_lock:
        _children.discard(process)


def wait_for_children(timeout: float = 120.0) -> None:
    """After a stop: give the children time to save their state, then kill."""
    with _children_lock:
        children = list(_children)
    for process in children:
        try:
            process.wait(timeout=timeout)
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
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _quiet_interrupt(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    """Under plain `doit` a stop ends in an uncaught KeyboardInterrupt: say what it
    means in one line instead of a traceback (the exit status stays the signal's)."""
    if issubclass(kind, KeyboardInterrupt):
        print(f"tlbuild: interrupted ({error or 'Ctrl-C'}); finished work is kept, rerun "
              "to continue", file=sys.stderr)
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


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (doit and test runners swap it)."""

    _tlbuild_console = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_console_logging(verbose: bool = False, quiet: bool = False) -> None:
    root = logging.getLogger("tlbuild")
    root.setLevel(logging.DEBUG)  # run.log keeps everything; the console filters
    if not any(getattr(h, "_tlbuild_console", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        root.addHandler(handler)
    for handler in root.handlers:
        if getattr(handler, "_tlbuild_console", False):
            handler.setLevel(logging.WARNING if quiet else
                             logging.DEBUG if verbose else logging.INFO)
