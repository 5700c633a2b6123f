"""`tlbuild`: the spec's command line, driving the same doit task graph as dodo.py.

Two ways to name a camera:
  * direct: --host (or UPVS_HOST) with --camera as the Protect camera id or name and
    --out as the root of the output tree for that camera-day;
  * config: without --host, --camera names a camera of the config file
    (--config, TLBUILD_CONFIG or config/tlbuild.toml), built under <out>/<camera>/<date>.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__, demo, terminal
from .build import DayBuild
from .config import (
    X264_PRESETS,
    Secret,
    SecretSource,
    validate_host,
    with_overrides,
)
from .days import parse_date
from .doitrun import run_doit
from .errors import TlbuildError, UsageError, storage_error
from .files import safe_name
from .handover import receive_handover
from .runner import run_day, verify_only
from .runtime import (
    install_signal_handlers,
    setup_console_logging,
    wait_for_actions,
    wait_for_children,
)
from .source import DirectArgs
from .sources import SOURCES, read_config

log = logging.getLogger("tlbuild")

EXIT_CODES = """exit codes:
  0    done
  1    timelapse built, but some clips failed (a rerun retries them)
  2    usage or configuration error (found before any request)
  3    authentication failed
  4    camera not found or ambiguous
  5    any other failure (NVR unreachable, TLS rejected, ffmpeg failed, disk full)
  6    every clip of the day failed: no timelapse (a rerun retries them)
  7    another run is building this camera-day (nothing was changed)
  130  interrupted (Ctrl-C or SIGTERM); finished work is kept, rerun to continue
"""

MAX_JOBS = 64  # shards built at once by `batch -j`



def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Global flags, accepted before or after the command."""
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("connection and output")
    group.add_argument("--host", default=default,
                       help="UniFi Protect URL, e.g. https://192.168.1.1 (env UPVS_HOST); "
                            "without it, --camera names a camera of the config file")
    group.add_argument("--source", default=default, metavar="SYSTEM",
                       help="with --host: the camera system (default unifi)")
    group.add_argument("--username", default=default, help="local UniFi OS account "
                       "(env UPVS_USERNAME)")
    group.add_argument("--password", default=default,
                       help="password (env UPVS_PASSWORD; prefer it or --password-file: "
                            "command lines are visible to other users)")
    group.add_argument("--password-file", default=default, type=Path,
                       help="file holding the password")
    group.add_argument("--camera", default=default,
                       help="Protect camera id or name (direct), or config camera name")
    group.add_argument("--out", default=default, type=Path,
                       help="direct: the folder of this camera-day (default "
                            "out/<camera>/<date>; one folder never holds two "
                            "camera-days); config: replaces the config's `out`")
    group.add_argument("--config", default=default, type=Path,
                       help="config file (default: $TLBUILD_CONFIG or "
                            "config/tlbuild.toml)")
    group.add_argument("--tls-insecure", action="store_true", default=default,
                       help="skip TLS certificate verification (warned on every run)")
    group.add_argument("--direct-api", action="store_true", default=default,
                       help="use /api paths (a bare NVR, not a UniFi OS console)")
    group.add_argument("--verbose", action="store_true", default=default,
                       help="debug logging")
    group.add_argument("--quiet", action="store_true", default=default,
                       help="warnings and errors only")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tlbuild", formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # else `axis-download --pass` would match --password
        description="Build one timelapse video per camera per day: from UniFi Protect "
                    "event clips, Axis timelapse archives or FixedIT frames in S3. Every "
                    "file is a doit target: reruns do only what is missing.",
        epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"tlbuild {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
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
            sub.add_argument("--workers", type=_positive_int,
                             help="exports in flight per console (default 2: parallel "
                                  "export campaigns have rebooted consoles)")
            sub.add_argument("--retries", type=_positive_int,
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
        _global_options(sub, suppress=True)
    publish = commands.add_parser(
        "publish", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="send a config camera's finished timelapse to its sinks (no camera traffic)",
        description="Send the finished timelapse of a config camera to the sinks it "
                    "lists under `publish` (or only --sink). Each sink gets a receipt, "
                    "publish/<sink>.json; an unchanged video is not sent again.",
        epilog=EXIT_CODES)
    publish.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
    publish.add_argument("--sink", help="only this sink")
    _global_options(publish, suppress=True)
    _batch_commands(commands)
    _prune_command(commands)
    _rollup_command(commands)
    _doctor_commands(commands)
    _s3_commands(commands)
    from . import axis_download
    axis_download.add_parser(commands)
    return parser


def _prune_command(commands: Any) -> None:
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


def _rollup_command(commands: Any) -> None:
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


def run_rollup(args: argparse.Namespace) -> int:
    import dataclasses

    from .rollup import Rollup, parse_at, parse_period
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


def _doctor_commands(commands: Any) -> None:
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
        _global_options(sub, suppress=True)


def run_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor
    return doctor(args.config, args.out, bool(args.quiet),
                  [args.camera] if args.camera else None)


def run_cameras(args: argparse.Namespace) -> int:
    from .doctor import cameras
    host = args.host or (None if args.config else os.environ.get("UPVS_HOST"))
    if not host:
        return cameras(args.config, [args.camera] if args.camera else None)
    settings = _direct_camera(args, host, camera_needed=False)
    listing = SOURCES[settings.source].device_cameras
    if listing is None:
        raise UsageError(f"{settings.source}: listing a device's cameras is not "
                         "supported")
    password = settings.password.load("--password") if settings.password else None
    return listing(settings, password)


def run_prune(args: argparse.Namespace) -> int:
    from .batch import Shard, known_dates, parse_cameras, shard_root
    from .prune import prune
    if not 0 <= args.keep_days <= 36500:
        raise UsageError("--keep-days must be a number of days from 0 to 36500")
    config = read_config(args.config)
    wanted = args.cameras or ([args.camera] if args.camera else ["all"])
    cameras = parse_cameras(wanted, config)
    days = [(shard_root(config, args.out, Shard(camera, date)), camera, date)
            for camera in cameras for date in known_dates(config, args.out, camera)]
    done, kept = prune(days, args.keep_days, args.dry_run, choices={
        camera: config.camera(camera).render_choices() for camera in cameras})
    print(f"{'would prune' if args.dry_run else 'pruned'} {len(done)} camera-day(s): "
          f"{sum(p.files for p in done)} files, {sum(p.bytes for p in done) / 1e6:.1f} MB"
          + (f"; kept the inputs of {len(kept)} old day(s) (see above)" if kept else ""))
    return 0


def _s3_commands(commands: Any) -> None:
    s3 = commands.add_parser("s3", help="list what a FixedIT Data Agent bucket holds",
                             description="List devices, or a device's dates, in a bucket "
                                         "of FixedIT Data Agent frames (AWS credentials "
                                         "the boto3 way: environment, profile, role).")
    actions = s3.add_subparsers(dest="s3_command", metavar="WHAT", required=True)
    devices = actions.add_parser("devices", help="device serials in the bucket")
    dates = actions.add_parser("dates", help="dates stored for one device")
    dates.add_argument("--device", required=True, help="the camera's serial number")
    for sub in (devices, dates):
        sub.add_argument("--bucket", required=True)
        sub.add_argument("--region")
        sub.add_argument("--endpoint-url", help="S3-compatible store, e.g. MinIO")
        sub.add_argument("--profile", help="AWS profile")


def _batch_commands(commands: Any) -> None:
    batch = commands.add_parser(
        "batch", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="build every (camera, date) shard of a range, each in its own process",
        description="Build every (camera, date) of a range from the config file. Each "
                    "shard has its own state and log; a failing shard does not stop the "
                    "others. Exit 0 when all shards succeed, 1 when any failed, 130 "
                    "when interrupted.",
        epilog="array jobs: --shard K/N builds part K (0-based) of N of the sorted shard "
               "list; with --shards N, K comes from SLURM_ARRAY_TASK_ID (minus "
               "SLURM_ARRAY_TASK_MIN) or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)")
    status = commands.add_parser(
        "status", help="show per camera-day what is built, failed (and why) or missing",
        description="Per camera-day: built (with the video's path, length and size), "
                    "failed (with the latest run's reason) or missing, read from the "
                    "output tree. Without dates: every day found on disk. Exit 0 when "
                    "every listed day is built, 1 otherwise.")
    status.add_argument("--json", action="store_true",
                        help="one JSON array of the days, for scripts")
    report = commands.add_parser(
        "report", help="write the day pages and the gallery (index.html) of the output",
        description="Write report.html (with keogram.png and poster.jpg) for each built "
                    "camera-day of the range (default: every day on disk), then the "
                    "gallery, <out>/index.html: cameras x days with each day's state and "
                    "page. Static files with relative links: open them from disk or "
                    "serve the folder. Builds do this themselves; this is for days built "
                    "before, or after moving the tree.")
    for sub in (batch, status, report):
        sub.add_argument("--camera", action="append", dest="cameras",
                         help="config camera(s): repeat, separate with commas, or 'all' "
                              "(default: all)")
        sub.add_argument("--from", dest="first", help="first date, YYYY-MM-DD")
        sub.add_argument("--to", dest="last", help="last date (default: --from)")
        for flag in ("--config", "--out"):
            sub.add_argument(flag, type=Path, default=argparse.SUPPRESS)
        sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)
        sub.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                         help="print only what failed (batch: and the summary; "
                              "status: the days not built)")
    batch.add_argument("-j", "--jobs", type=_positive_int, default=1,
                       help="shards built at the same time (default 1)")
    batch.add_argument("--shard", help="build only part K of N, e.g. 0/4")
    batch.add_argument("--shards", type=_positive_int,
                       help="number of parts, with K from the array job's environment")
    batch.add_argument("--dry-run", action="store_true",
                       help="print the shards, one 'camera date' per line; build nothing")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
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


def _direct_camera(args: argparse.Namespace, host: str, camera_needed: bool = True) -> Any:
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
    return with_overrides(camera, **_overrides(args))


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
        camera = _direct_camera(args, host)
        # one folder per camera-day unless --out names one
        root = args.out or Path("out") / safe_name(camera.name, "camera") / \
            date.isoformat()
        return DayBuild(camera, date, root.absolute(),
                        offline=args.command in ("render", "verify"))
    if not args.camera:
        raise UsageError("--camera is required: a camera of the config file, or use "
                         "--host for a direct connection")
    config = read_config(args.config)
    camera = with_overrides(config.camera(args.camera), **_overrides(args))
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


def _batch_shards(args: argparse.Namespace, config: Any) -> list[Any]:
    from .batch import all_shards, parse_cameras, parse_dates
    cameras = parse_cameras(args.cameras or ([args.camera] if args.camera else ["all"]),
                            config)
    if not args.first:
        raise UsageError("--from YYYY-MM-DD is required")
    return all_shards(cameras, parse_dates(f"{args.first}..{args.last or args.first}"))


def run_batch(args: argparse.Namespace) -> int:
    from .batch import Batch, select_shards, shard_position
    config = read_config(args.config)
    shards = _batch_shards(args, config)
    position = shard_position(args.shard, args.shards)
    if position:
        shards = select_shards(shards, *position)
    if args.dry_run:
        for shard in shards:
            print(f"{shard.camera} {shard.date.isoformat()}")
        return 0
    if args.jobs > MAX_JOBS:
        raise UsageError(f"-j {args.jobs}: at most {MAX_JOBS} shards at once (each is a "
                         "process with its own downloads and ffmpeg)")
    batch = Batch(shards, config, args.out, min(args.jobs, max(len(shards), 1)),
                  bool(args.quiet))
    result = run_doit(batch.namespace(), ["run"])
    return 0 if result == 0 else 1


def run_status(args: argparse.Namespace) -> int:
    from .batch import Shard, known_dates, parse_cameras, shard_root
    from .status import day_state, show
    config = read_config(args.config)
    wanted = args.cameras or ([args.camera] if args.camera else ["all"])
    states = []
    for camera in parse_cameras(wanted, config):
        if args.first:
            dates = [s.date for s in _batch_shards(args, config) if s.camera == camera]
        else:
            dates = known_dates(config, args.out, camera)
        states += [day_state(shard_root(config, args.out, Shard(camera, date)), camera,
                             date) for date in dates]
    return show(states, args.json, bool(args.quiet))


def run_report(args: argparse.Namespace) -> int:
    from .batch import Shard, known_dates, parse_cameras, shard_root
    from .report import make_pictures, write_gallery, write_report
    config = read_config(args.config)
    wanted = args.cameras or ([args.camera] if args.camera else ["all"])
    pages = 0
    for camera in parse_cameras(wanted, config):
        if args.first:
            dates = [s.date for s in _batch_shards(args, config) if s.camera == camera]
        else:
            dates = known_dates(config, args.out, camera)
        for date in dates:
            root = shard_root(config, args.out, Shard(camera, date))
            if not (root / "metadata" / "day.json").is_file():
                continue
            build = DayBuild(config.camera(camera), date, root, offline=True,
                             sinks=config.sinks)
            if not build.layout.keogram.is_file():
                make_pictures(build)
            write_report(build)
            pages += 1
    gallery = write_gallery(args.out or config.out, sorted(config.cameras))
    terminal.echo(f"{pages} day page(s); gallery: {gallery}")
    return 0


def run_s3(args: argparse.Namespace) -> int:
    from .s3_client import S3Client
    client = S3Client(args.bucket, region=args.region, endpoint_url=args.endpoint_url,
                      profile=args.profile)
    prefix = f"{args.device}/" if args.s3_command == "dates" else ""
    for name in client.prefixes(prefix):
        print(name)
    return 0


def run_axis_download(args: argparse.Namespace) -> int:
    from . import axis_download
    return axis_download.run(args)


ADMIN = {"axis-download": run_axis_download, "s3": run_s3,
         "batch": run_batch, "status": run_status,
         "report": run_report, "prune": run_prune,
         "rollup": run_rollup, "doctor": run_doctor,
         "cameras": run_cameras}


def run(args: argparse.Namespace) -> int:
    """An admin command's handler, or a camera-day's run (scan ... publish)."""
    if args.command in ADMIN:
        return ADMIN[args.command](args)
    build = prepare(args)
    terminal.set_day(build.label)
    if args.command == "verify":
        return verify_only(build)
    if args.command != "render":
        demo.start(build)  # a "simulator" camera: its device, in this process
    build.force = bool(getattr(args, "force", False))
    build.rebuild = bool(getattr(args, "rebuild", False))  # the full graph of a pruned day
    return run_day(build, args.command, getattr(args, "sink", None))


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
        return run(args)
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


if __name__ == "__main__":
    sys.exit(main())
