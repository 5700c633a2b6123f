"""`tlbuild prune`: give back the disk that finished camera-days no longer need.

For every verified camera-day older than N days: delete the downloaded inputs and the
intermediates (the folders below); keep the timelapse, the manifests, metadata, logs
and publish receipts. `metadata/pruned.json` records it, and a pruned day stays
built: its build graph only checks and publishes the video (see graph.namespace), so
a rerun downloads nothing and renders nothing. `run --rebuild` builds one again from
the device (if it still has the footage).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from .files import file_stamp, write_json_if_changed
from .layout import DayLayout
from .records import VerifyReport

log = logging.getLogger("tlbuild")
INPUTS = ("clips", "frames", "archives", "intermediates", "segments")


@dataclass(frozen=True)
class Pruned:
    root: Path
    files: int
    bytes: int


def prunable(layout: DayLayout) -> bool:
    """A day whose video is built and verified as it is now (and not pruned yet)."""
    report = VerifyReport.read(layout.verify_json)
    return (not layout.pruned_json.exists() and layout.timelapse.is_file()
            and report is not None and report.ok)


def prune_day(layout: DayLayout, dry_run: bool = False) -> Pruned:
    files = size = 0
    for name in INPUTS:
        folder = layout.root / name
        for path in folder.rglob("*") if folder.is_dir() else ():
            if path.is_file():
                files += 1
                size += path.stat().st_size
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    if not dry_run:
        write_json_if_changed(layout.pruned_json, {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": files, "bytes": size, "video": file_stamp(layout.timelapse)})
    return Pruned(layout.root, files, size)


def prune(days: list[tuple[Path, str, dt.date]], keep_days: int, dry_run: bool = False,
          today: dt.date | None = None) -> list[Pruned]:
    """Prune the verified days (root, camera, date) older than `keep_days` days."""
    cutoff = (today or dt.date.today()) - dt.timedelta(days=keep_days)
    done = []
    for root, camera, date in days:
        layout = DayLayout.create(root, camera, date)
        if date < cutoff and prunable(layout):
            done.append(prune_day(layout, dry_run))
            log.info("%s %s %s: %d files, %.1f MB", "would prune" if dry_run else
                     "pruned", camera, date, done[-1].files, done[-1].bytes / 1e6)
    return done
