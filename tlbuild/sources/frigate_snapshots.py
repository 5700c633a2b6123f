"""A continuous day from a Frigate camera's recording: one recorded still per
`interval` (`/api/<camera>/recordings/<t>/snapshot.jpg?height=H`), through the
recorded-stills pipeline (stills.py). A 404 means nothing was recorded then: that
still is left out and said so. At most 2 requests in flight per server."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import stills
from ..build import DayBuild
from ..config import ConfigError, RenderSettings, SecretSource, Table, positive, render_settings
from ..days import local_time
from ..errors import UsageError
from ..files import read_json, write_json_if_changed
from ..progress import LoggedFailure
from ..selection import parse_selection
from ..settings import CameraSettings
from .frigate_base import camera_record, frigate, frigate_day, frigate_settings

log = logging.getLogger("tlbuild.frigate")


@dataclass(frozen=True, kw_only=True)
class FrigateSnapshotsCamera(CameraSettings):
    """A Frigate camera sampled from its recording every `interval` seconds."""

    host: str
    camera: str
    username: str | None = None
    password: SecretSource | None = None
    interval: int = 60
    height: int | None = None     # the stills' height (width follows; default: recorded)
    retries: int = 3
    tls_insecure: bool = False
    render: RenderSettings = field(default_factory=lambda: RenderSettings(target=None))
    source: str = "frigate-snapshots"

    @property
    def device_address(self) -> str | None:
        return self.host


def parse(name: str, table: Table, base: Path) -> FrigateSnapshotsCamera:
    where = table.where
    height = table.get("height", int)
    if height is not None and not 16 <= height <= 8192:
        raise ConfigError(f"{where}: height must be from 16 to 8192 pixels")
    camera = FrigateSnapshotsCamera(
        name=name, **frigate_settings(table, base),
        interval=positive(table.get("interval", int, 60), "interval", where, low=1,
                          high=86400),
        height=height, render=render_settings(table, RenderSettings(target=None)),
        selection=parse_selection(table), deflicker=table.get("deflicker", bool, False))
    table.get("source", str)
    table.reject_unknown()
    return camera


def scan(build: DayBuild) -> LoggedFailure | None:
    """Resolve the camera and the day; plan the stills up to the newest recording."""
    layout, settings = build.layout, build.settings
    if build.offline:
        if not layout.snapshot_plan.exists():
            return build.fail(UsageError(f"no snapshot plan at {layout.snapshot_plan}: "
                                         "run scan (or a full build) online first"))
        return None
    client = frigate(build)
    camera, camera_config, zone, window = frigate_day(build, client)
    segments = client.recordings(camera, window[0] / 1000, window[1] / 1000)
    newest = max((int(s["end_time"] * 1000) for s in segments), default=window[0])
    newest = min(newest + 1, int(time.time() * 1000))
    times, left_out = stills.still_times(window, settings.interval, newest, None,
                                         settings.selection, zone)
    write_json_if_changed(layout.camera_json, camera_record(
        camera, camera_config, build.date, zone, window, interval=settings.interval,
        height=settings.height, selection=settings.selection.as_dict()))
    build.claim()
    write_json_if_changed(layout.snapshot_plan, {"camera": camera,
                                                 "height": settings.height,
                                                 "times": times, "left_out": left_out})
    whole_day = len(range(window[0], window[1], settings.interval * 1000))
    if window[0] <= newest < window[1] - settings.interval * 1000:
        log.info("%d of the day's %d stills, to %s (the rest comes later)", len(times),
                 whole_day, local_time(newest, zone)[11:16])
    else:
        log.info("%d stills every %d s (of %d in the day)", len(times),
                 settings.interval, whole_day)
    return None


def grab(build: DayBuild, moment: int, path: Path) -> bytes:
    """The recorded frame at `moment` (see stills.Grab)."""
    plan: dict[str, Any] = read_json(build.layout.snapshot_plan, {})
    return frigate(build).snapshot(plan["camera"], moment / 1000, plan.get("height"), path,
                                   build.count_bytes)


def tasks(build: DayBuild) -> dict[str, Any]:
    return stills.tasks(build, scan, grab)
