"""Client for the Axis timelapse apps: Timelapse2 (1.x, MJPEG AVI), Timelapse3 (3.x,
MP4) and the older TimelapseMe. Read only: it never calls `reset` or `export` with an
`fps`, which change the camera. Digest auth with an admin account."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from requests.auth import HTTPDigestAuth

from ..config import Secret
from ..errors import AuthError, CameraNotFound, RemoteError
from ..files import printable, safe_name
from ..http import HttpClient, RetryPolicy, with_retries
from ..slots import HostSlots

log = logging.getLogger("tlbuild.axis")


TIMELAPSE2, TIMELAPSE3, TIMELAPSEME = "timelapse2", "timelapse3", "timelapseme"


@dataclass(frozen=True)
class Archive:
    """One archive file as the camera lists it, normalized across the app variants."""

    filename: str           # untrusted: as the camera names it
    profile_id: str
    size: int | None        # 3.x: the file size; 1.x: the JPEG bytes (a little less)
    frames: int
    fps: float
    first_ms: int
    last_ms: int
    container: str          # "avi" or "mp4"
    query: dict[str, str] = field(default_factory=dict)
    path: str = ""

    @property
    def local_name(self) -> str:
        return hashed_name(self.filename, self.container)

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "profile_id": self.profile_id,
                "size": self.size, "frames": self.frames, "fps": self.fps,
                "first_ms": self.first_ms, "last_ms": self.last_ms,
                "container": self.container, "path": self.path, "query": self.query,
                "local_name": self.local_name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Archive:
        fields = {k: data[k] for k in ("filename", "profile_id", "size", "frames", "fps",
                                       "first_ms", "last_ms", "container", "path",
                                       "query")}
        return cls(**fields)


def hashed_name(filename: str, extension: str) -> str:
    """A safe local name for an untrusted file name: sanitized, plus a short hash of
    the original so that two names that sanitize alike never collide."""
    stem = safe_name(Path(filename).stem, "archive", limit=80)
    digest = hashlib.sha1(filename.encode()).hexdigest()[:8]
    return f"{stem}-{digest}.{extension}"


def plain_name(filename: str, extension: str) -> str:
    """The camera's own name when it is already a safe file name, else hashed_name."""
    if filename == safe_name(filename, "") and filename.lower().endswith(
            (".avi", ".mp4")):
        return filename
    return hashed_name(filename, extension)


def parse_time(value: Any, zone: str) -> int | None:
    """Epoch ms from a number (s or ms) or a camera-local 'YYYY-MM-DD@HH:MM:SS'."""
    if isinstance(value, dict):
        value = value.get("date", value.get("timestamp"))
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value if value > 1e11 else value * 1000)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return parse_time(float(text), zone)
    for form in ("%Y-%m-%d@%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            local = dt.datetime.strptime(text[:19], form).replace(tzinfo=ZoneInfo(zone))
            return int(local.timestamp() * 1000)
        except ValueError:
            continue
    return None


def _number(value: Any, default: float = 0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class AxisClient(HttpClient):
    def __init__(self, base_url: str, username: str, password: Secret, *,
                 zone: str = "UTC", retries: int = 3, timeout: float = 60.0,
                 tls_insecure: bool = False, rate_limit_mbps: float | None = None,
                 policy: RetryPolicy | None = None):
        super().__init__(base_url, tls_insecure=tls_insecure, retries=retries,
                         read_timeout=timeout, policy=policy)
        self.zone = zone
        self.rate = rate_limit_mbps * 1e6 / 8 if rate_limit_mbps else None
        self.session.auth = HTTPDigestAuth(username, password.reveal())
        # Timelapse3's web server answers one request at a time: one exchange per
        # camera at once, across threads and processes (the other apps are as small)
        self._turns = HostSlots(f"axis:{self.base}", 1)
        self.app: str | None = None
        self.version: str | None = None

    def turn(self) -> AbstractContextManager[Any]:
        return self._turns.hold()

    def auth_error(self, response: requests.Response, what: str) -> AuthError:
        return AuthError(f"{self.base} rejected the credentials (HTTP "
                         f"{response.status_code}): the timelapse apps need an admin "
                         "account with Digest authentication")

    # --- the app ---------------------------------------------------------------------

    def detect(self) -> str:
        """timelapse2 (1.x), timelapse3 (3.x) or timelapseme."""
        app = self.get_json("/local/timelapse2/app", missing_ok=True)
        if isinstance(app, dict):
            setup = (app.get("manifest", {}).get("acapPackageConf", {}).get("setup", {})
                     if isinstance(app.get("manifest"), dict) else {})
            self.version = str(setup.get("version") or app.get("version") or "")
            major = self.version.split(".")[0]
            self.app = TIMELAPSE3 if major.isdigit() and int(major) >= 3 else TIMELAPSE2
            return self.app
        listing = self.get_json("/local/timelapseme/recordings", missing_ok=True)
        if listing is None:
            raise CameraNotFound(f"{self.base}: no timelapse app answers (neither "
                                 "Timelapse2/3 nor TimelapseMe is installed and running)")
        self.app, self.version = TIMELAPSEME, None
        return self.app

    def profiles(self) -> list[dict[str, Any]]:
        if self.app == TIMELAPSEME:
            listing = self.get_json("/local/timelapseme/recordings") or []
        else:
            listing = self.get_json("/local/timelapse2/timelapse") or []
        if isinstance(listing, dict):
            listing = list(listing.values())
        return [p for p in listing if isinstance(p, dict) and "id" in p]

    def archives(self) -> list[Archive]:
        if self.app is None:
            self.detect()
        if self.app == TIMELAPSEME:
            return self._timelapseme_archives()
        listing = self.get_json("/local/timelapse2/archive") or []
        found = []
        for item in listing if isinstance(listing, list) else []:
            if not isinstance(item, dict) or not item.get("filename"):
                continue
            container = str(item.get("container") or
                            ("mp4" if str(item["filename"]).lower().endswith(".mp4")
                             else "avi")).lower()
            found.append(Archive(
                filename=str(item["filename"]), profile_id=str(item.get("id", "")),
                size=int(_number(item.get("size"), 0)) or None,
                frames=int(_number(item.get("frames"))), fps=_number(item.get("fps"), 0),
                first_ms=parse_time(item.get("first"), self.zone) or 0,
                last_ms=parse_time(item.get("last"), self.zone) or 0,
                container="mp4" if container == "mp4" else "avi",
                path="/local/timelapse2/download",
                query={"filename": str(item["filename"])}))
        return found

    def _timelapseme_archives(self) -> list[Archive]:
        found: dict[str, Archive] = {}
        for recording in self.profiles():
            detail = self.get_json("/local/timelapseme/recordings",
                                   {"get": recording["id"]}) or {}
            archive_block = detail.get("archive") if isinstance(detail, dict) else None
            entries = archive_block.get("archives", []) if isinstance(
                archive_block, dict) else []
            for item in entries:
                if not isinstance(item, dict) or not item.get("filename"):
                    continue
                found[item["filename"]] = Archive(
                    filename=str(item["filename"]), profile_id=str(recording["id"]),
                    size=int(_number(item.get("size"), 0)) or None,
                    frames=int(_number(item.get("frames"))),
                    fps=_number(item.get("fps"), 0),
                    first_ms=parse_time(item.get("first"), self.zone) or 0,
                    last_ms=parse_time(item.get("last"), self.zone) or 0,
                    container="avi", path="/local/timelapseme/archives",
                    query={"export": str(recording["id"]), "file": str(item["filename"])})
        if not found:  # older firmware: a bare list of {id, filename}
            bare = self.get_json("/local/timelapseme/archives", missing_ok=True) or []
            for item in bare if isinstance(bare, list) else []:
                if isinstance(item, dict) and item.get("filename"):
                    found[item["filename"]] = Archive(
                        filename=str(item["filename"]), profile_id=str(item.get("id", "")),
                        size=None, frames=0, fps=0, first_ms=0, last_ms=0,
                        container="avi", path="/local/timelapseme/archives",
                        query={"export": str(item.get("id", "")),
                               "file": str(item["filename"])})
        return list(found.values())

    def frame_times(self, profile_id: str) -> list[int]:
        """TimelapseMe's real per-frame times (epoch ms); empty elsewhere."""
        if self.app != TIMELAPSEME:
            return []
        listing = self.get_json("/local/timelapseme/frames", {"id": profile_id},
                                missing_ok=True) or []
        if isinstance(listing, dict):
            listing = listing.get("frames", [])
        times = [parse_time(item, self.zone) for item in listing]
        return sorted(t for t in times if t is not None)

    def remote_size(self, archive: Archive) -> int | None:
        """The file's size as the server sends it (HEAD Content-Length)."""
        def attempt() -> int | None:
            with self.turn(), self.request("HEAD", archive.path,
                                           params=archive.query) as response:
                self.check(response, f"HEAD {archive.filename}")
                length = response.headers.get("Content-Length")
                return int(length) if length and length.isdigit() else None
        try:
            return with_retries(attempt, self.policy, f"HEAD {archive.filename}")
        except RemoteError:
            return None

    # --- downloads -------------------------------------------------------------------

    def download(self, archive: Archive, final: Path,
                 on_bytes: Callable[[int, int | None], None] | None = None) -> int:
        """Download an archive into `final`; return its size. 5xx and network errors
        are retried; 4xx never (Unavailable, AuthError)."""
        def signature(head: bytes) -> str | None:
            if _container_ok(head, archive.container):
                return None
            return f"{printable(archive.filename)} is not an {archive.container.upper()} file"
        size, _ = super().download(archive.path, final, what="download",
                                   params=archive.query, signature=signature,
                                   on_bytes=on_bytes, rate=self.rate)
        return size


def _container_ok(head: bytes, container: str) -> bool:
    if len(head) < 12:
        return True  # judged by the probe later
    if container == "avi":
        return head[:4] == b"RIFF" and head[8:12] == b"AVI "
    return head[4:8] == b"ftyp"
