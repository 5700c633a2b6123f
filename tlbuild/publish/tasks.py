"""The publish step: one doit task per (camera, date, sink), after verify.

Its target is a receipt, `publish/<sink>.json` (remote id, url, size and sha256 of
what was sent, time). It runs again only when the timelapse or the sink's settings
change: a plain rerun sends nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from doit import create_after
from doit.tools import config_changed

from ..build import DayBuild
from ..config import AllskySink, S3Sink, Sink
from ..errors import RemoteError
from ..files import json_intact, read_json, safe_name, write_json_if_changed
from ..ffmpeg import render_file
from ..probe import probe
from . import s3 as s3_sink
from .indi_allsky import THUMBNAIL, VIDEO, SyncApiClient, SyncApiError

log = logging.getLogger("tlbuild.publish")


def receipt_path(build: DayBuild, sink: Sink) -> Path:
    return build.layout.root / "publish" / f"{safe_name(sink.name, 'sink')}.json"


def file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


def camera_uuid(build: DayBuild, sink: AllskySink) -> str:
    """The configured uuid, else one derived from the camera's name: stable forever."""
    return sink.camera_uuid or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                              f"tlbuild:camera:{build.settings.name}"))


def day_zone(build: DayBuild) -> str:
    recorded = read_json(build.layout.camera_json, {}) or {}
    return (recorded.get("day", {}).get("timezone")
            or getattr(build.settings, "timezone", None) or "UTC")


def utc_offset(zone: str, date: dt.date) -> int:
    noon = dt.datetime.combine(date, dt.time(12), tzinfo=ZoneInfo(zone))
    return int(noon.utcoffset().total_seconds())


def publish_allsky(build: DayBuild, sink: AllskySink, video: Path, size: int,
                   digest: str) -> dict[str, Any]:
    apikey = sink.apikey.load(f"sink {sink.name!r}: API key from {sink.apikey.describe()}")
    client = SyncApiClient(sink, apikey)
    zone = day_zone(build)
    offset = utc_offset(zone, build.date)
    cam = camera_uuid(build, sink)
    client.register_camera(cam, build.settings.name, zone, offset)
    info = probe(video)
    created = int(video.stat().st_mtime)
    metadata: dict[str, Any] = {
        "type": VIDEO, "createDate": created, "utc_offset": offset,
        "dayDate": build.date.strftime("%Y%m%d"), "night": sink.night,
        "framerate": info.fps, "frames": info.frames, "camera_uuid": cam,
        "width": info.width, "height": info.height, "success": True,
        "file_size": size, "data": {}}
    if sink.thumbnail:
        metadata["thumbnail_uuid"] = send_thumbnail(build, client, sink, video, info,
                                                    cam, offset, created)
    method = "PUT" if sink.mode == "put" else "POST"
    previous = read_json(receipt_path(build, sink), {}) or {}
    try:
        answer = client.upload("video", metadata, video, video.name, method)
    except SyncApiError as error:
        if error.code == "file_exists" and previous.get("size") == size:
            log.info("%s: the server already has this video (same size)", sink.name)
            return {"remote_id": previous.get("remote_id"), "url": previous.get("url")}
        if error.code == "file_exists":
            raise RemoteError(f"{error}; it differs from this one: set mode = \"put\" "
                              "to replace it") from None
        raise
    return {"remote_id": answer.get("id"), "url": answer.get("url"),
            "camera_uuid": cam}


def send_thumbnail(build: DayBuild, client: SyncApiClient, sink: AllskySink,
                   video: Path, info: Any, cam: str, offset: int, created: int) -> str:
    """A JPEG from the middle of the video, sent first; returns its uuid."""
    thumb = build.layout.root / "publish" / "thumbnail.jpg"
    render_file("thumbnail.j2", thumb, 1.0, video=video, middle=f"{info.duration / 2:.3f}")
    thumb_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tlbuild:thumbnail:{cam}:"
                                f"{build.date.isoformat()}"))
    width = min(info.width, 320)
    client.upload("thumbnail", {
        "type": THUMBNAIL, "uuid": thumb_uuid, "createDate": created,
        "utc_offset": offset, "night": sink.night, "origin": VIDEO,
        "camera_uuid": cam, "width": width,
        "height": round(info.height * width / info.width / 2) * 2,
        "file_size": thumb.stat().st_size, "data": {}}, thumb, "thumbnail.jpg", "PUT")
    return thumb_uuid


def publish(build: DayBuild, sink: Sink) -> None:
    video = build.layout.timelapse
    size, digest = file_digest(video)
    if isinstance(sink, S3Sink):
        key = s3_sink.object_key(sink, safe_name(build.settings.name),
                                 build.date.isoformat(), video.name)
        remote = s3_sink.upload(sink, video, key, size, digest)
    else:
        remote = publish_allsky(build, sink, video, size, digest)
    receipt = {"sink": sink.name, "kind": sink.kind, "camera": build.settings.name,
               "date": build.date.isoformat(), "file": video.name, "size": size,
               "sha256": digest,
               "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               **remote}
    write_json_if_changed(receipt_path(build, sink), receipt)
    log.info("published %s to %s: %s", video.name, sink.name, remote.get("url"))


def tasks(build: DayBuild, sinks: list[Sink]) -> dict[str, Any]:
    @create_after(executed="verify")
    def task_publish() -> Iterator[dict[str, Any]]:
        """Send the verified timelapse to each sink the camera publishes to."""
        if not build.layout.timelapse.exists():
            return
        for sink in sinks:
            settings = sink.settings()
            if isinstance(sink, AllskySink):
                settings["camera_uuid"] = camera_uuid(build, sink)
            yield {"name": sink.name,
                   "actions": [build.action(f"publish:{sink.name}", publish, sink)],
                   "file_dep": [str(build.layout.timelapse)],
                   "targets": [str(receipt_path(build, sink))],
                   "uptodate": [config_changed(settings),
                                json_intact(receipt_path(build, sink))],
                   "clean": True, "verbosity": 2}

    return {"task_publish": task_publish}
