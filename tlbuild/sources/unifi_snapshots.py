"""A continuous day from a UniFi Protect camera's recording: one recorded still per
`interval` (`cameras/<id>/recording-snapshot?ts=..`), through the recorded-stills
pipeline (stills.py). The scan asks the console for the camera and its day, and
plans the local day every `interval`, within the chosen hours, weekdays and
daylight, up to the newest recording."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import stills
from ..build import DayBuild
from ..config import (
    ConfigError,
    RenderSettings,
    SecretSource,
    Table,
    positive,
    render_settings,
)
from ..days import local_time
from ..errors import UsageError
from ..files import read_json, write_json_if_changed
from ..progress import LoggedFailure
from ..selection import parse_selection
from ..settings import CameraSettings
from .protect import Retention, camera_record, console_day, console_settings, protect

log = logging.getLogger("tlbuild.unifi")
FAILED = "failed"  # the console could not answer (retries spent): a rerun asks again


@dataclass(frozen=True, kw_only=True)
class UnifiSnapshotsCamera(CameraSettings):
    """A UniFi Protect camera sampled from its recording every `interval` seconds."""

    host: str
    username: str
    password: SecretSource
    camera: str
    interval: int = 60
    width: int | None = None      # the stills' size (default: the camera's channel 0)
    height: int | None = None
    render: RenderSettings = field(default_factory=lambda: RenderSettings(target=None))
    workers: int = 2              # stills in flight per console
    retries: int = 3
    tls_insecure: bool = False
    direct_api: bool = False
    timezone: str | None = None   # default: the console's
    source: str = "unifi-snapshots"

    @property
    def device_address(self) -> str | None:
        return self.host


def parse(name: str, table: Table, base: Path) -> UnifiSnapshotsCamera:
    where = table.where
    width, height = table.get("width", int), table.get("height", int)
    for key, value in (("width", width), ("height", height)):
        if value is not None and not 16 <= value <= 8192:
            raise ConfigError(f"{where}: {key} must be from 16 to 8192 pixels")
    camera = UnifiSnapshotsCamera(
        name=name, **console_settings(table, base),
        interval=positive(table.get("interval", int, 60), "interval", where, low=1,
                          high=86400),
        width=width, height=height,
        render=render_settings(table, RenderSettings(target=None)),
        selection=parse_selection(table),
        deflicker=table.get("deflicker", bool, False),
    )
    table.get("source", str)
    table.reject_unknown()
    return camera


# --- pure logic ----------------------------------------------------------------------

def still_size(settings: UnifiSnapshotsCamera, camera: dict[str, Any]
               ) -> tuple[int, int] | None:
    """The size to ask for: the settings', one side scaled by the camera's aspect,
    or the camera's channel 0 size."""
    channel = next(iter(camera.get("channels") or []), {}) or {}
    native = (channel.get("width"), channel.get("height"))
    width, height = settings.width, settings.height
    if width and height:
        return width, height
    if all(isinstance(v, int) and v > 0 for v in native):
        if width:
            return width, round(width * native[1] / native[0] / 2) * 2
        if height:
            return round(height * native[0] / native[1] / 2) * 2, height
        return native
    return None  # the console's own default


# --- actions -------------------------------------------------------------------------

def scan(build: DayBuild) -> LoggedFailure | None:
    """Resolve the camera and the day; write the times to ask for."""
    layout, settings = build.layout, build.settings
    if build.offline:
        if not layout.snapshot_plan.exists():
            return build.fail(UsageError(f"no snapshot plan at {layout.snapshot_plan}: "
                                         "run scan (or a full build) online first"))
        return None
    camera, nvr, zone, window = console_day(build, protect(build))
    kept = Retention.of(camera)
    now_ms = int(time.time() * 1000)
    newest = min(kept.end, now_ms) if kept.end is not None else now_ms
    times, left_out = stills.still_times(window, settings.interval, newest, kept.start_lq,
                                  settings.selection, zone)
    record = camera_record(camera, nvr, build.date, zone, window)
    size = still_size(settings, camera)
    record.update(interval=settings.interval, size=size,
                  selection=settings.selection.as_dict())
    write_json_if_changed(layout.camera_json, record)
    build.claim()
    write_json_if_changed(layout.snapshot_plan, {"camera_id": camera["id"], "size": size,
                                                 "times": times, "left_out": left_out})
    whole_day = len(range(window[0], window[1], settings.interval * 1000))
    if newest < window[1] and newest >= window[0]:
        log.info("%d of the day's %d stills to %s (the rest comes later)", len(times),
                 whole_day, local_time(newest, zone)[11:16])
    elif window[1] <= (kept.start_lq or 0):
        log.warning("the console keeps no footage this old (its oldest is from %s)",
                    local_time(kept.start_lq, zone))
    else:
        log.info("%d stills every %d s (of %d in the day)", len(times),
                 settings.interval, whole_day)
    return None


def grab(build: DayBuild, moment: int, path: Path) -> bytes:
    """The console's recorded frame at `moment` (see stills.Grab)."""
    plan = read_json(build.layout.snapshot_plan, {})
    size = tuple(plan["size"]) if plan.get("size") else None
    return protect(build).recorded_frame(plan["camera_id"], moment, size, path,
                                         build.count_bytes)


def tasks(build: DayBuild) -> dict[str, Any]:
    return stills.tasks(build, scan, grab)
