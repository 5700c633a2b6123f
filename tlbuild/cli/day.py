"""The commands of one camera-day: scan, fetch, render, run, verify and publish.

Two ways to name a camera:
  * direct: --host (or UPVS_HOST) with --camera as the device's camera id or name
    (--source picks the camera system, default unifi) and --out as the folder of
    that camera-day;
  * config: without --host, --camera names a camera of the config file
    (--config, TLBUILD_CONFIG or config/tlbuild.toml), built under <out>/<camera>/<date>.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from .. import demo, terminal
from ..build import DayBuild
from ..config import X264_PRESETS, Secret, SecretSource, validate_host, with_overrides
from ..days import parse_date
from ..errors import UsageError
from ..files import safe_name
from ..runner import run_day, verify_only
from ..source import DirectArgs
from ..sources import SOURCES, read_config
from .common import EXIT_CODES, global_options, positive_int

COMMANDS = ("scan", "fetch", "render", "run", "verify", "publish")


def add(commands: Any) -> None:
    helps = {"scan": "list the day's footage (events, archives or frames) into "
                     "manifests/",
             "fetch": "download what the scan listed and is missing (scans first)",
             "render": "render the timelapse from what is already downloaded "
                       "(no network)",
             "run": "the full pipeline: scan, fetch, render, verify (and publish, for "
                    "config cameras with sinks)",
             "verify": "check the finished timelapse as it is, without rebuilding "
                       "anything: every frame decodes, the frame count and length are "
                       "the render plan's (exit 5 if not)"}
    for name, text in helps.items():
        sub = commands.add_parser(name, help=text, description=text,
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog=EXIT_CODES)
        sub.add_argument("--date", required=True, help="the day, YYYY-MM-DD (local time "
                         "of the NVR unless the config sets `timezone`)")
        if name in ("scan", "fetch", "run"):
            sub.add_argument("--no-merge", action="store_true", default=None,
                             help="one clip per event instead of merging overlaps")
            sub.add_argument("--smart-types", metavar="TYPES",
                             help="only events with one of these smart detections, "
                                  "e.g. person,vehicle (motion-only events are left "
                                  "out; default: every event)")
            sub.add_argument("--min-score", type=int, metavar="N",
                             help="leave out detections scoring below N (0-100); "
                                  "audio detections always score 0 and are kept")
        if name in ("fetch", "run"):
            sub.add_argument("--workers", type=positive_int,
                             help="exports in flight per console (default 2: parallel "
                                  "export campaigns have rebooted consoles)")
            sub.add_argument("--retries", type=positive_int,
                             help="attempts per request (default 3)")
            sub.add_argument("--channel", type=int, choices=(0, 1, 2),
                             help="UniFi export stream: 0 high (default), 1 medium, "
                                  "2 low: a phone-sized timelapse needs no 4K export")
        if name == "run":
            sub.add_argument("--rebuild", action="store_true",
                             help="build a pruned day again from the device (its "
                                  "inputs were deleted by `tlbuild prune`)")
        if name in ("render", "run"):
            sub.add_argument("--force", action="store_true",
                             help="render the timelapse again even if it is up to date")
            sub.add_argument("--target", type=float, help="output seconds (default 600)")
            sub.add_argument("--fps", type=int, help="output frame rate (default 30)")
            sub.add_argument("--crf", type=int, help="x264 quality 0-51 (default 23)")
            sub.add_argument("--preset", choices=X264_PRESETS,
                             help="x264 preset (default medium)")
            sub.add_argument("--scale", help="output size as ffmpeg's scale, written "
                                             "--scale=-2:1080 (-2 keeps the aspect "
                                             "ratio; default: the source's size)")
            sub.add_argument("--overlay-time", action="store_true", default=None,
                             help="burn each frame's local date and time into the "
                                  "video (config: overlay_time = true)")
        global_options(sub, suppress=True)
    publish = commands.add_parser(
        "publish", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="send a config camera's finished timelapse to its sinks (no camera traffic)",
        description="Send the finished timelapse of a config camera to the sinks it "
                    "lists under `publish` (or only --sink). Each sink gets a receipt, "
                    "publish/<sink>.json; an unchanged video is not sent again.",
        epilog=EXIT_CODES)
    publish.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
    publish.add_argument("--sink", help="only this sink")
    global_options(publish, suppress=True)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    values = {key: getattr(args, key, None) for key in
              ("workers", "retries", "target", "fps", "crf", "preset", "scale",
               "channel", "smart_types", "min_score")}
    if getattr(args, "no_merge", None):
        values["merge"] = False
    if getattr(args, "overlay_time", None):
        values["overlay_time"] = True
    if args.tls_insecure:
        values["tls_insecure"] = True
    if args.direct_api:
        values["direct_api"] = True
    return values



def direct_camera(args: argparse.Namespace, host: str, camera_needed: bool = True) -> Any:
    """The settings of a device named on the command line, made by its system's
    `direct` hook (`--source`, default unifi)."""
    name = args.source or "unifi"
    source = SOURCES.get(name)
    if source is None or source.direct is None:
        direct = ", ".join(sorted(n for n, s in SOURCES.items() if s.direct)) or "none"
        raise UsageError(f"--source {name!r}: --host works with {direct}; other "
                         "cameras are named in the config file")
    if not args.camera and camera_needed:
        raise UsageError("--camera is required (the device's camera id or name)")
    if args.password:
        password = SecretSource(value=Secret(args.password))
    elif args.password_file:
        password = SecretSource(file=args.password_file)
    elif os.environ.get("UPVS_PASSWORD"):
        password = SecretSource(env="UPVS_PASSWORD")
    else:
        password = None
    camera = source.direct(DirectArgs(
        host=validate_host(host, "--host"), password=password, camera=args.camera or "",
        username=args.username or os.environ.get("UPVS_USERNAME")))
    return with_overrides(camera, **overrides(args))



def prepare(args: argparse.Namespace) -> DayBuild:
    """Everything checked before any request: date, camera, secret, settings."""
    date = parse_date(args.date)
    if args.host and args.config:
        raise UsageError("--host names a console directly, --config a camera of a "
                         "config file: give one of them")
    # an explicit --config wins over UPVS_HOST in the environment
    host = args.host or (None if args.config else os.environ.get("UPVS_HOST"))
    if host:
        if args.command == "publish":
            raise UsageError("publish works on config cameras: drop --host (and "
                             "UPVS_HOST) and name a camera of the config file")
        camera = direct_camera(args, host)
        # one folder per camera-day unless --out names one
        root = args.out or Path("out") / safe_name(camera.name, "camera") / \
            date.isoformat()
        return DayBuild(camera, date, root.absolute(),
                        offline=args.command in ("render", "verify"))
    if not args.camera:
        raise UsageError("--camera is required: a camera of the config file, or use "
                         "--host for a direct connection")
    config = read_config(args.config)
    camera = with_overrides(config.camera(args.camera), **overrides(args))
    root = (args.out or config.out) / camera.name / date.isoformat()
    if args.command == "publish" and not camera.publish:
        raise UsageError(f"camera {camera.name!r} publishes nowhere: list sinks in its "
                         "config table (publish = [\"name\"]) and define them under "
                         "[publish.<name>]")
    if getattr(args, "sink", None) and args.sink not in camera.publish:
        raise UsageError(f"camera {camera.name!r} does not publish to "
                         f"{args.sink!r}; its sinks: "
                         f"{', '.join(camera.publish) or 'none'}")
    return DayBuild(camera, date, root.absolute(),
                    offline=args.command in ("render", "publish", "verify"),
                    sinks=config.sinks)



def run(args: argparse.Namespace) -> int:
    """A camera-day's run of the steps `args.command` names."""
    build = prepare(args)
    terminal.set_day(build.label)
    if args.command == "verify":
        return verify_only(build)
    if args.command != "render":
        demo.start(build)  # a "simulator" camera: its device, in this process
    build.force = bool(getattr(args, "force", False))
    build.rebuild = bool(getattr(args, "rebuild", False))  # the full graph of a pruned day
    return run_day(build, args.command, getattr(args, "sink", None))
