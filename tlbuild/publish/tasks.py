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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from doit import create_after

from ..build import DayBuild
from ..config import AllskySink, S3Sink, Sink
from ..errors import RemoteError
from ..ffmpeg import render_file
from ..files import safe_name
from ..probe import probe
from ..records import Receipt
from ..report import write_report
from ..taskdef import task
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




def utc_offset(zone: str, date: dt.date) -> int:
    noon = dt.datetime.combine(date, dt.time(12), tzinfo=ZoneInfo(zone))
    return int(noon.utcoffset().total_seconds())


def publish_allsky(build: DayBuild, sink: AllskySink, video: Path, size: int,
                   digest: str) -> dict[str, Any]:
    apikey = sink.apikey.load(f"sink {sink.name!r}: API key from {sink.apikey.describe()}")
    client = SyncApiClient(sink, apikey)
    zone = build.zone()
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
    previous = Receipt.read(receipt_path(build, sink))
    try:
        answer = client.upload("video", metadata, video, video.name, method)
    except SyncApiError as error:
        if error.code == "file_exists" and previous and previous.size == size:
            log.info("%s: the server already has this video (same size)", sink.name)
            return {"remote_id": previous.remote_id, "url": previous.url}
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


def publish_s3(build: DayBuild, sink: S3Sink, video: Path, size: int,
               digest: str) -> dict[str, Any]:
    key = s3_sink.object_key(sink, safe_name(build.settings.name),
                             build.date.isoformat(), video.name)
    return s3_sink.upload(sink, video, key, size, digest)


SENDERS = {"s3": publish_s3, "indi-allsky": publish_allsky}  # by the sink's `kind`


def publish(build: DayBuild, sink: Sink) -> None:
    video = build.layout.timelapse
    size, digest = file_digest(video)
    remote = SENDERS[sink.kind](build, sink, video, size, digest)
    Receipt(sink=sink.name, kind=sink.kind, camera=build.settings.name,
            date=build.date.isoformat(), file=video.name, size=size, sha256=digest,
            time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **remote).write(receipt_path(build, sink))
    log.info("published %s to %s: %s", video.name, sink.name, remote.get("url"))
    if build.layout.report.is_file():  # the day page lists where the video went
        write_report(build)


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
            # again only when the video or the sink's settings change
            yield task(build, "publish", publish, sink, subtask=sink.name, reads=settings,
                       file_dep=[build.layout.timelapse],
                       targets=[receipt_path(build, sink)],
                       clean=not build.pruned)  # a pruned day's video stays published

    return {"task_publish": task_publish}
