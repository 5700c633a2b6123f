"""Axis Timelapse2 / Timelapse3 / TimelapseMe archives as a tlbuild source.

    scan              metadata/camera.json (app and version), manifests/archive_index.json
    fetch:<archive>   archives/<name>          (kept unless its size differs from the
                                                server's, so a truncated file is redone)
    segment:<archive> segments/<name>.mp4      (the archive's frames inside the day)
    speed             metadata/day.json
    render            timelapse/<camera>_<date>_timelapse.mp4   (segments joined)
    verify            metadata/verify.json

An archive spanning more than the day (weekly, monthly or size splits) is cut to the
day: frames are placed evenly between `first` and `last` (1.x stores no per-frame
times); TimelapseMe's `frames` route gives the real ones.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from doit import create_after

from .. import __version__, frames
from ..build import DayBuild
from ..config import (
    ConfigError,
    RenderSettings,
    SecretSource,
    Table,
    overlay_settings,
    positive,
    render_settings,
    secret_source,
    sink_names,
    validate_timezone,
)
from ..days import day_window
from ..errors import MediaError, UsageError
from ..ffmpeg import concat_quote, default_font, ffmpeg_version, render_file
from ..files import file_stamp, read_json, write_bytes_if_changed, write_json_if_changed
from ..http import Unavailable
from ..layout import DayLayout
from ..overlay import clock_filters
from ..records import ArchiveEntry, DayRecord, DaySummary
from ..settings import CameraSettings
from ..source import Mark
from ..taskdef import task
from ..terminal import plural
from ..verify import checked_render, verify_output, verify_task
from .axis_client import Archive, AxisClient

log = logging.getLogger("tlbuild.axis")
DEFAULT_FPS = 10


# --- settings ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class AxisCamera(CameraSettings):
    """An Axis camera with the Timelapse2, Timelapse3 or TimelapseMe app (read only)."""

    host: str
    username: str
    password: SecretSource
    scheme: str = "http"
    profile: str | None = None
    render: RenderSettings = field(default_factory=lambda: RenderSettings(target=None,
                                                                          fps=0))
    timezone: str = "UTC"
    rate_limit_mbps: float | None = None
    retries: int = 3
    workers: int = 2
    timeout: float = 60.0
    tls_insecure: bool = False
    source: str = "axis-timelapse2"

    @property
    def device_address(self) -> str | None:
        return self.host
    OWN_FPS: ClassVar[bool] = True  # fps = 0 keeps the archive's own

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def parse(name: str, table: Table, base: Path) -> AxisCamera:
    where = table.where
    host = table.get("host", str, required=True).strip().rstrip("/")
    if "://" in host or "/" in host or not host:
        raise ConfigError(f"{where}: host is a host name or address (and optional "
                          ":port); set the scheme with `scheme`")
    scheme = table.get("scheme", str, "http")
    if scheme not in ("http", "https"):
        raise ConfigError(f"{where}: scheme must be 'http' or 'https'")
    rate = table.get("rate_limit_mbps", (int, float))
    if rate is not None and rate <= 0:
        raise ConfigError(f"{where}: rate_limit_mbps must be positive")
    profile = table.get("profile", (str, int))
    overlay_time, overlay_font = overlay_settings(table)
    camera = AxisCamera(
        name=name, host=host, username=table.get("username", str, required=True),
        password=secret_source(table, base, "password"), scheme=scheme,
        profile=None if profile is None else str(profile),
        render=render_settings(table, RenderSettings(target=None, fps=0), own_fps=True),
        timezone=validate_timezone(table.get("timezone", str, "UTC"), where) or "UTC",
        rate_limit_mbps=None if rate is None else float(rate),
        retries=positive(table.get("retries", int, 3), "retries", where, high=20),
        workers=positive(table.get("workers", int, 2), "workers", where, high=8),
        timeout=float(table.get("timeout", (int, float), 60.0)),
        tls_insecure=table.get("tls_insecure", bool, False),
        overlay_time=overlay_time, overlay_font=overlay_font,
        publish=sink_names(table, "publish"))
    table.get("source", str)
    table.reject_unknown()
    return camera



def client_for(build: DayBuild) -> AxisClient:
    settings = build.settings
    return AxisClient(settings.base_url, settings.username, build.password,
                      zone=settings.timezone, retries=settings.retries,
                      timeout=settings.timeout, tls_insecure=settings.tls_insecure,
                      rate_limit_mbps=settings.rate_limit_mbps)


def frame_times(archive: Archive, real: list[int]) -> list[int]:
    """Each frame's time: the real ones when they fit the archive, else evenly spread."""
    inside = [t for t in real if archive.first_ms <= t <= archive.last_ms]
    if archive.frames and len(inside) == archive.frames:
        return inside
    if archive.frames <= 1:
        return [archive.first_ms] * archive.frames
    step = (archive.last_ms - archive.first_ms) / (archive.frames - 1)
    return [round(archive.first_ms + i * step) for i in range(archive.frames)]


def day_cut(times: list[int], start: int, end: int) -> tuple[int, int] | None:
    """[first, last] frame indexes inside [start, end), or None."""
    inside = [i for i, t in enumerate(times) if start <= t < end]
    return (inside[0], inside[-1]) if inside else None


def choose_profile(archives: list[dict[str, Any]], wanted: str | None,
                   profiles: list[dict[str, Any]]) -> str | None:
    if wanted:
        ids = {str(p["id"]) for p in profiles} | {a["profile_id"] for a in archives}
        if wanted in ids:
            return wanted
        named = [str(p["id"]) for p in profiles
                 if str(p.get("name", "")).casefold() == wanted.casefold()]
        if named:
            return named[0]
        known = ", ".join(f"{p.get('name')!r} (id {p['id']})" for p in profiles) or "none"
        raise UsageError(f"timelapse profile {wanted!r} not found; profiles: {known}")
    frames: dict[str, int] = {}
    for item in archives:
        frames[item["profile_id"]] = frames.get(item["profile_id"], 0) + \
            item["cut"][1] - item["cut"][0] + 1
    if not frames:
        return None
    chosen = max(sorted(frames), key=lambda pid: frames[pid])
    if len(frames) > 1:
        log.warning("several timelapse profiles recorded this day (%s); using %s: set "
                    "`profile` to choose", ", ".join(sorted(frames)), chosen)
    return chosen


def scan(build: DayBuild) -> None:
    layout, settings = build.layout, build.settings
    if build.offline:
        if not layout.archive_index.exists():
            raise UsageError(f"no archive index at {layout.archive_index}: scan online "
                             "first")
        return
    client = client_for(build)
    app = client.detect()
    archives = client.archives()
    start, end = day_window(build.date, settings.timezone)
    real_times = {pid: client.frame_times(pid) for pid in
                  {a.profile_id for a in archives}} if app == "timelapseme" else {}
    listing, day = [], []
    for archive in sorted(archives, key=lambda a: (a.first_ms, a.filename)):
        item = archive.as_dict()
        if archive.first_ms < end and archive.last_ms >= start and archive.frames:
            times = frame_times(archive, real_times.get(archive.profile_id, []))
            cut = day_cut(times, start, end)
            if cut:
                item["cut"] = list(cut)
                item["cut_ms"] = [times[cut[0]], times[cut[1]]]  # for a time overlay
                day.append(item)
        listing.append(item)
    profile = choose_profile(day, settings.profile, client.profiles())
    for item in day:
        item["in_day"] = item["profile_id"] == profile
        if item["in_day"]:
            item["remote_size"] = client.remote_size(Archive.from_dict(item))
    write_json_if_changed(layout.camera_json, {
        "app": app, "version": client.version, "host": settings.host,
        "profile": profile, "timezone": settings.timezone, "tool_version": __version__})
    write_json_if_changed(layout.archive_index, listing)
    build.claim()
    chosen = [i for i in day if i.get("in_day")]
    log.info("%s %s, %s, %d for this day",
             app, client.version or "", plural(len(listing), "archive"), len(chosen))


def day_archives(build: DayBuild) -> list[ArchiveEntry]:
    return [item for item in read_json(build.layout.archive_index, []) if item.get("in_day")]


def output_fps(build: DayBuild, archives: list[dict[str, Any]]) -> float:
    configured = build.settings.render.fps
    if configured:
        return float(configured)
    return float(next((a["fps"] for a in archives if a.get("fps")), DEFAULT_FPS))


def fetch(build: DayBuild, item: dict[str, Any]) -> None:
    path = build.layout.archive_dir / item["local_name"]
    try:
        size = client_for(build).download(Archive.from_dict(item), path,
                                          lambda n, total: build.count_bytes(n))
    except Unavailable as gone:
        raise MediaError(f"archive {item['filename']!r} is no longer on the camera "
                         f"({gone}); rerun the scan") from None
    log.info("downloaded %s (%d bytes)", item["filename"], size)


def segment(build: DayBuild, item: dict[str, Any], fps: float) -> dict[str, Any]:
    first, last = item["cut"]
    path = segment_path(build, item)
    clock, real_step = time_overlay(build.settings, item)
    render_file("archive_segment.j2", path, (last - first + 1) / fps,
                archive=build.layout.archive_dir / item["local_name"], first=first,
                last=last, count=last - first + 1, fps=f"{fps:g}",
                crf=build.settings.render.crf, preset=build.settings.render.preset,
                clock=clock, real_step=f"{real_step:.6f}")
    return {"made": file_stamp(path)}


def time_overlay(settings: AxisCamera, item: dict[str, Any]) -> tuple[str | None, float]:
    """The drawtext filters of `overlay_time` for an archive's cut, and the seconds
    between its frames: their capture times spread evenly from the cut's first to
    its last (exact for Timelapse2/3, which capture on a timer; TimelapseMe's
    uneven times are kept at both ends)."""
    if not settings.overlay_time:
        return None, 0.0
    first, last = item["cut"]
    first_ms, last_ms = item.get("cut_ms") or [
        frame_times(Archive.from_dict(item), [])[index] for index in (first, last)]
    step = (last_ms - first_ms) / 1000 / max(last - first, 1)
    start = dt.datetime.fromtimestamp(first_ms / 1000, dt.timezone.utc)
    filters = clock_filters(start, (last_ms - first_ms) / 1000 + step, settings.timezone,
                            settings.overlay_font or default_font())
    return ",".join(filters), step


def made_intact(path: Path) -> Any:
    """A doit `uptodate` check: the file is still what the task made (its action
    returned {"made": file_stamp(path)}); a damaged one is made again."""
    def intact(task: Any, values: dict[str, Any]) -> bool:
        return values.get("made") == file_stamp(path)
    return intact


def segment_path(build: DayBuild, item: dict[str, Any]) -> Path:
    return build.layout.segment_dir / (Path(item["local_name"]).stem + ".mp4")


def write_day(build: DayBuild) -> None:
    archives = day_archives(build)
    fps = output_fps(build, archives)
    frames = sum(a["cut"][1] - a["cut"][0] + 1 for a in archives)
    lines = "".join(f"file {concat_quote(segment_path(build, a))}\n" for a in archives)
    write_bytes_if_changed(build.layout.segments_list, lines.encode())
    write_json_if_changed(build.layout.day_json, {
        "camera_name": build.settings.name, "date": build.date.isoformat(),
        "timezone": build.settings.timezone,
        "app": (read_json(build.layout.camera_json, {}) or {}).get("app"),
        "archives": [a["filename"] for a in archives], "frame_count": frames,
        "fps": fps, "duration_secs": round(frames / fps, 3),
        "tool_version": __version__, "ffmpeg_version": ffmpeg_version(),
        "render": build.settings.render.as_dict(),
        "summary": DaySummary("archives", len(archives), len(archives), 0, frames, fps,
                              round(frames / fps, 3)).as_dict()})


def render(build: DayBuild) -> dict[str, Any] | None:
    day = DayRecord.read(build.layout.day_json)
    if not day.frame_count:
        log.info("no archived frames for this day")
        return None
    render_file("concat_copy.j2", build.layout.timelapse, day.duration_secs,
                concat=build.layout.segments_list, chapters=archive_chapters(build, day),
                check=checked_render(build, day.frame_count, day.fps))
    return {"rendered": build.output_stamp()}


def archive_chapters(build: DayBuild, day: DayRecord) -> list[tuple[float, str]]:
    """A chapter per local hour, from each frame's time (placed evenly between the
    first and last of its archive's cut, as the render places them)."""
    zone = ZoneInfo(build.settings.timezone)
    hours = []
    for item in day_archives(build):
        first, last = item["cut"]
        first_ms, last_ms = item.get("cut_ms") or [
            frame_times(Archive.from_dict(item), [])[index] for index in (first, last)]
        step = (last_ms - first_ms) / max(last - first, 1)
        hours += [f"{dt.datetime.fromtimestamp((first_ms + n * step) / 1000, zone):%H}"
                  for n in range(last - first + 1)]
    return frames.hourly(hours, day.fps)


def verify(build: DayBuild) -> dict[str, Any]:
    day = DayRecord.read(build.layout.day_json)
    if not day.frame_count:
        return {"output": None}
    return verify_output(build, day.frame_count, day.fps, {})


def check(settings: AxisCamera, password: Any, shared: dict[str, Any]) -> str:
    """What `doctor` and `cameras` say of this camera: the app and its archives."""
    client = AxisClient(settings.base_url, settings.username, password,
                        zone=settings.timezone, retries=1, timeout=settings.timeout,
                        tls_insecure=settings.tls_insecure)
    app = client.detect()
    archives = client.archives()
    return (f"{app} {client.version or ''}".strip() + f" at {settings.host}, "
            f"{len(archives)} archive(s), profiles: "
            f"{', '.join(str(p.get('name', p['id'])) for p in client.profiles()) or 'none'}")


def failures(build: DayBuild) -> tuple[int, int, str | None]:
    """An archive that cannot be downloaded stops the run: none fail quietly."""
    return 0, len(day_archives(build)), None


def tasks(build: DayBuild) -> dict[str, Any]:
    layout, settings = build.layout, build.settings

    def task_scan() -> dict[str, Any]:
        """Detect the app, list its archives, pick this day's (read only)."""
        return task(build, "scan", scan, targets=[layout.camera_json, layout.archive_index],
                    uptodate=[False],
                    clean=[layout.owner_file])

    @create_after(executed="scan")
    def task_fetch() -> Iterator[dict[str, Any]]:
        """Download each archive of the day (again only if its size changed)."""
        for item in day_archives(build):
            path = layout.archive_dir / item["local_name"]
            expected = item.get("remote_size") or (item["size"] if item["container"] ==
                                                   "mp4" else None)

            def complete(path: Path = path, expected: int | None = expected) -> bool:
                return path.exists() and (expected is None or
                                          path.stat().st_size == expected)
            made = task(build, "fetch", fetch, item, subtask=path.stem, targets=[path],
                        uptodate=[complete])
            if build.offline:
                made["actions"] = []  # offline: what is on disk
            yield made

    @create_after(executed="scan")
    def task_segment() -> Iterator[dict[str, Any]]:
        """Cut each archive to the day and encode it as H.264."""
        archives = day_archives(build)
        fps = output_fps(build, archives)
        for item in archives:
            path = segment_path(build, item)
            archive = layout.archive_dir / item["local_name"]
            # doit does not link a file dep to the delayed task that makes it: say so,
            # naming the group (a render alone has not created the fetch subtasks yet)
            yield task(build, "segment", segment, item, fps, subtask=path.stem,
                       reads={"cut": item["cut"], "fps": fps, "crf": settings.render.crf,
                              "overlay": [settings.overlay_time, settings.overlay_font],
                              "preset": settings.render.preset},
                       task_dep=["fetch"], file_dep=[archive],
                       targets=[path], uptodate=[made_intact(path)])

    @create_after(executed="scan")
    def task_speed() -> dict[str, Any]:
        """Write day.json and the list of segments."""
        archives = day_archives(build)
        return task(build, "speed", write_day, task_dep=["segment"],
                    reads={"render": settings.render.as_dict(),
                           "fps": output_fps(build, archives)},
                    file_dep=[layout.archive_index],
                    targets=[layout.day_json, layout.segments_list], stamped=True)

    @create_after(executed="scan")
    def task_render() -> dict[str, Any]:
        """Join the segments into the day's MP4 (faststart)."""
        segments = [segment_path(build, a) for a in day_archives(build)]
        return task(build, "render", render, task_dep=["speed"],
                    file_dep=[layout.day_json, layout.segments_list, *segments],
                    targets=[layout.timelapse], uptodate=[build.output_as_rendered])

    def task_verify() -> dict[str, Any]:
        """Check the output's frame count and duration."""
        return verify_task(build, verify, file_dep=[layout.day_json])

    return {"task_scan": task_scan, "task_fetch": task_fetch,
            "task_segment": task_segment, "task_speed": task_speed,
            "task_render": task_render, "task_verify": task_verify}


ORDER = ("scan", "fetch", "segment", "speed", "render", "verify")


def marks(build: DayBuild, day: DayRecord) -> list[Mark]:
    """The day page's timeline: one bar per archive of the day, over the hours it
    covers; a click seeks to the same place in the video's part of it."""
    found, shown = [], 0
    for item in day_archives(build):
        if item.get("first_ms") is None:
            continue
        cut = item.get("cut")
        frames = cut[1] - cut[0] + 1 if cut else 0
        found.append(Mark(item["first_ms"], item["last_ms"], "ok",
                          item.get("local_name") or "archive",
                          shown / day.fps if day.fps else None, None,
                          (shown + frames) / day.fps if day.fps else None))
        shown += frames
    return found


def records(layout: DayLayout) -> list[Path]:
    return [layout.archive_index]
