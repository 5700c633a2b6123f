"""Any camera with a snapshot URL or an RTSP stream (`source = "snapshot"`). Such a
camera keeps no history tlbuild can ask for, so tlbuild records it: `tlbuild
capture` takes one still per `interval` into `<out>/<camera>/captures/<local
date>/<local time>.jpg`, and a day builds from that day's captures as a folder does
(imagefolder.py): today's build renders what is there so far, a later one adds the
rest.

The capture of one camera: a steady clock (the n-th still is due at start + n x
interval, whatever the last one took: no drift; a still that could not be taken in
its turn is skipped, not made up), the camera's frame choices as capture windows,
each still written whole or not at all, a failing camera retried with a growing
pause and said once per outage, and no write below `min_free_mb` free.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..build import DayBuild
from ..config import (
    ConfigError,
    RenderSettings,
    SecretSource,
    Table,
    positive,
    secret_source,
)
from ..errors import TlbuildError
from ..imagefolder import frame_keys, local_zone, scan_folder, tasks_for
from ..probe import jpeg_size
from ..settings import CameraSettings
from ..stop import stop_requested
from .snapshot_client import SnapshotClient, redact

log = logging.getLogger("tlbuild.capture")
LONGEST_PAUSE_S = 300  # a failing camera is tried at least every 5 minutes
STILL_NAME = "%Y-%m-%dT%H-%M-%S"


@dataclass(frozen=True, kw_only=True)
class SnapshotCamera(CameraSettings):
    """A camera tlbuild records itself: its snapshot URL (or RTSP stream)."""

    url: str
    username: str | None = None
    password: SecretSource | None = None
    token: SecretSource | None = None   # a Bearer token (Home Assistant)
    interval: int = 60
    timeout: float = 20.0
    min_free_mb: int = 500
    tls_insecure: bool = False
    render: RenderSettings = field(default_factory=lambda: RenderSettings(target=None))
    source: str = "snapshot"

    @property
    def device_address(self) -> str | None:
        return self.url


def parse(name: str, table: Table, base: Path) -> SnapshotCamera:
    where = table.where
    url = table.get("url", str, required=True)
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("http", "https", "rtsp", "rtsps") and url != "simulator":
        raise ConfigError(f"{where}: url must be an http(s) snapshot URL or an rtsp:// "
                          "stream")
    username = table.get("username", str)
    keys = frame_keys(table, base)
    camera = SnapshotCamera(
        name=name, url=url, username=username,
        password=secret_source(table, base, "password") if username else None,
        token=SecretSource(env=table.get("token_env", str))
        if table.get("token_env", str) else None,
        interval=positive(table.get("interval", int, 60), "interval", where, low=1,
                          high=86400),
        timeout=float(positive(table.get("timeout", int, 20), "timeout", where, high=300)),
        min_free_mb=positive(table.get("min_free_mb", int, 500), "min_free_mb", where,
                             low=0, high=10_000_000),
        tls_insecure=table.get("tls_insecure", bool, False),
        **{key: value for key, value in keys.items() if key != "interval"})
    table.get("source", str)
    table.reject_unknown()
    return camera


def captures(camera_dir: Path, date: dt.date) -> Path:
    return camera_dir / "captures" / date.isoformat()


def tasks(build: DayBuild) -> dict[str, Any]:
    """The day from its captures (named by their local time)."""
    folder = captures(build.layout.root.parent, build.date)
    # a day with no capture yet is an empty day, not an error
    return tasks_for(build, lambda build: scan_folder(build, folder, STILL_NAME,
                                                      missing_ok=True))


def client_for(settings: SnapshotCamera) -> SnapshotClient:
    def load(source: SecretSource | None, what: str) -> Any:
        return source.load(f"camera {settings.name!r}: {what} from {source.describe()}") \
            if source else None
    return SnapshotClient(settings.url, settings.username, load(settings.password,
                                                                 "password"),
                          load(settings.token, "token"), tls_insecure=settings.tls_insecure,
                          timeout=settings.timeout)


def check(settings: SnapshotCamera, password: Any, shared: dict[str, Any]) -> str:
    """What `doctor` and `cameras` say: a frame is taken now (and not kept)."""
    with tempfile.TemporaryDirectory(prefix="tlbuild-doctor-") as folder:
        image = client_for(settings).grab(Path(folder) / "frame.jpg")
    width, height = jpeg_size(image) or (0, 0)
    return f"{redact(settings.url)}: a {width}x{height} frame ({len(image) / 1e3:.0f} kB)"


def free_mb(folder: Path) -> float:
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free / 1e6


def capture(settings: SnapshotCamera, camera_dir: Path) -> None:
    """Take this camera's stills until a stop is requested (see the module's text)."""
    client = client_for(settings)
    zone = local_zone(settings)
    interval = settings.interval
    started = time.monotonic()
    turn, failures, low_disk, taken = 0, 0, False, 0
    log.info("%s: a still every %d s from %s into %s", settings.name, interval,
             redact(settings.url), camera_dir / "captures")
    while True:
        due = started + turn * interval
        if stop_requested.wait(max(0.0, due - time.monotonic())):
            break
        now = time.time()
        turn = max(turn + 1, math.floor((time.monotonic() - started) / interval) + 1)
        if settings.selection.left_out(now, zone):
            continue  # outside the camera's capture windows
        if free_mb(camera_dir) < settings.min_free_mb:
            if not low_disk:
                log.error("%s: only %.0f MB free under %s (min_free_mb = %d): not "
                          "writing until there is room (tlbuild prune frees old inputs)",
                          settings.name, free_mb(camera_dir), camera_dir,
                          settings.min_free_mb)
            low_disk = True
            continue
        if low_disk:
            log.info("%s: room again, capturing", settings.name)
            low_disk = False
        local = dt.datetime.fromtimestamp(now, ZoneInfo(zone))
        target = captures(camera_dir, local.date()) / f"{local.strftime(STILL_NAME)}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.grab(target)
        except KeyboardInterrupt:
            break
        except (TlbuildError, OSError) as error:
            if stop_requested.is_set():
                break
            failures += 1
            if failures == 1:
                log.warning("%s: capture failed: %s (tried again with a growing pause; "
                            "said again when it works)", settings.name, error)
            # skip turns: 1, 2, 4, ... up to about five minutes between tries
            turn += min(2 ** (failures - 1), max(1, LONGEST_PAUSE_S // interval)) - 1
            continue
        taken += 1
        if failures:
            log.info("%s: capturing again after %d failed tries", settings.name, failures)
            failures = 0
    log.info("%s: stopped after %d stills", settings.name, taken)
