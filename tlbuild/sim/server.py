"""A threaded HTTP(S) server on 127.0.0.1 with an OS-chosen port, shared by the sims."""

from __future__ import annotations

import logging
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every keep-alive request
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests read the simulator's own request log instead

    def send_body(self, status: int, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_drip(self, body: bytes, content_type: str, interval: float) -> None:
        """A fault: the headers, then the body one byte every `interval` seconds (every
        read is within any read timeout; the answer never ends in time)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass  # the client gave up
        self.close_connection = True

    def send_cut(self, body: bytes) -> None:
        """After the headers: half the body, then the connection closes (a fault)."""
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True


class QuietServer(ThreadingHTTPServer):
    """A request that fails inside a simulator (its ffmpeg ended by Ctrl-C, a client
    gone) ends that connection quietly instead of printing a traceback."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        logging.getLogger("tlbuild.sim").debug("simulator request failed",
                                               exc_info=True)


class LoopbackServer:
    """Start a handler class on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: bool = False,
                 port: int = 0):
        self.httpd = QuietServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.tls = tls
        self.cert_file: Path | None = None
        if tls:
            self.cert_file = self_signed_cert()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       name="sim-server")

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> LoopbackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def take_fault(faults: list, lock: threading.Lock, endpoint: str):
    """The next pending fault for `endpoint` (its count goes down by one), or None."""
    with lock:
        for fault in faults:
            if fault.endpoint == endpoint and fault.times > 0:
                fault.times -= 1
                return fault
    return None


class SimulatedServer:
    """Start/stop and context-manager plumbing shared by the simulators: a subclass
    sets `self.server` to a LoopbackServer in its __init__."""

    server: LoopbackServer

    @property
    def url(self) -> str:
        return self.server.url

    def start(self):  # returns self, so `Sim(...).start()` reads naturally
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def self_signed_cert() -> Path:
    """A throwaway self-signed certificate for 127.0.0.1 (key and cert in one PEM)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tlbuild-sim")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    with tempfile.NamedTemporaryFile(suffix=".pem", delete=False) as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    return Path(handle.name)
