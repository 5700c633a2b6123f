"""`tlbuild doctor` and `tlbuild cameras`: what a build needs, checked; the cameras
a device or the config has."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..doctor import cameras, doctor
from ..errors import UsageError
from ..sources import SOURCES
from .common import global_options
from .day import direct_camera


def add(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor", help="check the config, secrets, cameras, ffmpeg and disk",
        description="Check everything a build needs, one line per check: the config, "
                    "ffmpeg (version, libx264), free disk under `out`, every camera "
                    "(reachable, credentials, what it resolves to; one login per "
                    "console) and every sink; with --camera, only those cameras "
                    "(comma-separated, or all) and the sinks they publish to. Exit 1 "
                    "when any check fails; a demo camera whose optional extra is not "
                    "installed is skipped. No secret is printed.")
    cameras = commands.add_parser(
        "cameras", help="the cameras a console has (--host), or the config's cameras",
        description="With --host (or UPVS_HOST): every camera of that UniFi console "
                    "(id, name, state, resolution, footage kept). Otherwise the config's "
                    "cameras, each with what its device says it is.")
    for sub in (doctor, cameras):
        global_options(sub, suppress=True)



def run_doctor(args: argparse.Namespace) -> int:
    return doctor(args.config, args.out, bool(args.quiet),
                  [args.camera] if args.camera else None)



def run_cameras(args: argparse.Namespace) -> int:
    host = args.host or (None if args.config else os.environ.get("UPVS_HOST"))
    if not host:
        return cameras(args.config, [args.camera] if args.camera else None)
    settings = direct_camera(args, host, camera_needed=False)
    listing = SOURCES[settings.source].device_cameras
    if listing is None:
        raise UsageError(f"{settings.source}: listing a device's cameras is not "
                         "supported")
    password = settings.password.load("--password") if settings.password else None
    return listing(settings, password)


