"""A day from a folder of images (a `folder` camera's, or a `snapshot` camera's
captures): the JPEG and PNG files under it (every subfolder too) taken on the
camera's local day, each a doit target whose state is the file's size and time (an
edited image is picked up, an unchanged folder builds nothing), then the frame
pipeline (frames.py). Nothing is copied: the frames are read where they are, and
tlbuild never writes into the folder.

    scan            metadata/camera.json, manifests/folder_listing.json (the day's
                    images, each with its time and the rule that gave it)
    fetch:<image>   frames/<image>.json (its size, time and pixel size)
    manifest ... verify   as for every frame source (frames.py)

A source gives the folder (and a `pattern` for its file names, if any) through
`tasks_for(build, scan)`, `scan` calling `scan_folder`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tzlocal
from doit import create_after

from . import frames
from .build import DayBuild
from .config import (
    RenderSettings,
    Table,
    overlay_settings,
    positive,
    render_settings,
    sink_names,
    validate_timezone,
)
from .days import day_window
from .errors import UsageError
from .files import file_stamp, read_json, safe_name, write_json_if_changed
from .frames import BAD, GOOD, SKIPPED
from .imagetime import as_jpeg, image_size, taken
from .progress import LoggedFailure
from .records import FrameEntry
from .selection import parse_selection
from .taskdef import task
from .terminal import plural

log = logging.getLogger("tlbuild")
IMAGES = (".jpg", ".jpeg", ".png")
ORDER = ("scan", "fetch", "manifest", "speed", "render", "verify")


def frame_keys(table: Table, base: Path) -> dict[str, Any]:
    """The keys every frame-folder camera has: its zone, thinning, frame choices,
    render and overlay, and what to publish."""
    where = table.where
    interval = table.get("interval", int)
    overlay_time, overlay_font = overlay_settings(table)
    return {
        "timezone": validate_timezone(table.get("timezone", str), where),
        "interval": None if interval is None else positive(
            interval, "interval", where, low=1, high=86400),
        "selection": parse_selection(table),
        "deflicker": table.get("deflicker", bool, False),
        "render": render_settings(table, RenderSettings(target=None)),
        "overlay_time": overlay_time, "overlay_font": overlay_font,
        "publish": sink_names(table, "publish")}


# --- the day's images ----------------------------------------------------------------

def local_zone(settings: Any) -> str:
    """The camera's `timezone`, else this machine's."""
    return settings.timezone or tzlocal.get_localzone_name() or "UTC"


def images(folder: Path) -> Iterator[Path]:
    """Every JPEG and PNG under `folder`, in name order (hidden files left out)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(IMAGES) and not name.startswith("."):
                yield Path(root) / name


def scan_folder(build: DayBuild, folder: Path, pattern: str | None,
                thin: int | None = None, missing_ok: bool = False) -> LoggedFailure | None:
    """List the images of `folder` taken on the local day, each with its time and
    the rule that gave it (times are remembered by file stamp, beside the days, so an
    unchanged image is not read again). `missing_ok`: no folder is an empty day."""
    layout = build.layout
    if not folder.is_dir() and not missing_ok:
        return build.fail(UsageError(f"camera {build.settings.name!r}: no folder "
                                     f"{folder} (its `path`)"))
    zone = local_zone(build.settings)
    start, end = day_window(build.date, zone)
    cache_path = layout.root.parent / ".folder-times.json"
    cache = read_json(cache_path, {}) or {}
    known: dict[str, Any] = {}
    day = []
    for path in images(folder) if folder.is_dir() else ():
        relative = path.relative_to(folder).as_posix()
        stamp = file_stamp(path)
        if stamp is None:
            continue  # gone since the listing
        cached = cache.get(relative)
        if isinstance(cached, list) and len(cached) == 3 and cached[0] == stamp:
            moment, rule = cached[1], cached[2]
        else:
            moment, rule = taken(path, zone, pattern)
        known[relative] = [stamp, moment, rule]
        if start <= moment * 1000 < end:
            day.append({"key": safe_name(relative.replace("/", "_"), "image"),
                        "file": str(path), "relative": relative, "stamp": stamp,
                        "timestamp": moment, "rule": rule})
    write_json_if_changed(cache_path, dict(sorted(known.items())), sync_dir=False)
    if thin:  # the first image of each `thin` seconds of the day; the others thinned
        slots: set[int] = set()
        for image in sorted(day, key=lambda i: (i["timestamp"], i["key"])):
            slot = int((image["timestamp"] * 1000 - start) // (thin * 1000))
            image["thinned"] = slot in slots
            slots.add(slot)
    write_json_if_changed(layout.camera_json, {
        "id": str(folder), "name": build.settings.name, "folder": str(folder),
        "day": {"date": build.date.isoformat(), "timezone": zone, "start_ms": start,
                "end_ms": end}})
    build.claim()
    write_json_if_changed(listing_path(layout), {"folder": str(folder), "thin": thin,
                                                 "images": day})
    rules = Counter(image["rule"] for image in day)
    log.info("%s of %s taken on %s (%s)", plural(len(day), "image"), folder,
             build.date, ", ".join(f"{count} by {rule}" for rule, count in rules.items())
             or "none")
    return None


def listing_path(layout: Any) -> Path:
    return layout.root / "manifests" / "folder_listing.json"


def record_path(build: DayBuild, image: dict[str, Any]) -> Path:
    return build.layout.frame_dir / f"{image['key']}.json"


def read_image(build: DayBuild, image: dict[str, Any]) -> None:
    """One image's record: its time, and its pixel size from its header (an image
    whose header does not read is listed as bad, with why). A PNG becomes a JPEG in
    the day's folder: one video is rendered from images of one kind."""
    source = Path(image["file"])
    record = {key: image[key] for key in ("file", "relative", "stamp", "timestamp",
                                          "rule")}
    size = image_size(source)
    if size is not None and source.suffix.lower() == ".png":
        copy = build.layout.frame_dir / f"{image['key']}.jpg"
        size = as_jpeg(source, copy)
        record["file"] = str(copy)
    if size is None:
        record.update(status=BAD, reason="not a readable JPEG or PNG")
    else:
        record.update(status=GOOD, width=size[0], height=size[1])
    write_json_if_changed(record_path(build, image), record, sync_dir=False)


def unchanged(build: DayBuild, image: dict[str, Any]) -> Any:
    """A doit `uptodate` check: the record describes the file as it is now."""
    def check(task: Any = None, values: Any = None) -> bool:
        record = read_json(record_path(build, image), None)
        return isinstance(record, dict) and record.get("stamp") == file_stamp(
            Path(image["file"]))
    return check


def listing(build: DayBuild) -> list[dict[str, Any]]:
    return (read_json(listing_path(build.layout), {}) or {}).get("images", [])


def frame_list(build: DayBuild) -> list[FrameEntry]:
    """The day's images as frames (with `interval`, those the scan thinned out are
    left out and said so)."""
    listed: list[dict[str, Any]] = []
    thin = (read_json(listing_path(build.layout), {}) or {}).get("thin")
    for image in listing(build):
        record = read_json(record_path(build, image), None)
        if not isinstance(record, dict):
            continue
        entry = {"key": image["key"], "status": record["status"],
                 "timestamp": record["timestamp"],
                 "file": record["file"] if record["status"] == GOOD else None,
                 "stamp": record["stamp"]}
        entry.update({k: record[k] for k in ("reason", "width", "height") if k in record})
        if image.get("thinned") and entry["status"] == GOOD:
            entry.update(status=SKIPPED, reason=f"thinned: one image every {thin} s")
        listed.append(entry)
    return listed  # type: ignore[return-value]


def day_details(build: DayBuild) -> dict[str, Any]:
    """The folder source's own day.json fields: how many images got their time from
    their name, their EXIF data or their file's time."""
    return {"folder": (read_json(listing_path(build.layout), {}) or {}).get("folder"),
            "time_rules": dict(Counter(image["rule"] for image in listing(build)))}


def failures(build: DayBuild) -> tuple[int, int, str | None]:
    """An unreadable image is left out and listed, not a failure to retry."""
    return 0, len(listing(build)), None


def tasks_for(build: DayBuild, scan: Any) -> dict[str, Any]:
    """The folder's pipeline with the source's `scan` (the folder, or the captures
    of a snapshot camera)."""
    layout = build.layout

    def task_scan() -> dict[str, Any]:
        """List the images taken on the local day."""
        return task(build, "scan", scan, targets=[layout.camera_json,
                                                  listing_path(layout)],
                    uptodate=[False], clean=[layout.owner_file])

    @create_after(executed="scan")
    def task_fetch() -> Iterator[dict[str, Any]]:
        """Read each image of the day (again only when its file changed)."""
        for image in listing(build):
            yield task(build, "fetch", read_image, image, subtask=image["key"],
                       targets=[record_path(build, image)],
                       uptodate=[unchanged(build, image)])

    def inputs() -> list[Path]:
        records = [record_path(build, image) for image in listing(build)]
        return [listing_path(layout), *(path for path in records if path.exists())]

    return {"task_scan": task_scan, "task_fetch": task_fetch,
            **frames.tasks(build, lambda: frame_list(build), inputs, day_details)}
