"""The demo cameras: a camera whose host is "simulator" gets its simulated device,
started in this process on 127.0.0.1, and the build talks to it as to a real one.

The one place where a build meets tlbuild.sim: dodo.py's loader and the CLI call
`start` for a camera-day; the registry names each source's simulator module, whose
`demo(settings, password, date)` starts it and returns the settings pointed at it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import SIMULATOR_HOST


def start(build: Any) -> None:
    if getattr(build.settings, "host", None) != SIMULATOR_HOST:
        return
    from .sources import SOURCES
    module = importlib.import_module(SOURCES[build.settings.source].simulator)
    build.settings = module.demo(build.settings, build.password, build.date)
