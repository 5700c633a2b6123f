"""The one retry policy and client base every tlbuild client uses.

Retried: 408, 429, 500, 502, 503, 504 and network errors, with exponential backoff
(base 1 s, x2, capped at 30 s, jitter 75-125 %); a numeric `Retry-After` is honoured.

Every connection's socket is known, so a stop request (SIGTERM, Ctrl-C) shuts them
all down and a download blocked in a read gives up at once instead of after its
read timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import AuthError, RemoteError
from .files import commit_partial, open_named, partial_path
from .stop import stop_requested

log = logging.getLogger("tlbuild.http")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONNECT_SECONDS = 5   # the connect timeout of every request
ANSWER_SECONDS = 60.0  # at most this for an answer that is not a download to start
JSON_LIMIT = 64 << 20  # no JSON answer is read past this (a bootstrap is a few MB)
T = TypeVar("T")

_sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()


MIN_RATE = 8 << 10  # bytes/s: an answer slower than this on average is given up


class Deadline:
    """The time by which an exchange (request to the answer's last byte) must end:
    `grace` seconds for the answer to start, plus one second for every MIN_RATE
    bytes received. A timer shuts the exchange's sockets down when it passes, so a
    server that answers one byte at a time (every read within the read timeout)
    cannot hold a run for ever."""

    def __init__(self, grace: float):
        self.grace = grace
        self.started = time.monotonic()
        self.received = 0
        self.expired = False
        self.sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._arm()

    def _arm(self) -> None:
        left = self.started + self.grace + self.received / MIN_RATE - time.monotonic()
        self._timer = threading.Timer(max(left, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._timer is None:
                return
            if time.monotonic() < self.started + self.grace + self.received / MIN_RATE:
                self._arm()  # bytes arrived since: the deadline moved
                return
            self.expired = True
            for sock in self.sockets:
                try:
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def count(self, size: int) -> None:
        self.received += size

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


_exchange = threading.local()  # the Deadline of this thread's exchange, if any


def _claim(sock: socket.socket | None) -> None:
    """Mark `sock` as carrying this thread's exchange (its deadline can end it)."""
    deadline = getattr(_exchange, "deadline", None)
    if sock is not None and deadline is not None:
        with deadline._lock:
            deadline.sockets.append(sock)


@contextlib.contextmanager
def deadline(grace: float, what: str) -> Iterator[Deadline]:
    """Run one exchange under a Deadline; one that passed fails as retryable."""
    current = Deadline(grace)
    _exchange.deadline = current
    try:
        yield current
    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError):
        if current.expired:
            raise Retryable(f"{what}: no complete answer in time (over {grace:.0f} s "
                            f"to start, or slower than {MIN_RATE >> 10} KiB/s)") from None
        raise
    finally:
        current.cancel()
        _exchange.deadline = None


class _KnownConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _sockets.add(self.sock)
        _claim(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _claim(self.sock)  # a reused connection: None for a new one (claimed above)
        super().request(*args, **kwargs)


class _KnownTLSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _sockets.add(self.sock)
        _claim(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _claim(self.sock)
        super().request(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _KnownConnection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _KnownTLSConnection


class StoppableAdapter(HTTPAdapter):
    """requests' adapter, with connections whose sockets `abort_connections` knows."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


def abort_connections() -> None:
    """Shut down every open connection (a stop request): a thread blocked reading one
    returns at once. The plain socket is shut down, under any TLS layer, so a TLS
    object in use by that thread is never touched."""
    for sock in list(_sockets):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class Unavailable(RemoteError):
    """The device does not have this item (a 404, or an answer retrying cannot
    change): the item fails, the day goes on."""


class Retryable(Exception):
    """A failed attempt worth repeating (carries the server's Retry-After, if any)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base: float = 1.0
    factor: float = 2.0
    cap: float = 30.0

    def delay(self, failed_attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the n-th failed attempt (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        backoff = min(self.base * self.factor ** (failed_attempts - 1), self.cap)
        return backoff * random.uniform(0.75, 1.25)


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def read_json(response: requests.Response, what: str, limit: int = JSON_LIMIT) -> Any:
    """The JSON body of a streamed response, read up to `limit` bytes: a device that
    answers without end is an error, not a process that fills the memory."""
    chunks, size = [], 0
    for chunk in response.iter_content(1 << 16):
        size += len(chunk)
        current = getattr(_exchange, "deadline", None)
        if current is not None:
            current.count(len(chunk))
        if size > limit:
            response.close()
            raise Retryable(f"{what}: the answer is larger than {limit >> 20} MB")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise Retryable(f"{what}: the answer was not JSON") from None


def sleep_interruptibly(seconds: float) -> None:
    if stop_requested.wait(seconds):
        raise KeyboardInterrupt


def with_retries(attempt: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    """Call `attempt` until it succeeds, raises a non-retryable error, or attempts run out.

    `attempt` raises `Retryable` for a failure worth repeating; network errors from
    requests count as retryable too. Exhausted retries raise RemoteError.
    """
    last: Exception | None = None
    for number in range(1, max(policy.attempts, 1) + 1):
        try:
            return attempt()
        except Retryable as exc:
            last, retry_after = exc, exc.retry_after
        except requests.exceptions.SSLError:
            raise
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            last, retry_after = exc, None
        if stop_requested.is_set():  # the failure is our own stop: no retry, no warning
            raise KeyboardInterrupt
        if number < policy.attempts:
            wait = policy.delay(number, retry_after)
            log.warning("%s failed (%s); attempt %d of %d, retrying in %.1f s",
                        what, describe(last), number, policy.attempts, wait)
            sleep_interruptibly(wait)
    raise RemoteError(f"{what} failed after {policy.attempts} attempts: {describe(last)}")


def describe(exc: BaseException | None) -> str:
    """A short, secret-free description of a network failure."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, Retryable):
        return str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate rejected"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-response"
    return exc.__class__.__name__


def tls_rejected_message(host: str) -> str:
    return (f"TLS certificate of {host} was rejected (self-signed or not trusted). "
            "Install its CA, or use --tls-insecure / tls_insecure = true to skip "
            "verification at your own risk.")


def make_session(tls_insecure: bool, pool_size: int = 8, host: str = "") -> requests.Session:
    """A session with connection reuse sized for the worker pool; TLS verified by default."""
    session = requests.Session()
    adapter = StoppableAdapter(pool_connections=2, pool_maxsize=max(pool_size, 2),
                               max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "tlbuild"
    if tls_insecure:
        session.verify = False
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        log.warning("TLS verification is OFF for %s (tls_insecure): the connection "
                    "can be intercepted", host or "this host")
    return session


CHUNK = 1 << 16  # small enough that a slow but steady answer moves its deadline


class HttpClient:
    """What every device client shares: one requests session with connection reuse
    and known sockets (a stop request ends any read), TLS verified unless turned off
    (loudly), `verify` passed on every request, bounded timeouts (5 s to connect,
    `read_timeout` between bytes), one map from an answer's status to tlbuild's
    errors, JSON answers with retries and a size limit, and downloads streamed to a
    temporary file that is checked before it takes its final name. Device clients add
    their endpoints, and their login where they have one (`request`)."""

    def __init__(self, base: str, *, tls_insecure: bool = False, retries: int = 3,
                 pool_size: int = 2, read_timeout: float = 60.0,
                 policy: RetryPolicy | None = None):
        self.base = base.rstrip("/")
        self.read_timeout = read_timeout
        self.policy = policy or RetryPolicy(attempts=retries)
        self.session = make_session(tls_insecure, pool_size + 2, self.base)

    @property
    def answer_seconds(self) -> float:
        """The deadline's start for a JSON or other small answer: the read timeout,
        at most 60 s (a long read timeout is for downloads that start late)."""
        return min(self.read_timeout, ANSWER_SECONDS)

    # --- transport -------------------------------------------------------------------

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP request. `verify` on every request: REQUESTS_CA_BUNDLE would
        override the session's."""
        whole = not kwargs.get("stream") and "data" not in kwargs  # read here, whole
        own = whole and getattr(_exchange, "deadline", None) is None
        try:
            with deadline(self.answer_seconds, f"{method} {urlsplit(url).path}") if own \
                    else contextlib.nullcontext():
                return self.session.request(method, url, verify=self.session.verify,
                                            timeout=(CONNECT_SECONDS, self.read_timeout),
                                            **kwargs)
        except requests.exceptions.SSLError:
            raise RemoteError(tls_rejected_message(self.base)) from None

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request to a path of the device; clients with a login add it here."""
        return self.send(method, self.base + path, **kwargs)

    def turn(self) -> AbstractContextManager[Any]:
        """Held for each exchange with the device, from request to the answer's last
        byte. Free for most devices; one that answers one request at a time (Axis
        Timelapse3) makes its client wait its turn."""
        return contextlib.nullcontext()

    # --- answers ---------------------------------------------------------------------

    def check(self, response: requests.Response, what: str) -> None:
        """Raise what the answer's status means (see `status_error`)."""
        error = self.status_error(response, what)
        if error is not None:
            response.close()
            raise error

    def status_error(self, response: requests.Response, what: str) -> Exception | None:
        """The one map from an answer's status to tlbuild's errors, for every call of
        every client, logins included (None: the answer is fine, or its body says
        more). A client changes only what its system documents differently, through
        `auth_error`, `unavailable_reason` or an override that defers to this."""
        code = response.status_code
        if code < 400:
            return None
        if code in (401, 403):
            return self.auth_error(response, what)
        if code == 404:
            return Unavailable(self.unavailable_reason(response, what))
        if code == 413:
            return RemoteError(f"{self.base}: the {what} is too large for the server or "
                               "its web proxy (HTTP 413): raise its upload limit (nginx "
                               "client_max_body_size, Apache LimitRequestBody)")
        if code in RETRY_STATUSES:
            return Retryable(f"{what}: HTTP {code}", retry_after_seconds(response))
        return RemoteError(f"{self.base} answered HTTP {code} for {what}")

    def auth_error(self, response: requests.Response, what: str) -> AuthError:
        return AuthError(f"{self.base} refused {what} (HTTP {response.status_code}): "
                         "check the username and password")

    def unavailable_reason(self, response: requests.Response, what: str) -> str:
        return f"HTTP 404: {what} is not on the device"

    def get_json(self, path: str, params: Any = None, *, what: str | None = None,
                 missing_ok: bool = False) -> Any:
        """A JSON answer, with retries; `missing_ok`: None for a 404."""
        what = what or path

        def attempt() -> Any:
            with self.turn(), deadline(self.answer_seconds, what), self.request(
                    "GET", path, params=params, stream=True) as response:
                if missing_ok and response.status_code == 404:
                    return None
                self.check(response, what)
                return read_json(response, what)

        return with_retries(attempt, self.policy, f"{what} from {self.base}")

    # --- downloads -------------------------------------------------------------------

    def download(self, path: str, final: Path, *, what: str, params: Any = None,
                 signature: Callable[[bytes], str | None] = lambda head: None,
                 validate: Callable[[Path], T] | None = None,
                 on_bytes: Callable[[int, int | None], None] | None = None,
                 rate: float | None = None,
                 hold: Callable[[], AbstractContextManager[Any]] | None = None
                 ) -> tuple[int, T | None]:
        """Stream an answer into a temporary file beside `final`, check it, rename it.

        Checked: the status, the first bytes (`signature` says what is wrong with
        them, or None), the length against Content-Length, and `validate` (e.g. that
        every packet reads as video; raise Retryable). Failures worth repeating are
        retried with the policy, each attempt inside `hold()` (e.g. a slot of the
        device; default: `turn`); `rate` limits bytes per second. The temporary file
        never stays. Returns the size and what `validate` returned."""
        partial = partial_path(final)
        hold = hold or self.turn

        def attempt() -> tuple[int, T | None]:
            try:
                with hold():
                    with deadline(self.read_timeout, what) as limit:
                        written = self._stream(path, params, partial, what, signature,
                                               on_bytes, rate, limit)
                    checked = validate(partial) if validate else None
                commit_partial(partial, final)
                return written, checked
            finally:
                partial.unlink(missing_ok=True)

        return with_retries(attempt, self.policy, f"{what} {final.name}")

    def _stream(self, path: str, params: Any, partial: Path, what: str,
                signature: Callable[[bytes], str | None],
                on_bytes: Callable[[int, int | None], None] | None,
                rate: float | None, limit: Deadline) -> int:
        with self.request("GET", path, params=params, stream=True) as response:
            self.check(response, what)
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            written, started = 0, time.monotonic()
            partial.parent.mkdir(parents=True, exist_ok=True)
            with open_named(partial) as handle:
                for chunk in response.iter_content(CHUNK):
                    if stop_requested.is_set():
                        raise KeyboardInterrupt
                    if written == 0:
                        problem = signature(chunk)
                        if problem:
                            raise Retryable(f"{what}: {problem}")
                    handle.write(chunk)
                    written += len(chunk)
                    limit.count(len(chunk))
                    if on_bytes:
                        on_bytes(len(chunk), expected)
                    if rate:  # sleep until back under the limit
                        ahead = written / rate - (time.monotonic() - started)
                        if ahead > 0:
                            sleep_interruptibly(ahead)
        if expected is not None and written != expected:
            raise Retryable(f"{what} truncated: {written} of {expected} bytes")
        if written == 0:
            raise Retryable(f"{what}: the answer is empty")
        return written
