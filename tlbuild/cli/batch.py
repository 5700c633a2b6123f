"""`tlbuild batch`: every (camera, date) shard of a range, each in its own process."""

from __future__ import annotations

import argparse
from typing import Any

from ..batch import Batch, select_shards, shard_position
from ..doitrun import run_doit
from ..errors import UsageError
from ..sources import read_config
from .common import positive_int, range_options, range_shards

MAX_JOBS = 64  # shards built at once by `batch -j`


def add(commands: Any) -> None:
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
    range_options(batch, "print only what failed, and the summary")
    batch.add_argument("-j", "--jobs", type=positive_int, default=1,
                       help="shards built at the same time (default 1)")
    batch.add_argument("--shard", help="build only part K of N, e.g. 0/4")
    batch.add_argument("--shards", type=positive_int,
                       help="number of parts, with K from the array job's environment")
    batch.add_argument("--dry-run", action="store_true",
                       help="print the shards, one 'camera date' per line; build nothing")


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    shards = range_shards(args, config)
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


