"""UniFi Protect client: one logged-in session shared by every worker thread.

Owns the cookie (`TOKEN`, or `UOS_TOKEN` on UniFi OS 4+), the CSRF token, one
re-login when a proven session is dropped, and the retry policy, so callers never
see HTTP details (the shape of uiprotect's client). A batch hands one session to all
its shards (`session_state`/`adopt`): one login per console per batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import requests

from ..config import Secret
from ..downloads import jpeg_signature, mp4_signature, probe_video, whole_jpeg
from ..errors import AuthError, RemoteError
from ..http import HttpClient, Retryable, with_retries
from ..probe import VideoInfo
from ..slots import HostSlots
from ..stop import stop_requested

log = logging.getLogger("tlbuild.unifi")

# camera detections that are footage (console events such as `access` are not)
EVENT_TYPES = ("motion", "smartDetectZone", "smartDetectLine", "smartAudioDetect")
PAGE_LIMIT = 100
MAX_EVENT_REQUESTS = 1000   # a busy 430-event day needs about 15
MAX_EVENTS = 100_000        # a console that never stops sending events is an error
MIN_WINDOW_MS = 1000        # a window this short that is still full cannot be split
LOGIN_LOCKOUT_MINUTES = 15  # how long consoles are known to refuse logins after 429


def split_count(page: list[dict[str, Any]], start: int, end: int) -> int:
    """How many parts a window that came back full is split into: 2 at least, 64 at
    most, about twice the window over the span the page's events cover."""
    starts = [event["start"] for event in page]
    covered = max(max(starts) - min(starts), 1)
    return min(max(math.ceil(2 * (end - start) / covered), 2), 64)


def session_key(host: str, username: str) -> str:
    """Which handed-over session a client may use (see `handover.handed_over`)."""
    return f"{host.rstrip('/')}|{username}"


NO_RECORDING = "no recording"
LOGIN = "login"  # what a login is called in the status map


class ProtectClient(HttpClient):
    def __init__(self, host: str, username: str, password: Secret, *,
                 tls_insecure: bool = False, direct_api: bool = False,
                 retries: int = 3, pool_size: int = 2, export_slots: int = 2,
                 snapshot_slots: int = 2):
        # consoles may prepare a long export before its first byte: 120 s between
        # bytes (a stop request does not wait for it)
        super().__init__(host, tls_insecure=tls_insecure, retries=retries,
                         pool_size=pool_size, read_timeout=120)
        self.host = self.base
        self.api = "/api/" if direct_api else "/proxy/protect/api/"
        self.username = username
        self._password = password
        # exports in flight per console, across every tlbuild process: parallel
        # export campaigns have rebooted consoles
        self.export_slots = HostSlots(f"unifi-export:{self.host}", export_slots)
        self.snapshot_slots = HostSlots(f"unifi-snapshot:{self.host}", snapshot_slots)
        self._csrf: str | None = None
        self._login_lock = threading.Lock()
        self._generation = 0  # bumped at each login, so one 401 burst logs in once
        self._proven = False  # the current session has answered a request
        self._rejected = False  # a fresh session was dropped at once: stop, no loop
        self.logins = 0

    # --- session ---------------------------------------------------------------

    def login(self) -> None:
        """Log in once. 401/403/429 are final: never retry a failed login in a loop."""
        body = {"username": self.username, "password": self._password.reveal(),
                "rememberMe": False, "token": ""}

        def attempt() -> requests.Response:
            response = self.send("POST", self.host + "/api/auth/login", json=body)
            self.check(response, LOGIN)
            if response.status_code != 200:
                raise RemoteError(f"login to {self.host} failed: HTTP "
                                  f"{response.status_code}")
            return response

        response = with_retries(attempt, self.policy, f"login to {self.host}")
        if self.host.startswith("http://"):
            # Consoles mark TOKEN `Secure`; requests would then never send it back
            # over plain http. The user chose http: the password already went in clear.
            for cookie in self.session.cookies:
                cookie.secure = False
        self._update_csrf(response)
        if not self.session.cookies:
            raise RemoteError(f"login to {self.host} returned no session cookie; is this "
                              "a UniFi OS console? (try direct_api for a bare NVR)")
        self._generation += 1
        self._proven = False
        self.logins += 1
        log.info("logged in to %s as %s", self.host, self.username)

    def session_state(self) -> dict[str, Any]:
        """The logged-in session (cookies, CSRF token) to hand to another process
        through a pipe; logs in first if needed. Never written to disk."""
        with self._login_lock:
            if self._generation == 0:
                self.login()
        return {"cookies": [{"name": c.name, "value": c.value, "domain": c.domain,
                             "path": c.path} for c in self.session.cookies],
                "csrf": self._csrf}

    def adopt(self, state: dict[str, Any]) -> None:
        """Use a session another process logged in (see `session_state`)."""
        for cookie in state.get("cookies", []):
            self.session.cookies.set(cookie["name"], cookie["value"],
                                     domain=cookie["domain"], path=cookie["path"])
        self._csrf = state.get("csrf")
        self._generation, self._proven = 1, True

    def _update_csrf(self, response: requests.Response) -> None:
        token = (response.headers.get("X-Updated-CSRF-Token")
                 or response.headers.get("X-CSRF-Token"))
        if token:
            self._csrf = token

    def _api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-CSRF-Token": self._csrf} if self._csrf else {}
        return self.send(method, self.host + self.api + path, headers=headers, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An API request with the session. A 401 on a session that has worked means
        the console dropped it: log in again once and repeat once. A session dropped
        again before it ever worked stops the run: a console that drops every session
        would otherwise get a login per request."""
        if self._generation == 0:
            with self._login_lock:
                if self._generation == 0:
                    self.login()
        generation = self._generation
        response = self._api(method, path, **kwargs)
        if response.status_code == 401:
            response.close()
            with self._login_lock:
                if self._generation == generation and self._proven and not self._rejected:
                    log.info("session dropped by %s; logging in again", self.host)
                    self.login()
                elif self._generation == generation:
                    self._rejected = True
            if self._rejected:
                raise self._dropped()
            response = self._api(method, path, **kwargs)
            if response.status_code == 401:
                response.close()
                self._rejected = True
                raise self._dropped()
        if self._generation == generation:
            self._proven = True
        self._update_csrf(response)
        return response

    def _dropped(self) -> AuthError:
        return AuthError(f"{self.host} dropped the session again right after a fresh "
                         "login: check the account's permissions (no further login is "
                         "tried)")

    def status_error(self, response: requests.Response, what: str) -> Exception | None:
        """The base's map, with what consoles do at login: 429 is the login limit
        (final: never a login loop), and any 5xx is worth another try."""
        if what == LOGIN and response.status_code == 429:
            return AuthError(login_limit_message(self.host))
        if what == LOGIN and response.status_code >= 500:
            return Retryable(f"login: HTTP {response.status_code}")
        return super().status_error(response, what)

    def auth_error(self, response: requests.Response, what: str) -> AuthError:
        if what == LOGIN:
            return AuthError(f"authentication failed for user {self.username!r} at "
                             f"{self.host}: check the username and password")
        return AuthError(f"{self.host} denied access to {what}: the account lacks "
                         "permission to view Protect")

    def unavailable_reason(self, response: requests.Response, what: str) -> str:
        """A 404 with `{"error": 502}` is a time range without recording (measured)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error") in (502, "502"):
            return NO_RECORDING
        return "HTTP 404: the console has no such footage"

    # --- API -------------------------------------------------------------------

    def bootstrap(self) -> dict[str, Any]:
        data = self.get_json("bootstrap")
        if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
            raise RemoteError(f"{self.host}: bootstrap has no camera list; is this a "
                              "UniFi Protect console?")
        return data

    def events(self, camera_id: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Every footage event of [start_ms, end_ms], whatever the console keeps when
        a window holds more than `limit` events (measured: the newest; it could be the
        oldest). A full page cannot say which end was cut, so a full window is split
        in halves until every window comes back with room to spare; the pages are
        united by event id (events crossing a split come back twice)."""
        found: dict[str, dict[str, Any]] = {}
        windows, asked, crowded = [(start_ms, end_ms)], 0, []
        while windows:
            start, end = windows.pop()
            if asked >= MAX_EVENT_REQUESTS or len(found) > MAX_EVENTS:
                raise RemoteError(f"{self.host} kept answering full pages of events "
                                  f"({asked} requests, {len(found)} events): the "
                                  "console misbehaves; no clip index was written")
            if stop_requested.is_set():
                raise KeyboardInterrupt
            page = self._events_page(camera_id, start, end)
            asked += 1
            for event in page:
                found.setdefault(event["id"], event)
            if len(page) < PAGE_LIMIT:
                continue
            if end - start <= MIN_WINDOW_MS:
                crowded.append(start)
                continue
            # split into parts expected to hold about half a page each, judged by the
            # span the full page covers (whichever end the console cut); a part that
            # still comes back full is split again
            parts = split_count(page, start, end)
            bounds = [start + (end - start) * k // parts for k in range(parts + 1)]
            windows += reversed(list(pairwise(bounds)))  # earliest first
        for start in crowded:
            log.warning("more than %d events around %s: some may be missing",
                        PAGE_LIMIT, dt.datetime.fromtimestamp(start / 1000,
                                                              dt.timezone.utc))
        log.debug("listed %d events in %d requests", len(found), asked)
        return list(found.values())

    def _events_page(self, camera_id: str, start: int, end: int) -> list[dict[str, Any]]:
        params = [("start", start), ("end", end), ("limit", PAGE_LIMIT),
                  ("orderDirection", "ASC"), ("cameras", camera_id)]
        # repeated keys: a comma-joined value matches nothing
        params += [("types", kind) for kind in EVENT_TYPES]
        page = self.get_json("events", params)
        if not isinstance(page, list):
            raise RemoteError(f"{self.host}: events answer is not a list")
        return [event for event in page if _valid_event(event)]

    def export(self, camera_id: str, start_ms: int, end_ms: int, channel: int,
               final: Path, on_bytes: Callable[[int], None] | None = None) -> VideoInfo:
        """Download an export into `final`; return what the probe found. Checked: an
        MP4 (not the console's HTML page), as long as Content-Length says, every packet
        readable as video. Each attempt holds one of the console's export slots.
        Raises Unavailable for a 404, RemoteError when retries run out."""
        _, info = self.download(
            "video/export", final, what="export",
            params={"camera": camera_id, "start": start_ms, "end": end_ms,
                    "channel": channel},
            signature=mp4_signature, validate=probe_video,
            on_bytes=(lambda size, total: on_bytes(size)) if on_bytes else None,
            hold=self.export_slots.hold)
        return info


    def recorded_frame(self, camera_id: str, moment_ms: int, size: tuple[int, int] | None,
                       final: Path, on_bytes: Callable[[int], None] | None = None
                       ) -> bytes:
        """The recorded frame nearest `moment_ms` as a JPEG in `final` (checked whole);
        returns its bytes. Each attempt holds one of the console's snapshot slots.
        Raises Unavailable for a 404 (no recording then), RemoteError when retries
        run out."""
        params: dict[str, Any] = {"ts": moment_ms}
        if size:
            params.update(w=size[0], h=size[1])
        _, image = self.download(
            f"cameras/{camera_id}/recording-snapshot", final, what="recorded frame",
            params=params, signature=jpeg_signature, validate=whole_jpeg,
            on_bytes=(lambda size, total: on_bytes(size)) if on_bytes else None,
            hold=self.snapshot_slots.hold)
        return image


def login_limit_message(host: str) -> str:
    retry = (dt.datetime.now() + dt.timedelta(minutes=LOGIN_LOCKOUT_MINUTES))
    return (f"{host} refused the login: the console's login limit was reached "
            f"(AUTHENTICATION_FAILED_LIMIT_REACHED). tlbuild never retries a login; "
            f"wait at least {LOGIN_LOCKOUT_MINUTES} minutes (retry after "
            f"{retry:%H:%M}) and check that no other tool logs in repeatedly")


def _valid_event(event: Any) -> bool:
    return (isinstance(event, dict) and isinstance(event.get("id"), str)
            and isinstance(event.get("start"), int)
            and (event.get("end") is None or isinstance(event.get("end"), int)))

