"""What both Frigate sources share: the server's keys in the config, one client
factory, the camera and its local day, one login per server per batch, and what
`doctor` and `cameras` say."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal

from .. import __version__
from ..build import DayBuild
from ..config import (
    SIMULATOR_HOST,
    ConfigError,
    SecretSource,
    Table,
    overlay_settings,
    positive,
    secret_source,
    sink_names,
    validate_host,
    validate_timezone,
)
from ..days import day_window
from ..errors import CameraNotFound, TlbuildError, UsageError
from ..handover import handed_over
from ..source import DirectArgs
from .frigate_client import FrigateClient, session_key

MAX_PART_S = 3600  # no time range longer than an hour per request: long ones fail


def frigate_settings(table: Table, base: Path) -> dict[str, Any]:
    """The keys of every camera on a Frigate server: how to reach it (a login only
    with `username`, for the authenticated port 8971), which camera, how many
    requests in flight, and what to publish."""
    where = table.where
    username = table.get("username", str)
    has_secret = any(table.get(key, str) is not None
                     for key in ("password_env", "password_file"))
    if username and not has_secret:
        raise ConfigError(f"{where}: username needs password_env or password_file")
    if has_secret and not username:
        raise ConfigError(f"{where}: a password needs its username (port 8971), or "
                          "neither (port 5000)")
    overlay_time, overlay_font = overlay_settings(table)
    return {
        "host": validate_host(table.get("host", str, required=True), where),
        "camera": table.get("camera", str, required=True),
        "username": username,
        "password": secret_source(table, base, "password") if username else None,
        "workers": positive(table.get("workers", int, 2), "workers", where, high=8),
        "retries": positive(table.get("retries", int, 3), "retries", where, high=20),
        "tls_insecure": table.get("tls_insecure", bool, False),
        "timezone": validate_timezone(table.get("timezone", str), where),
        "overlay_time": overlay_time, "overlay_font": overlay_font,
        "publish": sink_names(table, "publish"),
    }


def direct_keys(args: DirectArgs) -> dict[str, Any]:
    """The same keys from the command line (`--host ... --source frigate`): a login
    only with --username (port 8971)."""
    if args.username and args.password is None:
        raise UsageError("--username needs a password: --password-file, UPVS_PASSWORD "
                         "or --password")
    return {"host": args.host, "camera": args.camera, "username": args.username,
            "password": args.password if args.username else None}


def frigate_client(settings: Any, password: Any, **options: Any) -> FrigateClient:
    """The one way a Frigate client is made from a camera's settings."""
    return FrigateClient(settings.host, settings.username, password,
                         tls_insecure=settings.tls_insecure, **options)


def frigate(build: DayBuild) -> FrigateClient:
    """The one client of this run (logged in lazily, shared by the worker threads;
    in a batch, with the token the batch logged in)."""
    def connect() -> FrigateClient:
        settings = build.settings
        client = frigate_client(settings, build.password, retries=settings.retries,
                                slots=min(settings.workers, 2))
        handed = handed_over(session_key(client.base, settings.username))
        if handed:
            client.adopt(handed)
        return client
    return build.shared("frigate", connect)


def resolve_camera(config: dict[str, Any], wanted: str) -> str:
    """The camera's name as Frigate spells it (exact, else ignoring case)."""
    names = [name for name in config["cameras"] if isinstance(name, str)]
    if wanted in names:
        return wanted
    matches = [name for name in names if name.casefold() == wanted.casefold()]
    if len(matches) == 1:
        return matches[0]
    raise CameraNotFound(f"camera {wanted!r} not found; cameras on this Frigate: "
                         f"{', '.join(repr(name) for name in names) or 'none'}")


def frigate_zone(settings: Any, config: dict[str, Any]) -> str:
    """The local day's zone: the camera's `timezone`, else Frigate's `ui.timezone`,
    else this machine's (Frigate's UI shows the browser's zone when none is set)."""
    if settings.timezone:
        return settings.timezone
    ui = config.get("ui") if isinstance(config.get("ui"), dict) else {}
    for name in (ui.get("timezone"), tzlocal.get_localzone_name(), "UTC"):
        if isinstance(name, str) and name:
            try:
                ZoneInfo(name)
                return name
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return "UTC"


def frigate_day(build: DayBuild, client: FrigateClient
                ) -> tuple[str, dict[str, Any], str, tuple[int, int]]:
    """The camera's name, its config, the time zone and the local day's window
    (epoch ms)."""
    config = client.config()
    camera = resolve_camera(config, build.settings.camera)
    zone = frigate_zone(build.settings, config)
    return camera, config["cameras"][camera] or {}, zone, day_window(build.date, zone)


def camera_record(camera: str, settings: dict[str, Any], date: dt.date, zone: str,
                  window: tuple[int, int], **extra: Any) -> dict[str, Any]:
    """metadata/camera.json: what was resolved, never credentials."""
    record = settings.get("record") if isinstance(settings.get("record"), dict) else {}
    return {"id": camera, "name": camera, "recording": record.get("enabled"),
            "day": {"date": date.isoformat(), "timezone": zone, "start_ms": window[0],
                    "end_ms": window[1], "hours": (window[1] - window[0]) / 3_600_000},
            "tool_version": __version__, **extra}


def describe(name: str, camera: Any) -> str:
    camera = camera if isinstance(camera, dict) else {}
    detect = camera.get("detect") if isinstance(camera.get("detect"), dict) else {}
    record = camera.get("record") if isinstance(camera.get("record"), dict) else {}
    return (f"{name!r}, {detect.get('width')}x{detect.get('height')}, recording "
            f"{'on' if record.get('enabled') else 'off'}")


def check(settings: Any, password: Any, shared: dict[str, Any]) -> str:
    """What `doctor` and `cameras` say: the server answers (one login per server),
    the camera resolves."""
    key = ("frigate", settings.host)
    if key not in shared:
        shared[key] = frigate_client(settings, password, retries=1).config()
    config = shared[key]
    name = resolve_camera(config, settings.camera)
    return (f"{describe(name, config['cameras'][name])}, time zone "
            f"{frigate_zone(settings, config)}")


def device_cameras(settings: Any, password: Any) -> int:
    """`cameras --host ... --source frigate`: every camera of the server."""
    config = frigate_client(settings, password, retries=1).config()
    for name, camera in config["cameras"].items():
        print(describe(name, camera))
    return 0


class ServerSessions:
    """One login per Frigate server for a whole batch (see handover.py); a failed
    login is remembered, so no shard of that server tries again."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, Exception] = {}
        self._lock = threading.Lock()

    def handover(self, settings: Any) -> dict[str, dict[str, Any]]:
        if settings.host == SIMULATOR_HOST or not settings.username:
            return {}  # the demo lives in each shard's process; port 5000 has no login
        key = session_key(settings.host, settings.username)
        with self._lock:
            if key in self._errors:
                raise self._errors[key]
            if key not in self._states:
                try:
                    source: SecretSource = settings.password
                    password = source.load(f"camera {settings.name!r}: password from "
                                           f"{source.describe()}")
                    client = frigate_client(settings, password, retries=settings.retries)
                    self._states[key] = client.session_state()
                except TlbuildError as error:
                    self._errors[key] = error
                    raise
        return {key: self._states[key]}


SESSIONS = ServerSessions()
