"""Recorded stills: a continuous day sampled from a recorder's footage (UniFi
Protect, Frigate), one still per `interval`, each asked for once and kept as a doit
target, then the frame pipeline (frames.py). Past days build from what the recorder
kept; today builds up to now, and a later run adds only the new stills.

    scan            metadata/camera.json, manifests/snapshot_plan.json  (the times
                    to ask for, and those the camera's choices left out)
    fetch:<ms>      frames/<ms>.json (+ frames/<ms>.jpg when there was a frame)
    manifest        manifests/frame_index.json, manifests/frames.txt
    speed           metadata/day.json
    render          timelapse/<camera>_<date>_timelapse.mp4
    verify          metadata/verify.json

A source gives its scan, which writes the plan (`times`, `left_out` and its own
keys), and `grab(build, moment, path)`: the still at `moment` (epoch ms) written to
`path`, its bytes returned; Unavailable when nothing was recorded then (final),
RemoteError when the device could not answer (asked again by the next run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from doit import create_after

from . import frames
from .build import DayBuild
from .days import local_time
from .errors import RemoteError
from .files import read_json, write_json_if_changed
from .frames import BAD, GOOD
from .http import Unavailable
from .probe import jpeg_size
from .progress import LoggedFailure
from .records import FrameEntry
from .selection import Selection
from .taskdef import task

log = logging.getLogger("tlbuild")
FAILED = "failed"  # the device could not answer (retries spent): a rerun asks again
ORDER = ("scan", "fetch", "manifest", "speed", "render", "verify")
Grab = Callable[[DayBuild, int, Path], bytes]


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


class Stills:
    """Where one still's files live, and how it is fetched."""

    def __init__(self, build: DayBuild, grab: Grab):
        self.build, self.grab = build, grab

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
        record: dict[str, Any] = {"ts": moment, "timestamp": moment / 1000}
        try:
            image = self.grab(build, moment, self.image_path(moment))
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
    """Stills the device failed to give (a rerun asks again); not the times it had
    no recording for."""
    stills = Stills(build, lambda build, moment, path: b"")
    times = read_json(build.layout.snapshot_plan, {}).get("times", [])
    failed = [record for record in (read_json(stills.record_path(t), None) for t in times)
              if isinstance(record, dict) and record.get("status") == FAILED]
    return len(failed), len(times), failed[0].get("reason") if failed else None


def tasks(build: DayBuild, scan: Callable[[DayBuild], Any], grab: Grab) -> dict[str, Any]:
    """The source's scan, one fetch per still (`grab`), then the frame pipeline."""
    layout = build.layout
    stills = Stills(build, grab)

    def task_scan() -> dict[str, Any]:
        """Resolve the camera and write the times to ask for."""
        return task(build, "scan", scan, targets=[layout.camera_json, layout.snapshot_plan],
                    uptodate=[False], clean=[layout.owner_file])

    @create_after(executed="scan")
    def task_fetch() -> Iterator[dict[str, Any]]:
        """Ask for each still once (again only when the device failed)."""
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
