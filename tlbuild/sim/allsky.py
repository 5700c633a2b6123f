"""A simulated indi-allsky SyncAPI server (`<url>/indi-allsky/sync/v1/<kind>`).

Like the real one: HMAC-SHA3-512 Bearer auth over the metadata bytes with the
accepted time buckets (now, -1, +1, -2, -3, -4 of 300 s), multipart forms with
`metadata` and `media`, `file_size` checked against the media (a mismatch reads
`authentication failed`), cameras registered before assets, `file_exists` on POST,
413 above the proxy's body limit, an HTML 500 for metadata it cannot read, and a GET
(an asset by id) that checks the key, then answers `camera not found` or `file_missing`.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import hashlib
import hmac
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .server import LoopbackServer, QuietHandler, SimulatedServer

PREFIX = "/indi-allsky/sync/v1/"
BUCKETS = (0, -1, 1, -2, -3, -4)


@dataclass
class AllskyState:
    users: dict[str, str]
    max_body: int = 1 << 30
    clock_offset: float = 0.0
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    assets: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 1
    answer_url: str | None = None  # what `url` the answers carry (default: the asset's)

    def authorized(self, header: str, metadata: bytes) -> bool:
        try:
            _, credentials = header.split(" ")
            username, received = credentials.split(":")
        except ValueError:
            return False
        key = self.users.get(username)
        if key is None:
            return False
        floor = math.floor((time.time() + self.clock_offset) / 300)
        return any(hmac.compare_digest(hmac.new(
            key.encode(), str(floor + delta).encode() + metadata,
            hashlib.sha3_512).hexdigest(), received) for delta in BUCKETS)

    def count(self, kind: str, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for _, k, code, _ in self.log
                       if k == kind and (status is None or code == status))


def make_handler(state: AllskyState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _answer(self, kind: str, status: int, payload: Any, error: str = "") -> None:
            with state.lock:
                state.log.append((self.command, kind, status, error))
            if isinstance(payload, str):
                self.send_body(status, payload.encode(), "text/html")
            else:
                self.send_body(status, json.dumps(payload).encode(), "application/json")

        def _handle(self) -> None:
            path = urlsplit(self.path).path
            kind = path[len(PREFIX):] if path.startswith(PREFIX) else ""
            length = int(self.headers.get("Content-Length") or 0)
            if length > state.max_body:
                self.close_connection = True
                return self._answer(kind, 413, "<html><body><h1>413 Request Entity Too "
                                    "Large</h1></body></html>")
            body = self.rfile.read(length)
            if kind not in ("camera", "video", "thumbnail", "image", "keogram"):
                return self._answer(kind, 404, "<html>Not Found</html>")
            parts = parse_form(self.headers.get("Content-Type", ""), body)
            if self.command == "GET":  # the server reads no media for a GET
                parts.setdefault("media", ("", b""))
            if "metadata" not in parts or "media" not in parts:
                return self._answer(kind, 400, {"error": "authentication failed"},
                                    "missing part")
            metadata_bytes = parts["metadata"][1]
            if not state.authorized(self.headers.get("Authorization", ""), metadata_bytes):
                return self._answer(kind, 400, {"error": "authentication failed"},
                                    "bad hmac")
            try:
                metadata = json.loads(metadata_bytes)
            except ValueError:
                return self._answer(kind, 500, "<html><body><h1>Internal Server Error"
                                    "</h1></body></html>")
            media_name, media = parts["media"]
            if self.command == "GET":  # an asset's id and url: nothing changes
                if metadata.get("camera_uuid") not in state.cameras:
                    return self._answer(kind, 400, {"error": "camera not found"})
                found = [a for a in state.assets.values() if a["id"] == metadata.get("id")]
                if not found:
                    return self._answer(kind, 400, {"error": "file_missing"})
                return self._answer(kind, 200, {"id": found[0]["id"],
                                                "url": found[0]["url"]})
            if kind == "camera":
                with state.lock:
                    camera = state.cameras.setdefault(metadata["uuid"],
                                                      {"id": len(state.cameras) + 1})
                    camera.update(metadata)
                return self._answer(kind, 200, {"id": camera["id"]})
            if len(media) != metadata.get("file_size", -1):
                return self._answer(kind, 400, {"error": "authentication failed"},
                                    "size mismatch")
            if metadata.get("camera_uuid") not in state.cameras:
                return self._answer(kind, 400, {"error": "camera not found"})
            key = (kind, metadata["camera_uuid"], str(metadata.get("dayDate")),
                   str(metadata.get("night")), str(metadata.get("uuid", "")))
            with state.lock:
                if key in state.assets and self.command == "POST":
                    exists = True
                else:
                    exists = False
                    asset_id = state.next_id
                    state.next_id += 1
                    state.assets[key] = {
                        "id": asset_id, "metadata": metadata, "name": media_name,
                        "size": len(media), "sha256": hashlib.sha256(media).hexdigest(),
                        "url": f"/indi-allsky/images/{kind}/{asset_id}/{media_name}"}
            if exists:
                return self._answer(kind, 400, {"error": "file_exists"})
            asset = state.assets[key]
            return self._answer(kind, 200, {"id": asset["id"],
                                            "url": state.answer_url or asset["url"]})

        do_POST = do_PUT = do_GET = _handle

    return Handler


def parse_form(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """{field name: (filename, bytes)} of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = {}
    if message.is_multipart():
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                parts[name] = (part.get_filename() or "",
                               part.get_payload(decode=True) or b"")
    return parts


class SimulatedAllsky(SimulatedServer):
    def __init__(self, users: dict[str, str], tls: bool = False, port: int = 0,
                 **state: Any):
        self.state = AllskyState(users=users, **state)
        self.server = LoopbackServer(make_handler(self.state), tls=tls, port=port)

    @property
    def url(self) -> str:
        return self.server.url + "/indi-allsky"


    def videos(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [a for k, a in self.state.assets.items() if k[0] == "video"]


_demo: SimulatedAllsky | None = None
_demo_lock = threading.Lock()


def demo_sink(sink: Any, apikey: Any) -> Any:
    """The demo's sink (url = "simulator"): this server, started once in this process
    on 127.0.0.1 and taking the sink's user and key; returns the sink pointed at it."""
    global _demo
    with _demo_lock:
        if _demo is None:
            _demo = SimulatedAllsky({sink.username: apikey.reveal()}).start()
    return replace(sink, address=_demo.url, tls_insecure=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--apikey-env", default="SIM_APIKEY",
                        help="environment variable holding the API key to accept")
    args = parser.parse_args()
    apikey = os.environ.get(args.apikey_env)
    if not apikey:
        parser.error(f"set {args.apikey_env} to the API key the server accepts")
    server = SimulatedAllsky({args.username: apikey}, port=args.port).start()
    print(f"simulated indi-allsky SyncAPI at {server.url}\n"
          "point tlbuild at it with a sink in the config, and name it in a camera's "
          "`publish` list:\n"
          f'  [publish.allsky-sim]\n  kind = "indi-allsky"\n  url = "{server.url}"\n'
          f'  username = "{args.username}"\n  apikey_env = "{args.apikey_env}"\n'
          "Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
        print(f"received {len(server.videos())} video(s)")


if __name__ == "__main__":
    main()
