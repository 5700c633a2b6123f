"""The frame pipeline of any frame source (FixedIT frames in S3 today): from the
frames a source holds to a verified timelapse.

    manifest  manifests/frame_index.json  (every frame of the local day, by capture
              time, bad ones with their reason), manifests/frames.txt (the good ones,
              as an ffconcat list)
    speed     metadata/day.json
    render    timelapse/<camera>_<date>_timelapse.mp4  (one video frame per frame)
    verify    metadata/verify.json

A source gives the frames it holds as dicts: "key", "status" (ok or bad),
"timestamp" (unix seconds or None), "file" (the JPEG, relative to the day's folder,
for good frames), optional "reason", "width", "height", and "filed" (the date the
source filed a frame without a time under).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from doit import create_after

from . import __version__
from .build import DayBuild
from .days import day_window
from .ffmpeg import concat_quote, default_font, ffmpeg_version, render_file
from .files import file_stamp, read_json, write_bytes_if_changed, write_json_if_changed
from .layout import DayLayout
from .probe import mean_brightness, undecodable
from .records import DayRecord, DaySummary, FrameEntry
from .source import Mark
from .taskdef import task
from .terminal import plural
from .verify import checked_render, verify_output, verify_task

log = logging.getLogger("tlbuild")
GOOD, BAD, SKIPPED = "ok", "bad", "skipped"  # skipped: left out by the camera's choice
MAX_SIDE = 8192  # pixels: no camera's still is larger (8K is 7680x4320)


def write_index(build: DayBuild, frames: list[FrameEntry]) -> None:
    """frame_index.json (every frame of the local day, bad ones with reasons) and
    frames.txt (the good ones, each shown 1/fps, its local time as metadata for the
    time overlay)."""
    zone = build.zone()
    start, end = day_window(build.date, zone)
    tz = ZoneInfo(zone)
    index = []
    for frame in frames:
        stamp = frame.get("timestamp")
        in_day = stamp is not None and start <= stamp * 1000 < end
        undated_here = stamp is None and frame.get("filed") == build.date.isoformat()
        if not (in_day or undated_here):
            continue  # another local day's frame
        entry = {key: frame[key] for key in ("key", "status", "timestamp", "file",
                                             "reason", "width", "height", "stamp")
                 if key in frame}
        if stamp is not None:
            entry["local_time"] = dt.datetime.fromtimestamp(stamp, tz).isoformat()
        if "sha256" in frame:
            entry["sha256"] = frame["sha256"]
        index.append(entry)
    index.sort(key=lambda e: (e["timestamp"] if e["timestamp"] is not None else 0, e["key"]))
    judge(build, [entry for entry in index if entry["status"] == GOOD])
    choose(build, index)
    write_json_if_changed(build.layout.frame_index, index)

    good = [e for e in index if e["status"] == GOOD]
    fps = frames_fps(build, len(good))
    lines = ["ffconcat version 1.0\n"]
    for entry in good:
        local = dt.datetime.fromtimestamp(entry["timestamp"], tz)
        # what the file holds, as a comment (ffconcat skips it): a frame whose file
        # changed in place changes the list, so the render runs again
        content = entry.get("sha256") or entry.get("stamp")
        lines += [f"# {content}\n"] if content else []
        lines += [f"file {concat_quote(build.layout.root / entry['file'])}\n",
                  f"file_packet_metadata 'tlbuild_time={local:%Y-%m-%d %H:%M:%S}'\n",
                  f"duration {1 / fps:.6f}\n"]
    write_bytes_if_changed(build.layout.frames_list, "".join(lines).encode())


def judge(build: DayBuild, frames: list[dict[str, Any]]) -> None:
    """Mark the frames a render must not use as bad: a size no camera makes (a
    damaged header), or an image that does not decode whole (cut, with garbage in
    its data, zeroed). Their files are removed, so the source fetches them again on
    the next run. Frames that decoded are remembered by their file's stamp."""
    root = build.layout.root
    known = read_json(build.layout.decoded, {}) or {}
    checked, unknown = {}, []
    for entry in frames:
        width, height = entry.get("width") or 0, entry.get("height") or 0
        if max(width, height) > MAX_SIDE:
            reject(root, entry, f"its header claims {width}x{height}: larger than any "
                                f"camera's still (at most {MAX_SIDE} px a side)")
            continue
        stamp = file_stamp(root / entry["file"])
        if stamp is None:
            entry.update(status=BAD, reason="its file is gone: fetched again by the "
                                            "next run")
        elif known.get(entry["file"]) == stamp:
            checked[entry["file"]] = stamp
        else:
            unknown.append((entry, stamp))
    if unknown:
        listing = build.layout.decoded.with_suffix(f".{os.getpid()}.txt")
        bad = undecodable([root / entry["file"] for entry, _ in unknown], listing)
        for entry, stamp in unknown:
            problem = bad.get(root / entry["file"])
            if problem is None:
                checked[entry["file"]] = stamp
            else:
                reject(root, entry, f"the image does not decode ({problem})")
        if bad:
            log.warning("%d frame(s) do not decode: left out, fetched again by the next "
                        "run", len(bad))
    write_json_if_changed(build.layout.decoded, dict(sorted(checked.items())))


def fetched_record(path: Path, image: bytes) -> dict[str, Any]:
    """What a frame's record keeps of the image just written to `path`: its size,
    hash and file stamp (see `as_fetched`)."""
    return {"bytes": len(image), "sha256": hashlib.sha256(image).hexdigest(),
            "stamp": file_stamp(path)}


def as_fetched(path: Path, record: dict[str, Any]) -> bool:
    """The image at `path` is the one its record describes: same size, and same
    content (the hash is read again only when the file's stamp changed: a file
    zeroed or rewritten on disk keeps its size but not its stamp)."""
    stamp = file_stamp(path)
    if stamp is None or int(stamp.split(":")[0]) != record.get("bytes"):
        return False
    if record.get("stamp") == stamp or not record.get("sha256"):
        return True
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest() == record["sha256"]


def reject(root: Path, entry: dict[str, Any], reason: str) -> None:
    """A frame the render must not use; its copy in the day's folder goes, so it is
    fetched again (a file outside the day's folder is never tlbuild's to delete)."""
    entry.update(status=BAD, reason=reason)
    path = (root / entry["file"]).resolve()
    if root.resolve() in path.parents:
        path.unlink(missing_ok=True)
    entry["file"] = None


def choose(build: DayBuild, index: list[dict[str, Any]]) -> None:
    """Mark the good frames the camera's selection leaves out as skipped, with the
    reason: outside its hours, weekdays or daylight; a byte-identical repeat of the
    previous frame (a console repeating its last recorded frame where nothing was
    recorded); darker than `dark_threshold` with skip_dark."""
    selection = build.settings.selection
    zone = build.zone()
    previous = None
    for entry in index:
        if entry["status"] != GOOD:
            continue
        reason = selection.left_out(entry["timestamp"], zone) \
            if entry.get("timestamp") is not None else None
        if reason is None and entry.get("sha256") and entry["sha256"] == previous:
            reason = "the same image as the frame before (no recording)"
        previous = entry.get("sha256") or previous
        if reason:
            entry.update(status=SKIPPED, reason=reason)
    if selection.skip_dark:
        skip_dark(build, [entry for entry in index if entry["status"] == GOOD],
                  selection.dark_threshold)


def skip_dark(build: DayBuild, frames: list[dict[str, Any]], threshold: int) -> None:
    """Measure the frames not measured before (manifests/brightness.json remembers
    each file's value by its size) and skip those below `threshold`."""
    known = read_json(build.layout.brightness, {}) or {}
    root = build.layout.root
    sizes = {entry["file"]: (root / entry["file"]).stat().st_size for entry in frames}
    new = [name for name, size in sizes.items()
           if not (isinstance(known.get(name), list) and known[name][0] == size)]
    if new:
        log.info("measuring the brightness of %d frame(s)", len(new))
        listing = build.layout.brightness.with_suffix(f".{os.getpid()}.txt")
        values = mean_brightness([root / name for name in new], listing)
        known.update({name: [sizes[name], round(value, 2)]
                      for name, value in zip(new, values, strict=True)})
        write_json_if_changed(build.layout.brightness,
                              {name: known[name] for name in sorted(sizes)})
    for entry in frames:
        level = known[entry["file"]][1]
        entry["brightness"] = level
        if level < threshold:
            entry.update(status=SKIPPED, reason=f"dark: mean brightness {level:.0f} is "
                                                f"below {threshold}")


def frames_fps(build: DayBuild, count: int) -> float:
    """The configured fps, or the fps that makes `count` frames last `target` s."""
    render = build.settings.render
    if render.target and count:
        return min(max(count / render.target, 1.0), 240.0)
    return float(render.fps)


def most_common_size(frames: list[dict[str, Any]]) -> tuple[int, int]:
    sizes = collections.Counter((f["width"], f["height"]) for f in frames)
    (width, height), _ = max(sizes.items(), key=lambda item: (item[1], item[0]))
    return width + width % 2, height + height % 2  # yuv420p needs even sizes




Details = Callable[[DayBuild], dict[str, Any]]


def write_day(build: DayBuild, details: Details) -> None:
    index = read_json(build.layout.frame_index, [])
    good = [e for e in index if e["status"] == GOOD]
    skipped = [e for e in index if e["status"] == SKIPPED]
    fps = frames_fps(build, len(good))
    width, height = most_common_size(good) if good else (0, 0)
    write_json_if_changed(build.layout.day_json, {
        "camera_name": build.settings.name,
        "date": build.date.isoformat(), "timezone": build.zone(),
        "frame_count": len(good),
        "bad_frames": sum(e["status"] == BAD for e in index),
        "skipped_frames": sum(e["status"] == SKIPPED for e in index),
        "first_time": good[0]["local_time"] if good else None,
        "last_time": good[-1]["local_time"] if good else None,
        "fps": round(fps, 6), "duration_secs": round(len(good) / fps, 3),
        "width": width, "height": height,
        "tool_version": __version__, "ffmpeg_version": ffmpeg_version(),
        "render": {**build.settings.render.as_dict(),
                   "overlay_time": build.settings.overlay_time,
                   "deflicker": build.settings.deflicker},
        "summary": DaySummary("frames", len(index), len(good), 0, len(good), round(fps, 6),
                              round(len(good) / fps, 3), skipped=len(skipped),
                              skipped_why=left_out(skipped)).as_dict(),
        **details(build),
    })


def left_out(skipped: list[dict[str, Any]]) -> str | None:
    """Why the camera's selection left frames out, in words: "not a chosen weekday:
    36, dark: 2"."""
    reasons = collections.Counter(re.split(r" \(|:", entry.get("reason") or "left out")[0]
                                  for entry in skipped)
    return ", ".join(f"{reason}: {count}" for reason, count in reasons.most_common()) \
        or None


def render(build: DayBuild) -> dict[str, Any] | None:
    day = DayRecord.read(build.layout.day_json)
    if not day.frame_count:
        summary = day.summary
        if summary and summary.skipped:
            log.warning("the camera's selection left out all %d frames (%s): no video; "
                        "its hours, weekdays, daylight_only or dark_threshold keep none "
                        "of this day", summary.skipped, summary.skipped_why)
        else:
            log.info("no frames to render")
        return None
    settings = build.settings
    font = settings.overlay_font or default_font()
    log.info("rendering %s: %s at %g fps", build.layout.timelapse.name,
             plural(day.frame_count, "frame"), day.fps)
    render_file("render_frames.j2", build.layout.timelapse, day.duration_secs,
                frames=build.layout.frames_list, width=day.width,
                height=day.height, fps=f"{day.fps:g}",
                frame_count=day.frame_count, crf=settings.render.crf,
                preset=settings.render.preset, overlay=settings.overlay_time, font=font,
                deflicker=settings.deflicker,
                chapters=hour_chapters(build, day.fps),
                check=checked_render(build, day.frame_count, day.fps))
    return {"rendered": build.output_stamp()}


def hour_chapters(build: DayBuild, fps: float) -> list[tuple[float, str]]:
    """A chapter at the first frame of each local hour."""
    good = [e for e in read_json(build.layout.frame_index, []) if e["status"] == GOOD]
    return hourly([e.get("local_time", "")[11:13] for e in good], fps)


def hourly(hours: list[str], fps: float) -> list[tuple[float, str]]:
    """Chapters where the hour ("HH") of the frames, in output order, changes."""
    marks, last = [], None
    for number, hour in enumerate(hours):
        if hour and hour != last:
            marks.append((number / fps, f"{hour}:00"))
            last = hour
    return marks


def verify(build: DayBuild) -> dict[str, Any]:
    day = DayRecord.read(build.layout.day_json)
    if not day.frame_count:
        return {"output": None}
    return verify_output(build, day.frame_count, day.fps, {},
                         size=(day.width, day.height))


def tasks(build: DayBuild, frames: Callable[[], list[FrameEntry]],
          inputs: Callable[[], Iterable[Path]], details: Details = lambda build: {}
          ) -> dict[str, Any]:
    """The frame pipeline's task creators: `frames()` lists the frames the source
    holds, read from the files `inputs()` names (the manifest's dependencies);
    `details`: the source's own day.json fields."""
    layout, settings = build.layout, build.settings
    selection = settings.selection.as_dict()
    deflicker = settings.deflicker

    @create_after(executed="fetch", target_regex=r".*frames\.txt$")
    def task_manifest() -> dict[str, Any]:
        """Write frame_index.json and frames.txt: the day's frames by capture time."""
        return task(build, "manifest", lambda build: write_index(build, frames()),
                    task_dep=["fetch"], file_dep=inputs(),
                    reads={"fps": settings.render.fps, "target": settings.render.target,
                           "timezone": settings.timezone, "selection": selection},
                    targets=[layout.frame_index, layout.frames_list],
                    clean=[layout.brightness, layout.decoded])

    def task_speed() -> dict[str, Any]:
        """Write day.json: frame count, first and last time, fps, duration."""
        return task(build, "speed", write_day, details, task_dep=["manifest"],
                    reads={"render": settings.render.as_dict(),
                           "overlay": settings.overlay_time, "deflicker": deflicker},
                    file_dep=[layout.frame_index, layout.frames_list],
                    targets=[layout.day_json], stamped=True)

    def task_render() -> dict[str, Any]:
        """Render the frames to an H.264 MP4."""
        return task(build, "render", render,
                    reads={"crf": settings.render.crf, "preset": settings.render.preset,
                           "overlay": settings.overlay_time, "font": settings.overlay_font,
                           "deflicker": deflicker},
                    file_dep=[layout.frames_list, layout.day_json],
                    targets=[layout.timelapse], uptodate=[build.output_as_rendered])

    def task_verify() -> dict[str, Any]:
        """Check the output's frame count, duration and size."""
        return verify_task(build, verify, file_dep=[layout.day_json])

    return {"task_manifest": task_manifest, "task_speed": task_speed,
            "task_render": task_render, "task_verify": task_verify}


def marks(build: DayBuild, day: DayRecord) -> list[Mark]:
    """The day page's timeline: one mark per timed frame, a minute wide."""
    fps, shown, found = day.fps or 1, 0, []
    for frame in read_json(build.layout.frame_index, None) or []:
        if not isinstance(frame, dict) or frame.get("timestamp") is None:
            continue
        moment, good = frame["timestamp"] * 1000, frame.get("status") == "ok"
        state = "ok" if good else "skipped" if frame.get("status") == "skipped" \
            else "failed"
        found.append(Mark(moment, moment + 60_000, state, "frame",
                          shown / fps if good else None, frame.get("reason")))
        shown += good
    return found


def records(layout: DayLayout) -> list[Path]:
    return [layout.frame_index]
