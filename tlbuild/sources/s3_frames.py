"""Frames in S3 from the FixedIT Data Agent as a tlbuild source.

Keys are `<serial>/<YYYY-MM-DD>/timelapse-HH-MM-SS.<ext>` in two formats, often mixed:
old, one `.json` with the JPEG in base64; new, a `.jpg` with a `.json` beside it. The
JSON `timestamp` (unix seconds) is the truth about when and so on which local day a
frame was taken; the key's date may be UTC or local, so every key date the local day
can touch is listed.

    scan            manifests/object_list.json     (S3 listing, paginated)
    fetch:<frame>   frames/<key date>/<name>.json  (+ .jpg when the frame is good, of
                    the local day and chosen; fetched again only when the object's
                    ETag changes, or the day or the choice does)
    manifest        manifests/frame_index.json, manifests/frames.txt
    speed           metadata/day.json
    render          timelapse/<camera>_<date>_timelapse.mp4
    verify          metadata/verify.json
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from doit import create_after

from .. import frames
from ..build import DayBuild
from ..config import (
    SIMULATOR_HOST,
    ConfigError,
    RenderSettings,
    Table,
    overlay_settings,
    positive,
    render_settings,
    sink_names,
    validate_timezone,
)
from ..days import day_window, utc_dates
from ..errors import UsageError
from ..files import atomic_open, read_json, safe_name, write_json_if_changed
from ..frames import BAD, GOOD, SKIPPED
from ..probe import jpeg_size
from ..records import DayRecord, FrameEntry
from ..s3_client import S3Client
from ..selection import parse_selection
from ..settings import CameraSettings
from ..taskdef import task

log = logging.getLogger("tlbuild.s3")


# --- settings ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class S3FramesCamera(CameraSettings):
    """Frames that an Axis camera's FixedIT Data Agent stores in S3 (credentials the
    boto3 way: environment, profile or instance role; never in the config)."""

    bucket: str
    device: str
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    render: RenderSettings = field(default_factory=lambda: RenderSettings(target=None))
    workers: int = 8
    retries: int = 3
    timezone: str = "UTC"
    tls_insecure: bool = False
    source: str = "s3-frames"

    @property
    def device_address(self) -> str | None:
        return self.endpoint_url


def parse(name: str, table: Table, base: Path) -> S3FramesCamera:
    where = table.where
    for secret in ("aws_access_key_id", "aws_secret_access_key", "password", "secret"):
        if secret in table.data:
            raise ConfigError(f"{where}: '{secret}' does not belong in the config: give "
                              "AWS credentials the boto3 way (environment, profile, role)")
    endpoint = table.get("endpoint_url", str)
    if endpoint and endpoint != SIMULATOR_HOST \
            and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: endpoint_url must start with https:// or http://, "
                          f"or be {SIMULATOR_HOST!r} for the built-in simulated store")
    overlay_time, overlay_font = overlay_settings(table)
    camera = S3FramesCamera(
        name=name,
        bucket=table.get("bucket", str, required=True),
        device=table.get("device", str, required=True),
        region=table.get("region", str),
        endpoint_url=endpoint,
        profile=table.get("profile", str),
        render=render_settings(table, RenderSettings(target=None)),
        workers=positive(table.get("workers", int, 8), "workers", where),
        retries=positive(table.get("retries", int, 3), "retries", where, high=20),
        timezone=validate_timezone(table.get("timezone", str, "UTC"), where) or "UTC",
        overlay_time=overlay_time,
        overlay_font=overlay_font,
        selection=parse_selection(table),
        deflicker=table.get("deflicker", bool, False),
        tls_insecure=table.get("tls_insecure", bool, False),
        publish=sink_names(table, "publish"),
    )
    if "/" in camera.device or camera.device in ("", ".", ".."):
        raise ConfigError(f"{where}: device must be the camera's serial number")
    table.get("source", str)
    table.reject_unknown()
    return camera



def s3_client(settings: S3FramesCamera) -> S3Client:
    return S3Client(settings.bucket, region=settings.region,
                    endpoint_url=settings.endpoint_url, profile=settings.profile,
                    tls_insecure=settings.tls_insecure, retries=settings.retries,
                    pool=settings.workers)


# --- pure logic ----------------------------------------------------------------------

def group_objects(objects: list[dict[str, Any]], device: str) -> list[dict[str, Any]]:
    """Pair `<stem>.json` and `<stem>.jpg` objects into one frame each."""
    frames: dict[str, dict[str, Any]] = {}
    for item in objects:
        stem, _, ext = item["key"].rpartition(".")
        ext = ext.lower()
        if ext not in ("json", "jpg", "jpeg") or not stem:
            continue
        key_date = PurePosixPath(item["key"]).parent.name
        frame = frames.setdefault(stem, {"stem": stem, "key_date": key_date,
                                         "id": frame_id(device, stem)})
        frame["json" if ext == "json" else "jpg"] = item
    return [frames[stem] for stem in sorted(frames)]


def frame_id(device: str, stem: str) -> str:
    """A safe, unique local name for an S3 key stem (odd characters, `..` and all)."""
    name = safe_name(PurePosixPath(stem).name, "frame", limit=80)
    return f"{name}-{hashlib.sha1(stem.encode()).hexdigest()[:8]}"


def frame_timestamp(document: dict[str, Any]) -> float:
    """The capture time in unix seconds (tolerating ms/us/ns from older writers)."""
    value = document.get("timestamp")
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:  # JSON may say NaN or Infinity
        raise ValueError("no numeric timestamp")
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if value > limit:
            return value / scale
    return float(value)


# --- the frame task ------------------------------------------------------------------

class FrameStore:
    """Where one frame's files live, and how it is fetched and judged."""

    def __init__(self, build: DayBuild):
        self.build = build
        self._client = None
        self._lock = threading.Lock()

    def client(self) -> S3Client:
        """One client for every frame (boto3's clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                self._client = s3_client(self.build.settings)
            return self._client

    def record_path(self, frame: dict[str, Any]) -> Path:
        folder = safe_name(frame["key_date"], "undated")
        return self.build.layout.frame_dir / folder / f"{frame['id']}.json"

    def image_path(self, frame: dict[str, Any]) -> Path:
        return self.record_path(frame).with_suffix(".jpg")

    @functools.cached_property
    def window(self) -> tuple[int, int]:
        """The local day, as epoch ms: a frame taken outside it is another day's."""
        return day_window(self.build.date, self.build.zone())

    def on_the_day(self, timestamp: float) -> bool:
        start, end = self.window
        return start <= timestamp * 1000 < end

    def left_out(self, timestamp: float) -> str | None:
        """Why the camera's hours, weekdays or daylight leave this time out, or None."""
        return self.build.settings.selection.left_out(timestamp, self.build.zone())

    def image_intact(self, frame: dict[str, Any]) -> Any:
        """A doit `uptodate` check: a good frame's JPEG is still there, whole (the
        size its record says), and a frame of another day or left out by the
        camera's choice still is (its time zone or choice may have changed);
        otherwise the frame is fetched again."""
        def intact(task: Any = None, values: Any = None) -> bool:
            record = read_json(self.record_path(frame), None)
            if not isinstance(record, dict):
                return True
            if record.get("status") == ELSEWHERE:
                return not self.on_the_day(record.get("timestamp") or 0)
            if record.get("status") == SKIPPED:
                return self.left_out(record.get("timestamp") or 0) == record.get("reason")
            if record.get("status") != GOOD:
                return True
            return frames.as_fetched(self.image_path(frame), record)
        return intact

    def get(self, key: str) -> bytes:
        return self.client().read(key)

    def fetch(self, build: DayBuild, frame: dict[str, Any]) -> None:
        """Download and check one frame; a bad frame is recorded with its reason. The
        JSON comes first: a frame it dates to another local day (the neighbouring
        day under a key date both share), or to a time the camera's hours, weekdays
        or daylight leave out, is recorded with its time only, its image never
        fetched."""
        record = {"key": frame.get("json", frame.get("jpg", {})).get("key"),
                  "etags": etags(frame)}
        try:
            document, timestamp = self._document(frame)
            unwanted = self.unwanted(timestamp)
            image = b"" if unwanted else self._image(frame, document, timestamp)
        except BadFrame as bad:
            record.update(status=BAD, reason=str(bad), timestamp=bad.timestamp)
            log.warning("bad frame %s: %s", record["key"], bad)
        else:
            if unwanted:
                record.update(timestamp=timestamp, **unwanted)
            else:
                width, height = jpeg_size(image) or (0, 0)
                # no directory fsync: a frame whose rename a crash loses is fetched again
                with atomic_open(self.image_path(frame), sync_dir=False) as handle:
                    handle.write(image)
                build.count_bytes(len(image))
                record.update(status=GOOD, timestamp=timestamp, width=width,
                              height=height,
                              **frames.fetched_record(self.image_path(frame), image))
        write_json_if_changed(self.record_path(frame), record, sync_dir=False)

    def unwanted(self, timestamp: float) -> dict[str, str] | None:
        """Why the image of a frame taken at `timestamp` is not needed: another local
        day's, or left out by the camera's hours, weekdays or daylight; None when it
        is."""
        if not self.on_the_day(timestamp):
            return {"status": ELSEWHERE}
        reason = self.left_out(timestamp)
        return {"status": SKIPPED, "reason": reason} if reason else None

    def _document(self, frame: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The frame's JSON and the time it gives."""
        if "json" not in frame:
            raise BadFrame("missing pair: a .jpg without its .json (no timestamp)")
        raw = self.get(frame["json"]["key"])
        if not raw:
            raise BadFrame("zero-byte .json")
        try:
            document = json.loads(raw)
            return document, frame_timestamp(document)
        except (ValueError, TypeError, AttributeError) as error:
            raise BadFrame(f"invalid JSON: {error}") from None

    def _image(self, frame: dict[str, Any], document: dict[str, Any],
               timestamp: float) -> bytes:
        """The JPEG: inside the old format's JSON, else the `.jpg` beside it."""
        fields = document.get("fields") if isinstance(document.get("fields"), dict) else {}
        if "image_base64" in fields:
            try:
                image = base64.b64decode(fields["image_base64"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise BadFrame("bad base64 image", timestamp) from None
        elif "jpg" in frame:
            image = self.get(frame["jpg"]["key"])
        else:
            raise BadFrame("missing pair: a .json without image and without .jpg",
                           timestamp)
        if not image:
            raise BadFrame("zero-byte image", timestamp)
        if jpeg_size(image) is None:
            raise BadFrame("not a JPEG", timestamp)
        return image


ELSEWHERE = "elsewhere"  # a frame of another local day: its time is all that is kept


class BadFrame(Exception):
    def __init__(self, reason: str, timestamp: float | None = None):
        super().__init__(reason)
        self.timestamp = timestamp


def etags(frame: dict[str, Any]) -> dict[str, str]:
    return {kind: frame[kind]["etag"] for kind in ("json", "jpg") if kind in frame}


# --- actions -------------------------------------------------------------------------

def scan(build: DayBuild) -> None:
    settings = build.settings
    if build.offline:
        if not build.layout.object_list.exists():
            raise UsageError(f"no object list at {build.layout.object_list}: scan online "
                             "first")
        return
    client = FrameStore(build).client()
    objects = []
    for key_date in utc_dates(build.date, settings.timezone):
        objects += client.keys(f"{settings.device}/{key_date}/")
    frames = group_objects(objects, settings.device)
    write_json_if_changed(build.layout.object_list, frames)
    build.claim()
    log.info("%d objects, %d frames listed under %s",
             len(objects), len(frames), ", ".join(utc_dates(build.date, settings.timezone)))


def frame_list(build: DayBuild, store: FrameStore) -> list[FrameEntry]:
    """The frames this bucket holds for the day, as the frame pipeline takes them."""
    listed = []
    for frame in read_json(build.layout.object_list, []):
        record = read_json(store.record_path(frame), None)
        if record is None:
            continue
        good = record["status"] == GOOD
        listed.append({**{key: record[key] for key in ("reason", "width", "height")
                          if key in record},
                       "key": record["key"], "status": record["status"],
                       "timestamp": record.get("timestamp"), "filed": frame["key_date"],
                       "file": store.image_path(frame).relative_to(build.layout.root)
                       .as_posix() if good else None})
    return listed


def check(settings: S3FramesCamera, password: Any, shared: dict[str, Any]) -> str:
    """What `doctor` and `cameras` say of this camera: the bucket answers, the
    device has dates in it."""
    dates = s3_client(settings).prefixes(f"{settings.device}/")
    span = f", {dates[0]} to {dates[-1]}" if dates else ""
    return f"s3://{settings.bucket}/{settings.device}: {len(dates)} date(s){span}"


def failures(build: DayBuild) -> tuple[int, int, str | None]:
    """Bad frames are the bucket's, not failures a rerun could fix: none."""
    day = DayRecord.read(build.layout.day_json)
    return 0, (day.frame_count or 0) + (day.bad_frames or 0), None


def tasks(build: DayBuild) -> dict[str, Any]:
    """Scan, one fetch per frame, then the frame pipeline (frames.py)."""
    layout = build.layout
    store = FrameStore(build)

    def task_scan() -> dict[str, Any]:
        """List the device's objects for every key date the local day can touch."""
        return task(build, "scan", scan, targets=[layout.object_list], uptodate=[False],
                    clean=[layout.owner_file])

    @create_after(executed="scan")
    def task_fetch() -> Iterator[dict[str, Any]]:
        """Download each frame once (again only when its ETag changes)."""
        if build.offline:
            return
        for frame in read_json(layout.object_list, []):
            record = store.record_path(frame)
            yield task(build, "fetch", store.fetch, frame, subtask=frame["id"],
                       reads={"etags": etags(frame)}, targets=[record],
                       uptodate=[store.image_intact(frame)],
                       clean=[store.image_path(frame)])

    def inputs() -> list[Path]:
        records = [store.record_path(frame) for frame in read_json(layout.object_list, [])]
        return [layout.object_list, *(path for path in records if path.exists())]

    return {"task_scan": task_scan, "task_fetch": task_fetch,
            **frames.tasks(build, lambda: frame_list(build, store), inputs,
                           lambda build: {"device": build.settings.device})}


ORDER = ("scan", "fetch", "manifest", "speed", "render", "verify")
