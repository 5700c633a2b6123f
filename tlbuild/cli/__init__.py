"""`tlbuild`: the command line, driving the same doit task graphs as dodo.py. One
module per command (or per family: day.py holds scan, fetch, render, run, verify and
publish); each has `add(commands)`, its parser, and `run(args)`, its handler."""

from __future__ import annotations

import argparse
import logging

from .. import __version__, terminal
from ..errors import TlbuildError, storage_error
from ..handover import receive_handover
from ..runtime import (
    install_signal_handlers,
    setup_console_logging,
    wait_for_actions,
    wait_for_children,
)
from . import axis_download, batch, capture, day, doctor, prune, report, rollup, s3, status
from .common import EXIT_CODES, global_options

log = logging.getLogger("tlbuild")

# each command's handler, by name (the camera-day commands share day.run)
HANDLERS = {**dict.fromkeys(day.COMMANDS, day.run), "batch": batch.run,
            "status": status.run, "report": report.run, "prune": prune.run,
            "rollup": rollup.run, "doctor": doctor.run_doctor,
            "cameras": doctor.run_cameras, "s3": s3.run, "capture": capture.run,
            "axis-download": axis_download.run}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tlbuild", formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # else `axis-download --pass` would match --password
        description="Build one timelapse video per camera per day: from UniFi Protect "
                    "event clips, Axis timelapse archives or FixedIT frames in S3. Every "
                    "file is a doit target: reruns do only what is missing.",
        epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"tlbuild {__version__}")
    global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (day, batch, status, report, prune, rollup, doctor, capture, s3):
        module.add(commands)
    axis_download.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for key in ("host", "source", "username", "password", "password_file", "camera", "out",
                "config", "tls_insecure", "direct_api", "verbose", "quiet", "cameras",
                "device", "sink"):
        if not hasattr(args, key):
            setattr(args, key, None)
    setup_console_logging(verbose=bool(args.verbose), quiet=bool(args.quiet))
    install_signal_handlers()
    receive_handover()  # a batch's session for this shard, if any
    try:
        return HANDLERS[args.command](args)
    except KeyboardInterrupt:
        terminal.interrupted()
        wait_for_actions()
        wait_for_children()
        return 130
    except TlbuildError as error:
        log.error("%s", error)
        return error.exit_code
    except OSError as error:  # e.g. the log of a read-only `out`
        error = storage_error(error)
        log.error("%s", error)
        return error.exit_code
    finally:
        terminal.stop()


