"""`tlbuild report`: the day pages and the gallery of the output tree."""

from __future__ import annotations

import argparse
from typing import Any

from .. import terminal
from ..build import DayBuild
from ..report import make_pictures, write_gallery, write_report
from ..sources import read_config
from .common import camera_days, range_options


def add(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="write the day pages and the gallery (index.html) of the output",
        description="Write report.html (with keogram.png and poster.jpg) for each built "
                    "camera-day of the range (default: every day on disk), then the "
                    "gallery, <out>/index.html: cameras x days with each day's state and "
                    "page. Static files with relative links: open them from disk or "
                    "serve the folder. Builds do this themselves; this is for days built "
                    "before, or after moving the tree.")
    range_options(report, "print only what failed")


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    pages = 0
    for root, camera, date in camera_days(args, config):
        if not (root / "metadata" / "day.json").is_file():
            continue
        build = DayBuild(config.camera(camera), date, root, offline=True,
                         sinks=config.sinks)
        if not build.layout.keogram.is_file():
            make_pictures(build)
        write_report(build)
        pages += 1
    gallery = write_gallery(args.out or config.out, sorted(config.cameras))
    terminal.echo(f"{terminal.plural(pages, 'day page')}; gallery: {gallery}", stamped=True)
    return 0
