"""Any camera's current frame: an HTTP(S) snapshot URL (Basic or Digest auth, as the
camera asks in its `WWW-Authenticate`, or a Bearer token), or one frame of an RTSP
stream taken by ffmpeg. Credentials never appear in what is printed: `redact`
shows a URL without them (some cameras, Reolink's, want the password in the query)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from ..config import Secret
from ..downloads import jpeg_signature, whole_jpeg
from ..errors import AuthError, MediaError, RemoteError
from ..ffmpeg import ffmpeg_exe
from ..files import commit_partial, partial_path
from ..http import HttpClient, RetryPolicy
from ..runtime import run_captured

SECRET_KEYS = re.compile(r"(?i)^(password|passwd|pwd|pass|token|key|apikey|auth)$")


def redact(url: str) -> str:
    """The URL without its user name and password, and with the query values that
    hold secrets (`password=`, `token=`, ...) shown as ***."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    query = "&".join(
        f"{key}=***" if SECRET_KEYS.match(key) else f"{key}={value}"
        for key, _, value in (item.partition("=") for item in parts.query.split("&")
                              if item))
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


class SnapshotClient(HttpClient):
    def __init__(self, url: str, username: str | None = None,
                 password: Secret | None = None, token: Secret | None = None, *,
                 tls_insecure: bool = False, timeout: float = 20.0):
        parts = urlsplit(url)
        self.rtsp = parts.scheme.lower() in ("rtsp", "rtsps")
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        # credentials written into the URL count as the configured ones
        self.username = username or parts.username
        self._password = password or (Secret(parts.password) if parts.password else None)
        super().__init__(f"{parts.scheme}://{host}", tls_insecure=tls_insecure,
                         retries=1, read_timeout=timeout,
                         policy=RetryPolicy(attempts=1))
        self.target = parts.path or "/"
        if parts.query:
            self.target += "?" + parts.query
        self.timeout = timeout
        self._auth: AuthBase | None = None
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token.reveal()}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request; on a 401 the camera's challenge says which auth it wants
        (Digest or Basic), used from then on."""
        response = self.send(method, self.base + path, auth=self._auth, **kwargs)
        if response.status_code == 401 and self._auth is None and self.username:
            challenge = response.headers.get("WWW-Authenticate", "").lower()
            response.close()
            password = self._password.reveal() if self._password else ""
            self._auth = HTTPDigestAuth(self.username, password) \
                if challenge.startswith("digest") else \
                HTTPBasicAuth(self.username, password)
            response = self.send(method, self.base + path, auth=self._auth, **kwargs)
        return response

    def auth_error(self, response: requests.Response, what: str) -> AuthError:
        return AuthError(f"{redact(self.base)} refused the snapshot (HTTP "
                         f"{response.status_code}): check username and password (or "
                         "token)")

    def grab(self, final: Path) -> bytes:
        """The camera's frame now, as a JPEG in `final` (written whole or not at all)."""
        if self.rtsp:
            return self._grab_rtsp(final)
        _, image = self.download(self.target, final, what="snapshot",
                                 signature=jpeg_signature, validate=whole_jpeg)
        assert image is not None
        return image

    def _grab_rtsp(self, final: Path) -> bytes:
        """One keyframe of the stream (the first frames after a connect can be grey
        or smeared: only a keyframe is decoded), over TCP."""
        parts = urlsplit(self.base)
        userinfo = ""
        if self.username:
            password = self._password.reveal() if self._password else ""
            userinfo = f"{quote(self.username, safe='')}:{quote(password, safe='')}@"
        url = urlunsplit((parts.scheme, userinfo + parts.netloc, *urlsplit(
            self.target)[2:4], ""))
        partial = partial_path(final)
        partial.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = run_captured(
                [ffmpeg_exe(), "-hide_banner", "-v", "error", "-nostdin", "-rtsp_transport",
                 "tcp", "-skip_frame", "nokey", "-i", url, "-frames:v", "1", "-q:v", "2",
                 "-f", "image2", "-y", str(partial)], timeout=self.timeout)
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise RemoteError(f"{redact(self.base)}: no frame within {self.timeout:g} s") \
                from None
        try:
            if result.returncode != 0 or not partial.is_file():
                last = (result.stderr or "").strip().splitlines()[-1:] or ["no frame"]
                raise RemoteError(f"{redact(self.base)}: {last[0].replace(url, '<url>')}")
            try:
                image = whole_jpeg(partial)
            except Exception as error:
                raise MediaError(f"{redact(self.base)}: {error}") from None
            commit_partial(partial, final)
            return image
        finally:
            partial.unlink(missing_ok=True)
