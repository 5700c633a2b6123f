"""A simulated Frigate NVR (HTTP API 0.14-0.16): the Frigate demo camera's server and
the tests' peer.

It behaves as Frigate's own code does (camera-apis.md section 5): with `users`, the
authenticated port's `POST /api/login` (JSON `{"user", "password"}`) setting the
`frigate_token` cookie, accepted back as cookie or `Authorization: Bearer`, and 401
without it (no users: port 5000, no auth); `/api/config` with the cameras and, when
set, `ui.timezone`; `/api/events` **newest first, 100 by default**, `after`/`before`
strict on the start time, `labels`/`cameras` filters, events in progress with
`end_time: null`, float epoch seconds; `/api/<camera>/recordings` as 10 s segments,
ascending, no limit, with gaps; `/api/<camera>/start/<s>/end/<e>/clip.mp4` as a
fragmented MP4 streamed without Content-Length (chunked), cut to whole seconds,
`400 {"success": false, "message": "No recordings found ..."}` where nothing was
recorded, and a stream that breaks off part way for ranges over an hour; and
`/api/<camera>/recordings/<t>/snapshot.jpg?height=` as the recorded frame, 404
where no segment holds `t`.

Run by hand:  python -m tlbuild.sim.frigate [--username admin --password-env PW]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import random
import secrets
import subprocess
import threading
from dataclasses import dataclass, field, replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from .clips import ClipSpec, default_cache, make_clip, recorded_still
from .scene import footage_ffmpeg
from .server import LoopbackServer, QuietHandler, SimulatedServer

SEGMENT_S = 10          # Frigate records ~10 s segments
LONGEST_CLIP_S = 3600   # longer ranges break off part way, as on real servers
DEFAULT_LIMIT = 100     # /api/events without `limit`
LABELS = ("person", "car", "dog", "cat", "bicycle")


@dataclass
class FrigateState:
    users: dict[str, str] = field(default_factory=dict)   # empty: port 5000, no auth
    cameras: tuple[str, ...] = ("front_door", "back_yard")
    timezone: str | None = "America/New_York"   # ui.timezone (None: not set)
    events_per_day: int = 24
    gaps: list[tuple[float, float]] = field(default_factory=list)  # not recorded (epoch s)
    recording_from: float = 0.0                 # nothing recorded before (epoch s)
    now: float | None = None                    # the server's clock (None: real time)
    clip: ClipSpec = field(default_factory=lambda: ClipSpec(160, 90, 5))
    clip_cache: Path | None = None
    extra_events: list[dict[str, Any]] = field(default_factory=list)
    max_limit: int | None = None                # a server capping `limit` lower
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, path, status)
    tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clock(self) -> float:
        return self.now if self.now is not None else dt.datetime.now().timestamp()

    def zone(self) -> str:
        return self.timezone or "UTC"

    def count(self, kind: str, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for k, _, code in self.log
                       if k == kind and (status is None or code == status))

    def requests(self, kind: str) -> list[str]:
        with self.lock:
            return [path for k, path, _ in self.log if k == kind]

    # --- what was recorded -----------------------------------------------------------

    def recorded(self, moment: float) -> bool:
        return self.recording_from <= moment < self.clock() and not any(
            a <= moment < b for a, b in self.gaps)

    def segments(self, after: float, before: float) -> list[dict[str, Any]]:
        first = math.floor(max(after, self.recording_from) / SEGMENT_S) * SEGMENT_S
        found = []
        for start in range(int(first), int(min(before, self.clock())) + 1, SEGMENT_S):
            end = start + SEGMENT_S
            if end < after or start > before or end > self.clock():
                continue
            if not self.recorded(start) or not self.recorded(end - 0.001):
                continue
            found.append({"id": f"{start}.0-{start % 999983:06x}",
                          "start_time": float(start), "end_time": float(end),
                          "segment_size": 1.2, "motion": 0, "objects": 0,
                          "duration": float(SEGMENT_S)})
        return found

    # --- events ----------------------------------------------------------------------

    def events(self, camera: str, date: dt.date) -> list[dict[str, Any]]:
        """The day's events of one camera (deterministic), plus any added."""
        tz = ZoneInfo(self.zone())
        start = dt.datetime.combine(date, dt.time(), tzinfo=tz).timestamp()
        end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(),
                                  tzinfo=tz).timestamp()
        rng = random.Random(f"frigate:{camera}:{date}")
        found = []
        spacing = (end - start) / max(self.events_per_day, 1)
        for number in range(self.events_per_day):
            begin = round(start + number * spacing + rng.uniform(60, spacing / 2), 6)
            length = rng.uniform(4, 25)
            found.append(frigate_event(camera, begin, begin + length,
                                       rng.choice(LABELS), round(rng.uniform(0.5, 0.98), 3)))
        return found + [e for e in self.extra_events if e["camera"] == camera]


def frigate_event(camera: str, start: float, end: float | None, label: str,
                  score: float) -> dict[str, Any]:
    suffix = hashlib.sha1(f"{camera}:{start:.6f}".encode()).hexdigest()[:6]
    return {"id": f"{start:.6f}-{suffix}", "camera": camera, "label": label,
            "sub_label": None, "start_time": start, "end_time": end, "has_clip": True,
            "has_snapshot": True, "zones": [], "retain_indefinitely": False,
            "data": {"score": score, "top_score": score, "type": "object"},
            "top_score": None, "false_positive": None, "plus_id": None}


def fragmented(clip: Path) -> Path:
    """The clip as Frigate streams it: `-c copy -movflags frag_keyframe+empty_moov`."""
    made = clip.with_name(clip.stem + ".frag.mp4")
    if not made.exists():
        partial = made.with_name(made.name + f".{secrets.token_hex(4)}")
        subprocess.run([footage_ffmpeg(), "-hide_banner", "-v", "error", "-nostdin", "-i",
                        str(clip), "-c", "copy", "-movflags", "frag_keyframe+empty_moov",
                        "-f", "mp4", "-y", str(partial)], check=True)
        os.replace(partial, made)
    return made


def make_handler(state: FrigateState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _log(self, kind: str, status: int) -> None:
            with state.lock:
                state.log.append((kind, self.path, status))

        def _json(self, kind: str, status: int, payload: Any,
                  headers: dict[str, str] | None = None) -> None:
            self._log(kind, status)
            self.send_body(status, json.dumps(payload).encode(), "application/json",
                           headers)

        def _authorized(self) -> bool:
            if not state.users:
                return True
            bearer = self.headers.get("Authorization", "")
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            token = bearer[7:] if bearer.startswith("Bearer ") else (
                cookie["frigate_token"].value if "frigate_token" in cookie else "")
            return token in state.tokens

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if urlsplit(self.path).path != "/api/login":
                return self._json("other", 404, {"detail": "Not Found"})
            try:
                form = json.loads(body)
            except ValueError:
                return self._json("login", 422, {"detail": "invalid body"})
            if not state.users or state.users.get(form.get("user")) != form.get("password"):
                return self._json("login", 401, {"message": "Login failed"})
            token = secrets.token_urlsafe(24)
            with state.lock:
                state.tokens.add(token)
            self._json("login", 200, {}, {
                "Set-Cookie": f"frigate_token={token}; Path=/; HttpOnly; Secure; "
                              "SameSite=lax"})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if not self._authorized():
                return self._json("unauthorized", 401, {"message": "Unauthorized"})
            if path == "/api/config":
                return self._json("config", 200, self._config())
            if path == "/api/events":
                return self._events(query)
            pieces = [unquote(p) for p in path.split("/")]
            if len(pieces) == 4 and pieces[1] == "api" and pieces[3] == "recordings":
                return self._recordings(pieces[2], query)
            if len(pieces) == 8 and pieces[3] == "start" and pieces[7] == "clip.mp4":
                return self._clip(pieces[2], float(pieces[4]), float(pieces[6]))
            if len(pieces) == 6 and pieces[3] == "recordings" and \
                    pieces[5] in ("snapshot.jpg", "snapshot.png"):
                return self._snapshot(pieces[2], float(pieces[4]), query)
            return self._json("other", 404, {"detail": "Not Found"})

        def _config(self) -> dict[str, Any]:
            config: dict[str, Any] = {"cameras": {
                name: {"name": name, "enabled": True,
                       "detect": {"width": state.clip.width, "height": state.clip.height},
                       "record": {"enabled": True}} for name in state.cameras}}
            config["ui"] = {"timezone": state.timezone} if state.timezone else {}
            return config

        def _events(self, query: dict[str, str]) -> None:
            after = float(query.get("after", 0))
            before = float(query.get("before", state.clock() + 86400))
            limit = int(query.get("limit", DEFAULT_LIMIT))
            if state.max_limit:
                limit = min(limit, state.max_limit)
            cameras = query.get("cameras", "all").split(",")
            labels = query.get("labels", "all").split(",")
            zone = ZoneInfo(state.zone())
            days = {dt.datetime.fromtimestamp(t, zone).date()
                    for t in (after + 1, before - 1, (after + before) / 2)}
            found: dict[str, dict[str, Any]] = {}
            for camera in state.cameras:
                if "all" not in cameras and camera not in cameras:
                    continue
                for date in days:
                    for event in state.events(camera, date):
                        found[event["id"]] = event
            chosen = [event for event in found.values()
                      if after < event["start_time"] < before
                      and ("all" in labels or event["label"] in labels)
                      and event["start_time"] < state.clock()]
            chosen = [dict(event, end_time=None) if event["end_time"] is not None
                      and event["end_time"] > state.clock() else event for event in chosen]
            chosen.sort(key=lambda e: e["start_time"], reverse=True)  # newest first
            self._json("events", 200, chosen[:limit])

        def _recordings(self, camera: str, query: dict[str, str]) -> None:
            if camera not in state.cameras:
                return self._json("recordings", 404, {"detail": "Camera not found"})
            after = float(query.get("after", 0))
            before = float(query.get("before", state.clock()))
            self._json("recordings", 200, state.segments(after, before))

        def _clip(self, camera: str, start: float, end: float) -> None:
            first, last = math.floor(start), math.ceil(end)
            recorded = [s for s in state.segments(first, last)]
            seconds = sum(min(last, s["end_time"]) - max(first, s["start_time"])
                          for s in recorded)
            if camera not in state.cameras or seconds < 1:
                return self._json("clip", 400, {
                    "success": False,
                    "message": "No recordings found for the specified time range"})
            begin = max(first, recorded[0]["start_time"])
            source = make_clip(state.clip, max(1, round(seconds)),
                               state.clip_cache or default_cache(),
                               dt.datetime.fromtimestamp(begin, dt.timezone.utc),
                               state.zone())
            body = fragmented(source).read_bytes()
            broken = last - first > LONGEST_CLIP_S
            self._log("clip", 200)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            cut = len(body) // 3 if broken else len(body)
            for at in range(0, cut, 16384):
                chunk = body[at:min(at + 16384, cut)]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            if broken:  # ffmpeg gave up part way: the stream just stops
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")

        def _snapshot(self, camera: str, moment: float, query: dict[str, str]) -> None:
            if camera not in state.cameras or not state.recorded(moment):
                return self._json("snapshot", 404, {"success": False,
                                                    "message": "Recording not found"})
            height = int(query.get("height") or state.clip.height)
            width = round(height * state.clip.width / state.clip.height / 2) * 2
            image = recorded_still(width, height, int(moment * 1000), state.zone(),
                                   state.clip_cache)
            self._log("snapshot", 200)
            self.send_body(200, image, "image/jpeg")

    return Handler


class SimulatedFrigate(SimulatedServer):
    """A running simulated Frigate. Use as a context manager or start()/stop()."""

    def __init__(self, tls: bool = False, port: int = 0, **state: Any):
        self.state = FrigateState(**state)
        self.server = LoopbackServer(make_handler(self.state), tls=tls, port=port)

    def count(self, kind: str, status: int | None = None) -> int:
        return self.state.count(kind, status)


_demo: SimulatedFrigate | None = None
_demo_lock = threading.Lock()


def demo(settings: Any, password: Any, date: dt.date) -> Any:
    """The Frigate demo camera (host = "simulator"): this server, started once in
    this process on 127.0.0.1; returns the settings pointed at it."""
    global _demo
    with _demo_lock:
        if _demo is None:
            users = {settings.username: password.reveal()} if settings.username else {}
            _demo = SimulatedFrigate(users=users, clip=ClipSpec(320, 180, 10),
                                     events_per_day=16).start()
    return replace(settings, host=_demo.url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose")
    parser.add_argument("--username", help="require a login (port 8971's behaviour)")
    parser.add_argument("--password-env", default="SIM_PASSWORD",
                        help="environment variable holding the password to accept")
    args = parser.parse_args()
    users = {}
    if args.username:
        password = os.environ.get(args.password_env)
        if not password:
            parser.error(f"set {args.password_env} to the password the simulator accepts")
        users = {args.username: password}
    server = SimulatedFrigate(users=users, port=args.port).start()
    print(f"simulated Frigate at {server.url}\n"
          "point tlbuild at it with a camera in the config:\n"
          f'  [cameras.frigate-sim]\n  source = "frigate"\n  host = "{server.url}"\n'
          f'  camera = "{server.state.cameras[0]}"', flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
