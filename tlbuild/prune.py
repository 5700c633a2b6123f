"""`tlbuild prune`: give back the disk that finished camera-days no longer need.

For every camera-day older than N days whose video is verified good as it is on
disk now: delete the downloaded inputs and the intermediates (the folders below);
keep the timelapse, the manifests, metadata, logs and publish receipts.
`metadata/pruned.json` records it (with the video's stamp and the settings it was
rendered with), and a pruned day stays built: its build graph only checks and
publishes the video (see graph.namespace), so a rerun downloads nothing and renders
nothing. `run --rebuild` builds one again from the device (if it still has the
footage).

A day whose video is missing, failed its checks or changed since it was verified
keeps its inputs: they are what can rebuild it. A day that a run is building (its
lock is held) is skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .files import file_stamp, write_json_if_changed
from .layout import DayLayout
from .records import verified_video

log = logging.getLogger("tlbuild")
INPUTS = ("clips", "frames", "archives", "intermediates", "segments")


@dataclass(frozen=True)
class Pruned:
    root: Path
    files: int
    bytes: int


@dataclass(frozen=True)
class Kept:
    """A day old enough to prune whose inputs stay, and why."""

    camera: str
    date: dt.date
    reason: str


def has_inputs(layout: DayLayout) -> bool:
    return any((layout.root / name).exists() for name in INPUTS)


def prune_day(layout: DayLayout, choices: dict[str, Any] | None = None,
              dry_run: bool = False) -> Pruned:
    files = size = 0
    for name in INPUTS:
        folder = layout.root / name
        for path in folder.rglob("*") if folder.is_dir() else ():
            if path.is_file():
                files += 1
                size += path.stat().st_size
    if not dry_run:
        # recorded first: an interrupted prune leaves a pruned day, never a day that
        # looks complete with half of its inputs gone
        write_json_if_changed(layout.pruned_json, {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": files, "bytes": size, "video": file_stamp(layout.timelapse),
            "render": choices})
        for name in INPUTS:
            shutil.rmtree(layout.root / name, ignore_errors=True)
    return Pruned(layout.root, files, size)


def prune(days: list[tuple[Path, str, dt.date]], keep_days: int, dry_run: bool = False,
          today: dt.date | None = None,
          choices: dict[str, dict[str, Any]] | None = None
          ) -> tuple[list[Pruned], list[Kept]]:
    """Prune the days (root, camera, date) older than `keep_days` days whose video is
    verified good; `choices`: each camera's render settings, recorded with the day.
    Returns what was pruned and the old days whose inputs were kept, with why."""
    cutoff = (today or dt.date.today()) - dt.timedelta(days=keep_days)
    done, kept = [], []
    for root, camera, date in days:
        layout = DayLayout.create(root, camera, date)
        if date >= cutoff or layout.pruned_json.exists() or not has_inputs(layout):
            continue
        lock = FileLock(layout.lock_file)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            kept.append(Kept(camera, date, "a run is building it now (pruned by a "
                                           "later prune)"))
            continue
        try:
            _, why_not = verified_video(layout.verify_json, layout.timelapse)
            if why_not:
                kept.append(Kept(camera, date, f"{why_not}; its inputs are what "
                                 "can rebuild it"))
                continue
            done.append(prune_day(layout, (choices or {}).get(camera), dry_run))
        finally:
            lock.release()
        log.info("%s %s %s: %d files, %.1f MB", "would prune" if dry_run else
                 "pruned", camera, date, done[-1].files, done[-1].bytes / 1e6)
    for day in kept:
        log.warning("kept the inputs of %s %s: %s", day.camera, day.date, day.reason)
    return done, kept
