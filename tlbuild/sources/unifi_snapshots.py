"""A continuous day from a UniFi Protect camera's recording: one recorded still per
`interval` (`cameras/<id>/recording-snapshot?ts=..`), each still a doit target, then
the frame pipeline (frames.py) as for S3 frames. Past days build from what the
console kept; today builds up to now, and a later run adds only the new stills.

    scan            metadata/camera.json, manifests/snapshot_plan.json  (the times
                    to ask for: the local day every `interval`, within the chosen
                    hours, weekdays and daylight, up to the newest recording)
    fetch:<ms>      frames/<ms>.json (+ frames/<ms>.jpg when the console had a frame)
    manifest        manifests/frame_index.json, manifests/frames.txt
    speed           metadata/day.json
    render          timelapse/<camera>_<date>_timelapse.mp4
    verify          metadata/verify.json
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doit import create_after

from .. import frames
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
from ..errors import RemoteError, UsageError
from ..files import read_json, write_json_if_changed
from ..frames import BAD, GOOD
from ..http import Unavailable
from ..probe import jpeg_size
from ..progress import LoggedFailure
from ..records import FrameEntry
from ..selection import Selection, parse_selection
from ..settings import CameraSettings
from ..taskdef import task
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

def still_times(window: tuple[int, int], interval_s: int, newest_ms: int,
                oldest_ms: int | None, selection: Selection, zone: str
                ) -> tuple[list[int], list[tuple[int, str]]]:
    """The moments (epoch ms) to ask for: every `interval_s` from the local day's
    start, none after the newest recording (the rest of today comes later), none
    before the oldest, none the selection leaves out; and those it left out, each
    with why (never asked, but counted and shown)."""
    start, end = window
    asked, left_out = [], []
    for moment in range(start, end, interval_s * 1000):
        if moment >= newest_ms or (oldest_ms is not None and moment < oldest_ms):
            continue
        reason = selection.left_out(moment / 1000, zone)
        if reason is None:
            asked.append(moment)
        else:
            left_out.append((moment, reason))
    return asked, left_out


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
    times, left_out = still_times(window, settings.interval, newest, kept.start_lq,
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


class Stills:
    """Where one still's files live, and how it is fetched."""

    def __init__(self, build: DayBuild):
        self.build = build

    def record_path(self, moment: int) -> Path:
        return self.build.layout.frame_dir / f"{moment}.json"

    def image_path(self, moment: int) -> Path:
        return self.build.layout.frame_dir / f"{moment}.jpg"

    def done(self, moment: int) -> Any:
        """A doit `uptodate` check: a recorded answer stands (a good still's JPEG
        still whole), except a failure, which is asked again."""
        def check(task: Any = None, values: Any = None) -> bool:
            record = read_json(self.record_path(moment), None)
            if not isinstance(record, dict) or record.get("status") == FAILED:
                return False
            if record.get("status") != GOOD:
                return True
            return frames.as_fetched(self.image_path(moment), record)
        return check

    def fetch(self, build: DayBuild, moment: int) -> LoggedFailure | None:
        if build.outcome.fatal is not None:
            return LoggedFailure("run stopped")
        plan = read_json(build.layout.snapshot_plan, {})
        size = tuple(plan["size"]) if plan.get("size") else None
        record: dict[str, Any] = {"ts": moment, "timestamp": moment / 1000}
        try:
            image = protect(build).recorded_frame(plan["camera_id"], moment, size,
                                                  self.image_path(moment),
                                                  build.count_bytes)
        except Unavailable as error:  # nothing recorded then: final
            record.update(status=BAD, reason=str(error))
        except RemoteError as error:
            record.update(status=FAILED, reason=str(error))
            log.warning("still at %s failed: %s (a rerun asks again)",
                        local_time(moment, build.zone()), error)
        else:
            width, height = jpeg_size(image) or (0, 0)
            record.update(status=GOOD, width=width, height=height,
                          **frames.fetched_record(self.image_path(moment), image))
        if record["status"] != GOOD:
            self.image_path(moment).unlink(missing_ok=True)
        write_json_if_changed(self.record_path(moment), record, sync_dir=False)
        return None


def frame_list(build: DayBuild, stills: Stills) -> list[FrameEntry]:
    listed: list[FrameEntry] = []
    for moment in read_json(build.layout.snapshot_plan, {}).get("times", []):
        record = read_json(stills.record_path(moment), None)
        if not isinstance(record, dict):
            continue
        good = record.get("status") == GOOD
        entry: dict[str, Any] = {
            "key": str(moment), "status": GOOD if good else BAD,
            "timestamp": moment / 1000,
            "file": stills.image_path(moment).relative_to(build.layout.root).as_posix()
            if good else None}
        entry.update({key: record[key] for key in ("reason", "width", "height", "sha256")
                      if key in record})
        listed.append(entry)  # type: ignore[arg-type]
    for moment, reason in read_json(build.layout.snapshot_plan, {}).get("left_out", []):
        listed.append({"key": str(moment), "status": frames.SKIPPED,
                       "timestamp": moment / 1000, "file": None, "reason": reason})
    return listed


def failures(build: DayBuild) -> tuple[int, int, str | None]:
    """Stills the console failed to give (a rerun asks again); not the times it had
    no recording for."""
    stills = Stills(build)
    times = read_json(build.layout.snapshot_plan, {}).get("times", [])
    failed = [record for record in (read_json(stills.record_path(t), None) for t in times)
              if isinstance(record, dict) and record.get("status") == FAILED]
    return len(failed), len(times), failed[0].get("reason") if failed else None


def tasks(build: DayBuild) -> dict[str, Any]:
    """Scan, one fetch per still, then the frame pipeline (frames.py)."""
    layout = build.layout
    stills = Stills(build)

    def task_scan() -> dict[str, Any]:
        """Resolve the camera and write the times to ask for."""
        return task(build, "scan", scan, targets=[layout.camera_json, layout.snapshot_plan],
                    uptodate=[False], clean=[layout.owner_file])

    @create_after(executed="scan")
    def task_fetch() -> Iterator[dict[str, Any]]:
        """Ask for each still once (again only when the console failed)."""
        if build.offline:
            return
        size = read_json(layout.snapshot_plan, {}).get("size")
        for moment in read_json(layout.snapshot_plan, {}).get("times", []):
            record = stills.record_path(moment)
            yield task(build, "fetch", stills.fetch, moment, subtask=str(moment),
                       reads={"size": size}, targets=[record],
                       uptodate=[stills.done(moment)],
                       clean=[stills.image_path(moment)])

    def inputs() -> list[Path]:
        plan = read_json(layout.snapshot_plan, {})
        records = [stills.record_path(moment) for moment in plan.get("times", [])]
        return [layout.snapshot_plan, layout.camera_json,
                *(path for path in records if path.exists())]

    return {"task_scan": task_scan, "task_fetch": task_fetch,
            **frames.tasks(build, lambda: frame_list(build, stills), inputs,
                           lambda build: {"interval": build.settings.interval})}


ORDER = ("scan", "fetch", "manifest", "speed", "render", "verify")

