"""A simulated snapshot camera: `GET /snapshot.jpg` answers the scene as it is now
(a JPEG), behind HTTP Digest auth (RFC 7616, MD5, qop=auth, as Axis, Hikvision and
Dahua ask for it), Basic auth, a Bearer token, or none. Faults on demand: `down`
answers 503 until cleared. The `snapshot` demo camera's device and the tests' peer.

Run by hand:  python -m tlbuild.sim.snapshot [--auth digest --username admin --password-env PW]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .clips import recorded_still
from .server import LoopbackServer, QuietHandler, SimulatedServer

REALM = "tlbuild-sim"


@dataclass
class CameraState:
    users: dict[str, str] = field(default_factory=dict)
    auth: str = "digest"            # digest, basic, bearer or none
    token: str | None = None        # for bearer
    size: tuple[int, int] = (160, 90)
    zone: str = "UTC"
    cache: Path | None = None
    down: bool = False              # a fault: 503 for every request until cleared
    nonces: set[str] = field(default_factory=set)
    log: list[tuple[str, int]] = field(default_factory=list)   # (path, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for _, code in self.log if status is None or code == status)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_handler(state: CameraState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _answer(self, status: int, body: bytes, kind: str,
                    headers: dict[str, str] | None = None) -> None:
            with state.lock:
                state.log.append((self.path, status))
            self.send_body(status, body, kind, headers)

        def _challenge(self) -> None:
            nonce = secrets.token_hex(16)
            with state.lock:
                state.nonces.add(nonce)
            header = (f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", '
                      'algorithm=MD5') if state.auth == "digest" else \
                f'Basic realm="{REALM}"'
            self._answer(401, b"<html>401 Unauthorized</html>", "text/html",
                         {"WWW-Authenticate": header})

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            if state.auth == "none":
                return True
            if state.auth == "bearer":
                return bool(state.token) and header == f"Bearer {state.token}"
            if state.auth == "basic" and header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return state.users.get(user) == password
            if state.auth == "digest" and header.startswith("Digest "):
                fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
                user = fields.get("username", "")
                if user not in state.users or fields.get("nonce") not in state.nonces:
                    return False
                ha1 = md5(f"{user}:{REALM}:{state.users[user]}")
                ha2 = md5(f"GET:{fields.get('uri', '')}")
                expected = md5(f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:"
                               f"{fields.get('cnonce', '')}:{fields.get('qop', '')}:{ha2}")
                return fields.get("response") == expected
            return False

        def do_GET(self) -> None:
            if state.down:
                return self._answer(503, b"busy", "text/plain")
            if not self._authorized():
                return self._challenge()
            if urlsplit(self.path).path != "/snapshot.jpg":
                return self._answer(404, b"not found", "text/plain")
            width, height = state.size
            image = recorded_still(width, height, int(time.time() * 1000), state.zone,
                                   state.cache)
            self._answer(200, image, "image/jpeg")

    return Handler


class SimulatedSnapshotCamera(SimulatedServer):
    """A running simulated snapshot camera; `url` is its snapshot URL."""

    def __init__(self, port: int = 0, **state: Any):
        self.state = CameraState(**state)
        self.server = LoopbackServer(make_handler(self.state), port=port)

    @property
    def snapshot_url(self) -> str:
        return f"{self.url}/snapshot.jpg"

    def count(self, status: int | None = None) -> int:
        return self.state.count(status)


_demo: SimulatedSnapshotCamera | None = None
_demo_lock = threading.Lock()


def demo(settings: Any, password: Any, date: dt.date | None) -> Any:
    """The snapshot demo camera (url = "simulator"): started once in this process."""
    global _demo
    with _demo_lock:
        if _demo is None:
            users = {settings.username: password.reveal()} if settings.username else {}
            _demo = SimulatedSnapshotCamera(users=users, size=(320, 180),
                                            auth="digest" if users else "none").start()
    return replace(settings, url=_demo.snapshot_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose")
    parser.add_argument("--auth", choices=("digest", "basic", "none"), default="none")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password-env", default="SIM_PASSWORD",
                        help="environment variable holding the password to accept")
    args = parser.parse_args()
    users = {}
    if args.auth != "none":
        password = os.environ.get(args.password_env)
        if not password:
            parser.error(f"set {args.password_env} to the password the camera accepts")
        users = {args.username: password}
    camera = SimulatedSnapshotCamera(port=args.port, users=users, auth=args.auth).start()
    print(f"simulated snapshot camera at {camera.snapshot_url}\n"
          "point tlbuild at it with a camera in the config:\n"
          f'  [cameras.snap-sim]\n  source = "snapshot"\n  url = "{camera.snapshot_url}"',
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        camera.stop()


if __name__ == "__main__":
    main()
