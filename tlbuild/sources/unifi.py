"""UniFi Protect as a tlbuild source: the scan task and one fetch task per clip."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import clips
from ..build import DayBuild
from ..clipindex import COMPLETE, PENDING
from ..config import (
    RenderSettings,
    SecretSource,
    Table,
    render_settings,
    validate_render,
)
from ..days import local_time
from ..errors import ConfigError, UsageError
from ..files import read_json, safe_name, write_json_if_changed
from ..progress import LoggedFailure
from ..records import ClipEntry
from ..settings import CameraSettings
from ..source import DirectArgs
from ..terminal import plural
from .protect import (
    Retention,
    camera_record,
    console_day,
    console_settings,
    protect,
)
from .unifi_client import EVENT_TYPES

log = logging.getLogger("tlbuild.unifi")
ANY_TIME = Retention()  # footage kept without known limits
MAX_EXPORT_MS = 3_600_000  # no export request longer than an hour (consoles time out)


# --- settings ------------------------------------------------------------------------

# Smart detection subjects as UniFi Protect names them (objects, then audio).
SMART_OBJECTS = ("person", "vehicle", "animal", "face", "licensePlate", "package")
SMART_AUDIO = ("alrmSmoke", "alrmCmonx", "smoke_cmonx", "alrmSiren", "alrmBabyCry",
               "alrmSpeak", "alrmBark", "alrmBurglar", "alrmCarHorn", "alrmGlassBreak")


@dataclass(frozen=True)
class EventFilter:
    """Which events make clips: with `smart_types`, only events carrying one of them
    (motion-only events are left out); `min_score` drops weaker detections, except
    audio detections (their score is always 0)."""

    smart_types: tuple[str, ...] = ()
    min_score: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"smart_types": list(self.smart_types) or None,
                "min_score": self.min_score}


@dataclass(frozen=True, kw_only=True)
class UnifiCamera(CameraSettings):
    """One UniFi Protect camera: how to reach the NVR and what to build."""

    host: str
    username: str
    password: SecretSource
    camera: str
    render: RenderSettings = field(default_factory=RenderSettings)
    workers: int = 2              # exports in flight per console
    events: EventFilter = field(default_factory=EventFilter)
    retries: int = 3
    tls_insecure: bool = False
    direct_api: bool = False
    merge: bool = True
    timezone: str | None = None
    channel: int = 0              # export stream: 0 high, 1 medium, 2 low
    source: str = "unifi"

    @property
    def device_address(self) -> str | None:
        return self.host

    def overridden(self, smart_types: Any = None, min_score: Any = None,
                   **values: Any) -> UnifiCamera:
        """These settings with command-line values, checked as the parser checks."""
        where = "command line"
        if "channel" in values:
            validate_channel(values["channel"], where)
        if smart_types is not None or min_score is not None:
            values["events"] = validate_event_filter(
                self.events.smart_types if smart_types is None else smart_types,
                self.events.min_score if min_score is None else min_score, where)
        return replace(self, **{k: v for k, v in values.items() if hasattr(self, k)})


def validate_channel(channel: int, where: str) -> int:
    if channel not in (0, 1, 2):
        raise ConfigError(f"{where}: channel must be 0 (high), 1 (medium) or 2 (low)")
    return channel


def validate_event_filter(smart_types: Any, min_score: Any, where: str) -> EventFilter:
    if isinstance(smart_types, str):
        smart_types = [name.strip() for name in smart_types.split(",") if name.strip()]
    known = {name.casefold(): name for name in SMART_OBJECTS + SMART_AUDIO}
    chosen = []
    for name in smart_types or []:
        if not isinstance(name, str) or name.casefold() not in known:
            raise ConfigError(f"{where}: unknown smart type {name!r}; known: "
                              f"{', '.join(SMART_OBJECTS + SMART_AUDIO)}")
        chosen.append(known[name.casefold()])
    if isinstance(min_score, bool) or not isinstance(min_score, int) \
            or not 0 <= min_score <= 100:
        raise ConfigError(f"{where}: min_score must be a whole number from 0 to 100")
    return EventFilter(tuple(sorted(set(chosen))), min_score)


def parse(name: str, table: Table, base: Path) -> UnifiCamera:
    where = table.where
    camera = UnifiCamera(
        name=name, **console_settings(table, base),
        render=render_settings(table),
        events=validate_event_filter(table.get("smart_types", list, []),
                                     table.get("min_score", int, 0), where),
        merge=table.get("merge", bool, True),
        channel=validate_channel(table.get("channel", int, 0), where),
    )
    table.get("source", str)
    table.reject_unknown()
    return camera


def direct(args: DirectArgs) -> UnifiCamera:
    """A camera named on the command line (`--host`, `--camera` as the Protect camera
    id or name), with the default settings."""
    if not args.username:
        raise UsageError("--username (or UPVS_USERNAME) is required")
    if args.password is None:
        raise UsageError("a password is required: --password-file, UPVS_PASSWORD or "
                         "--password")
    return UnifiCamera(name=args.camera or "console", host=args.host,
                       username=args.username, password=args.password,
                       camera=args.camera, render=validate_render(RenderSettings(),
                                                                  "defaults"))


# --- pure logic ----------------------------------------------------------------------


def day_events(events: list[dict[str, Any]], camera_id: str, start_ms: int,
               end_ms: int) -> list[dict[str, Any]]:
    """This camera's finished events that start inside the day, cut at the day's end."""
    kept = []
    for event in events:
        if (event.get("camera") != camera_id or event.get("type") not in EVENT_TYPES
                or event.get("end") is None or not start_ms <= event["start"] < end_ms):
            continue
        kept.append({**event, "end": max(min(event["end"], end_ms), event["start"])})
    return sorted(kept, key=lambda e: (e["start"], e["end"], e["id"]))


def is_audio(event: dict[str, Any]) -> bool:
    kinds = event.get("smartDetectTypes") or []
    return event.get("type") == "smartAudioDetect" or (
        bool(kinds) and all(kind in SMART_AUDIO for kind in kinds))


def passes(event: dict[str, Any], wanted: EventFilter) -> bool:
    """Whether an event makes a clip under the camera's smart detection filter."""
    kinds = event.get("smartDetectTypes") or []
    if wanted.smart_types and not set(kinds) & set(wanted.smart_types):
        return False
    score = event.get("score")
    return is_audio(event) or not wanted.min_score or (
        isinstance(score, (int, float)) and score >= wanted.min_score)


def clip_entries(group: list[dict[str, Any]], clip_dir: str, channel: int = 0,
                 retention: Retention = ANY_TIME) -> list[ClipEntry]:
    """The clips of one group of events: one, or parts of at most an hour each (one
    export request per part), which the render joins in order."""
    first = group[0]
    start, end = first["start"], max(event["end"] for event in group)
    event_id = safe_name(first["id"], "event")
    smart = sorted({kind for event in group for kind in event.get("smartDetectTypes") or []
                    if isinstance(kind, str)})
    parts = clips.split_range(start, end, MAX_EXPORT_MS)
    count = len(parts)
    entries = []
    for number, (part_start, part_end) in enumerate(parts, 1):
        entry = {
            "event_id": first["id"],
            "event_ids": [event["id"] for event in group],
            "start_ms": part_start,
            "end_ms": part_end,
            "duration_ms": part_end - part_start,
            "event_type": first.get("type"),
            "smart_types": smart,
            "score": first.get("score"),
            "status": PENDING,
            "low_resolution": retention.low_resolution(part_start),
            # another channel is other footage: it gets its own file name
            "file_path": f"{clip_dir}/clip_{part_start}_{part_end}_{event_id}"
                         f"{f'_ch{channel}' if channel else ''}.mp4",
        }
        if count > 1:
            entry["part"] = [number, count]
        entries.append(entry)
    return entries


# --- tasks ---------------------------------------------------------------------------


def scan(build: DayBuild) -> LoggedFailure | None:
    """Resolve the camera and the day, list its events, write the clip index."""
    layout, settings = build.layout, build.settings
    if build.offline:
        if not layout.clip_index.exists():
            return build.fail(UsageError(f"no clip index at {layout.clip_index}: run "
                                             "scan (or a full build) online first"))
        log.info("offline: using the existing clip index")
        return None
    client = protect(build)
    camera, nvr, zone, window = console_day(build, client)
    retention = Retention.of(camera)
    record = {**camera_record(camera, nvr, build.date, zone, window),
              "filter": settings.events.as_dict()}
    previous = read_json(layout.camera_json, {}) or {}
    if retention.start_lq is not None and window[1] <= retention.start_lq:
        log.warning("the console keeps no footage this old (its oldest is from "
                    "%s); nothing to export",
                    local_time(retention.start_lq, zone))
        events = []
    else:
        events = client.events(camera["id"], *window)
    kept = day_events(events, camera["id"], *window)
    gone = [event for event in kept if retention.gone(event)]
    unfinished = [event for event in kept if retention.unfinished(event)]
    left_out = {event["id"] for event in gone + unfinished}
    chosen = [event for event in kept if event["id"] not in left_out
              and passes(event, settings.events)]
    if gone:
        log.warning("%d event(s) older than the console's oldest footage (%s) left out",
                    len(gone), local_time(retention.start_lq, zone))
    if unfinished:
        log.info("%d event(s) not recorded to their end yet: a later run adds them",
                 len(unfinished))
    clip_dir = layout.clip_dir.relative_to(layout.root).as_posix()
    listed = [entry for group in clips.group_events(chosen, settings.merge)
              for entry in clip_entries(group, clip_dir, settings.channel, retention)]
    same_filter = previous.get("filter", record["filter"]) == record["filter"]
    entries = clips.reconcile(listed, clips.clip_index(build).read(), layout.root,
                        keep_unlisted=same_filter)
    write_json_if_changed(layout.camera_json, record)
    build.claim()
    clips.clip_index(build).write(entries)
    layout.clip_dir.mkdir(parents=True, exist_ok=True)
    missing = sum(entry["status"] != COMPLETE for entry in entries)
    low = sum(bool(entry.get("low_resolution")) for entry in entries
              if entry["status"] != COMPLETE)
    if low:
        log.warning("%d clip(s) of %s are older than the console's full-resolution "
                    "footage (kept since %s): the console sends them at 640x360",
                    low, build.date, local_time(retention.start, zone))
    if not entries:
        log.info("no events on this day (%s)%s; nothing to fetch or render",
                 zone,
                 " matching the smart detection filter" if kept and not chosen
                 and settings.events != EventFilter() else "")
    else:
        log.info("%s in %s, %d to download", plural(len(chosen), "event"),
                 plural(len(entries), "clip"), missing)
    return None


def fetch_clip(build: DayBuild, entry: dict[str, Any]) -> LoggedFailure | None:
    """Download one clip as a console export (see clips.fetch_clip)."""
    return clips.fetch_clip(build, entry, lambda path: protect(build).export(
        camera_id(build), entry["start_ms"], entry["end_ms"], build.settings.channel,
        path, build.count_bytes))


def camera_id(build: DayBuild) -> str:
    """The Protect id resolved by the scan (metadata/camera.json), read once a run."""
    def resolved() -> str:
        record = read_json(build.layout.camera_json, {})
        if not isinstance(record, dict) or not record.get("id"):
            raise UsageError(f"{build.layout.camera_json} is missing: run the scan first")
        return record["id"]
    return build.shared("camera_id", resolved)


def day_details(build: DayBuild, used: list[dict[str, Any]]) -> dict[str, Any]:
    """UniFi's own fields of day.json."""
    return {"low_resolution": any(entry.get("low_resolution") for entry in used),
            "filter": build.settings.events.as_dict()}


def tasks(build: DayBuild) -> dict[str, Any]:
    """Scan, one fetch per clip, then the clip pipeline (clips.py)."""
    return clips.source_tasks(build, scan, fetch_clip, day_details,
                              {"filter": build.settings.events.as_dict()})


ORDER = ("scan", "fetch", "manifest", "speed", "intermediate", "render", "verify")
