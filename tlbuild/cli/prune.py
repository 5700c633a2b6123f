"""`tlbuild prune`: delete the downloaded inputs of old verified days."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..prune import prune
from ..sources import read_config
from ..terminal import plural
from .common import camera_days, wanted_cameras


def add(commands: Any) -> None:
    prune = commands.add_parser(
        "prune", help="delete the downloaded inputs of verified days older than N days",
        description="For every verified camera-day older than --keep-days days, delete "
                    "the downloaded clips, frames and archives and the intermediates; "
                    "keep the timelapse, manifests, metadata, logs and publish receipts. "
                    "A pruned day stays built: a rerun downloads and renders nothing "
                    "(`run --rebuild` builds it again from the device).")
    prune.add_argument("--keep-days", type=int, required=True, metavar="N",
                       help="keep the inputs of the last N days")
    prune.add_argument("--camera", action="append", dest="cameras",
                       help="config camera(s) (default: all)")
    prune.add_argument("--dry-run", action="store_true",
                       help="say what would be deleted, delete nothing")
    for flag in ("--config", "--out"):
        prune.add_argument(flag, type=Path, default=argparse.SUPPRESS)
    prune.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS)



def run(args: argparse.Namespace) -> int:
    if not 0 <= args.keep_days <= 36500:
        raise UsageError("--keep-days must be a number of days from 0 to 36500")
    config = read_config(args.config)
    cameras = wanted_cameras(args, config)
    days = camera_days(args, config)
    done, kept = prune(days, args.keep_days, args.dry_run, choices={
        camera: config.camera(camera).render_choices() for camera in cameras})
    print(f"{'would prune' if args.dry_run else 'pruned'} {plural(len(done), 'camera-day')}: "
          f"{sum(p.files for p in done)} files, {sum(p.bytes for p in done) / 1e6:.1f} MB"
          + (f"; kept the inputs of {plural(len(kept), 'old day')} (see above)"
             if kept else ""))
    return 0


