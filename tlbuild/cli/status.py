"""`tlbuild status`: per camera-day, what is built, failed (and why) or missing."""

from __future__ import annotations

import argparse
from typing import Any

from ..sources import read_config
from ..status import day_state, show
from .common import camera_days, range_options


def add(commands: Any) -> None:
    status = commands.add_parser(
        "status", help="show per camera-day what is built, failed (and why) or missing",
        description="Per camera-day: built (with the video's path, length and size), "
                    "failed (with the latest run's reason) or missing, read from the "
                    "output tree. Without dates: every day found on disk. Exit 0 when "
                    "every listed day is built, 1 otherwise.")
    status.add_argument("--json", action="store_true",
                        help="one JSON array of the days, for scripts")
    range_options(status, "print only the days not built")


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    states = [day_state(root, camera, date)
              for root, camera, date in camera_days(args, config)]
    return show(states, args.json, bool(args.quiet))
