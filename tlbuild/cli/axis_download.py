"""`tlbuild axis-download`: every archive of an Axis timelapse app, like timelapse2-dl.

The same listing and download code as the doit tasks (Digest auth, retries on 5xx and
network errors only, `.partial` files renamed when complete, an optional rate limit),
with the seed tool's interface: SKIP/INFO/FAIL lines, a progress bar with speed and
ETA, `Done. downloaded=N skipped=N failed=N` and exit codes 0/1/2/130. Ctrl-C once
stops after the current file; twice stops at once. No `.partial` file is left behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .. import terminal
from ..config import Secret
from ..errors import TlbuildError
from ..http import RetryPolicy
from ..sources.axis_client import AxisClient, plain_name
from ..stop import stop_requested

EXIT_OK, EXIT_PARTIAL, EXIT_LIST_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "axis-download", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="download every archive from an Axis Timelapse2/3/TimelapseMe camera",
        description=__doc__.split("\n\n")[0] + "\n\nexit codes: 0 all downloaded or "
                    "skipped, 1 some downloads failed, 2 the archive list could not be "
                    "fetched (or bad arguments), 130 interrupted")
    parser.add_argument("--host", default="192.168.0.90",
                        help="camera host name or address, optionally :port "
                             "(default 192.168.0.90)")
    parser.add_argument("--scheme", choices=("http", "https"), default="http")
    parser.add_argument("--outdir", type=Path, default=Path("."),
                        help="folder for the archives (default: .)")
    parser.add_argument("--user", required=True, help="admin account (Digest auth)")
    parser.add_argument("--pass", dest="password",
                        help="password (visible to other users: prefer --pass-file or "
                             "AXIS_PASSWORD)")
    parser.add_argument("--pass-file", type=Path, help="file holding the password")
    parser.add_argument("--timeout", type=float, default=60, help="HTTP timeout, s (60)")
    parser.add_argument("--rate-limit", type=float, default=90.0,
                        help="download limit in Mbps (default 90)")
    parser.add_argument("--max-retries", type=int, default=3,
                        help="attempts per download on 5xx/network errors (default 3)")
    parser.add_argument("--retry-delay", type=float, default=5,
                        help="seconds between attempts (default 5)")
    parser.add_argument("--check-size", action="store_true",
                        help="compare an existing file's size with the server's (HEAD)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="download again even when the file exists")
    parser.add_argument("--tls-insecure", action="store_true",
                        help="skip TLS certificate checks (https)")


def _password(args: argparse.Namespace) -> str | None:
    if args.password:
        return args.password
    if args.pass_file:
        try:
            return args.pass_file.read_text().strip()
        except OSError as exc:
            print(f"FAIL  cannot read {args.pass_file}: {exc.strerror}", file=sys.stderr)
            return None
    return os.environ.get("AXIS_PASSWORD")


class _Interrupts:
    """First Ctrl-C: finish the current file. Second (or SIGTERM): stop now."""

    def __init__(self) -> None:
        self.stop_after_current = False

    def __enter__(self) -> _Interrupts:
        self.previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT,
                                                                 signal.SIGTERM)}
        signal.signal(signal.SIGINT, self._on_int)
        signal.signal(signal.SIGTERM, self._now)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _on_int(self, signum: int, frame: Any) -> None:
        if self.stop_after_current:
            self._now(signum, frame)
        self.stop_after_current = True
        print("\nINFO  stopping after the current file (Ctrl-C again to stop now)",
              file=sys.stderr, flush=True)

    def _now(self, signum: int, frame: Any) -> None:
        stop_requested.set()
        raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    password = _password(args)
    if not password:
        print("FAIL  a password is required: --pass-file, AXIS_PASSWORD or --pass",
              file=sys.stderr)
        return EXIT_LIST_FAILED
    policy = RetryPolicy(attempts=max(args.max_retries, 1), base=args.retry_delay,
                         factor=1.0, cap=max(args.retry_delay, 0.0))
    client = AxisClient(f"{args.scheme}://{args.host}", args.user, Secret(password),
                        timeout=args.timeout, tls_insecure=args.tls_insecure,
                        rate_limit_mbps=args.rate_limit if args.rate_limit > 0 else None,
                        policy=policy)
    try:
        app = client.detect()
        archives = client.archives()
    except TlbuildError as error:
        print(f"FAIL  cannot fetch the archive list from {args.host}: {error}",
              file=sys.stderr)
        return EXIT_LIST_FAILED
    terminal.echo(f"INFO  {app} {client.version or ''} on {args.host}: "
                 f"{terminal.plural(len(archives), 'archive')}")
    args.outdir.mkdir(parents=True, exist_ok=True)
    counts = {"downloaded": 0, "skipped": 0, "failed": 0}
    with _Interrupts() as interrupts:
        try:
            for archive in archives:
                if interrupts.stop_after_current:
                    break
                outcome = _one(client, archive, args)
                counts[outcome] += 1
        except KeyboardInterrupt:
            terminal.echo(f"\n{_done(counts)} (interrupted)")
            return EXIT_INTERRUPTED
    terminal.echo(_done(counts))
    if interrupts.stop_after_current:
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if counts["failed"] else EXIT_OK


def _one(client: AxisClient, archive: Any, args: argparse.Namespace) -> str:
    name = plain_name(archive.filename, archive.container)
    dest = args.outdir / name
    if dest.exists() and not args.overwrite:
        if not args.check_size:
            terminal.echo(f"SKIP  {name} (already exists)")
            return "skipped"
        remote = client.remote_size(archive)
        local = dest.stat().st_size
        if remote is None:
            terminal.echo(f"SKIP  {name} (already exists, cannot verify size)")
            return "skipped"
        if remote == local:
            terminal.echo(f"SKIP  {name} (already exists, size matches: {local} bytes)")
            return "skipped"
        terminal.echo(f"INFO  {name} exists but size mismatch (local: {local}, "
                     f"remote: {remote}), re-downloading")
    terminal.echo(f"GET   {client.base}{archive.path}?{_query(archive.query)}")
    terminal.echo(f"SAVE  {dest}")
    received = 0

    def progress(size: int, total: int | None) -> None:
        nonlocal received
        received += size
        if not args.no_progress:
            of = f" of {total / 1e6:.1f}" if total else ""
            terminal.show("download", f"      {name}", received, total,
                         f"{received / 1e6:.1f}{of} MB")

    try:
        client.download(archive, dest, progress)
    except TlbuildError as error:  # Unavailable (a 4xx) included
        terminal.echo(f"FAIL  {name}: {error}")
        return "failed"
    finally:
        terminal.hide("download")
    return "downloaded"


def _done(counts: dict[str, int]) -> str:
    return (f"Done. downloaded={counts['downloaded']} skipped={counts['skipped']} "
            f"failed={counts['failed']}")


def _query(query: dict[str, str]) -> str:
    from urllib.parse import urlencode
    return urlencode(query)
