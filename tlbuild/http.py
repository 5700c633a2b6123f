"""The one retry policy and session setup every tlbuild client uses.

Retried: 408, 429, 500, 502, 503, 504 and network errors, with exponential backoff
(base 1 s, x2, capped at 30 s, jitter 75-125 %); a numeric `Retry-After` is honoured.

Every connection's socket is known, so a stop request (SIGTERM, Ctrl-C) shuts them
all down and a download blocked in a read gives up at once instead of after its
read timeout.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import RemoteError

log = logging.getLogger("tlbuild.http")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONNECT_SECONDS = 5   # the connect timeout of every request
JSON_LIMIT = 64 << 20  # no JSON answer is read past this (a bootstrap is a few MB)
T = TypeVar("T")

# Set by a signal handler: long waits and downloads stop promptly when it is set.
stop_requested = threading.Event()
_sockets: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()


class _KnownConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _sockets.add(self.sock)


class _KnownTLSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _sockets.add(self.sock)


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
        if size > limit:
            response.close()
            raise Retryable(f"{what}: the answer is larger than {limit >> 20} MB")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise Retryable(f"{what}: the answer was not JSON") from None


def check_retryable_status(response: requests.Response, what: str) -> None:
    if response.status_code in RETRY_STATUSES:
        raise Retryable(f"{what}: HTTP {response.status_code}", retry_after_seconds(response))


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
