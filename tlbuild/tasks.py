"""The generic day graph for clip sources: manifest, speed, render, verify.

    scan -> fetch:<clip> -> manifest (concat.txt) -> speed (day.json) -> render -> verify

Each step writes its target only when the content changes, so an unchanged input
leaves everything downstream up to date.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

from doit.exceptions import TaskFailed
from doit import create_after
from doit.task import clean_targets
from doit.tools import config_changed

from . import __version__
from .build import DayBuild
from .sources.unifi import clip_facts
from .clipindex import COMPLETE, FAILED, clip_key, sort_key
from .errors import MediaError, storage_error
from .files import (file_stamp, json_intact, read_json, write_bytes_if_changed,
                    write_json_if_changed)
from .reporter import progress_reporter
from .ffmpeg import check_ffmpeg, ffmpeg_version, render_file, require_filter, speed_text
from .probe import decode, probe
from .render_plan import (INTERMEDIATE, KEYFRAME, PAD_SECS, RenderPlan, output_frames,
                          output_size, plan_render, size_filter)

log = logging.getLogger("tlbuild")
MIN_SPEED, MAX_SPEED = 1.0, 2000.0
DURATION_TOLERANCE = 10.0
INTERMEDIATE_FORMAT = "mjpeg-yuv420p-tv"  # what intermediate.j2 writes


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
        if "keyframe_secs" not in entry or entry.get("size") != _size(path):
            try:
                facts = clip_facts(path, probe(path))
            except (MediaError, FileNotFoundError) as error:
                log.warning("leaving out clip %s: %s", path.name, error)
                build.index.update(clip_key(entry), status=FAILED, error=str(error),
                                   size=None, video_secs=None)
                continue
            entry = {**entry, **facts}
            build.index.update(clip_key(entry), **facts)
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
    settings = build.settings.render
    speed = compute_speed(total, settings.target)
    frames = output_frames(total, speed, settings.fps) if clips else 0
    plan = plan_render(speed, settings.fps, clips)
    camera = read_json(build.layout.camera_json, {})
    write_json_if_changed(build.layout.day_json, {
        "camera_id": camera.get("id"),
        "camera_name": camera.get("name"),
        "date": build.date.isoformat(),
        "timezone": camera.get("day", {}).get("timezone"),
        "total_clips": len(entries),
        "valid_clips": len(clips),
        "failed_clips": sum(entry.get("status") == FAILED for entry in entries),
        "total_events": len({event for entry in entries
                             for event in entry.get("event_ids", [entry["event_id"]])}),
        "low_resolution": any(entry.get("low_resolution") for entry in clips),
        "filter": build.settings.events.as_dict(),
        "total_duration_secs": total,
        "speed_factor": round(speed, 6),
        "target_secs": settings.target,
        "output_frames": frames,
        "output_duration_secs": round(frames / settings.fps, 3),
        "output_size": output_size(clips),
        "tool_version": __version__,
        "ffmpeg_version": ffmpeg_version(),
        "render": settings.as_dict(),
        "render_plan": plan.as_dict(),
    })


def render(build: DayBuild) -> dict[str, Any] | None:
    day = read_json(build.layout.day_json, {})
    if not day.get("valid_clips"):
        log.info("%s %s: no clips to render", build.settings.name, build.date)
        return None
    settings = build.settings.render
    output = build.layout.timelapse
    plan = RenderPlan.from_dict(day.get("render_plan"))
    _, clips = concat_entries(build)
    how = plan.mode + (f", every {plan.step}th frame" if plan.step > 1 else "")
    # every path: the footage sped up, one frame per output tick (fps filter), the
    # last frame held to the day's exact frame count: the same on every ffmpeg
    chain = {"speed": speed_text(day["speed_factor"]), "fps": settings.fps,
             "frames": day["output_frames"], "pad": PAD_SECS,
             "crf": settings.crf, "preset": settings.preset}
    fit = size_filter(None, day.get("output_size"))
    if plan.mode == INTERMEDIATE and first_pass(build, plan, clips):
        log.info("rendering %s: %d clips, %.0f s at %gx (%s, in one pass with the "
                 "intermediates)", output.name, len(clips), day["total_duration_secs"],
                 day["speed_factor"], how)
        render_with_intermediates(build, plan, clips, day, chain)
        return {"inputs": intermediates_digest(build, clips),
                "rendered": build.output_stamp()}
    source = build.layout.concat
    size = size_filter(settings.scale, day.get("output_size"))
    if plan.uses_intermediates:
        source = build.layout.intermediates_list
        # the original clips' durations keep every clip at its place in the timeline
        write_bytes_if_changed(source, "".join(
            concat_line(str(intermediate_path(build, c))) + f"duration {c['video_secs']}\n"
            for c in clips).encode())
        size = fit  # the intermediates already have the configured scale
    log.info("rendering %s: %d clips, %.0f s at %gx (%s)", output.name, len(clips),
             day["total_duration_secs"], day["speed_factor"], how)
    render_file("render_concat.j2", output, day["output_duration_secs"], concat=source,
                scale=size, **chain)
    return {"inputs": intermediates_digest(build, clips if plan.uses_intermediates
                                           else []),
            "rendered": build.output_stamp()}


def render_with_intermediates(build: DayBuild, plan: RenderPlan,
                              clips: list[dict[str, Any]], day: dict[str, Any],
                              chain: dict[str, Any]) -> None:
    """The day's render, plus every clip's intermediate from the same decode."""
    settings = build.settings.render
    starts, offset = [], 0.0
    for clip in clips:
        starts.append(offset)
        offset += clip["video_secs"]
    first_frames = balanced_sum([f"lt(abs(t-{start:.6f})\\,0.0005)" for start in starts])
    work = build.layout.intermediate_dir / f".first-pass-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        render_file("render_onepass.j2", build.layout.timelapse,
                    day["output_duration_secs"], concat=build.layout.concat,
                    scale=size_filter(settings.scale, day.get("output_size")),
                    side_scale=size_filter(settings.scale, None),
                    select=f"not(mod(n\\,{plan.step}))+{first_frames}",
                    segment_times=",".join(f"{s:.6f}" for s in starts[1:]),
                    segments=work / "%06d.mkv", **chain)
        segments = sorted(work.glob("*.mkv"))
        if len(segments) != len(clips):
            log.warning("first pass left %d intermediates for %d clips; the next run "
                        "makes them one by one", len(segments), len(clips))
            return
        for segment, clip in zip(segments, clips):
            segment.replace(intermediate_path(build, clip))
            write_sidecar(build, clip, plan)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def balanced_sum(terms: list[str]) -> str:
    """`a+b+c+...` as a balanced tree: ffmpeg's expression parser fails on long flat
    chains (about 100 terms) but not on a tree log2(n) deep."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({balanced_sum(terms[:middle])}+{balanced_sum(terms[middle:])})"


def intermediate_path(build: DayBuild, entry: dict[str, Any]) -> Path:
    return build.layout.intermediate_dir / (Path(entry["file_path"]).stem + ".mkv")


def sidecar_path(build: DayBuild, entry: dict[str, Any]) -> Path:
    return intermediate_path(build, entry).with_suffix(".json")


def wanted_sidecar(build: DayBuild, entry: dict[str, Any], plan: RenderPlan
                   ) -> dict[str, Any]:
    """What an intermediate was made from: it is reused while this stays the same."""
    clip = build.layout.clip_path(entry["file_path"]).stat()
    return {"plan": plan.as_dict(), "scale": build.settings.render.scale,
            "clip": [clip.st_size, clip.st_mtime_ns], "ffmpeg": ffmpeg_version(),
            "format": INTERMEDIATE_FORMAT}


def write_sidecar(build: DayBuild, entry: dict[str, Any], plan: RenderPlan) -> None:
    """Record what the intermediate was made from, and the file as it was made."""
    write_json_if_changed(sidecar_path(build, entry), {
        **wanted_sidecar(build, entry, plan),
        "made": file_stamp(intermediate_path(build, entry))})


def intermediate_current(build: DayBuild, entry: dict[str, Any], plan: RenderPlan) -> bool:
    """The intermediate exists as it was made, from this clip with these settings (a
    damaged or changed one is made again)."""
    sidecar = read_json(sidecar_path(build, entry), None)
    if not isinstance(sidecar, dict):
        return False
    made = sidecar.pop("made", None)
    return (made is not None and made == file_stamp(intermediate_path(build, entry))
            and sidecar == wanted_sidecar(build, entry, plan))


def first_pass(build: DayBuild, plan: RenderPlan, clips: list[dict[str, Any]]) -> bool:
    """Make the intermediates inside the render when most are missing (a first build):
    one decode then serves both, where separate steps would decode and encode twice."""
    missing = sum(not intermediate_current(build, c, plan) for c in clips)
    return missing * 2 > len(clips)


def intermediates_digest(build: DayBuild, clips: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for clip in clips:
        try:
            digest.update(sidecar_path(build, clip).read_bytes())
        except FileNotFoundError:
            digest.update(b"-")
    return digest.hexdigest()


def make_intermediate(build: DayBuild, entry: dict[str, Any], plan: RenderPlan) -> None:
    filters = [f"select='not(mod(n\\,{plan.step}))'"]
    scale = size_filter(build.settings.render.scale, None)
    if scale:
        filters.append(scale)
    render_file("intermediate.j2", intermediate_path(build, entry),
                entry.get("video_secs", 1.0),
                clip=build.layout.clip_path(entry["file_path"]),
                keyframes=plan.mode == KEYFRAME, filters=",".join(filters))
    write_sidecar(build, entry, plan)


def verify_output(build: DayBuild, frames: int, fps: float, checks: dict[str, bool],
                  floor_secs: float | None = None,
                  size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Check the timelapse against what the render plan promised, for every source:
    it decodes without error, has exactly `frames` frames and lasts frames/fps
    within one frame (plus the source's own `checks`; `floor_secs`: the spec's
    +-10 s, a floor that stays). Writes metadata/verify.json; a failure says what is
    wrong and how to rebuild."""
    output = build.layout.timelapse
    wanted = frames / fps
    measured = decoded = info = None
    if output.is_file() and output.stat().st_size > 0:
        decoded = decode(output)
        try:
            info = probe(output)
            measured = info.duration
        except MediaError:
            pass
    checks = {**checks, "output_exists": decoded is not None,
              "decodes": decoded is not None and not decoded.errors,
              "frame_count": decoded is not None and decoded.frames == frames,
              "duration": measured is not None and abs(measured - wanted) <= 1 / fps + 1e-3}
    if floor_secs is not None:
        checks["duration_floor"] = (measured is not None
                                    and abs(measured - floor_secs) <= DURATION_TOLERANCE)
    if size is not None:
        checks["size"] = info is not None and (info.width, info.height) == tuple(size)
    report = {"ok": all(checks.values()), "checks": checks, "file": output.name,
              "frames": decoded.frames if decoded else None, "expected_frames": frames,
              "duration_secs": measured, "expected_duration_secs": round(wanted, 3),
              "decode_errors": (decoded.errors[:5] if decoded else []),
              "fps": fps}
    write_json_if_changed(build.layout.verify_json, report)
    if not report["ok"]:
        raise MediaError(f"verification of {output.name} failed: "
                         f"{verify_problems(report)}. Rebuild it: tlbuild --camera "
                         f"{build.settings.name} render --date {build.date} --force (or "
                         f"doit render camera={build.settings.name} date={build.date}); "
                         f"details in {build.layout.verify_json}")
    log.info("verified %s: %d frames, %.2f s", output.name, frames, measured)
    return {"output": build.output_stamp()}


def verify_problems(report: dict[str, Any]) -> str:
    checks, problems = report["checks"], []
    if not checks["output_exists"]:
        return "the video is missing or empty"
    if not checks["decodes"]:
        first = re.sub(r"^\[[^]]*@ 0x[0-9a-f]+\] ", "", report["decode_errors"][0])
        problems.append(f"ffmpeg reports decode errors (first: {first[:120]})")
    if not checks["frame_count"]:
        problems.append(f"it has {report['frames']} frames, {report['expected_frames']} "
                        "expected")
    if not checks["duration"]:
        measured = report["duration_secs"]
        problems.append("its length cannot be read" if measured is None else
                        f"it lasts {measured:.2f} s, "
                        f"{report['expected_duration_secs']:.2f} s expected")
    problems += [f"check {name} failed" for name, ok in checks.items() if not ok
                 and name not in ("decodes", "frame_count", "duration", "duration_floor")]
    if not problems and not checks.get("duration_floor", True):
        problems.append("its length is more than 10 s off the footage / speed")
    return "; ".join(problems)


def verify(build: DayBuild) -> TaskFailed | dict[str, Any]:
    """The clips, their order and the output (spec section 10, made exact)."""
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
    }
    # what the day's plan rendered (day.json), not the settings of this command
    return verify_output(build, day["output_frames"], day["render"]["fps"], checks,
                         floor_secs=day["total_duration_secs"] / day["speed_factor"])


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
                                             "filter": build.settings.events.as_dict(),
                                             "ffmpeg": ffmpeg_version()}),
                             json_intact(layout.day_json)],
                "clean": True, "verbosity": 2}

    def current_plan() -> tuple[RenderPlan, list[dict[str, Any]]]:
        day = read_json(layout.day_json, {}) or {}
        plan = RenderPlan.from_dict(day.get("render_plan"))
        if not plan.uses_intermediates or not layout.concat.exists():
            return plan, []
        return plan, concat_entries(build)[1]

    @create_after(executed="speed")
    def task_intermediate() -> Iterator[dict[str, Any]]:
        """Decode each clip once into the frames a render can use."""
        plan, clips = current_plan()
        if not clips or (plan.mode == INTERMEDIATE and first_pass(build, plan, clips)):
            return  # none, or the render makes them all in its single pass
        for entry in clips:
            clip = build.layout.clip_path(entry["file_path"])
            yield {"name": clip.stem,
                   "actions": [build.action(f"intermediate:{clip.stem}",
                                            make_intermediate, entry, plan)],
                   # the sidecar records the clip it was made from (no file_dep: an
                   # intermediate made by the first-pass render has no doit state)
                   "targets": [str(intermediate_path(build, entry))],
                   "uptodate": [lambda entry=entry, plan=plan:
                                intermediate_current(build, entry, plan)],
                   "clean": [(remove_files, [[intermediate_path(build, entry),
                                              sidecar_path(build, entry)]])],
                   "verbosity": 2}

    @create_after(executed="speed", target_regex=r".*_timelapse\.mp4$")
    def task_render() -> dict[str, Any]:
        """Render the timelapse MP4 (runs only when its inputs or settings change)."""
        _, clips = current_plan()

        def inputs_unchanged(task: Any, values: dict[str, Any]) -> bool:
            return values.get("inputs") == intermediates_digest(build, clips)
        return {"actions": [build.action("render", render)],
                "task_dep": ["intermediate"],
                "file_dep": [str(layout.concat), str(layout.day_json)],
                "targets": [str(layout.timelapse)],
                "uptodate": [config_changed({"fps": settings.fps, "crf": settings.crf,
                                             "preset": settings.preset,
                                             "scale": settings.scale,
                                             "ffmpeg": ffmpeg_version()}),
                             inputs_unchanged, build.output_as_rendered],
                "clean": [clean_targets, (remove_tree, [layout.intermediate_dir])],
                "verbosity": 2}

    def task_verify() -> dict[str, Any]:
        """Check the clips, the order and the output duration (spec section 10)."""
        return {"actions": [build.action("verify", verify)], "task_dep": ["render"],
                "file_dep": [str(layout.day_json), str(layout.concat)],
                "targets": [str(layout.verify_json)],
                "uptodate": [build.output_unchanged, json_intact(layout.verify_json)],
                "clean": True, "verbosity": 2}

    return {"task_manifest": task_manifest, "task_speed": task_speed,
            "task_intermediate": task_intermediate, "task_render": task_render,
            "task_verify": task_verify}


def remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


DEFAULT_TASKS = ["scan", "fetch", "manifest", "segment", "speed", "intermediate",
                 "render", "verify", "publish"]


def namespace(build: DayBuild, lock: bool = True) -> dict[str, Any]:
    """Task creators and DOIT_CONFIG for one camera-day, for dodo.py and the CLI.
    `lock`: this run changes the camera-day (not `doit list` or `info`), so it takes
    the day's lock first."""
    from .sources import unifi
    check_ffmpeg()  # an unusable ffmpeg is refused before any request
    if getattr(build.settings, "overlay_time", False):
        require_filter("drawtext", "overlay_time")
    try:
        build.layout.root.mkdir(parents=True, exist_ok=True)
        build.check_owner()
        if lock:
            build.lock()
            build.check_state()
    except OSError as error:  # a read-only or full disk: one line, no traceback
        raise storage_error(error) from None
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
