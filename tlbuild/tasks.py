"""The generic day graph for clip sources: manifest, speed, render, verify.

    scan -> fetch:<clip> -> manifest (concat.txt) -> speed (day.json) -> render -> verify

Each step writes its target only when the content changes, so an unchanged input
leaves everything downstream up to date.
"""

from __future__ import annotations

import logging
from typing import Any

from doit.exceptions import TaskFailed
from doit import create_after
from doit.tools import config_changed

from . import __version__
from .build import DayBuild
from .clipindex import COMPLETE, FAILED, clip_key, sort_key
from .errors import MediaError
from .files import read_json, write_bytes_if_changed, write_json_if_changed
from .reporter import progress_reporter
from .media import ffmpeg_version, probe, render_file, speed_text

log = logging.getLogger("tlbuild")
MIN_SPEED, MAX_SPEED = 1.0, 2000.0
DURATION_TOLERANCE = 10.0


def concat_line(path: str) -> str:
    """One concat-demuxer line; a single quote becomes '\\''."""
    return "file '" + path.replace("'", "'\\''") + "'\n"


def usable_clips(build: DayBuild) -> list[dict[str, Any]]:
    """Complete clips that are on disk and read as video, in (start, end, id) order.

    A clip that no longer probes as video is marked failed and left out; the next
    scan deletes it so that it is downloaded again (doit needs file deps to stay).
    """
    clips = []
    for entry in sorted(build.index.read(), key=sort_key):
        if entry.get("status") != COMPLETE:
            continue
        path = build.layout.clip_path(entry["file_path"])
        if "video_secs" not in entry or entry.get("size") != _size(path):
            try:
                seconds = probe(path).duration
            except (MediaError, FileNotFoundError) as error:
                log.warning("leaving out clip %s: %s", path.name, error)
                build.index.update(clip_key(entry), status=FAILED, error=str(error),
                                   size=None, video_secs=None)
                continue
            entry = {**entry, "size": _size(path), "video_secs": round(seconds, 3)}
            build.index.update(clip_key(entry), size=entry["size"],
                               video_secs=entry["video_secs"])
        clips.append(entry)
    return clips


def complete_clip_paths(build: DayBuild) -> list[Any]:
    paths = []
    for entry in build.index.read():
        path = build.layout.clip_path(entry["file_path"])
        if entry.get("status") == COMPLETE and path.is_file():
            paths.append(path)
    return paths


def _size(path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def write_manifest(build: DayBuild) -> None:
    clips = usable_clips(build)
    text = "".join(concat_line(str(build.layout.clip_path(c["file_path"]))) for c in clips)
    write_bytes_if_changed(build.layout.concat, text.encode())


def compute_speed(total_secs: float, target_secs: float) -> float:
    if total_secs <= 0:
        return MIN_SPEED
    return min(max(total_secs / target_secs, MIN_SPEED), MAX_SPEED)


def concat_entries(build: DayBuild) -> tuple[list[str], list[dict[str, Any]]]:
    """The lines of concat.txt, and the index entries they name (in that order)."""
    by_line = {concat_line(str(build.layout.clip_path(entry["file_path"]))).rstrip("\n"):
               entry for entry in build.index.read()}
    lines = build.layout.concat.read_text().splitlines()
    return lines, [by_line[line] for line in lines if line in by_line]


def write_day(build: DayBuild) -> None:
    entries = build.index.read()
    _, clips = concat_entries(build)
    total = round(sum(entry.get("video_secs", 0.0) for entry in clips), 3)
    target = build.settings.render.target
    speed = compute_speed(total, target)
    camera = read_json(build.layout.camera_json, {})
    write_json_if_changed(build.layout.day_json, {
        "camera_id": camera.get("id"),
        "camera_name": camera.get("name"),
        "date": build.date.isoformat(),
        "timezone": camera.get("day", {}).get("timezone"),
        "total_clips": len(entries),
        "valid_clips": len(clips),
        "failed_clips": sum(entry.get("status") == FAILED for entry in entries),
        "total_events": sum(len(entry.get("event_ids", [1])) for entry in entries),
        "total_duration_secs": total,
        "speed_factor": round(speed, 6),
        "target_secs": target,
        "output_duration_secs": round(total / speed, 3),
        "tool_version": __version__,
        "ffmpeg_version": ffmpeg_version(),
        "render": build.settings.render.as_dict(),
    })


def render(build: DayBuild) -> TaskFailed | None:
    day = read_json(build.layout.day_json, {})
    if not day.get("valid_clips"):
        log.info("%s %s: no clips to render", build.settings.name, build.date)
        return None
    settings = build.settings.render
    output = build.layout.timelapse
    log.info("rendering %s: %d clips, %.0f s at %gx", output.name, day["valid_clips"],
             day["total_duration_secs"], day["speed_factor"])
    render_file("render_concat.j2", output, day["output_duration_secs"],
                concat=build.layout.concat, speed=speed_text(day["speed_factor"]),
                fps=settings.fps, crf=settings.crf, preset=settings.preset)
    return None


def output_stamp(build: DayBuild) -> str | None:
    try:
        stat = build.layout.timelapse.stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def verify(build: DayBuild) -> TaskFailed | dict[str, Any]:
    """The spec's section 10 checks, written to metadata/verify.json."""
    layout = build.layout
    day = read_json(layout.day_json, {})
    if not day.get("valid_clips"):
        return {"output": None}
    lines, included = concat_entries(build)
    paths = [layout.clip_path(entry["file_path"]) for entry in included]
    checks = {
        "clips_exist": len(included) == len(lines)
                       and all(p.is_file() and p.stat().st_size > 0 for p in paths),
        "clip_count": day["valid_clips"] == day["total_clips"] - day["failed_clips"]
                      == len(lines),
        "concat_order": [sort_key(e) for e in included] == sorted(map(sort_key, included)),
        "output_exists": layout.timelapse.is_file() and layout.timelapse.stat().st_size > 0,
    }
    wanted = min(day["total_duration_secs"], day["target_secs"])
    try:
        measured = probe(layout.timelapse).duration if checks["output_exists"] else None
    except MediaError:
        measured = None
    checks["duration"] = (measured is not None
                          and abs(measured - wanted) <= DURATION_TOLERANCE)
    report = {"ok": all(checks.values()), "checks": checks,
              "output_duration_secs": measured, "expected_duration_secs": wanted}
    write_json_if_changed(layout.verify_json, report)
    if not report["ok"]:
        failed = ", ".join(name for name, ok in checks.items() if not ok)
        return build.fail(MediaError(f"verification failed ({failed}); see "
                                     f"{layout.verify_json}"))
    log.info("verified %s: %.1f s (expected %.1f s)", layout.timelapse.name, measured,
             wanted)
    return {"output": output_stamp(build)}


def day_tasks(build: DayBuild) -> dict[str, Any]:
    layout, settings = build.layout, build.settings.render

    @create_after(executed="fetch", target_regex=r".*concat\.txt$")
    def task_manifest() -> dict[str, Any]:
        """Write concat.txt: the complete clips in time order."""
        # Created after the downloads, so the finished clips are file deps: a clip
        # changed or damaged on disk is probed again.
        clips = [str(path) for path in complete_clip_paths(build)]
        return {"actions": [build.action("manifest", write_manifest)], "task_dep": ["fetch"],
                "file_dep": [str(layout.clip_index), *clips],
                "targets": [str(layout.concat)], "clean": True, "verbosity": 2}

    def task_speed() -> dict[str, Any]:
        """Write day.json: footage measured from the files, and the speed factor."""
        return {"actions": [build.action("speed", write_day)], "task_dep": ["manifest"],
                "file_dep": [str(layout.concat), str(layout.clip_index)],
                "targets": [str(layout.day_json)],
                "uptodate": [config_changed({"render": settings.as_dict(),
                                             "ffmpeg": ffmpeg_version()})],
                "clean": True, "verbosity": 2}

    def task_render() -> dict[str, Any]:
        """Render the timelapse MP4 (runs only when its inputs or settings change)."""
        return {"actions": [build.action("render", render)],
                "file_dep": [str(layout.concat), str(layout.day_json)],
                "targets": [str(layout.timelapse)],
                "uptodate": [config_changed({"fps": settings.fps, "crf": settings.crf,
                                             "preset": settings.preset,
                                             "ffmpeg": ffmpeg_version()})],
                "clean": True, "verbosity": 2}

    def task_verify() -> dict[str, Any]:
        """Check the clips, the order and the output duration (spec section 10)."""
        def unchanged(task: Any, values: dict[str, Any]) -> bool:
            return values.get("output", "") == output_stamp(build)
        return {"actions": [build.action("verify", verify)], "task_dep": ["render"],
                "file_dep": [str(layout.day_json), str(layout.concat)],
                "targets": [str(layout.verify_json)], "uptodate": [unchanged],
                "clean": True, "verbosity": 2}

    return {"task_manifest": task_manifest, "task_speed": task_speed,
            "task_render": task_render, "task_verify": task_verify}


DEFAULT_TASKS = ["scan", "fetch", "manifest", "segment", "speed", "render", "verify",
                 "publish"]


def namespace(build: DayBuild) -> dict[str, Any]:
    """Task creators and DOIT_CONFIG for one camera-day, for dodo.py and the CLI."""
    from .sources import unifi
    build.layout.root.mkdir(parents=True, exist_ok=True)
    names: dict[str, Any] = {}
    if build.settings.source == "s3-frames":
        from .sources import s3_frames
        names.update(s3_frames.tasks(build))
    elif build.settings.source == "axis-timelapse2":
        from .sources import axis_timelapse2
        names.update(axis_timelapse2.tasks(build))
    else:
        names.update(unifi.tasks(build))
        names.update(day_tasks(build))
    from .publish import tasks as publish
    names.update(publish.tasks(build, build.sinks))
    names["DOIT_CONFIG"] = {
        "backend": "sqlite3",
        "dep_file": str(build.layout.dep_file),
        "num_process": build.settings.workers,
        "par_type": "thread",
        "default_tasks": [name for name in DEFAULT_TASKS if f"task_{name}" in names],
        "verbosity": 2,
        "reporter": progress_reporter(f"{build.settings.name} {build.layout.day}",
                                      lambda: build.downloaded, build.quiet),
    }
    return names
