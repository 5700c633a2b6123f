"""indi-allsky SyncAPI client: register the camera, then send videos (and thumbnails).

Every request is a multipart form with a `metadata` part (JSON) and a `media` part
(the file, streamed from disk: a 2 GB video never sits in memory), authenticated by
`Authorization: Bearer <user>:<HMAC-SHA3-512(apikey, time bucket + metadata bytes)>`.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import requests
from requests_toolbelt import MultipartEncoder

from ..config import AllskySink, Secret
from ..errors import AuthError, RemoteError
from ..http import HttpClient, Retryable, with_retries

log = logging.getLogger("tlbuild.publish")

TIME_BUCKET = 300  # seconds; the server accepts a few buckets around its own
CAMERA, VIDEO, THUMBNAIL = 1, 3, 15
PROBE_CAMERA = "00000000-0000-0000-0000-tlbuild-probe"  # no server has it: doctor's GET


def bearer(username: str, apikey: Secret, metadata: bytes, now: float | None = None) -> str:
    bucket = math.floor((time.time() if now is None else now) / TIME_BUCKET)
    digest = hmac.new(apikey.reveal().encode(), str(bucket).encode() + metadata,
                      hashlib.sha3_512).hexdigest()
    return f"Bearer {username}:{digest}"


class SyncApiError(RemoteError):
    """The server answered with one of its documented errors."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class SyncApiClient(HttpClient):
    def __init__(self, sink: AllskySink, apikey: Secret):
        # a big video may take the server a while to store before it answers
        super().__init__(sink.endpoint, tls_insecure=sink.tls_insecure, retries=sink.retries,
                         read_timeout=600)
        self.sink = sink
        self.apikey = apikey

    def upload(self, kind: str, metadata: dict[str, Any], media: Path | None,
               media_name: str, method: str) -> dict[str, Any]:
        """One SyncAPI request, the media streamed from disk; 5xx and network errors
        are retried with the policy."""
        def attempt() -> dict[str, Any]:
            body = json.dumps(metadata).encode()
            with (open(media, "rb") if media else io.BytesIO(b"")) as handle:
                form = MultipartEncoder(fields={
                    "metadata": ("metadata.json", body, "application/json"),
                    "media": (media_name, handle, "application/octet-stream")})
                response = self.request(
                    method, f"/sync/v1/{kind}", data=form,
                    headers={"Content-Type": form.content_type,
                             "Authorization": bearer(self.sink.username, self.apikey,
                                                     body)})
            return self._answer(response, kind)

        return with_retries(attempt, self.policy, f"{method} {kind} to {self.sink.name}")

    def status_error(self, response: requests.Response, what: str) -> Exception | None:
        """The base's map, except what the SyncAPI says in its JSON body (a 400 or
        a 401 with `{"error": ...}`), and a 5xx HTML page is worth another try (the
        server could not read the metadata)."""
        code = response.status_code
        if code >= 500 and "html" in response.headers.get("Content-Type", "").lower():
            return Retryable(f"{what}: HTTP {code} with an HTML page (the server could "
                             "not read the metadata)")
        if code in (400, 401, 403) and "json" in response.headers.get(
                "Content-Type", "").lower():
            return None  # the body names the error
        return super().status_error(response, what)

    def unavailable_reason(self, response: requests.Response, what: str) -> str:
        return (f"{self.sink.name}: HTTP 404 for the {what}: is the url right (it ends "
                "in /indi-allsky)?")

    def _answer(self, response: requests.Response, kind: str) -> dict[str, Any]:
        self.check(response, kind)
        try:
            answer = response.json()
        except ValueError:
            raise RemoteError(f"{self.sink.name}: HTTP {response.status_code} without "
                              "JSON; is the url right (it ends in /indi-allsky)?") from None
        if response.status_code == 200 and isinstance(answer, dict):
            return answer
        error = answer.get("error") if isinstance(answer, dict) else None
        if error == "authentication failed":
            raise AuthError(f"{self.sink.name}: authentication failed: check the username "
                            "and API key, and that this machine's clock is right (the "
                            "key is bound to 5-minute time windows)")
        if error in ("camera not found", "file_missing"):
            raise SyncApiError(f"{self.sink.name}: {error} on the server", error)
        if error == "file_exists":
            raise SyncApiError(f"{self.sink.name}: the server already has this {kind}",
                               error)
        raise RemoteError(f"{self.sink.name}: HTTP {response.status_code}: "
                          f"{error or 'unexpected answer'}")

    def register_camera(self, camera_uuid: str, name: str, zone: str,
                        utc_offset: int) -> dict[str, Any]:
        metadata = {"type": CAMERA, "uuid": camera_uuid, "name": name,
                    "utc_offset": utc_offset, "tz": zone, "file_size": 0}
        return self.upload("camera", metadata, None, "bogus.ext", "POST")

    def check_credentials(self) -> str:
        """An authenticated request that changes nothing: a GET for an asset of a
        camera no server has. The server checks the key first (`authentication
        failed`), then answers `camera not found`: the key is good."""
        metadata = {"camera_uuid": PROBE_CAMERA, "id": 0, "utc_offset": 0,
                    "file_size": 0}
        try:
            self.upload("video", metadata, None, "bogus.ext", "GET")
        except SyncApiError as error:
            if error.code not in ("camera not found", "file_missing"):
                raise
        return f"{self.sink.endpoint}: user {self.sink.username!r} and API key accepted"


def check(sink: AllskySink) -> str:
    """What `doctor` says of the sink: the server accepts its user and API key."""
    apikey = sink.apikey.load(f"sink {sink.name!r}: API key from {sink.apikey.describe()}")
    return SyncApiClient(sink, apikey).check_credentials()
