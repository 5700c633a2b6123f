"""Benchmark a batch of 30 shards (3 cameras x 10 days) with 1 job against 4 jobs.

    python bench/bench_batch.py [--days 10] [--events 12]

Both runs build the same shards from scratch against the same simulated NVR, in
this process's timeline; the figure is the ratio of their wall times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tlbuild.sim.clips import ClipSpec
from tlbuild.sim.unifi import SimulatedNvr

USER, PASSWORD = "bench", "bench-password"
CAMERAS = {"drive": "Demo Driveway", "garden": "Demo Garden", "yard": "Back Yard"}


def write_config(path: Path, url: str, out: Path) -> None:
    tables = "".join(f"""
[cameras.{key}]
source = "unifi"
host = "{url}"
username = "{USER}"
password_env = "UPVS_PASSWORD"
camera = "{name}"
target = 10
fps = 10
preset = "veryfast"
""" for key, name in CAMERAS.items())
    path.write_text(f'out = "{out}"\n{tables}')


def run_batch(config: Path, out: Path, days: int, jobs: int, env: dict[str, str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "tlbuild.cli", "batch", "--config", str(config),
               "--from", "2024-01-01", "--to", f"2024-01-{days:02d}", "-j", str(jobs),
               "--quiet"]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"batch failed: {result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--events", type=int, default=12)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tlbuild-bench-batch-"))
    env = {**os.environ, "UPVS_PASSWORD": PASSWORD}
    nvr = SimulatedNvr({USER: PASSWORD}, clip=ClipSpec(320, 180, 10, pattern="camera"),
                       events_per_day=args.events, clip_cache=work / "cache").start()
    config, out = work / "batch.toml", work / "out"
    write_config(config, nvr.url, out)
    run_batch(config, out, 1, 1, env)  # warm the simulator's clip cache
    one = run_batch(config, out, args.days, 1, env)
    four = run_batch(config, out, args.days, 4, env)
    nvr.stop()
    shards = len(CAMERAS) * args.days
    print(f"batch of {shards} shards, 1 job:  {one:.1f} s")
    print(f"batch of {shards} shards, 4 jobs: {four:.1f} s = {one / four:.2f}x faster "
          f"(ratio 4 jobs / 1 job: {four / one:.2f})")


if __name__ == "__main__":
    main()
