"""What every tlbuild source on a UniFi Protect console shares (event clips and
recorded stills alike): the console's keys in the config, one client factory, the
run's logged-in client, a batch's one login per console, the camera and its local
day from the bootstrap, the camera record, and what `doctor` says of a camera. A
support module of the two sources, not a source itself."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import __version__
from ..build import DayBuild
from ..config import (
    SIMULATOR_HOST,
    Table,
    overlay_settings,
    positive,
    secret_source,
    sink_names,
    validate_host,
    validate_timezone,
)
from ..days import day_window, local_time
from ..errors import CameraNotFound, RemoteError, TlbuildError
from ..handover import handed_over
from .unifi_client import ProtectClient, session_key


def protect_client(settings: Any, password: Any, **options: Any) -> ProtectClient:
    """The one way a Protect client is made from a camera's settings (`options`:
    retries, pool and slot sizes)."""
    return ProtectClient(settings.host, settings.username, password,
                         tls_insecure=settings.tls_insecure,
                         direct_api=settings.direct_api, **options)


def console_settings(table: Table, base: Path) -> dict[str, Any]:
    """The keys every camera on a Protect console has: how to reach and log in to
    the console, which camera, how many requests in flight, and what to publish."""
    where = table.where
    overlay_time, overlay_font = overlay_settings(table)
    return {
        "host": validate_host(table.get("host", str, required=True), where),
        "username": table.get("username", str, required=True),
        "password": secret_source(table, base, "password"),
        "camera": table.get("camera", str, required=True),
        "workers": positive(table.get("workers", int, 2), "workers", where, high=8),
        "retries": positive(table.get("retries", int, 3), "retries", where, high=20),
        "tls_insecure": table.get("tls_insecure", bool, False),
        "direct_api": table.get("direct_api", bool, False),
        "timezone": validate_timezone(table.get("timezone", str), where),
        "overlay_time": overlay_time, "overlay_font": overlay_font,
        "publish": sink_names(table, "publish"),
    }


def resolve_camera(cameras: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    """Exact id first, then case-insensitive name; none or several is an error."""
    by_id = [camera for camera in cameras if camera.get("id") == wanted]
    if by_id:
        return by_id[0]
    by_name = [camera for camera in cameras
               if str(camera.get("name", "")).casefold() == wanted.casefold()]
    listing = "; ".join(f"{camera.get('name')!r} (id {camera.get('id')})"
                        for camera in (by_name or cameras)) or "none"
    if not by_name:
        raise CameraNotFound(f"camera {wanted!r} not found; cameras on this NVR: {listing}")
    if len(by_name) > 1:
        raise CameraNotFound(f"camera name {wanted!r} is ambiguous; use one of the ids: "
                             f"{listing}")
    return by_name[0]


@dataclass(frozen=True)
class Retention:
    """Where the console still has footage of a camera (bootstrap
    `cameras[].stats.video`, epoch ms; None where unknown): nothing before
    `start_lq`, only the 640x360 stream before `start`, nothing after `end`."""

    start_lq: int | None = None
    start: int | None = None
    end: int | None = None

    @classmethod
    def of(cls, camera: dict[str, Any]) -> Retention:
        stats = camera.get("stats") if isinstance(camera.get("stats"), dict) else {}
        video = stats.get("video") if isinstance(stats.get("video"), dict) else {}

        def when(key: str) -> int | None:
            value = video.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) \
                else None
        return cls(when("recordingStartLQ"), when("recordingStart"), when("recordingEnd"))

    def as_dict(self) -> dict[str, Any]:
        return {"recording_start_lq": self.start_lq, "recording_start": self.start,
                "recording_end": self.end}

    def gone(self, event: dict[str, Any]) -> bool:
        return self.start_lq is not None and event["end"] <= self.start_lq

    def unfinished(self, event: dict[str, Any]) -> bool:
        """Not recorded to its end yet: like an ongoing event, a later run adds it."""
        return self.end is not None and event["end"] > self.end

    def low_resolution(self, start_ms: int) -> bool:
        return self.start is not None and start_ms < self.start


def camera_record(camera: dict[str, Any], nvr: dict[str, Any], date: dt.date, zone: str,
                  window: tuple[int, int]) -> dict[str, Any]:
    """metadata/camera.json: what was resolved, never credentials."""
    channels = [{key: channel.get(key) for key in
                 ("id", "name", "width", "height", "fps", "idrInterval", "enabled")}
                for channel in camera.get("channels") or [] if isinstance(channel, dict)]
    return {
        "id": camera.get("id"), "name": camera.get("name"), "type": camera.get("type"),
        "model_key": camera.get("modelKey"), "mac": camera.get("mac"),
        "state": camera.get("state"), "channels": channels,
        "nvr": {"name": nvr.get("name"), "version": nvr.get("version"),
                "timezone": nvr.get("timezone")},
        "day": {"date": date.isoformat(), "timezone": zone, "start_ms": window[0],
                "end_ms": window[1], "hours": (window[1] - window[0]) / 3_600_000},
        "retention": Retention.of(camera).as_dict(),
        "tool_version": __version__,
    }


class ConsoleSessions:
    """One login per console for a whole batch: the batch logs in once and hands the
    session to each shard process (`ProtectClient.session_state`). A failed login is
    remembered, so no shard of that console tries again."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, Exception] = {}
        self._lock = threading.Lock()

    def handover(self, settings: Any) -> dict[str, dict[str, Any]]:
        if settings.host == SIMULATOR_HOST:
            return {}  # the demo NVR lives inside each shard's own process
        key = session_key(settings.host, settings.username)
        with self._lock:
            if key in self._errors:
                raise self._errors[key]
            if key not in self._states:
                try:
                    password = settings.password.load(
                        f"camera {settings.name!r}: password from "
                        f"{settings.password.describe()}")
                    client = protect_client(settings, password, retries=settings.retries)
                    self._states[key] = client.session_state()
                except TlbuildError as error:
                    self._errors[key] = error
                    raise
        return {key: self._states[key]}


def console_day(build: DayBuild, client: ProtectClient
                ) -> tuple[dict[str, Any], dict[str, Any], str, tuple[int, int]]:
    """The camera, the console's record, the time zone and the local day's window
    (epoch ms), from the console's bootstrap."""
    boot = client.bootstrap()
    camera = resolve_camera(boot["cameras"], build.settings.camera)
    nvr = boot.get("nvr") if isinstance(boot.get("nvr"), dict) else {}
    zone = console_zone(build.settings, nvr)
    return camera, nvr, zone, day_window(build.date, zone)


def console_zone(settings: Any, nvr: dict[str, Any]) -> str:
    """The camera's local zone: its `timezone`, else the console's (one this
    machine's zone database knows), else UTC."""
    if settings.timezone:
        return settings.timezone
    name = nvr.get("timezone") or "UTC"
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise RemoteError(f"the console's time zone {str(name)[:60]!r} is unknown on this "
                          "machine: set timezone = \"Area/City\" in the camera's config "
                          "(or update the tzdata package)") from None
    return name


def protect(build: DayBuild) -> ProtectClient:
    """The one Protect client of this run (logged in lazily, shared by the worker
    threads; in a batch, with the session the batch logged in)."""
    def connect() -> ProtectClient:
        settings = build.settings
        client = protect_client(settings, build.password, retries=settings.retries,
                                pool_size=settings.workers, export_slots=settings.workers,
                                snapshot_slots=settings.workers)
        handed = handed_over(session_key(client.host, client.username))
        if handed:
            client.adopt(handed)
        return client
    return build.shared("protect", connect)


def console(settings: Any, password: Any, shared: dict[str, Any]) -> ProtectClient:
    """One logged-in client per console for `doctor` and `cameras`."""
    key = session_key(settings.host, settings.username)
    if key not in shared:
        shared[key] = protect_client(settings, password, retries=1)
    return shared[key]


def describe_camera(camera: dict[str, Any], zone: str = "UTC") -> str:
    """A console's camera in one line: name, id, state, resolution, footage kept."""
    channel = next(iter(camera.get("channels") or []), {}) or {}
    kept = Retention.of(camera)
    footage = (f"footage from {local_time(kept.start_lq, zone)[:10]}"
               + (f" (full resolution from {local_time(kept.start, zone)[:10]})"
                  if kept.start and kept.start != kept.start_lq else "")
               if kept.start_lq else "no footage")
    return (f"{camera.get('name')!r} (id {camera.get('id')}), {camera.get('state')}, "
            f"{channel.get('width')}x{channel.get('height')}, {footage}")


def check(settings: Any, password: Any, shared: dict[str, Any]) -> str:
    """What `doctor` and `cameras` say of this camera: its console answers, the
    account logs in (once per console), the camera resolves."""
    boot = shared.get(("boot", settings.host))
    if boot is None:
        boot = shared[("boot", settings.host)] = console(settings, password,
                                                         shared).bootstrap()
    zone = console_zone(settings, boot.get("nvr") or {})
    return describe_camera(resolve_camera(boot["cameras"], settings.camera), zone)


SESSIONS = ConsoleSessions()  # a batch's logins, one per console


def device_cameras(settings: Any, password: Any) -> int:
    """`cameras --host`: every camera of one UniFi console, a line each."""
    boot = protect_client(settings, password).bootstrap()
    zone = (boot.get("nvr") or {}).get("timezone") or "UTC"
    for camera in boot["cameras"]:
        print(describe_camera(camera, zone))
    return 0
