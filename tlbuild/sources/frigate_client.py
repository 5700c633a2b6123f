"""Frigate NVR client (its HTTP API, 0.14-0.16): config, events, recordings, a time
range as a file, a recorded still.

Port 5000 needs no login; port 8971 does: `POST /api/login` with JSON `{"user",
"password"}` answers with the `frigate_token` cookie, whose token this client sends
as `Authorization: Bearer` (so a cookie marked Secure still works over http). One
login per client; one more when a proven session is dropped. Times are float epoch
seconds. At most `slots` downloads in flight per server, across every tlbuild
process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from ..config import Secret
from ..downloads import jpeg_signature, mp4_signature, probe_video, whole_jpeg
from ..errors import AuthError, RemoteError
from ..http import HttpClient, Retryable, Unavailable, with_retries
from ..probe import VideoInfo
from ..slots import HostSlots

log = logging.getLogger("tlbuild.frigate")
TOKEN_COOKIE = "frigate_token"  # Frigate's default name (auth.cookie_name)
PAGE = 100                      # events per request (Frigate's own default limit)
MAX_PAGES = 2000                # a server that never stops sending events is an error
LOGIN = "login"
NO_RECORDING = "no recording"


def session_key(host: str, username: str | None) -> str:
    return f"frigate|{host.rstrip('/')}|{username or ''}"


def valid_event(event: Any) -> bool:
    return (isinstance(event, dict) and isinstance(event.get("id"), str)
            and isinstance(event.get("start_time"), int | float)
            and (event.get("end_time") is None
                 or isinstance(event.get("end_time"), int | float)))


class FrigateClient(HttpClient):
    def __init__(self, host: str, username: str | None = None,
                 password: Secret | None = None, *, tls_insecure: bool = False,
                 retries: int = 3, slots: int = 2):
        # a long clip is cut and muxed before its first byte: 120 s between bytes
        super().__init__(host, tls_insecure=tls_insecure, retries=retries,
                         pool_size=slots, read_timeout=120)
        self.username = username
        self._password = password
        self.slots = HostSlots(f"frigate:{self.base}", slots)
        self._token: str | None = None
        self._login_lock = threading.Lock()
        self._proven = False
        self.logins = 0

    # --- session ---------------------------------------------------------------------

    def login(self) -> None:
        """Log in once; a refused login (401, or 429: Frigate rate-limits failed
        logins) is final, never retried."""
        body = {"user": self.username,
                "password": self._password.reveal() if self._password else ""}

        def attempt() -> requests.Response:
            response = self.send("POST", self.base + "/api/login", json=body)
            self.check(response, LOGIN)
            return response

        response = with_retries(attempt, self.policy, f"login to {self.base}")
        token = response.cookies.get(TOKEN_COOKIE) or next(
            iter(response.cookies.values()), None)
        response.close()
        if not token:
            raise RemoteError(f"login to {self.base} returned no session token: is this "
                              "Frigate's authenticated port (8971)?")
        self.session.cookies.clear()
        self.adopt({"token": token})
        self.logins += 1

    def session_state(self) -> dict[str, Any]:
        """The token, for a batch to hand to its shards (see handover.py)."""
        if self.username and self._token is None:
            self.login()
        return {"token": self._token}

    def adopt(self, state: dict[str, Any]) -> None:
        token = state.get("token")
        if isinstance(token, str) and token:
            self._token = token
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request with the session; a 401 on a session that has worked means it was
        dropped (expired): log in once more and repeat once."""
        if self.username and self._token is None:
            with self._login_lock:
                if self._token is None:
                    self.login()
        token = self._token
        response = self.send(method, self.base + path, **kwargs)
        if response.status_code == 401 and self.username and self._proven:
            response.close()
            with self._login_lock:
                if self._token == token:
                    log.info("session dropped by %s; logging in again", self.base)
                    self.login()
            response = self.send(method, self.base + path, **kwargs)
        if response.status_code < 400:
            self._proven = True
        return response

    # --- answers ---------------------------------------------------------------------

    def status_error(self, response: requests.Response, what: str) -> Exception | None:
        """The base's map, except: a 400 whose JSON says `"success": false` (no
        recording in that range) is an item the server does not have, and a
        refused login (401, 429) is final."""
        code = response.status_code
        if what == LOGIN and code in (400, 401, 403, 429):
            limited = ": too many failed logins, wait before trying again" \
                if code == 429 else ""
            return AuthError(f"{self.base} refused the login (HTTP {code}{limited}): "
                             "check the username and password")
        if code == 400 and "json" in response.headers.get("Content-Type", "").lower():
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("success") is False:
                message = str(answer.get("message") or "")[:200]
                return Unavailable(NO_RECORDING if "no recordings" in message.lower()
                                   else f"{what}: {message or 'refused'}")
        return super().status_error(response, what)

    def auth_error(self, response: requests.Response, what: str) -> AuthError:
        return AuthError(f"{self.base} refused {what} (HTTP {response.status_code}): "
                         "port 8971 needs username and password (port 5000 needs none)")

    def unavailable_reason(self, response: requests.Response, what: str) -> str:
        return NO_RECORDING if "snapshot" in what or "clip" in what else \
            f"HTTP 404: {what} is not on this Frigate"

    # --- endpoints -------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        answer = self.get_json("/api/config", what="config")
        if not isinstance(answer, dict) or not isinstance(answer.get("cameras"), dict):
            raise RemoteError(f"{self.base}/api/config is not a Frigate config (no "
                              "cameras): is the host Frigate's?")
        return answer

    def events(self, camera: str, after: float, before: float,
               labels: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every event of `camera` starting in (after, before), oldest first. Frigate
        answers newest first, a page at a time (100 unless asked otherwise; a server
        may cap it lower): each next page ends where the last began (`before` = its
        oldest start, nudged up so events sharing that start are asked again and kept
        once), until a page brings nothing new."""
        found: dict[str, dict[str, Any]] = {}
        upper = before
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"cameras": camera, "after": after, "before": upper,
                                      "limit": PAGE, "include_thumbnails": 0}
            if labels:
                params["labels"] = ",".join(labels)
            page = self.get_json("/api/events", params, what="events")
            if not isinstance(page, list):
                raise RemoteError(f"{self.base}: the events answer is not a list")
            events = [event for event in page if valid_event(event)]
            new = [event for event in events if event["id"] not in found]
            found.update((event["id"], event) for event in events)
            if not new:
                if len(events) >= PAGE:
                    log.warning("%s: more than %d events start at one moment; some "
                                "may be missing", self.base, len(events))
                return sorted(found.values(), key=lambda e: (e["start_time"], e["id"]))
            upper = min(event["start_time"] for event in events) + 1e-6
        raise RemoteError(f"{self.base}: more than {MAX_PAGES * PAGE} events in a day")

    def recordings(self, camera: str, after: float, before: float) -> list[dict[str, Any]]:
        """The recorded segments (~10 s each) overlapping (after, before), ascending."""
        answer = self.get_json(f"/api/{quote(camera, safe='')}/recordings",
                               {"after": after, "before": before}, what="recordings")
        if not isinstance(answer, list):
            raise RemoteError(f"{self.base}: the recordings answer is not a list")
        return [segment for segment in answer if isinstance(segment, dict)
                and isinstance(segment.get("start_time"), int | float)
                and isinstance(segment.get("end_time"), int | float)]

    def clip(self, camera: str, start_s: int, end_s: int, final: Path,
             expected_secs: float, on_bytes: Callable[[int], None] | None = None
             ) -> VideoInfo:
        """The recording from `start_s` to `end_s` (whole seconds) as an MP4 in
        `final`. Frigate streams it without a length (fragmented MP4), and a failure
        part way simply ends the stream: the file must read as video and last what
        was recorded in the range (`expected_secs`), else it is asked again."""
        def validate(path: Path) -> VideoInfo:
            info = probe_video(path)
            if info.duration < expected_secs - 2.5:  # whole-second in and out points
                raise Retryable(f"clip cut short: {info.duration:.1f} s of "
                                f"{expected_secs:.0f} s recorded")
            return info

        _, info = self.download(
            f"/api/{quote(camera, safe='')}/start/{start_s}/end/{end_s}/clip.mp4", final,
            what="clip", signature=mp4_signature, validate=validate,
            on_bytes=(lambda size, total: on_bytes(size)) if on_bytes else None,
            hold=self.slots.hold)
        assert info is not None
        return info

    def snapshot(self, camera: str, moment_s: float, height: int | None, final: Path,
                 on_bytes: Callable[[int], None] | None = None) -> bytes:
        """The recorded frame at `moment_s` as a JPEG in `final` (Unavailable: no
        segment holds that moment)."""
        _, image = self.download(
            f"/api/{quote(camera, safe='')}/recordings/{moment_s:.3f}/snapshot.jpg",
            final, what="recorded snapshot", params={"height": height} if height else None,
            signature=jpeg_signature, validate=whole_jpeg,
            on_bytes=(lambda size, total: on_bytes(size)) if on_bytes else None,
            hold=self.slots.hold)
        assert image is not None
        return image
