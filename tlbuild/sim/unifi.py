"""A simulated UniFi Protect console: the demo camera's NVR and the tests' peer.

Login with a session cookie and CSRF token, bootstrap with a time zone and cameras,
events with the real quirks (repeated `types`, overlaps, unsorted pages, ongoing
events, an ignored `cameras` filter) and `video/export` answering with real H.264
MP4 clips of the requested length. Faults on demand: statuses, HTML with 200,
truncated or cut bodies, slow answers and dropped sessions.

Run by hand:  python -m tlbuild.sim.unifi --username admin --password-env PW
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import math
import os
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .clips import ClipSpec, make_clip
from .events import day_events
from .server import LoopbackServer, QuietHandler, SimulatedServer, take_fault

PREFIXES = ("/proxy/protect/api/", "/api/")
EVENT_TYPES_ALL = ("motion", "smartDetectZone", "smartDetectLine", "sensorMotion")
MAX_EVENT_MS = 86_400_000  # no generated event is longer than a day


@dataclass
class Fault:
    """Misbehave on the next `times` requests to `endpoint`.

    kinds: status (answer `status`, with `retry_after` if set), html (200 with a web
    page), truncate (full Content-Length, half the body), cut (no Content-Length,
    half the body, then close), slow (wait `delay` s, then answer normally),
    drop_session (forget every session, answer 401).
    """

    endpoint: str
    kind: str
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Camera:
    id: str
    name: str
    width: int = 1920
    height: int = 1080
    fps: int = 30

    def bootstrap(self) -> dict[str, Any]:
        channels = [{"id": i, "name": name, "width": self.width // div,
                     "height": self.height // div, "fps": self.fps, "idrInterval": 5,
                     "enabled": True, "bitrate": 4_000_000 // div}
                    for i, (name, div) in enumerate((("High", 1), ("Medium", 2),
                                                     ("Low", 4)))]
        return {"id": self.id, "name": self.name, "type": "UVC G4 Bullet",
                "modelKey": "camera", "state": "CONNECTED", "isConnected": True,
                "host": "192.0.2.10", "mac": self.id[:12].upper(), "channels": channels,
                "recordingSettings": {"prePaddingSecs": 2, "postPaddingSecs": 2}}


@dataclass
class NvrState:
    users: dict[str, str]
    cameras: list[Camera]
    timezone: str = "America/New_York"
    events_per_day: int = 12
    seed: int = 1
    clip: ClipSpec = field(default_factory=ClipSpec)
    clip_cache: Path | None = None
    ignore_camera_filter: bool = True
    extra_events: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int, str]] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _days: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    _sorted: list[dict[str, Any]] | None = None
    _starts: list[int] = field(default_factory=list)

    def take_fault(self, endpoint: str) -> Fault | None:
        return take_fault(self.faults, self.lock, endpoint)

    def _ensure_days(self, start: int, end: int) -> None:
        """Generate (once) the events of every local day around [start, end]."""
        from zoneinfo import ZoneInfo
        tz = ZoneInfo(self.timezone)
        day = dt.datetime.fromtimestamp(start / 1000, tz).date() - dt.timedelta(days=1)
        last = dt.datetime.fromtimestamp(end / 1000, tz).date() + dt.timedelta(days=1)
        with self.lock:
            while day <= last:
                for camera in self.cameras:
                    key = (camera.id, day.isoformat())
                    if key not in self._days:
                        other = self.cameras[-1] if camera is self.cameras[0] \
                            else self.cameras[0]
                        self._days[key] = day_events(camera.id, other.id, day,
                                                     self.timezone, self.events_per_day,
                                                     self.seed)
                        self._sorted = None
                day += dt.timedelta(days=1)
            if self._sorted is None:
                unique = {e["id"]: e for events in self._days.values() for e in events}
                unique.update({e["id"]: e for e in self.extra_events})
                self._sorted = sorted(unique.values(), key=lambda e: (e["start"], e["id"]))
                self._starts = [e["start"] for e in self._sorted]

    def events_between(self, start: int, end: int, types: list[str] | None = None,
                       limit: int | None = None) -> list[dict[str, Any]]:
        """Events overlapping [start, end] in start order (at most `limit`)."""
        self._ensure_days(start, end)
        found = []
        first = bisect.bisect_left(self._starts, start - MAX_EVENT_MS)
        for item in self._sorted[first:]:
            if item["start"] > end or (limit is not None and len(found) >= limit):
                break
            if ((item["end"] is None or item["end"] >= start)
                    and (types is None or item["type"] in types)):
                found.append(item)
        return found

    def count(self, endpoint: str, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for _, path, code, _ in self.log
                       if path == endpoint and (status is None or code == status))

    def exports(self, status: int = 200) -> list[dict[str, str]]:
        """The query of each export answered with `status`, in order."""
        with self.lock:
            return [{k: v[0] for k, v in parse_qs(query).items()}
                    for _, path, code, query in self.log
                    if path == "export" and code == status]


def make_handler(state: NvrState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _record(self, endpoint: str, status: int) -> None:
            with state.lock:
                state.log.append((self.command, endpoint, status,
                                  urlsplit(self.path).query))

        def _json(self, endpoint: str, status: int, payload: Any,
                  headers: dict[str, str] | None = None) -> None:
            self._record(endpoint, status)
            self.send_body(status, json.dumps(payload).encode(), "application/json",
                           headers)

        def _session_user(self) -> str | None:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            token = cookie.get("TOKEN")
            with state.lock:
                return state.sessions.get(token.value) if token else None

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/api/auth/login":
                return self._json("unknown", 404, {"error": "not found"})
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = state.take_fault("login")
            if fault and fault.kind == "status":
                payload = ({"code": "AUTHENTICATION_FAILED_LIMIT_REACHED"}
                           if fault.status == 429 else {"error": "fault"})
                return self._json("login", fault.status, payload)
            try:
                credentials = json.loads(body)
            except ValueError:
                return self._json("login", 400, {"error": "bad json"})
            user, password = credentials.get("username"), credentials.get("password")
            if user not in state.users or state.users[user] != password:
                return self._json("login", 401, {"error": "Invalid credentials"})
            token = secrets.token_hex(16)
            with state.lock:
                state.sessions[token] = user
            self._json("login", 200, {"username": user, "isOwner": False},
                       {"Set-Cookie": f"TOKEN={token}; Path=/; HttpOnly; SameSite=Strict;"
                                      " Secure",  # as real consoles do, even to tests
                        "X-CSRF-Token": secrets.token_hex(8)})

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            prefix = next((p for p in PREFIXES if url.path.startswith(p)), None)
            endpoint = url.path[len(prefix):] if prefix else "unknown"
            if endpoint not in ("bootstrap", "events", "video/export"):
                return self._json(endpoint, 404, {"error": "not found"})
            endpoint = "export" if endpoint == "video/export" else endpoint
            fault = state.take_fault(endpoint)
            if fault and fault.kind == "drop_session":
                with state.lock:
                    state.sessions.clear()
            if self._session_user() is None:
                return self._json(endpoint, 401, {"error": "Unauthorized"})
            if fault and fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault and fault.kind == "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._json(endpoint, fault.status, {"error": "fault"}, headers)
            elif fault and fault.kind == "html":
                self._record(endpoint, 200)
                return self.send_body(200, b"<!DOCTYPE html><html><body>UniFi OS"
                                      b"</body></html>", "text/html")
            query = parse_qs(url.query)
            if endpoint == "bootstrap":
                return self._json(endpoint, 200, self._bootstrap())
            if endpoint == "events":
                return self._json(endpoint, 200, self._events(query))
            return self._export(query, fault)

        def _bootstrap(self) -> dict[str, Any]:
            return {"authUserId": "0" * 24, "accessKey": "1:2:" + "f" * 64,
                    "nvr": {"id": "nvr0", "name": "Simulated NVR", "version": "4.0.0",
                            "timezone": state.timezone},
                    "cameras": [camera.bootstrap() for camera in state.cameras],
                    "users": [{"id": "u1", "name": "someone", "email": "x@example.com"}]}

        def _events(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
            types = query.get("types", [])
            if any("," in value for value in types):
                return []  # a comma-joined value matches no type on the real server
            limit = int(query.get("limit", ["100"])[0])
            if types:
                start, end = int(query["start"][0]), int(query["end"][0])
            else:  # without types the server ignores start/end
                start, end, types = 0, 2**62, list(EVENT_TYPES_ALL)
            if "cameras" in query and not state.ignore_camera_filter:
                found = [e for e in state.events_between(start, end, types)
                         if e["camera"] in query["cameras"]][:limit]
            else:
                found = state.events_between(start, end, types, limit)
            page = list(found)
            random.Random(len(page)).shuffle(page)  # pages are not guaranteed sorted
            return page

        def _export(self, query: dict[str, list[str]], fault: Fault | None) -> None:
            try:
                start, end = int(query["start"][0]), int(query["end"][0])
                camera = query["camera"][0]
            except (KeyError, ValueError):
                return self._json("export", 400, {"error": "bad request"})
            if camera not in {c.id for c in state.cameras} or end <= start:
                return self._json("export", 404, {"error": "no recording"})
            seconds = max(1, math.ceil((end - start) / 1000))
            body = make_clip(state.clip, seconds, state.clip_cache).read_bytes()
            if fault and fault.kind in ("truncate", "cut"):
                self._record("export", 200)
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                if fault.kind == "truncate":
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._record("export", 200)
            self.send_body(200, body, "video/mp4", {
                "Content-Disposition": f'attachment; filename="{camera}_{start}.mp4"'})

    return Handler


class SimulatedNvr(SimulatedServer):
    """A running simulated console. Use as a context manager or call start()/stop()."""

    def __init__(self, users: dict[str, str], cameras: list[Camera] | None = None,
                 tls: bool = False, port: int = 0, **state: Any):
        self.state = NvrState(users=users, cameras=cameras or default_cameras(), **state)
        self.server = LoopbackServer(make_handler(self.state), tls=tls, port=port)


    def fault(self, endpoint: str, kind: str, times: int = 1, **kwargs: Any) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(endpoint, kind, times, **kwargs))

    def count(self, endpoint: str, status: int | None = None) -> int:
        return self.state.count(endpoint, status)


def default_cameras() -> list[Camera]:
    return [Camera("65a1b2c3d4e5f60718293a4b", "Demo Driveway"),
            Camera("65a1b2c3d4e5f60718293a4c", "Demo Garden"),
            Camera("65a1b2c3d4e5f60718293a4d", "Back Yard")]


_demo: SimulatedNvr | None = None
_demo_lock = threading.Lock()


def demo_simulator(users: dict[str, Any]) -> SimulatedNvr:
    """The in-process NVR behind the `demo` camera (host = "simulator"), started once."""
    global _demo
    with _demo_lock:
        if _demo is None:
            plain = {name: getattr(secret, "reveal", lambda s=secret: s)()
                     for name, secret in users.items()}
            _demo = SimulatedNvr(plain, clip=ClipSpec(320, 180, 10), events_per_day=16)
            _demo.start()
        return _demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password-env", default="SIM_PASSWORD",
                        help="environment variable holding the password to accept")
    parser.add_argument("--events-per-day", type=int, default=16)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS, self-signed")
    args = parser.parse_args()
    password = os.environ.get(args.password_env)
    if not password:
        parser.error(f"set {args.password_env} to the password the simulator accepts")
    nvr = SimulatedNvr({args.username: password}, tls=args.tls, port=args.port,
                       events_per_day=args.events_per_day).start()
    print(f"simulated UniFi Protect at {nvr.url} (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        nvr.stop()


if __name__ == "__main__":
    main()
