"""The demo cameras: a camera whose host is "simulator" gets its simulated device,
started in this process on 127.0.0.1, and the build talks to it as to a real one.

The one place where a build meets tlbuild.sim: dodo.py's loader and the CLI call
`start` for a camera-day; the registry names each source's simulator module, whose
`demo(settings, password, date)` starts it and returns the settings pointed at it.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

from .config import SIMULATOR_HOST
from .errors import UsageError
from .settings import CameraSettings

SINK_SIMULATORS = {"indi-allsky": "tlbuild.sim.allsky"}


def start(build: Any) -> None:
    """Point a camera-day whose device is the demo's at its simulator, and its
    "simulator" sinks at theirs."""
    build.settings = resolve(build.settings, build.password, build.date)
    build.sinks = [resolve_sink(sink) for sink in build.sinks]


def resolve_sink(sink: Any) -> Any:
    if getattr(sink, "url", None) != SIMULATOR_HOST or sink.kind not in SINK_SIMULATORS:
        return sink
    apikey = sink.apikey.load(f"sink {sink.name!r}: API key from {sink.apikey.describe()}")
    return importlib.import_module(SINK_SIMULATORS[sink.kind]).demo_sink(sink, apikey)


def simulated(settings: CameraSettings) -> bool:
    """Is this camera the demo's: its device address is "simulator"?"""
    return settings.device_address == SIMULATOR_HOST


def resolve(settings: Any, password: Any, date: dt.date) -> Any:
    """The settings of a "simulator" camera pointed at its simulator, started now;
    any other camera's settings as they are."""
    if not simulated(settings):
        return settings
    from .sources import SOURCES
    simulator = SOURCES[settings.source].simulator
    if not simulator:
        raise UsageError(f"camera {settings.name!r}: {settings.source} has no simulator "
                         "(\"simulator\" is the address of tlbuild's demo devices)")
    module = importlib.import_module(simulator)
    return module.demo(settings, password, date)
