"""The process-wide stop request, set by the signal handler (SIGTERM, Ctrl-C): long
waits, downloads and ffmpeg runs end promptly once it is set. A module of its own, so
the terminal, ffmpeg and HTTP modules share it without importing each other."""

from __future__ import annotations

import threading

stop_requested = threading.Event()
