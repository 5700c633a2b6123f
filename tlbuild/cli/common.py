"""What every command of the `tlbuild` command line shares: the global options, the
exit codes, and the camera-days a range of options names."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..batch import Shard, all_shards, known_dates, parse_cameras, parse_dates, shard_root
from ..config import Config
from ..errors import UsageError

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


def global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
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



def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value



def range_options(sub: argparse.ArgumentParser, quiet_help: str) -> None:
    """--camera, --from, --to, --config, --out, --verbose, --quiet."""
    sub.add_argument("--camera", action="append", dest="cameras",
                     help="config camera(s): repeat, separate with commas, or 'all' "
                          "(default: all)")
    sub.add_argument("--from", dest="first", help="first date, YYYY-MM-DD")
    sub.add_argument("--to", dest="last", help="last date (default: --from)")
    for flag in ("--config", "--out"):
        sub.add_argument(flag, type=Path, default=argparse.SUPPRESS)
    sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)
    sub.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                     help=quiet_help)


def wanted_cameras(args: argparse.Namespace, config: Config) -> list[str]:
    return parse_cameras(args.cameras or ([args.camera] if args.camera else ["all"]),
                         config)


def range_shards(args: argparse.Namespace, config: Any) -> list[Any]:
    cameras = wanted_cameras(args, config)
    if not args.first:
        raise UsageError("--from YYYY-MM-DD is required")
    return all_shards(cameras, parse_dates(f"{args.first}..{args.last or args.first}"))



def camera_days(args: argparse.Namespace, config: Config) -> list[tuple[Path, str, Any]]:
    """(folder, camera, date) of each camera-day the options name: the --from/--to
    range, else every day found on disk."""
    days = []
    for camera in wanted_cameras(args, config):
        if getattr(args, "first", None):
            dates = [s.date for s in range_shards(args, config) if s.camera == camera]
        else:
            dates = known_dates(config, args.out, camera)
        days += [(shard_root(config, args.out, Shard(camera, date)), camera, date)
                 for date in dates]
    return days
