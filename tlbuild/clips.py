"""The clip pipeline of any clip source (UniFi Protect exports today): from the
clips of the day's index to a verified timelapse.

    manifest            manifests/concat.txt   (the complete clips, in time order)
    speed               metadata/day.json      (footage, speed, frame count, plan)
    intermediate:<clip> intermediates/<clip>.mkv (the frames a render can use)
    render              timelapse/<camera>_<date>_timelapse.mp4
    verify              metadata/verify.json

Each step writes its target only when the content changes, so an unchanged input
leaves everything downstream up to date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from doit import create_after

from . import __version__
from .build import DayBuild
from .clipindex import COMPLETE, FAILED, IN_PROGRESS, PENDING, ClipIndex, clip_key, sort_key
from .errors import MediaError, RemoteError
from .ffmpeg import (
    concat_paths,
    concat_quote,
    default_font,
    ffmpeg_version,
    numbered,
    render_argv,
    render_file,
    run_ffmpeg,
    speed_text,
)
from .files import file_stamp, read_json, write_bytes_if_changed, write_json_if_changed
from .layout import DayLayout
from .overlay import clock_filters
from .probe import probe
from .progress import LoggedFailure
from .records import ClipEntry, DayRecord, DaySummary
from .render_plan import (
    INTERMEDIATE,
    KEYFRAME,
    PAD_SECS,
    RenderPlan,
    output_frames,
    output_size,
    plan_render,
    size_filter,
)
from .source import Mark
from .taskdef import task
from .terminal import plural
from .verify import checked_render, verify_output, verify_task

log = logging.getLogger("tlbuild")
MIN_SPEED, MAX_SPEED = 1.0, 2000.0
INTERMEDIATE_FORMAT = "mjpeg-yuv420p-tv"  # what intermediate.j2 writes
MEASURED = ("size", "video_secs", "fps", "keyframe_secs", "width", "height",
            "low_resolution")


# --- for clip sources: their listing, as index entries ------------------------------

def group_events(events: list[dict[str, Any]], merge: bool) -> list[list[dict[str, Any]]]:
    """Clips as groups of events. Merging joins an event that starts at or before the
    current clip's end, so no footage is exported twice."""
    groups: list[list[dict[str, Any]]] = []
    clip_end = None
    for event in events:  # already sorted by (start, end, id)
        if merge and groups and event["start"] <= clip_end:
            groups[-1].append(event)
            clip_end = max(clip_end, event["end"])
        else:
            groups.append([event])
            clip_end = event["end"]
    return groups


def split_range(start: int, end: int, longest: int) -> list[tuple[int, int]]:
    """[start, end) as the fewest parts of at most `longest` each, of equal length
    (each part is one request: devices fail long ones)."""
    count = max(1, math.ceil((end - start) / longest))
    bounds = [start + (end - start) * k // count for k in range(count + 1)]
    return list(pairwise(bounds))


def reconcile(new: list[dict[str, Any]], previous: list[dict[str, Any]],
              root: Path, keep_unlisted: bool = True) -> list[dict[str, Any]]:
    """Carry download state from the previous index into the new one.

    A clip on disk is complete, unless the manifest found it corrupt (failed): then
    it is deleted to be fetched again. A stale `in_progress` becomes pending. A finished clip
    that the NVR no longer lists (retention) is kept unless a new clip overlaps it,
    so rebuilding an old day never loses footage and never shows any twice; not when
    the event filter changed (`keep_unlisted`), which leaves clips out on purpose.
    """
    old = {clip_key(entry): entry for entry in previous if isinstance(entry, dict)
           and "file_path" in entry}
    result = []
    for entry in new:
        before = old.get(clip_key(entry), {})
        path = root / entry["file_path"]
        if before.get("status") == FAILED and path.is_file():
            path.unlink()  # found corrupt by the manifest: download it again
        if path.is_file():
            keep = {k: before[k] for k in MEASURED if k in before}
            result.append({**entry, **keep, "status": COMPLETE})
        elif before.get("status") == FAILED:
            result.append({**entry, "status": FAILED, "error": before.get("error")})
        else:
            result.append(entry)
    for entry in old.values() if keep_unlisted else ():
        if (entry.get("status") == COMPLETE and clip_key(entry) not in
                {clip_key(e) for e in result} and (root / entry["file_path"]).is_file()
                and not any(e["start_ms"] < entry["end_ms"] and entry["start_ms"] < e["end_ms"]
                            for e in new)):
            result.append(entry)
    return sorted(result, key=sort_key)


def clip_index(build: DayBuild) -> ClipIndex:
    """The day's clip index (one per run, shared by the worker threads)."""
    return build.shared("clip_index", lambda: ClipIndex(build.layout.clip_index,
                                                        build.layout.owns_clip))


def clip_facts(path: Path, info: Any) -> dict[str, Any]:
    """What the render plan needs to know of a clip, measured once."""
    return {"size": path.stat().st_size, "video_secs": round(info.duration, 3),
            "fps": info.fps, "width": info.width, "height": info.height,
            "keyframe_secs": info.keyframe_secs}


def concat_line(path: str) -> str:
    """One concat-demuxer line."""
    return f"file {concat_quote(path)}\n"


def usable_clips(build: DayBuild) -> list[ClipEntry]:
    """Complete clips that are on disk and read as video, in (start, end, id) order.

    A clip that no longer probes as video is marked failed and left out; the next
    scan deletes it so that it is downloaded again (doit needs file deps to stay).
    """
    clips = []
    for entry in sorted(clip_index(build).read(), key=sort_key):
        if entry.get("status") != COMPLETE:
            continue
        path = build.layout.clip_path(entry["file_path"])
        if "keyframe_secs" not in entry or entry.get("size") != _size(path):
            try:
                facts = clip_facts(path, probe(path))
            except (MediaError, FileNotFoundError) as error:
                log.warning("leaving out clip %s: %s", path.name, error)
                clip_index(build).update(clip_key(entry), status=FAILED, error=str(error),
                                   size=None, video_secs=None)
                continue
            entry = {**entry, **facts}
            clip_index(build).update(clip_key(entry), **facts)
        clips.append(entry)
    return clips


def complete_clip_paths(build: DayBuild) -> list[Any]:
    paths = []
    for entry in clip_index(build).read():
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
    build.hand("manifest", clips)  # the steps after this one take them as they are


def compute_speed(total_secs: float, target_secs: float) -> float:
    if total_secs <= 0:
        return MIN_SPEED
    return min(max(total_secs / target_secs, MIN_SPEED), MAX_SPEED)


def manifest_entries(build: DayBuild) -> list[ClipEntry]:
    """The clips concat.txt lists, in its order: as the manifest step of this run
    handed them over, else (that step was up to date) the index entries of the paths
    concat.txt names."""
    def listed() -> list[ClipEntry]:
        by_path = {str(build.layout.clip_path(entry["file_path"])): entry
                   for entry in clip_index(build).read()}
        return [by_path[path] for path in concat_paths(build.layout.concat.read_text())
                if path in by_path]
    return build.shared("manifest", listed)


Details = Callable[[DayBuild, list[ClipEntry]], dict[str, Any]]


def write_day(build: DayBuild, details: Details) -> None:
    """day.json: the clip fields, the render plan, and the source's `details`."""
    entries = clip_index(build).read()
    clips = manifest_entries(build)
    total = round(sum(entry.get("video_secs", 0.0) for entry in clips), 3)
    settings = build.settings.render
    speed = compute_speed(total, settings.target)
    frames = output_frames(total, speed, settings.fps) if clips else 0
    plan = plan_render(speed, settings.fps, clips, bool(clock(build)))
    failed = [entry for entry in entries if entry.get("status") == FAILED]
    camera = read_json(build.layout.camera_json, {})
    write_json_if_changed(build.layout.day_json, {
        "camera_id": camera.get("id"),
        "camera_name": camera.get("name"),
        "date": build.date.isoformat(),
        "timezone": camera.get("day", {}).get("timezone"),
        "total_clips": len(entries),
        "valid_clips": len(clips),
        "failed_clips": len(failed),
        "total_events": len({event for entry in entries
                             for event in entry.get("event_ids", [entry["event_id"]])}),
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
        "overlay_time": bool(clock(build)),
        "summary": DaySummary("clips", len(entries), len(clips), len(failed), frames,
                              settings.fps, round(frames / settings.fps, 3),
                              failed[0].get("error") if failed else None).as_dict(),
        **details(build, clips),
    })


def render(build: DayBuild) -> dict[str, Any] | None:
    day = DayRecord.read(build.layout.day_json)
    if not day.valid_clips:
        log.info("no clips to render")
        return None
    settings = build.settings.render
    output = build.layout.timelapse
    plan = RenderPlan.from_dict(day.render_plan)
    clips = manifest_entries(build)
    how = plan.mode + (f", one {'keyframe' if plan.mode == KEYFRAME else 'frame'} in "
                       f"{plan.step}" if plan.step > 1 else "")
    # every path: the footage sped up, one frame per output tick (fps filter), the
    # last frame held to the day's exact frame count: the same on every ffmpeg
    chain = {"check": checked_render(build, day.output_frames, settings.fps),
             "speed": speed_text(day.speed_factor), "fps": settings.fps,
             "frames": day.output_frames, "pad": PAD_SECS,
             "crf": settings.crf, "preset": settings.preset,
             "chapters": chapters(clips, day)}
    fit = size_filter(None, day.output_size)
    if plan.mode == INTERMEDIATE and first_pass(
            build, [intermediate_current(build, c, plan) for c in clips]):
        log.info("rendering %s: %s, %.0f s at %gx (%s, in one pass with the "
                 "intermediates)", output.name, plural(len(clips), "clip"),
                 day.total_duration_secs,
                 day.speed_factor, how)
        render_with_intermediates(build, plan, clips, day, chain)
        return {"inputs": intermediates_digest(build, clips),
                "rendered": build.output_stamp()}
    source = build.layout.concat
    size = size_filter(settings.scale, day.output_size)
    if plan.mode == KEYFRAME:
        current = [intermediate_current(build, c, plan) for c in clips]
        if first_pass(build, current):
            copy_keyframes(build, plan, [c for c, ok in zip(clips, current, strict=True)
                                         if not ok])
    if plan.uses_intermediates:
        source = build.layout.intermediates_list
        # the original clips' durations keep every clip at its place in the timeline
        write_bytes_if_changed(source, "".join(
            concat_line(str(intermediate_path(build, c))) + f"duration {c['video_secs']}\n"
            for c in clips).encode())
        size = fit  # the intermediates already have the configured scale
    log.info("rendering %s: %s, %.0f s at %gx (%s)", output.name, plural(len(clips), "clip"),
             day.total_duration_secs, day.speed_factor, how)
    render_file("render_concat.j2", output, day.output_duration_secs, concat=source,
                scale=size, **chain)
    return {"inputs": intermediates_digest(build, clips if plan.uses_intermediates
                                           else []),
            "rendered": build.output_stamp()}


def chapters(clips: list[ClipEntry], day: DayRecord) -> list[tuple[float, str]]:
    """A chapter at each clip (each merged event; a long one's parts share one),
    titled with its local start time and what was detected."""
    zone = ZoneInfo(day.timezone or "UTC")
    marks, footage = [], 0.0
    for clip in clips:
        if (clip.get("part") or [1])[0] == 1:
            when = dt.datetime.fromtimestamp(clip["start_ms"] / 1000, zone)
            what = ", ".join(clip.get("smart_types") or []) or clip.get("event_type") \
                or "event"
            marks.append((footage / day.speed_factor, f"{when:%H:%M:%S} {what}"))
        footage += clip.get("video_secs") or 0.0
    return marks


def render_with_intermediates(build: DayBuild, plan: RenderPlan,
                              clips: list[dict[str, Any]], day: DayRecord,
                              chain: dict[str, Any]) -> None:
    """The day's render, plus every clip's intermediate from the same decode."""
    settings = build.settings.render
    starts, offset = [], 0.0
    for clip in clips:
        starts.append(offset)
        offset += clip["video_secs"]
    first_frames = first_frame_test(starts)
    work = build.layout.intermediate_dir / f".first-pass-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        render_file("render_onepass.j2", build.layout.timelapse,
                    day.output_duration_secs, concat=build.layout.concat,
                    scale=size_filter(settings.scale, day.output_size),
                    side_scale=size_filter(settings.scale, None),
                    select=f"not(mod(n\\,{plan.step}))+{first_frames}",
                    segment_times=",".join(f"{s:.6f}" for s in starts[1:]),
                    segments=numbered(work, "%06d.mkv"), **chain)
        segments = sorted(work.glob("*.mkv"))
        if len(segments) != len(clips):
            log.warning("first pass left %d intermediates for %d clips; the next run "
                        "makes them one by one", len(segments), len(clips))
            return
        for segment, clip in zip(segments, clips, strict=True):
            segment.replace(intermediate_path(build, clip))
            write_sidecar(build, clip, plan)
    finally:
        shutil.rmtree(work, ignore_errors=True)


KEYFRAME_BATCH = 64  # clips per ffmpeg run: each opens them all at once


def copy_keyframes(build: DayBuild, plan: RenderPlan, clips: list[dict[str, Any]]) -> None:
    """A first build's keyframe-path intermediates, many clips per ffmpeg run: copying
    a clip's keyframes takes less than starting ffmpeg for it."""
    work = build.layout.intermediate_dir / f".keyframes-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        for first in range(0, len(clips), KEYFRAME_BATCH):
            batch = clips[first:first + KEYFRAME_BATCH]
            outputs = [work / f"{n:06d}.mkv" for n in range(len(batch))]
            run_ffmpeg(render_argv("keyframes_copy.j2", outputs=outputs, clips=[
                           build.layout.clip_path(clip["file_path"]) for clip in batch],
                                   keep=[keyframe_filter(plan, clip) for clip in batch]),
                       sum(clip.get("video_secs") or 0.0 for clip in batch),
                       f"keyframes of {plural(len(batch), 'clip')}")
            for output, clip in zip(outputs, batch, strict=True):
                output.replace(intermediate_path(build, clip))
                write_sidecar(build, clip, plan)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def first_frame_test(starts: list[float]) -> str:
    """An expression for ffmpeg's select filter: 1 on a frame at one of `starts`
    (each clip's first frame in the day's concatenation), else 0. A binary search
    over the sorted starts (ffmpeg's `if` evaluates only the branch it takes), so a
    frame costs about log2(clips) comparisons: a sum of one test per clip cost every
    frame of a 582-clip day 582 of them, 2.5 s of CPU."""
    if len(starts) == 1:
        return f"lt(abs(t-{starts[0]:.6f})\\,0.0005)"
    middle = len(starts) // 2
    split = (starts[middle - 1] + starts[middle]) / 2
    return (f"if(lt(t\\,{split:.6f})\\,{first_frame_test(starts[:middle])}\\,"
            f"{first_frame_test(starts[middle:])})")


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
            "format": INTERMEDIATE_FORMAT, "clock": clock(build)}


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


def first_pass(build: DayBuild, current: list[bool]) -> bool:
    """Make the intermediates inside the render when most are missing (a first build):
    one decode then serves both, where separate steps would decode and encode twice;
    on the keyframe path, one ffmpeg run copies many clips' keyframes. Not with a
    time overlay: each clip's intermediate shows its own times."""
    return not clock(build) and current.count(False) * 2 > len(current)


def intermediates_digest(build: DayBuild, clips: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for clip in clips:
        try:
            digest.update(sidecar_path(build, clip).read_bytes())
        except FileNotFoundError:
            digest.update(b"-")
    return digest.hexdigest()


def clock(build: DayBuild) -> dict[str, Any] | None:
    """The time overlay's settings (`overlay_time`), or None without one."""
    settings = build.settings
    if not settings.overlay_time:
        return None
    return {"font": settings.overlay_font, "zone": build.zone()}


def keyframe_filter(plan: RenderPlan, entry: dict[str, Any]) -> str:
    """The bitstream filter that keeps a clip's keyframes the plan uses: those whose
    number (packet number / the clip's packets per keyframe, rounded) is a multiple
    of its step. Counted in packets, not time: 5.1 gives the filter a time base
    other than its packets' when it writes Matroska (then every keyframe was kept)."""
    if plan.step <= 1:
        return "noise=drop=not(key)"
    packets = (entry.get("keyframe_secs") or 1.0) * (entry.get("fps") or 1.0)
    return f"noise=drop=not(key)+mod(round(n/{packets:.6f})\\,{plan.step})"


def make_intermediate(build: DayBuild, entry: dict[str, Any], plan: RenderPlan) -> None:
    filters = [f"select='not(mod(n\\,{plan.step}))'"]
    scale = size_filter(build.settings.render.scale, None)
    if scale:
        filters.append(scale)
    overlay = clock(build)
    if overlay:  # the clip's frames are seconds after its start
        start = dt.datetime.fromtimestamp(entry["start_ms"] / 1000, dt.timezone.utc)
        filters += clock_filters(start, entry.get("video_secs", 0.0), overlay["zone"],
                                 overlay["font"] or default_font())
    render_file("intermediate.j2", intermediate_path(build, entry),
                entry.get("video_secs", 1.0),
                clip=build.layout.clip_path(entry["file_path"]),
                keyframes=keyframe_filter(plan, entry) if plan.mode == KEYFRAME else None,
                filters=",".join(filters))
    write_sidecar(build, entry, plan)


def verify(build: DayBuild) -> dict[str, Any]:
    """The clips, their order and the output (spec section 10, made exact)."""
    layout = build.layout
    day = DayRecord.read(layout.day_json)
    if not day.valid_clips:
        return {"output": None}
    checks: dict[str, bool] = {}
    if not build.pruned:  # pruned on purpose: only the video is checked
        lines = concat_paths(layout.concat.read_text())
        included = manifest_entries(build)
        paths = [layout.clip_path(entry["file_path"]) for entry in included]
        checks = {
            "clips_exist": len(included) == len(lines)
                           and all(p.is_file() and p.stat().st_size > 0 for p in paths),
            "clip_count": day.valid_clips == day.total_clips - day.failed_clips
                          == len(lines),
            "concat_order": [sort_key(e) for e in included]
                            == sorted(map(sort_key, included)),
        }
    # what the day's plan rendered (day.json), not the settings of this command
    return verify_output(build, day.output_frames, day.render["fps"], checks,
                         floor_secs=day.total_duration_secs / day.speed_factor)


def tasks(build: DayBuild, details: Details = lambda build, clips: {},
          details_read: dict[str, Any] | None = None) -> dict[str, Any]:
    """The clip pipeline's task creators. `details`: the source's own day.json fields
    (reading the settings in `details_read`)."""
    layout, settings = build.layout, build.settings.render

    @create_after(executed="fetch", target_regex=r".*concat\.txt$")
    def task_manifest() -> dict[str, Any]:
        """Write concat.txt: the complete clips in time order."""
        # created after the downloads, so the finished clips are file deps: a clip
        # changed or damaged on disk is probed again
        return task(build, "manifest", write_manifest, task_dep=["fetch"],
                    file_dep=[layout.clip_index, *complete_clip_paths(build)],
                    targets=[layout.concat])

    def task_speed() -> dict[str, Any]:
        """Write day.json: footage measured from the files, and the speed factor."""
        return task(build, "speed", write_day, details, task_dep=["manifest"],
                    reads={"render": settings.as_dict(), **(details_read or {}),
                           "overlay_time": build.settings.overlay_time},
                    file_dep=[layout.concat, layout.clip_index],
                    targets=[layout.day_json], stamped=True)

    def current_plan() -> tuple[RenderPlan, list[dict[str, Any]]]:
        plan = RenderPlan.from_dict(DayRecord.read(layout.day_json).render_plan)
        if not plan.uses_intermediates or not layout.concat.exists():
            return plan, []
        return plan, manifest_entries(build)

    @create_after(executed="speed")
    def task_intermediate() -> Iterator[dict[str, Any]]:
        """Decode each clip once into the frames a render can use."""
        plan, clips = current_plan()
        # judged once, here: the clips were fetched before this task list is made
        current = [intermediate_current(build, entry, plan) for entry in clips]
        if not clips or first_pass(build, current):
            return  # none, or the render makes them (see first_pass)
        for entry, ready in zip(clips, current, strict=True):
            made = intermediate_path(build, entry)
            # the sidecar records the clip it was made from (no file_dep: an
            # intermediate made by the first-pass render has no doit state)
            yield task(build, "intermediate", make_intermediate, entry, plan,
                       subtask=made.stem, targets=[made], uptodate=[ready],
                       clean=[sidecar_path(build, entry)])

    @create_after(executed="speed", target_regex=r".*_timelapse\.mp4$")
    def task_render() -> dict[str, Any]:
        """Render the timelapse MP4 (runs only when its inputs or settings change)."""
        _, clips = current_plan()

        def inputs_unchanged(task: Any, values: dict[str, Any]) -> bool:
            return values.get("inputs") == intermediates_digest(build, clips)
        return task(build, "render", render, task_dep=["intermediate"],
                    reads={"fps": settings.fps, "crf": settings.crf,
                           "preset": settings.preset, "scale": settings.scale},
                    file_dep=[layout.concat, layout.day_json],
                    targets=[layout.timelapse],
                    uptodate=[inputs_unchanged, build.output_as_rendered],
                    clean=[layout.intermediate_dir, layout.intermediates_list])

    def task_verify() -> dict[str, Any]:
        """Check the clips, the order and the output (spec section 10, made exact)."""
        return verify_task(build, verify, file_dep=[layout.day_json, layout.concat])

    return {"task_manifest": task_manifest, "task_speed": task_speed,
            "task_intermediate": task_intermediate, "task_render": task_render,
            "task_verify": task_verify}


def marks(build: DayBuild, day: DayRecord) -> list[Mark]:
    """The day page's timeline: one mark per clip, with where the video shows it."""
    speed, footage, found = day.speed_factor or 1, 0.0, []
    for clip in sorted(clip_index(build).read(), key=sort_key):
        used = clip.get("status") == COMPLETE and clip.get("video_secs")
        found.append(Mark(clip["start_ms"], clip["end_ms"], "ok" if used else "failed",
                          ", ".join(clip.get("smart_types") or [])
                          or clip.get("event_type") or "event",
                          footage / speed if used else None, clip.get("error"),
                          (footage + clip["video_secs"]) / speed if used else None))
        footage += clip.get("video_secs") or 0.0 if used else 0.0
    return found


def records(layout: DayLayout) -> list[Path]:
    return [layout.clip_index]


# --- what every clip source's graph starts with ---------------------------------------

def failures(build: DayBuild) -> tuple[int, int, str | None]:
    """(failed clips, clips, the first failure's reason) of the day's clip index."""
    entries = clip_index(build).read()
    failed = [entry for entry in entries if entry.get("status") == FAILED]
    return len(failed), len(entries), failed[0].get("error") if failed else None


def fetch_clip(build: DayBuild, entry: ClipEntry,
               download: Callable[[Path], Any]) -> LoggedFailure | None:
    """One clip of the index through the source's `download(path)` (returning what
    the probe found), its status kept in the index: a clip the device cannot give
    (RemoteError: nothing recorded, retries spent) is marked failed and the day goes
    on; anything else (authentication, a full disk, a stop) stops the run and leaves
    the clip pending."""
    if build.outcome.fatal is not None:
        return LoggedFailure("run stopped")
    path = build.layout.clip_path(entry["file_path"])
    key, index = clip_key(entry), clip_index(build)
    index.update(key, status=IN_PROGRESS)
    try:
        info = download(path)
    except RemoteError as error:
        index.update(key, status=FAILED, error=str(error))
        log.warning("clip %s failed: %s (a rerun tries again)", path.name, error)
        return None
    except BaseException:
        index.update(key, status=PENDING)
        raise
    index.update(key, status=COMPLETE, error=None, **clip_facts(path, info))
    log.debug("downloaded %s (%.1f s of video)", path.name, info.duration)
    return None


def source_tasks(build: DayBuild, scan: Callable[[DayBuild], Any],
                 fetch: Callable[[DayBuild, ClipEntry], Any], details: Details,
                 details_read: dict[str, Any]) -> dict[str, Any]:
    """A clip source's graph: its `scan` (which writes camera.json and the clip
    index), one `fetch` per clip of the index, then the clip pipeline."""
    layout = build.layout

    def task_scan() -> dict[str, Any]:
        """Resolve the camera, list the day's footage, write the clip index."""
        # always asks the device; its files change only with their content
        return task(build, "scan", scan, targets=[layout.camera_json, layout.clip_index],
                    uptodate=[False], clean=[layout.owner_file])

    @create_after(executed="scan")
    def task_fetch() -> Iterator[dict[str, Any]]:
        """Download each clip of the index (one task per clip)."""
        if build.offline:
            return
        for entry in clip_index(build).read():
            path = layout.clip_path(entry["file_path"])
            # done once the clip exists: it never changes
            yield task(build, "fetch", fetch, entry, subtask=path.stem,
                       targets=[path], uptodate=[True])

    return {"task_scan": task_scan, "task_fetch": task_fetch,
            **tasks(build, details, details_read)}
