"""UniFi Protect client: one logged-in session shared by every worker thread.

Owns the cookie, the CSRF token, re-login once on a 401 and the retry policy, so
callers never see HTTP details (the shape of uiprotect's client).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

import requests

from ..config import Secret
from ..errors import AuthError, MediaError, RemoteError
from ..files import commit_partial, partial_path
from ..http import (Retryable, RetryPolicy, check_retryable_status,
                    make_session, stop_requested, tls_rejected_message, with_retries)
from ..media import VideoInfo, probe

log = logging.getLogger("tlbuild.unifi")

EVENT_TYPES = ("motion", "smartDetectZone", "smartDetectLine")
PAGE_LIMIT = 100
TIMEOUT = (10, 120)  # connect, read (exports of long clips start slowly)
CHUNK = 1 << 20


class ClipUnavailable(Exception):
    """The NVR has no such footage (404 or another non-retryable answer)."""


class ProtectClient:
    def __init__(self, host: str, username: str, password: Secret, *,
                 tls_insecure: bool = False, direct_api: bool = False,
                 retries: int = 3, pool_size: int = 4):
        self.host = host.rstrip("/")
        self.api = self.host + ("/api/" if direct_api else "/proxy/protect/api/")
        self.username = username
        self._password = password
        self.policy = RetryPolicy(attempts=retries)
        self.session = make_session(tls_insecure, pool_size + 2, self.host)
        self._csrf: str | None = None
        self._login_lock = threading.Lock()
        self._generation = 0  # bumped at each login, so one 401 burst logs in once
        self.logins = 0

    # --- session ---------------------------------------------------------------

    def login(self) -> None:
        """Log in once. 401/403/429 are final: never retry a failed login in a loop."""
        body = {"username": self.username, "password": self._password.reveal(),
                "rememberMe": False, "token": ""}

        def attempt() -> requests.Response:
            response = self._send("POST", self.host + "/api/auth/login", json=body)
            if response.status_code in (401, 403):
                raise AuthError(f"authentication failed for user {self.username!r} at "
                                f"{self.host}: check the username and password")
            if response.status_code == 429:
                raise AuthError(f"{self.host} refused the login: too many login attempts "
                                "(rate limit); wait a few minutes before the next run")
            if response.status_code >= 500:
                raise Retryable(f"login: HTTP {response.status_code}")
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
        self.logins += 1
        log.info("logged in to %s as %s", self.host, self.username)

    def _update_csrf(self, response: requests.Response) -> None:
        token = (response.headers.get("X-Updated-CSRF-Token")
                 or response.headers.get("X-CSRF-Token"))
        if token:
            self._csrf = token

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {"X-CSRF-Token": self._csrf} if self._csrf else {}
        try:
            # verify per request: REQUESTS_CA_BUNDLE would override session.verify
            return self.session.request(method, url, headers=headers, timeout=TIMEOUT,
                                        verify=self.session.verify, **kwargs)
        except requests.exceptions.SSLError:
            raise RemoteError(tls_rejected_message(self.host)) from None

    def request(self, path: str, params: Any = None, stream: bool = False
                ) -> requests.Response:
        """GET an API path; on a 401 log in again once and repeat once."""
        if self._generation == 0:
            with self._login_lock:
                if self._generation == 0:
                    self.login()
        generation = self._generation
        response = self._send("GET", self.api + path, params=params, stream=stream)
        if response.status_code == 401:
            response.close()
            with self._login_lock:
                if self._generation == generation:
                    log.info("session dropped by %s; logging in again", self.host)
                    self.login()
            response = self._send("GET", self.api + path, params=params, stream=stream)
            if response.status_code == 401:
                response.close()
                raise AuthError(f"{self.host} rejected the session again after a fresh "
                                "login: check the account's permissions")
        if response.status_code == 403:
            response.close()
            raise AuthError(f"{self.host} denied access to {path}: the account lacks "
                            "permission to view Protect")
        self._update_csrf(response)
        return response

    def get_json(self, path: str, params: Any = None) -> Any:
        def attempt() -> Any:
            response = self.request(path, params)
            check_retryable_status(response, path)
            if response.status_code != 200:
                raise RemoteError(f"{self.host} answered HTTP {response.status_code} "
                                  f"for {path}")
            try:
                return response.json()
            except ValueError:
                raise Retryable(f"{path}: the answer was not JSON") from None

        return with_retries(attempt, self.policy, f"{path} from {self.host}")

    # --- API -------------------------------------------------------------------

    def bootstrap(self) -> dict[str, Any]:
        data = self.get_json("bootstrap")
        if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
            raise RemoteError(f"{self.host}: bootstrap has no camera list; is this a "
                              "UniFi Protect console?")
        return data

    def events(self, camera_id: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """All motion and smart-detection events starting in [start_ms, end_ms).

        Pages by the last event's *start* and drops ids already seen: events overlap,
        so the end+1 cursor would skip some.
        """
        seen: dict[str, dict[str, Any]] = {}
        cursor = start_ms
        while True:
            params = [("start", cursor), ("end", end_ms), ("limit", PAGE_LIMIT),
                      ("orderDirection", "ASC"), ("cameras", camera_id)]
            params += [("types", kind) for kind in EVENT_TYPES]
            page = self.get_json("events", params)
            if not isinstance(page, list):
                raise RemoteError(f"{self.host}: events answer is not a list")
            valid = [event for event in page if _valid_event(event)]
            new = [event for event in valid if event["id"] not in seen]
            for event in new:
                seen[event["id"]] = event
            if len(page) < PAGE_LIMIT or not new:
                return list(seen.values())
            cursor = max(event["start"] for event in valid)

    def export(self, camera_id: str, start_ms: int, end_ms: int, channel: int,
               final: Path, on_bytes: Callable[[int], None] | None = None) -> VideoInfo:
        """Download an export into `final` atomically; return what the probe found.

        Each attempt streams to `<final>.partial`, then checks the status, the MP4
        signature, the Content-Length and that the whole file reads as video. Raises
        ClipUnavailable for a 404, RemoteError when retries run out.
        """
        params = {"camera": camera_id, "start": start_ms, "end": end_ms,
                  "channel": channel}
        partial = partial_path(final)

        def attempt() -> VideoInfo:
            try:
                return self._export_once(params, partial, final, on_bytes)
            finally:
                partial.unlink(missing_ok=True)

        return with_retries(attempt, self.policy, f"export {final.name}")

    def _export_once(self, params: dict[str, Any], partial: Path, final: Path,
                     on_bytes: Callable[[int], None] | None) -> VideoInfo:
        with self.request("video/export", params, stream=True) as response:
            if response.status_code == 404:
                raise ClipUnavailable("HTTP 404: no recording for this time")
            check_retryable_status(response, "export")
            if response.status_code != 200:
                raise ClipUnavailable(f"HTTP {response.status_code}")
            if "html" in response.headers.get("Content-Type", "").lower():
                raise Retryable("export answered with an HTML page, not video")
            expected = response.headers.get("Content-Length")
            written = 0
            with open(partial, "wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    if stop_requested.is_set():
                        raise KeyboardInterrupt
                    if written == 0 and len(chunk) >= 8 and chunk[4:8] != b"ftyp":
                        raise Retryable("export body is not an MP4 (no ftyp box)")
                    handle.write(chunk)
                    written += len(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
        if expected is not None and expected.isdigit() and written != int(expected):
            raise Retryable(f"export truncated: {written} of {expected} bytes")
        if written < 8:
            raise Retryable("export body is empty")
        try:
            info = probe(partial)
        except MediaError as exc:
            raise Retryable(f"export is not valid video: {exc}") from None
        commit_partial(partial, final)
        return info


def _valid_event(event: Any) -> bool:
    return (isinstance(event, dict) and isinstance(event.get("id"), str)
            and isinstance(event.get("start"), int)
            and (event.get("end") is None or isinstance(event.get("end"), int)))

