"""Process-wide setup shared by dodo.py and the CLI: signals and console logging."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from .http import stop_requested

CONSOLE_FORMAT = "tlbuild: %(message)s"


def _stop(signum: int, frame: FrameType | None) -> None:
    stop_requested.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    """SIGTERM (cron, systemd, schedulers) stops like Ctrl-C: doit then saves the
    state of every finished task, and workers abandon their downloads promptly."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)


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
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(getattr(h, "_tlbuild_console", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        root.addHandler(handler)
    for handler in root.handlers:
        if getattr(handler, "_tlbuild_console", False):
            handler.setLevel(logging.WARNING if quiet else
                             logging.DEBUG if verbose else logging.INFO)
