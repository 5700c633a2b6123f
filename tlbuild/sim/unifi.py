"""A simulated UniFi Protect console: the demo camera's NVR and the tests' peer.

It behaves as real consoles were measured to (camera-apis.md section 1): login with a
session cookie (`TOKEN`, or `UOS_TOKEN` as on UniFi OS 4+) and a CSRF token, a login
limit answering `429 AUTHENTICATION_FAILED_LIMIT_REACHED`, bootstrap with a time zone,
cameras and their retention (`stats.video`), events whose `limit` keeps the **newest**
events of a window (or the oldest, `limit_keeps="oldest"`), repeated `types`,
overlaps, ongoing events and an ignored `cameras` filter; `video/export` streams real
H.264 clips of the requested length at 77x real time, 640x360 before
`recordingStart`, `404 {"error": 502}` where nothing was recorded, and fails requests
longer than an hour. `cameras/<id>/recording-snapshot?ts=` answers the recorded
frame nearest `ts` (one every 10 s of the scene) as a JPEG, and in a gap `404` or,
with `still_gaps="repeat"`, the last frame before it again. It counts the exports in
flight. Faults on demand: statuses,
HTML with 200, truncated, cut or stalled bodies, slow answers, dropped sessions and
endless event pages.

Run by hand:  python -m tlbuild.sim.unifi --username admin --password-env PW
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import math
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .clips import STILL_STEP, ClipSpec, make_clip, recorded_still
from .events import day_events, event
from .server import LoopbackServer, QuietHandler, SimulatedServer, take_fault

PREFIXES = ("/proxy/protect/api/", "/api/")
EVENT_TYPES_ALL = ("motion", "smartDetectZone", "smartDetectLine", "smartAudioDetect",
                   "sensorMotion", "access", "arming")
MAX_EVENT_MS = 86_400_000  # no generated event is longer than a day
MAX_EXPORT_MS = 3_600_000  # longer export requests fail, as large ones do on consoles
EXPORT_SPEED = 77.0        # measured: exports are produced at about 77x real time
LOW_QUALITY = (640, 360)   # measured: exports older than recordingStart come back so
RECORDING_SINCE = int(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)


@dataclass
class Fault:
    """Misbehave on the next `times` requests to `endpoint`.

    kinds: status (answer `status`, with `retry_after` if set), html (200 with a web
    page), truncate (full Content-Length, half the body), cut (no Content-Length,
    half the body, then close), slow (wait `delay` s, then answer normally), stall
    (send the headers and part of the body, then nothing for `delay` s),
    drop_session (forget every session, answer 401), endless (events: a full page
    of new events on every request).
    """

    endpoint: str
    kind: str
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Retention:
    """Where a camera's footage exists (bootstrap `cameras[].stats.video`, epoch ms):
    nothing before `start_lq`, 640x360 before `start`, nothing after `end` (None:
    now)."""

    start_lq: int | None = RECORDING_SINCE
    start: int | None = RECORDING_SINCE
    end: int | None = None


@dataclass
class Camera:
    id: str
    name: str
    width: int = 1920
    height: int = 1080
    fps: int = 30
    retention: Retention = field(default_factory=Retention)

    def bootstrap(self, now_ms: int) -> dict[str, Any]:
        channels = [{"id": i, "name": name, "width": self.width // div,
                     "height": self.height // div, "fps": self.fps, "idrInterval": 5,
                     "enabled": True, "bitrate": 4_000_000 // div}
                    for i, (name, div) in enumerate((("High", 1), ("Medium", 2),
                                                     ("Low", 4)))]
        kept = self.retention
        end = kept.end if kept.end is not None else now_ms
        return {"id": self.id, "name": self.name, "type": "UVC G4 Bullet",
                "modelKey": "camera", "state": "CONNECTED", "isConnected": True,
                "host": "192.0.2.10", "mac": self.id[:12].upper(), "channels": channels,
                "recordingSettings": {"prePaddingSecs": 2, "postPaddingSecs": 2},
                "stats": {"video": {"recordingStart": kept.start, "recordingEnd": end,
                                    "recordingStartLQ": kept.start_lq,
                                    "recordingEndLQ": end, "timelapseStart": kept.start,
                                    "timelapseEnd": end}}}


@dataclass
class NvrState:
    users: dict[str, str]
    cameras: list[Camera]
    timezone: str = "America/New_York"
    reported_timezone: str | None = None  # what the bootstrap says instead (a test's)
    events_per_day: int = 12
    seed: int = 1
    clip: ClipSpec = field(default_factory=ClipSpec)
    clip_cache: Path | None = None
    ignore_camera_filter: bool = True
    limit_keeps: str = "newest"       # measured; "oldest" is the other possible reading
    cookie_name: str = "TOKEN"        # UniFi OS 4+: "UOS_TOKEN"
    login_limit: int = 10             # logins per minute before 429 LIMIT_REACHED
    export_speed: float | None = EXPORT_SPEED  # None: answer at once
    gaps: list[tuple[int, int]] = field(default_factory=list)  # no recording
    # a still asked inside a gap: "404" (measured for exports) or "repeat" (the last
    # recorded frame again, as some consoles answer)
    still_gaps: str = "404"
    still_latency: float = 0.0        # seconds a still takes the console to find
    now_ms: int | None = None         # the console's "now" (None: the real clock)
    extra_events: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int, str]] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)
    logins: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    longest_export_ms: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _days: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    _sorted: list[dict[str, Any]] | None = None
    _starts: list[int] = field(default_factory=list)
    _longest: int = 0  # the longest event, so a window's search starts close to it
    _ongoing: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> int:
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    def take_fault(self, endpoint: str) -> Fault | None:
        return take_fault(self.faults, self.lock, endpoint)

    def add_events(self, events: list[dict[str, Any]]) -> None:
        with self.lock:
            self.extra_events.extend(events)
            self._sorted = None

    def _ensure_days(self, start: int, end: int) -> None:
        """Generate (once) the events of every local day around [start, end]."""
        from zoneinfo import ZoneInfo
        tz = ZoneInfo(self.timezone)
        end = min(end, self.now() + MAX_EVENT_MS)  # nothing happens after now
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
                self._longest = max((e["end"] - e["start"] for e in self._sorted
                                     if e["end"] is not None), default=0)
                self._ongoing = [e for e in self._sorted if e["end"] is None]

    def events_between(self, start: int, end: int, types: list[str] | None = None,
                       limit: int | None = None) -> list[dict[str, Any]]:
        """Events overlapping [start, end] in start order. With `limit`, the console
        keeps the newest `limit` of them (measured), or the oldest (`limit_keeps`)."""
        if start > self.now():
            return []
        self._ensure_days(start, end)
        now, found = self.now(), []
        # finished events: from the longest one's reach before the window; ongoing
        # ones (end null) may have started any time before it
        first = bisect.bisect_left(self._starts, start - self._longest)
        candidates = self._sorted[first:bisect.bisect_right(self._starts, min(end, now))]
        candidates += [e for e in self._ongoing if e["start"] < start - self._longest]
        for item in sorted(candidates, key=lambda e: (e["start"], e["id"])):
            if ((item["end"] is None or item["end"] >= start)
                    and (types is None or item["type"] in types)):
                found.append(item if item["end"] is None or item["end"] <= now
                             else {**item, "end": None})  # still going on
        if limit is not None and len(found) > limit:
            found = found[-limit:] if self.limit_keeps == "newest" else found[:limit]
        return found

    def recorded(self, camera: Camera, start: int, end: int) -> bool:
        """Whether any footage exists in [start, end)."""
        kept = camera.retention
        first = kept.start_lq if kept.start_lq is not None else 0
        last = kept.end if kept.end is not None else self.now()
        if end <= first or start >= last:
            return False
        return not any(gap_start <= start and end <= gap_end
                       for gap_start, gap_end in self.gaps)

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
            token = cookie.get(state.cookie_name)
            with state.lock:
                return state.sessions.get(token.value) if token else None

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/api/auth/login":
                return self._json("unknown", 404, {"error": "not found"})
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = state.take_fault("login")
            if fault and fault.kind == "status":
                payload = ({"code": "AUTHENTICATION_FAILED_LIMIT_REACHED"}
                           if fault.status == 429 else {"error": "fault"})
                return self._json("login", fault.status, payload)
            now = time.monotonic()
            with state.lock:
                state.logins = [t for t in state.logins if now - t < 60] + [now]
                limited = len(state.logins) > state.login_limit
            if limited:  # no Retry-After, as measured
                return self._json("login", 429, {
                    "code": "AUTHENTICATION_FAILED_LIMIT_REACHED",
                    "message": "Authentication failed limit reached"})
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
                       {"Set-Cookie": f"{state.cookie_name}={token}; Path=/; HttpOnly; "
                                      "SameSite=Strict; Secure",  # even to tests
                        "X-CSRF-Token": secrets.token_hex(8)})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            prefix = next((p for p in PREFIXES if url.path.startswith(p)), None)
            endpoint = url.path[len(prefix):] if prefix else "unknown"
            still = re.fullmatch(r"cameras/([^/]+)/recording-snapshot", endpoint)
            if still:
                endpoint = "snapshot"
            elif endpoint not in ("bootstrap", "events", "video/export"):
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
                return self._events(query, fault)
            if still:
                return self._still(still.group(1), query, fault)
            return self._export(query, fault)

        def _still(self, camera_id: str, query: dict[str, list[str]],
                   fault: Fault | None) -> None:
            """The recorded frame nearest `ts` as a JPEG, `w`x`h` (the camera's size
            by default; made at most 640x360 here, to stay cheap)."""
            camera = next((c for c in state.cameras if c.id == camera_id), None)
            try:
                moment = int(query["ts"][0])
                width = int(query.get("w", [camera.width if camera else 0])[0])
                height = int(query.get("h", [camera.height if camera else 0])[0])
            except (KeyError, ValueError):
                return self._json("snapshot", 400, {"error": "bad request"})
            if camera is None:
                return self._json("snapshot", 404, {"error": "camera not found"})
            if not state.recorded(camera, moment, moment + 1):
                gap = next((g for g in state.gaps if g[0] <= moment < g[1]), None)
                if state.still_gaps != "repeat" or gap is None:
                    return self._json("snapshot", 404, {"error": 502, "operationId":
                                                         secrets.randbelow(10**6)})
                moment = gap[0] - STILL_STEP * 1000  # the last frame before the gap
            if state.still_latency:
                time.sleep(state.still_latency)
            scale = min(1.0, 640 / max(width, 1), 360 / max(height, 1))
            size = [max(2, int(value * scale) // 2 * 2) for value in (width, height)]
            body = recorded_still(*size, moment, state.timezone, state.clip_cache)
            self._record("snapshot", 200)
            if fault and fault.kind in ("truncate", "cut"):
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                if fault.kind == "truncate":
                    self.send_header("Content-Length", str(len(body)))
                return self.send_cut(body)
            self.send_body(200, body, "image/jpeg")

        def _bootstrap(self) -> dict[str, Any]:
            now = state.now()
            return {"authUserId": "0" * 24, "accessKey": "1:2:" + "f" * 64,
                    "nvr": {"id": "nvr0", "name": "Simulated NVR", "version": "7.1.87",
                            "timezone": state.reported_timezone or state.timezone},
                    "cameras": [camera.bootstrap(now) for camera in state.cameras],
                    "users": [{"id": "u1", "name": "someone", "email": "x@example.com"}]}

        def _events(self, query: dict[str, list[str]], fault: Fault | None) -> None:
            types = query.get("types", [])
            if "start" in query and not ("end" in query or "limit" in query):
                return self._json("events", 400, {"error": "start needs end or limit"})
            if any("," in value for value in types):
                return self._json("events", 200, [])  # a comma-joined value matches none
            limit = int(query.get("limit", ["100"])[0])
            if fault and fault.kind == "endless":  # a misbehaving console
                start = int(query.get("start", ["0"])[0])
                return self._json("events", 200, [
                    event(secrets.token_hex(12), "motion", state.cameras[0].id,
                          start + n, start + n + 1000) for n in range(limit)])
            if types:
                start, end = int(query["start"][0]), int(query["end"][0])
            else:  # without types the server ignores start/end
                start, end, types = state.now() - MAX_EVENT_MS, state.now(), list(
                    EVENT_TYPES_ALL)
            if "cameras" in query and not state.ignore_camera_filter:
                found = [e for e in state.events_between(start, end, types)
                         if e["camera"] in query["cameras"]]
                if len(found) > limit:
                    found = found[-limit:] if state.limit_keeps == "newest" \
                        else found[:limit]
            else:
                found = state.events_between(start, end, types, limit)
            return self._json("events", 200, found)  # ascending, as measured

        def _export(self, query: dict[str, list[str]], fault: Fault | None) -> None:
            try:
                start, end = int(query["start"][0]), int(query["end"][0])
                camera = next(c for c in state.cameras if c.id == query["camera"][0])
            except (KeyError, ValueError, StopIteration):
                return self._json("export", 400, {"error": "bad request"})
            with state.lock:
                state.longest_export_ms = max(state.longest_export_ms, end - start)
            if end - start > MAX_EXPORT_MS:  # long exports time out on real consoles
                return self._json("export", 500, {"error": "export timed out"})
            if end <= start or not state.recorded(camera, start, end):
                return self._json("export", 404, {"error": 502, "operationId":
                                                  secrets.randbelow(10**6)})
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                self._send_clip(camera, start, end, fault)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _send_clip(self, camera: Camera, start: int, end: int,
                       fault: Fault | None) -> None:
            seconds = max(1, math.ceil((end - start) / 1000))
            spec = state.clip
            if camera.retention.start is not None and start < camera.retention.start:
                spec = replace(spec, width=LOW_QUALITY[0], height=LOW_QUALITY[1])
            when = dt.datetime.fromtimestamp(start / 1000, dt.timezone.utc)
            body = make_clip(spec, seconds, state.clip_cache, when,
                             state.timezone).read_bytes()
            self._record("export", 200)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            if not (fault and fault.kind == "cut"):
                self.send_header("Content-Length", str(len(body)))
            if fault and fault.kind in ("truncate", "cut"):
                return self.send_cut(body)
            self.send_header("Content-Disposition",
                             f'attachment; filename="{camera.id}_{start}.mp4"')
            self.end_headers()
            # produced while it streams, at the console's speed
            pieces = 8
            pause = seconds / state.export_speed / pieces if state.export_speed else 0
            step = -(-len(body) // pieces)
            for offset in range(0, len(body), step):
                if fault and fault.kind == "stall" and offset:
                    self.wfile.flush()
                    time.sleep(fault.delay)
                    fault = None
                self.wfile.write(body[offset:offset + step])
                if pause:
                    self.wfile.flush()
                    time.sleep(pause)

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


def demo(settings: Any, password: Any, date: dt.date) -> Any:
    """The demo camera (host = "simulator"): this console, started once in this
    process on 127.0.0.1; returns the settings pointed at it."""
    global _demo
    with _demo_lock:
        if _demo is None:
            _demo = SimulatedNvr({settings.username: password.reveal()},
                                 clip=ClipSpec(320, 180, 10), events_per_day=16)
            _demo.start()
    return replace(settings, host=_demo.url)


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
    camera = nvr.state.cameras[0].name
    print(f"simulated UniFi Protect at {nvr.url}\n"
          "point tlbuild at it with a camera in the config:\n"
          f'  [cameras.unifi-sim]\n  source = "unifi"\n  host = "{nvr.url}"\n'
          f'  username = "{args.username}"\n  password_env = "{args.password_env}"\n'
          f'  camera = "{camera}"\n'
          + ("  tls_insecure = true   # its certificate is self-signed\n" if args.tls else "")
          + "or directly: tlbuild --host " + nvr.url + f" --username {args.username} "
          f'--camera "{camera}" run --date YYYY-MM-DD  (password in UPVS_PASSWORD)\n'
          "Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        nvr.stop()


if __name__ == "__main__":
    main()
