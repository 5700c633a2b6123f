"""Frigate as a clip source: the day's events (`clips = "events"`, filtered by label
and score, merged where they overlap) or its whole recording (`clips =
"recordings"`: a smooth full day, gaps left out), each asked for as a time range of
at most an hour, one doit target per clip, then the clip pipeline (clips.py).

    scan            metadata/camera.json, manifests/clip_index.json
    fetch:<clip>    clips/<camera>/<date>/clip_<start>_<end>_<id>.mp4
    manifest ... verify   as for every clip source (clips.py)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import clips
from ..build import DayBuild
from ..clipindex import COMPLETE, FAILED, PENDING, clip_key
from ..config import ConfigError, RenderSettings, SecretSource, Table, render_settings
from ..days import local_time
from ..errors import UsageError
from ..files import read_json, safe_name, write_json_if_changed
from ..progress import LoggedFailure
from ..records import ClipEntry, DayRecord
from ..settings import CameraSettings
from ..source import DirectArgs, Mark
from ..terminal import plural
from .frigate_base import (
    MAX_PART_S,
    camera_record,
    direct_keys,
    frigate,
    frigate_day,
    frigate_settings,
)

log = logging.getLogger("tlbuild.frigate")
MODES = ("events", "recordings")
JOIN_GAP_S = 2.0  # segments closer than this are one recorded stretch


@dataclass(frozen=True, kw_only=True)
class FrigateCamera(CameraSettings):
    """One Frigate camera: how to reach the server and what to build."""

    host: str
    camera: str                       # the camera's name in Frigate's config
    username: str | None = None       # port 8971; None for port 5000
    password: SecretSource | None = None
    clips: str = "events"             # or "recordings": the whole recorded day
    labels: tuple[str, ...] = ()      # events of these labels only (default: all)
    min_score: float = 0.0            # events whose top score is at least this (0-1)
    merge: bool = True
    retries: int = 3
    tls_insecure: bool = False
    render: RenderSettings = field(default_factory=RenderSettings)
    source: str = "frigate"

    @property
    def device_address(self) -> str | None:
        return self.host

    def event_filter(self) -> dict[str, Any]:
        return {"labels": list(self.labels) or None, "min_score": self.min_score}

    def overridden(self, smart_types: Any = None, min_score: Any = None,
                   **values: Any) -> FrigateCamera:
        """These settings with command-line values (`--smart-types` names labels)."""
        if smart_types is not None:
            values["labels"] = validate_labels(smart_types, "command line")
        if min_score is not None:  # the command line's is 0-100, as for UniFi
            values["min_score"] = validate_score(min_score / 100, "command line")
        return replace(self, **{k: v for k, v in values.items() if hasattr(self, k)})


def validate_labels(labels: Any, where: str) -> tuple[str, ...]:
    if isinstance(labels, str):
        labels = [name.strip() for name in labels.split(",") if name.strip()]
    if not isinstance(labels, list | tuple) or not all(
            isinstance(name, str) and name.strip() for name in labels):
        raise ConfigError(f"{where}: labels must be a list of Frigate labels, e.g. "
                          "[\"person\", \"car\"]")
    return tuple(sorted({name.strip() for name in labels}))


def validate_score(score: Any, where: str) -> float:
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise ConfigError(f"{where}: min_score is Frigate's score, from 0 to 1 (e.g. 0.7)")
    return float(score)


def parse(name: str, table: Table, base: Path) -> FrigateCamera:
    where = table.where
    mode = table.get("clips", str, "events")
    if mode not in MODES:
        raise ConfigError(f"{where}: clips must be \"events\" or \"recordings\"")
    camera = FrigateCamera(
        name=name, **frigate_settings(table, base), clips=mode,
        labels=validate_labels(table.get("labels", list, []), where),
        min_score=validate_score(table.get("min_score", (int, float), 0.0), where),
        merge=table.get("merge", bool, True), render=render_settings(table))
    table.get("source", str)
    table.reject_unknown()
    return camera


def direct(args: DirectArgs) -> FrigateCamera:
    """A camera named on the command line, with the default settings."""
    keys = direct_keys(args)
    return FrigateCamera(name=args.camera or "frigate", **keys)


# --- pure logic ----------------------------------------------------------------------

def recorded_ranges(segments: list[dict[str, Any]], window: tuple[float, float]
                    ) -> list[tuple[float, float]]:
    """The recorded stretches (epoch s) inside `window`: segments joined where they
    follow each other, cut at the window's ends."""
    ranges: list[list[float]] = []
    for segment in sorted(segments, key=lambda s: s["start_time"]):
        start = max(float(segment["start_time"]), window[0])
        end = min(float(segment["end_time"]), window[1])
        if end <= start:
            continue
        if ranges and start - ranges[-1][1] <= JOIN_GAP_S:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    return [(start, end) for start, end in ranges]


def recorded_secs(ranges: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in ranges)


def day_events(events: list[dict[str, Any]], window: tuple[float, float],
               min_score: float) -> tuple[list[dict[str, Any]], int]:
    """The finished events starting inside the day whose top score is high enough,
    as {id, start, end (ms), label, score}, cut at the day's end; and how many are
    still in progress (a later run adds them)."""
    kept, running = [], 0
    for event in events:
        start = float(event["start_time"])
        if not window[0] <= start < window[1]:
            continue
        if event.get("end_time") is None:
            running += 1
            continue
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        score = next((value for value in (data.get("top_score"), event.get("top_score"),
                                          data.get("score")) if isinstance(value, int | float)),
                     None)
        if min_score and (score is None or score < min_score):
            continue
        kept.append({"id": event["id"], "start": int(start * 1000),
                     "end": int(min(float(event["end_time"]), window[1]) * 1000),
                     "label": str(event.get("label") or "event"), "score": score})
    return sorted(kept, key=lambda e: (e["start"], e["end"], e["id"])), running


def whole_seconds(spans: list[tuple[float, float, Any]]) -> list[tuple[int, int, Any]]:
    """Spans (epoch s) as Frigate cuts them, whole seconds, none sharing a second
    with the one before (no footage twice)."""
    result: list[tuple[int, int, Any]] = []
    for start, end, what in spans:
        first = math.floor(start)
        if result:
            first = max(first, result[-1][1])
        last = max(math.ceil(end), first + 1)
        result.append((first, last, what))
    return result


def entry(clip_dir: str, first: int, last: int, key: str, label: str,
          event_ids: list[str], score: Any, expected: float, part: tuple[int, int]
          ) -> ClipEntry:
    made: ClipEntry = {
        "event_id": key, "event_ids": event_ids, "start_ms": first * 1000,
        "end_ms": last * 1000, "duration_ms": (last - first) * 1000,
        "event_type": label, "smart_types": [label] if label != "recording" else [],
        "score": score, "status": PENDING, "expected_secs": round(expected, 3),
        "file_path": f"{clip_dir}/clip_{first * 1000}_{last * 1000}_"
                     f"{safe_name(key, 'event')}.mp4"}
    if part[1] > 1:
        made["part"] = list(part)
    return made


def event_entries(events: list[dict[str, Any]], merge: bool, clip_dir: str,
                  ranges: list[tuple[float, float]]) -> list[ClipEntry]:
    """The clips of the events: merged where they overlap, each in parts of at most
    an hour, in whole seconds."""
    spans = [(group[0]["start"] / 1000, max(e["end"] for e in group) / 1000, group)
             for group in clips.group_events(events, merge)]
    entries: list[ClipEntry] = []
    for first, last, group in whole_seconds(spans):
        labels = sorted({event["label"] for event in group})
        scores = [event["score"] for event in group if event["score"] is not None]
        parts = clips.split_range(first, last, MAX_PART_S)
        for number, (start, end) in enumerate(parts, 1):
            entries.append(entry(clip_dir, start, end, group[0]["id"], ", ".join(labels),
                                 [event["id"] for event in group],
                                 max(scores) if scores else None,
                                 recorded_secs(ranges, start, end), (number, len(parts))))
    return entries


def recording_entries(ranges: list[tuple[float, float]], window: tuple[float, float],
                      clip_dir: str) -> list[ClipEntry]:
    """The recorded stretches as clips, cut at every full hour of the day: a finished
    hour keeps its clip when a later run adds the rest of today."""
    hours = [window[0] + hour * 3600 for hour in range(
        math.ceil((window[1] - window[0]) / 3600) + 1)]
    spans = []
    for start, end in ranges:
        cuts = [start, *(h for h in hours if start < h < end), end]
        spans += [(a, b, None) for a, b in zip(cuts, cuts[1:], strict=False)]
    return [entry(clip_dir, first, last, f"rec{first}", "recording", [], None,
                  recorded_secs(ranges, first, last), (1, 1))
            for first, last, _ in whole_seconds(spans)]


def gaps(ranges: list[tuple[float, float]], window: tuple[float, float],
         upto: float) -> list[list[int]]:
    """The stretches of the day (up to `upto`: now, for today) with no recording,
    [start_ms, end_ms], for the day page."""
    found, at = [], window[0]
    for start, end in [*ranges, (min(upto, window[1]), window[1])]:
        if start - at > JOIN_GAP_S:
            found.append([int(at * 1000), int(start * 1000)])
        at = max(at, end)
    return found


# --- tasks ---------------------------------------------------------------------------

def scan(build: DayBuild) -> LoggedFailure | None:
    """Resolve the camera and the day, list its events or recordings, write the
    clip index."""
    layout, settings = build.layout, build.settings
    if build.offline:
        if not layout.clip_index.exists():
            return build.fail(UsageError(f"no clip index at {layout.clip_index}: run "
                                         "scan (or a full build) online first"))
        return None
    client = frigate(build)
    camera, camera_config, zone, window_ms = frigate_day(build, client)
    window = (window_ms[0] / 1000, window_ms[1] / 1000)
    segments = client.recordings(camera, *window)
    ranges = recorded_ranges(segments, window)
    upto = ranges[-1][1] if ranges and ranges[-1][1] < window[1] - 60 else window[1]
    clip_dir = layout.clip_dir.relative_to(layout.root).as_posix()
    previous = read_json(layout.camera_json, {}) or {}
    record = camera_record(camera, camera_config, build.date, zone, window_ms,
                           mode=settings.clips, filter=settings.event_filter(),
                           gaps=gaps(ranges, window, upto))
    if settings.clips == "recordings":
        listed = recording_entries(ranges, window, clip_dir)
        log.info("%s recorded in %s", f"{sum(b - a for a, b in ranges) / 3600:.1f} h",
                 plural(len(ranges), "stretch", "stretches"))
    else:
        # `after` is strict in Frigate: ask from just before midnight
        found = client.events(camera, window[0] - 0.001, window[1], settings.labels)
        events, running = day_events(found, window, settings.min_score)
        listed = event_entries(events, settings.merge, clip_dir, ranges)
        if running:
            log.info("%s still in progress: a later run adds them",
                     plural(running, "event"))
        log.info("%s in %s", plural(len(events), "event"), plural(len(listed), "clip"))
    same = previous.get("filter", record["filter"]) == record["filter"] and \
        previous.get("mode", settings.clips) == settings.clips
    entries = clips.reconcile(listed, clips.clip_index(build).read(), layout.root,
                              keep_unlisted=same)
    write_json_if_changed(layout.camera_json, record)
    build.claim()
    clips.clip_index(build).write(entries)
    layout.clip_dir.mkdir(parents=True, exist_ok=True)
    missing = sum(item["status"] != COMPLETE for item in entries)
    if not entries:
        log.info("no footage on this day (%s); nothing to fetch or render", zone)
    elif missing:
        log.info("%d to download", missing)
    return None


def fetch_clip(build: DayBuild, item: dict[str, Any]) -> LoggedFailure | None:
    """Download one clip as a time range (see clips.fetch_clip); a range the segment
    list shows nothing recorded in fails without a request."""
    if not item.get("expected_secs"):
        clips.clip_index(build).update(clip_key(item), status=FAILED, error="no recording")
        log.warning("clip %s: nothing recorded then", Path(item["file_path"]).name)
        return None
    return clips.fetch_clip(build, item, lambda path: frigate(build).clip(
        camera_name(build), item["start_ms"] // 1000, item["end_ms"] // 1000, path,
        item["expected_secs"], build.count_bytes))


def camera_name(build: DayBuild) -> str:
    """The camera as Frigate names it, resolved by the scan (camera.json), read once."""
    return build.shared("frigate_camera", lambda: str(
        (read_json(build.layout.camera_json, {}) or {}).get("id")))


def marks(build: DayBuild, day: DayRecord) -> list[Mark]:
    """The clips, and the day's stretches without recording (for the page)."""
    zone = build.zone()
    holes = [Mark(start, end, "skipped", "no recording",
                  reason=f"until {local_time(end, zone)[11:16]}")
             for start, end in (read_json(build.layout.camera_json, {}) or {}).get("gaps", [])
             if isinstance(start, int) and isinstance(end, int)]
    return sorted([*clips.marks(build, day), *holes], key=lambda mark: mark.first_ms)


def tasks(build: DayBuild) -> dict[str, Any]:
    """Scan, one fetch per clip, then the clip pipeline (clips.py)."""
    settings = build.settings
    chosen = {"filter": settings.event_filter(), "clips": settings.clips}
    return clips.source_tasks(build, scan, fetch_clip, lambda build, used: chosen,
                              chosen)


ORDER = ("scan", "fetch", "manifest", "speed", "intermediate", "render", "verify")
