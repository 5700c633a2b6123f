"""`tlbuild rollup`: a week or a month of one camera in one video."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from .. import terminal
from ..doitrun import run_doit
from ..errors import UsageError
from ..rollup import Rollup, parse_at, parse_period
from ..sources import read_config


def add(commands: Any) -> None:
    rollup = commands.add_parser(
        "rollup", help="one video of a week or a month from the daily timelapses",
        description="Join a camera's verified daily timelapses of an ISO week or a month "
                    "into one video under <out>/<camera>/rollups/ (stream copy when the "
                    "days share one encoding, else re-encoded). With --at, one frame per "
                    "day instead, each day's nearest that local time (frame sources). "
                    "A rerun re-makes it only when a day was added or rebuilt.")
    period = rollup.add_mutually_exclusive_group(required=True)
    period.add_argument("--week", help="ISO week, e.g. 2026-W10")
    period.add_argument("--month", help="month, e.g. 2026-03")
    rollup.add_argument("--camera", default=argparse.SUPPRESS, help="config camera name")
    rollup.add_argument("--at", help="HH:MM: one frame per day, nearest this local time")
    rollup.add_argument("--fps", type=float, help="with --at: frames per second (10)")
    for flag in ("--config", "--out"):
        rollup.add_argument(flag, type=Path, default=argparse.SUPPRESS)
    rollup.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS)



def run(args: argparse.Namespace) -> int:
    if not args.camera:
        raise UsageError("rollup needs --camera NAME (a config camera)")
    config = read_config(args.config)
    if args.out:
        config = dataclasses.replace(config, out=Path(args.out))
    label, dates = parse_period(args.week, args.month)
    if args.fps is not None and not 0 < args.fps <= 240:
        raise UsageError("--fps must be above 0 and at most 240")
    rollup = Rollup(config, args.camera, label, dates, parse_at(args.at), args.fps)
    terminal.set_day(f"{rollup.name} {label}")
    result = run_doit(rollup.namespace(), ["run"])
    if result == 0:
        terminal.echo(str(rollup.video))
    return 0 if result == 0 else 5


