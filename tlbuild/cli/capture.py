"""`tlbuild capture`: record the cameras that keep no history of their own (source
"snapshot"), a still per interval each, until stopped."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path
from typing import Any

from .. import demo
from ..errors import UsageError
from ..sources import SOURCES, read_config
from ..stop import stop_requested

log = logging.getLogger("tlbuild.capture")


def add(commands: Any) -> None:
    capture = commands.add_parser(
        "capture", help="record the snapshot cameras (a still per interval) until stopped",
        description="Take one still per `interval` of every camera of the config that "
                    "tlbuild records itself (source = \"snapshot\"), or only --camera, "
                    "into <out>/<camera>/captures/<local date>/, until stopped "
                    "(SIGTERM or Ctrl-C: within a second, nothing half-written). A "
                    "failing camera is retried with a growing pause and never stops "
                    "the others. Its days then build from the captures like any other.")
    capture.add_argument("--camera", action="append", dest="cameras",
                         help="only this camera (repeat for more)")
    for flag in ("--config", "--out"):
        capture.add_argument(flag, type=Path, default=argparse.SUPPRESS)
    capture.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS)
    capture.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    names = [name for part in args.cameras or [] for name in part.split(",") if name]
    for name in names:
        config.camera(name)  # an unknown name is a usage error, with the names there are
        if SOURCES[config.camera(name).source].capture is None:
            raise UsageError(f"camera {name!r} ({config.camera(name).source}) keeps its "
                             "own footage: only snapshot cameras are captured")
    chosen = [config.camera(name) for name in names] or [
        camera for camera in config.cameras.values()
        if SOURCES[camera.source].capture is not None]
    if not chosen:
        raise UsageError(f"no camera of {config.path} is captured by tlbuild: add one "
                         "with source = \"snapshot\" and its url")
    out = args.out or config.out
    threads = []
    for settings in chosen:
        password = settings.password.load(f"camera {settings.name!r}: password") \
            if settings.password else None
        settings = demo.resolve(settings, password, None)
        thread = threading.Thread(target=capture_one, args=(settings, out / settings.name),
                                  name=f"capture-{settings.name}", daemon=True)
        thread.start()
        threads.append(thread)
    try:
        # not join(): a join interrupted by the signal leaves that thread looking
        # finished to later joins, and its last words would be cut off
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass  # the stop request: every camera ends its turn
    for thread in threads:
        thread.join(5)
    log.info("capture stopped")
    return 0


def capture_one(settings: Any, folder: Path) -> None:
    """One camera's capture; a fault of its own ends it alone."""
    try:
        SOURCES[settings.source].capture(settings, folder)
    except Exception as error:  # one camera's bug must not stop the others
        log.log(logging.DEBUG if stop_requested.is_set() else logging.ERROR,
                "%s: capture ended: %s", settings.name, error, exc_info=True)
