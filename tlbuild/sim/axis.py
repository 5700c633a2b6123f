"""A simulated Axis camera running Timelapse2 (1.x), Timelapse3 (3.x) or TimelapseMe.

HTTP Digest auth (an admin account), the apps' read endpoints with real archives
(MJPEG AVI for 1.x and TimelapseMe, H.264 MP4 with Range for 3.x, made by ffmpeg),
and faults on demand: 5xx, 401, dropped connections and slow answers. Requests to
`reset` or `export` are recorded, so tests can prove the client never sends them.
Timelapse3's web server answers one request at a time: the others wait, and
`max_in_flight` records how many a client had open at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .scene import SKY, footage_command, scene_filters
from .server import LoopbackServer, QuietHandler, SimulatedServer, take_fault

REALM = "AXIS_ACCC8E000001"


@dataclass
class ArchiveSpec:
    filename: str
    profile_id: str
    first: dt.datetime
    last: dt.datetime
    frames: int
    fps: int = 5
    width: int = 160
    height: int = 90

    def first_ms(self) -> int:
        return int(self.first.timestamp() * 1000)

    def last_ms(self) -> int:
        return int(self.last.timestamp() * 1000)

    def frame_times(self) -> list[dt.datetime]:
        """Uneven real capture times (TimelapseMe reports them), first to last."""
        if self.frames == 1:
            return [self.first]
        span = (self.last - self.first) / (self.frames - 1)
        times = [self.first + span * i for i in range(self.frames)]
        return [t + (span * 0.3 if 0 < i < self.frames - 1 and i % 3 == 1 else span * 0)
                for i, t in enumerate(times)]


@dataclass
class Fault:
    endpoint: str      # "archive", "download", "app", ...
    kind: str          # status | cut | slow | drip (one byte every `delay` s)
    times: int = 1
    status: int = 500
    delay: float = 0.0


@dataclass
class AxisState:
    app: str                                   # timelapse2 | timelapse3 | timelapseme
    users: dict[str, str]
    archives: list[ArchiveSpec]
    profiles: list[dict[str, Any]] = field(default_factory=list)
    timezone: str = "UTC"
    cache: Path = field(default_factory=lambda: Path(tempfile.gettempdir())
                        / "tlbuild-sim-cache")
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int, dict[str, str]]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    serving: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def one_at_a_time(self) -> bool:
        return self.app == "timelapse3"

    @property
    def container(self) -> str:
        return "mp4" if self.app == "timelapse3" else "avi"

    def media(self, spec: ArchiveSpec) -> Path:
        return make_archive(spec, self.container, self.cache, self.timezone,
                            uneven=self.app == "timelapseme")

    def take_fault(self, endpoint: str) -> Fault | None:
        return take_fault(self.faults, self.lock, endpoint)

    def requests_to(self, endpoint: str, status: int | None = None,
                    method: str = "GET") -> int:
        with self.lock:
            return sum(1 for verb, e, code, _ in self.log
                       if verb == method and e == endpoint
                       and (status is None or code == status))


def make_archive(spec: ArchiveSpec, container: str, cache: Path, zone: str = "UTC",
                 uneven: bool = False) -> Path:
    """The archive's frames: the scene at each frame's capture time, its clock burned
    in. Timelapse2/3 capture on a steady timer; `uneven`: at TimelapseMe's uneven
    times (ArchiveSpec.frame_times)."""
    cache.mkdir(parents=True, exist_ok=True)
    key = (f"axis_{spec.width}x{spec.height}_{spec.fps}_{spec.frames}_{spec.first_ms()}_"
           f"{spec.last_ms()}_{zone.replace('/', '-')}_{int(uneven)}.{container}")
    path = cache / key
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=cache, suffix="." + container)
        os.close(fd)
        codec = ["-c:v", "mjpeg", "-q:v", "5", "-f", "avi"] if container == "avi" else \
            ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mp4"]
        step = (spec.last - spec.first).total_seconds() / max(spec.frames - 1, 1)
        real = f"N*{step:.6f}"
        if uneven:  # as frame_times: every third inner frame 0.3 of a step late
            real += f"+{0.3 * step:.6f}*eq(mod(N\\,3)\\,1)*gt(N\\,0)*lt(N\\,{spec.frames - 1})"
        chain = scene_filters(spec.width, spec.height, spec.fps, spec.first, zone,
                              real_secs=real, span_secs=step * spec.frames)
        subprocess.run(footage_command(
            "-f", "lavfi", "-i", f"color=c={SKY}:s={spec.width}x{spec.height}:r={spec.fps}",
            "-vf", chain, "-frames:v", str(spec.frames), *codec, "-y", tmp), check=True)
        os.replace(tmp, path)
    return path


def local_text(when: dt.datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo
    return when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d@%H:%M:%S")


def make_handler(state: AxisState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _digest_ok(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Digest "):
                return False
            fields = {}
            for part in header[7:].split(","):
                key, _, value = part.strip().partition("=")
                fields[key] = value.strip('"')
            user = fields.get("username", "")
            if user not in state.users or fields.get("nonce") not in state.nonces:
                return False
            ha1 = hashlib.md5(f"{user}:{REALM}:{state.users[user]}".encode()).hexdigest()
            ha2 = hashlib.md5(f"{self.command}:{fields.get('uri')}".encode()).hexdigest()
            expected = hashlib.md5(":".join([
                ha1, fields["nonce"], fields.get("nc", ""), fields.get("cnonce", ""),
                fields.get("qop", ""), ha2]).encode()).hexdigest()
            return secrets.compare_digest(expected, fields.get("response", ""))

        def _challenge(self, endpoint: str) -> None:
            nonce = secrets.token_hex(16)
            with state.lock:
                state.nonces.add(nonce)
            self._log(endpoint, 401, {})
            self.send_body(401, b"Unauthorized", "text/plain", {
                "WWW-Authenticate": f'Digest realm="{REALM}", nonce="{nonce}", '
                                    f'algorithm=MD5, qop="auth"'})

        def _log(self, endpoint: str, status: int, query: dict[str, str]) -> None:
            with state.lock:
                state.log.append((self.command, endpoint, status, query))

        def _json(self, endpoint: str, payload: Any, query: dict[str, str]) -> None:
            self._log(endpoint, 200, query)
            self.send_body(200, json.dumps(payload).encode(), "application/json")

        def do_GET(self) -> None:
            self._take_turn()

        def do_HEAD(self) -> None:
            self._take_turn()

        def _take_turn(self) -> None:
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if state.one_at_a_time:
                    with state.serving:
                        self._serve()
                else:
                    self._serve()
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            endpoint = "/".join(parts[1:]) if parts[:1] == ["local"] else url.path
            if not self._digest_ok():
                return self._challenge(endpoint)
            fault = state.take_fault(endpoint.split("/")[-1])
            if fault and fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault and fault.kind == "drip":
                self._log(endpoint, 200, query)
                return self.send_drip(b"{" + b" " * 4096 + b"}", "application/json",
                                      fault.delay)
            elif fault and fault.kind == "status":
                self._log(endpoint, fault.status, query)
                return self.send_body(fault.status, b"fault", "text/plain")
            if parts[-1] in ("reset", "export") and parts[1] == "timelapse2":
                self._log(endpoint, 200, query)  # recorded: a reader must never call these
                return self.send_body(200, b"{}", "application/json")
            handler = {
                "timelapse2/app": self._app, "timelapse2/archive": self._archive_list,
                "timelapse2/timelapse": self._profiles,
                "timelapse2/download": self._download,
                "timelapseme/recordings": self._me_recordings,
                "timelapseme/archives": self._me_archives,
                "timelapseme/frames": self._me_frames,
            }.get(endpoint)
            if handler is None or (state.app == "timelapseme") != endpoint.startswith(
                    "timelapseme"):
                self._log(endpoint, 404, query)
                return self.send_body(404, b"Not Found", "text/plain")
            handler(endpoint, query, fault)

        def _app(self, endpoint: str, query: dict[str, str], fault: Any) -> None:
            version = "3.0.2" if state.app == "timelapse3" else "1.1.3"
            self._json(endpoint, {"manifest": {"acapPackageConf": {"setup": {
                "appName": "timelapse2", "friendlyName": "Timelapse",
                "version": version}}}}, query)

        def _profiles(self, endpoint: str, query: dict[str, str], fault: Any) -> None:
            self._json(endpoint, state.profiles, query)

        def _archive_list(self, endpoint: str, query: dict[str, str], fault: Any) -> None:
            listing = []
            for spec in state.archives:
                size = state.media(spec).stat().st_size
                item = {"id": spec.profile_id, "filename": spec.filename,
                        "frames": spec.frames, "fps": spec.fps,
                        "first": spec.first_ms(), "last": spec.last_ms()}
                if state.app == "timelapse3":
                    item.update(size=size, sourceSize=size * 3, container="mp4",
                                codec="h264")
                else:
                    item["size"] = size - 2048  # the sum of JPEG bytes, a little less
                listing.append(item)
            self._json(endpoint, listing, query)

        def _find(self, filename: str | None) -> ArchiveSpec | None:
            return next((s for s in state.archives if s.filename == filename), None)

        def _download(self, endpoint: str, query: dict[str, str], fault: Any) -> None:
            spec = self._find(query.get("filename"))
            self._send_file(endpoint, query, spec, fault)

        def _send_file(self, endpoint: str, query: dict[str, str],
                       spec: ArchiveSpec | None, fault: Any) -> None:
            if spec is None:
                self._log(endpoint, 404, query)
                return self.send_body(404, b"No such archive", "text/plain")
            body = state.media(spec).read_bytes()
            ctype = "video/mp4" if state.container == "mp4" else "video/x-msvideo"
            status, start = 200, 0
            # RFC 6266/5987: any name, encoded (a raw one could break the header)
            headers = {"Content-Disposition": "attachment; filename*=UTF-8''"
                                              + quote(spec.filename, safe="")}
            if state.app == "timelapse3":
                headers["Accept-Ranges"] = "bytes"
                wanted = self.headers.get("Range", "")
                if wanted.startswith("bytes=") and wanted[6:].split("-")[0].isdigit():
                    start = int(wanted[6:].split("-")[0])
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            self._log(endpoint, status, query)
            if fault and fault.kind == "cut" and self.command == "GET":
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                return self.send_cut(body)
            self.send_body(status, body[start:], ctype, headers)

        def _me_recordings(self, endpoint: str, query: dict[str, str], fault: Any) -> None:
            if "get" not in query:
                return self._json(endpoint, state.profiles, query)
            archives = [{
                "filename": s.filename, "frames": s.frames,
                "size": state.media(s).stat().st_size - 2048, "fps": s.fps,
                "daystamp": s.first.strftime("%Y%m%d"),
                "first": {"date": local_text(s.first, state.timezone)},
                "last": {"date": local_text(s.last, state.timezone)}}
                for s in state.archives if s.profile_id == query["get"]]
            profile = next((p for p in state.profiles if p["id"] == query["get"]), {})
            self._json(endpoint, {**profile, "archive": {"archives": archives}}, query)

        def _me_archives(self, endpoint: str, query: dict[str, str], fault: Any) -> None:
            if "file" in query:
                spec = self._find(query["file"])
                if spec is not None and spec.profile_id != query.get("export"):
                    spec = None
                return self._send_file(endpoint, query, spec, fault)
            self._json(endpoint, [{"id": s.profile_id, "filename": s.filename}
                                  for s in state.archives], query)

        def _me_frames(self, endpoint: str, query: dict[str, str], fault: Any) -> None:
            times = [local_text(t, state.timezone) for s in state.archives
                     if s.profile_id == query.get("id") for t in s.frame_times()]
            self._json(endpoint, times, query)

    return Handler


class SimulatedAxis(SimulatedServer):
    def __init__(self, app: str, users: dict[str, str], archives: list[ArchiveSpec],
                 profiles: list[dict[str, Any]] | None = None, tls: bool = False,
                 **state: Any):
        profiles = profiles or [{"id": pid, "name": f"Profile {pid}", "fps": 5,
                                 "timer": 60}
                                for pid in sorted({a.profile_id for a in archives})]
        self.state = AxisState(app=app, users=users, archives=archives, profiles=profiles,
                               **state)
        self.server = LoopbackServer(make_handler(self.state), tls=tls)

    @property
    def host(self) -> str:
        host, port = self.server.httpd.server_address[:2]
        return f"{host}:{port}"


    def fault(self, endpoint: str, kind: str, times: int = 1, **kwargs: Any) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(endpoint, kind, times, **kwargs))


_demo: SimulatedAxis | None = None
_demo_lock = threading.Lock()


def demo(settings: Any, password: Any, date: dt.date) -> Any:
    """The demo camera (host = "simulator"): a Timelapse3 camera with a daily archive
    of the requested date and a weekly one around it, started once in this process on
    127.0.0.1; returns the settings pointed at it."""
    global _demo
    with _demo_lock:
        if _demo is None:
            from zoneinfo import ZoneInfo
            day = dt.datetime.combine(date, dt.time(), tzinfo=ZoneInfo(settings.timezone))
            archives = [
                ArchiveSpec(f"Site_{date:%Y_%m_%d}_0000.mp4", "1", day + dt.timedelta(
                    minutes=5), day + dt.timedelta(hours=23, minutes=55), 96, 10, 320, 180),
                ArchiveSpec(f"Site_week_{date:%Y_%m_%d}.mp4", "2", day - dt.timedelta(
                    days=3), day + dt.timedelta(days=3, hours=23), 168, 10, 320, 180)]
            _demo = SimulatedAxis("timelapse3", {settings.username: password.reveal()},
                                  archives,
                                  profiles=[{"id": "1", "name": "Site", "fps": 10},
                                            {"id": "2", "name": "Site weekly", "fps": 10}],
                                  timezone=settings.timezone)
            _demo.start()
    return replace(settings, host=_demo.host, scheme="http")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=("timelapse2", "timelapse3", "timelapseme"),
                        default="timelapse3")
    parser.add_argument("--date", action="append", type=dt.date.fromisoformat,
                        help="a local day with a daily archive (repeatable; default today)")
    parser.add_argument("--timezone", default="Europe/Stockholm")
    parser.add_argument("--username", default="root")
    parser.add_argument("--password-env", default="SIM_PASSWORD",
                        help="environment variable holding the password to accept")
    args = parser.parse_args()
    password = os.environ.get(args.password_env)
    if not password:
        parser.error(f"set {args.password_env} to the password the simulator accepts")
    from zoneinfo import ZoneInfo
    archives = []
    for date in args.date or [dt.date.today()]:
        day = dt.datetime.combine(date, dt.time(), tzinfo=ZoneInfo(args.timezone))
        extension = "mp4" if args.app == "timelapse3" else "avi"
        archives.append(ArchiveSpec(f"Site_{date:%Y_%m_%d}_0000.{extension}", "1",
                                    day + dt.timedelta(minutes=5),
                                    day + dt.timedelta(hours=23, minutes=55), 96, 10,
                                    320, 180))
    camera = SimulatedAxis(args.app, {args.username: password}, archives,
                           profiles=[{"id": "1", "name": "Site", "fps": 10}],
                           timezone=args.timezone).start()
    print(f"simulated Axis camera with {args.app} at http://{camera.host}\n"
          "point tlbuild at it with a camera in the config:\n"
          f'  [cameras.axis-sim]\n  source = "axis-timelapse2"\n  host = "{camera.host}"\n'
          f'  scheme = "http"\n  username = "{args.username}"\n'
          f'  password_env = "{args.password_env}"\n  timezone = "{args.timezone}"\n'
          "Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        camera.stop()


if __name__ == "__main__":
    main()
