"""Frames in S3 from the FixedIT Data Agent as a tlbuild source.

Keys are `<serial>/<YYYY-MM-DD>/timelapse-HH-MM-SS.<ext>` in two formats, often mixed:
old, one `.json` with the JPEG in base64; new, a `.jpg` with a `.json` beside it. The
JSON `timestamp` (unix seconds) is the truth about when and so on which local day a
frame was taken; the key's date may be UTC or local, so every key date the local day
can touch is listed.

    scan            manifests/object_list.json     (S3 listing, paginated)
    fetch:<frame>   frames/<key date>/<name>.json  (+ .jpg when the frame is good;
                    fetched again only when the object's ETag changes)
    manifest        manifests/frame_index.json, manifests/frames.txt
    speed           metadata/day.json
    render          timelapse/<camera>_<date>_timelapse.mp4
    verify          metadata/verify.json
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import hashlib
import json
import logging
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from doit import create_after
from doit.tools import config_changed

from .. import __version__
from ..build import DayBuild
from ..days import day_window, utc_dates
from ..config import S3FramesCamera
from ..errors import UsageError
from ..files import (atomic_open, json_intact, read_json, safe_name,
                     write_bytes_if_changed, write_json_if_changed)
from ..ffmpeg import default_font, ffmpeg_version, render_file
from ..probe import jpeg_size
from .s3_client import S3Client
from ..tasks import verify_output

log = logging.getLogger("tlbuild.s3")
GOOD, BAD = "ok", "bad"


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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError("no numeric timestamp")
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if value > limit:
            return value / scale
    return float(value)


def most_common_size(frames: list[dict[str, Any]]) -> tuple[int, int]:
    sizes = collections.Counter((f["width"], f["height"]) for f in frames)
    (width, height), _ = max(sizes.items(), key=lambda item: (item[1], item[0]))
    return width + width % 2, height + height % 2  # yuv420p needs even sizes


def ffconcat_path(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


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

    def image_intact(self, frame: dict[str, Any]) -> Any:
        """A doit `uptodate` check: a good frame's JPEG is still there, whole (the
        size its record says); otherwise the frame is fetched again."""
        def intact(task: Any = None, values: Any = None) -> bool:
            record = read_json(self.record_path(frame), None)
            if not isinstance(record, dict) or record.get("status") != GOOD:
                return True
            try:
                return self.image_path(frame).stat().st_size == record.get("bytes")
            except FileNotFoundError:
                return False
        return intact

    def get(self, key: str) -> bytes:
        return self.client().read(key)

    def fetch(self, build: DayBuild, frame: dict[str, Any]) -> None:
        """Download and check one frame; a bad frame is recorded with its reason."""
        record = {"key": frame.get("json", frame.get("jpg", {})).get("key"),
                  "etags": etags(frame)}
        try:
            image, timestamp = self._read(frame)
        except BadFrame as bad:
            record.update(status=BAD, reason=str(bad), timestamp=bad.timestamp)
            log.warning("bad frame %s: %s", record["key"], bad)
        else:
            width, height = jpeg_size(image) or (0, 0)
            # no directory fsync: a frame whose rename a crash loses is fetched again
            with atomic_open(self.image_path(frame), sync_dir=False) as handle:
                handle.write(image)
            build.count_bytes(len(image))
            record.update(status=GOOD, timestamp=timestamp, width=width, height=height,
                          bytes=len(image))
        write_json_if_changed(self.record_path(frame), record, sync_dir=False)

    def _read(self, frame: dict[str, Any]) -> tuple[bytes, float]:
        if "json" not in frame:
            raise BadFrame("missing pair: a .jpg without its .json (no timestamp)")
        raw = self.get(frame["json"]["key"])
        if not raw:
            raise BadFrame("zero-byte .json")
        try:
            document = json.loads(raw)
            timestamp = frame_timestamp(document)
        except (ValueError, TypeError, AttributeError) as error:
            raise BadFrame(f"invalid JSON: {error}") from None
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
        return image, timestamp


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
    log.info("%s %s: %d objects, %d frames listed under %s", settings.name, build.date,
             len(objects), len(frames), ", ".join(utc_dates(build.date, settings.timezone)))


def write_index(build: DayBuild, store: FrameStore) -> None:
    """frame_index.json (every frame of the day, bad ones with reasons) and frames.txt."""
    settings = build.settings
    start, end = day_window(build.date, settings.timezone)
    tz = ZoneInfo(settings.timezone)
    index = []
    for frame in read_json(build.layout.object_list, []):
        record = read_json(store.record_path(frame), None)
        if record is None:
            continue
        stamp = record.get("timestamp")
        in_day = stamp is not None and start <= stamp * 1000 < end
        undated_here = stamp is None and frame["key_date"] == build.date.isoformat()
        if not (in_day or undated_here):
            continue  # another local day's frame
        entry = {"key": record["key"], "status": record["status"], "timestamp": stamp,
                 "file": store.image_path(frame).relative_to(build.layout.root).as_posix()
                 if record["status"] == GOOD else None}
        if stamp is not None:
            entry["local_time"] = dt.datetime.fromtimestamp(stamp, tz).isoformat()
        for name in ("reason", "width", "height"):
            if name in record:
                entry[name] = record[name]
        index.append(entry)
    index.sort(key=lambda e: (e["timestamp"] if e["timestamp"] is not None else 0, e["key"]))
    write_json_if_changed(build.layout.frame_index, index)

    good = [e for e in index if e["status"] == GOOD]
    fps = frames_fps(build, len(good))
    lines = ["ffconcat version 1.0\n"]
    for entry in good:
        local = dt.datetime.fromtimestamp(entry["timestamp"], tz)
        lines += [f"file {ffconcat_path(build.layout.root / entry['file'])}\n",
                  f"file_packet_metadata 'tlbuild_time={local:%Y-%m-%d %H:%M:%S}'\n",
                  f"duration {1 / fps:.6f}\n"]
    write_bytes_if_changed(build.layout.frames_list, "".join(lines).encode())


def frames_fps(build: DayBuild, count: int) -> float:
    """The configured fps, or the fps that makes `count` frames last `target` s."""
    render = build.settings.render
    if render.target and count:
        return min(max(count / render.target, 1.0), 240.0)
    return float(render.fps)


def write_day(build: DayBuild) -> None:
    index = read_json(build.layout.frame_index, [])
    good = [e for e in index if e["status"] == GOOD]
    fps = frames_fps(build, len(good))
    width, height = most_common_size(good) if good else (0, 0)
    write_json_if_changed(build.layout.day_json, {
        "camera_name": build.settings.name, "device": build.settings.device,
        "date": build.date.isoformat(), "timezone": build.settings.timezone,
        "frame_count": len(good), "bad_frames": len(index) - len(good),
        "first_time": good[0]["local_time"] if good else None,
        "last_time": good[-1]["local_time"] if good else None,
        "fps": round(fps, 6), "duration_secs": round(len(good) / fps, 3),
        "width": width, "height": height,
        "tool_version": __version__, "ffmpeg_version": ffmpeg_version(),
        "render": {**build.settings.render.as_dict(),
                   "overlay_time": build.settings.overlay_time},
    })


def render(build: DayBuild) -> dict[str, Any] | None:
    day = read_json(build.layout.day_json, {})
    if not day.get("frame_count"):
        log.info("%s %s: no frames to render", build.settings.name, build.date)
        return None
    settings = build.settings
    font = settings.overlay_font or default_font()
    log.info("rendering %s: %d frames at %g fps", build.layout.timelapse.name,
             day["frame_count"], day["fps"])
    render_file("render_frames.j2", build.layout.timelapse, day["duration_secs"],
                frames=build.layout.frames_list, width=day["width"],
                height=day["height"], fps=f"{day['fps']:g}",
                frame_count=day["frame_count"], crf=settings.render.crf,
                preset=settings.render.preset, overlay=settings.overlay_time, font=font)
    return {"rendered": build.output_stamp()}


def verify(build: DayBuild) -> dict[str, Any]:
    day = read_json(build.layout.day_json, {})
    if not day.get("frame_count"):
        return {"output": None}
    return verify_output(build, day["frame_count"], day["fps"], {},
                         size=(day["width"], day["height"]))


def tasks(build: DayBuild) -> dict[str, Any]:
    layout, settings = build.layout, build.settings
    store = FrameStore(build)

    def task_scan() -> dict[str, Any]:
        """List the device's objects for every key date the local day can touch."""
        return {"actions": [build.action("scan", scan)],
                "targets": [str(layout.object_list)], "uptodate": [False],
                "clean": True, "verbosity": 2}

    @create_after(executed="scan")
    def task_fetch() -> Iterator[dict[str, Any]]:
        """Download each frame once (again only when its ETag changes)."""
        if build.offline:
            return
        for frame in read_json(layout.object_list, []):
            record = store.record_path(frame)
            yield {"name": frame["id"], "actions": [build.action(
                       f"fetch:{frame['id']}", store.fetch, frame)],
                   "targets": [str(record)],
                   "uptodate": [config_changed({"etags": etags(frame)}),
                                json_intact(record), store.image_intact(frame)],
                   "clean": [(remove_files, [[record, store.image_path(frame)]])],
                   "verbosity": 2}

    @create_after(executed="fetch", target_regex=r".*frames\.txt$")
    def task_manifest() -> dict[str, Any]:
        """Write frame_index.json and frames.txt: the day's frames by capture time."""
        records = [str(store.record_path(f)) for f in read_json(layout.object_list, [])
                   if store.record_path(f).exists()]
        return {"actions": [build.action("manifest", write_index, store)],
                "task_dep": ["fetch"],
                "file_dep": [str(layout.object_list), *records],
                "targets": [str(layout.frame_index), str(layout.frames_list)],
                "uptodate": [config_changed({"fps": settings.render.fps,
                                             "target": settings.render.target,
                                             "timezone": settings.timezone}),
                             json_intact(layout.frame_index)],
                "clean": True, "verbosity": 2}

    def task_speed() -> dict[str, Any]:
        """Write day.json: frame count, first and last time, fps, duration."""
        return {"actions": [build.action("speed", write_day)], "task_dep": ["manifest"],
                "file_dep": [str(layout.frame_index), str(layout.frames_list)],
                "targets": [str(layout.day_json)],
                "uptodate": [config_changed({"render": settings.render.as_dict(),
                                             "overlay": settings.overlay_time,
                                             "ffmpeg": ffmpeg_version()}),
                             json_intact(layout.day_json)],
                "clean": True, "verbosity": 2}

    def task_render() -> dict[str, Any]:
        """Render the frames to an H.264 MP4."""
        return {"actions": [build.action("render", render)],
                "file_dep": [str(layout.frames_list), str(layout.day_json)],
                "targets": [str(layout.timelapse)],
                "uptodate": [config_changed({"crf": settings.render.crf,
                                             "preset": settings.render.preset,
                                             "overlay": settings.overlay_time,
                                             "font": settings.overlay_font,
                                             "ffmpeg": ffmpeg_version()}),
                             build.output_as_rendered],
                "clean": True, "verbosity": 2}

    def task_verify() -> dict[str, Any]:
        """Check the output's frame count, duration and size."""
        return {"actions": [build.action("verify", verify)], "task_dep": ["render"],
                "file_dep": [str(layout.day_json)], "targets": [str(layout.verify_json)],
                "uptodate": [build.output_unchanged, json_intact(layout.verify_json)],
                "clean": True, "verbosity": 2}

    return {"task_scan": task_scan, "task_fetch": task_fetch,
            "task_manifest": task_manifest, "task_speed": task_speed,
            "task_render": task_render, "task_verify": task_verify}


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
