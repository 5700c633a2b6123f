"""Benchmark a continuous day of 1440 recorded stills (one a minute) from the
simulated console; prints figures and ratios.

    python bench/bench_snapshots.py [--size 320x180] [--latency 0.05]

Every ratio compares runs made in this same process on this machine:
  * first build (scan, 1440 fetches, render, verify) in seconds;
  * no-op rerun wall time / tool start-up time (`tlbuild --help`);
  * one new hour of today (60 stills) against the first build;
  * stills per second fetched with 2 in flight against 1, with the console taking
    `--latency` seconds to find each still (0: the loopback's own speed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from common import startup as tool_startup
from common import timed

from tlbuild.sim.unifi import SimulatedNvr

USER, PASSWORD, CAMERA, DATE = "bench", "bench-password", "Demo Driveway", "2024-01-15"
ZONE = ZoneInfo("America/New_York")  # the simulated console's


def local_ms(hour: int) -> int:
    return int(dt.datetime(2024, 1, 15, hour, tzinfo=ZONE).timestamp() * 1000)


def config(work: Path, name: str, url: str, size: str, workers: int) -> Path:
    width, height = size.split("x")
    path = work / f"{name}.toml"
    path.write_text(f'out = "{work / name}"\n[cameras.yard]\nsource = "unifi-snapshots"\n'
                    f'host = "{url}"\nusername = "{USER}"\npassword_env = "UPVS_PASSWORD"\n'
                    f'camera = "{CAMERA}"\ninterval = 60\nwidth = {width}\n'
                    f'height = {height}\nfps = 30\npreset = "veryfast"\n'
                    f"workers = {workers}\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds the console takes per still")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tlbuild-bench-"))
    env = {**os.environ, "UPVS_PASSWORD": PASSWORD, "TLBUILD_SIM_CACHE": str(work / "cache")}
    nvr = SimulatedNvr({USER: PASSWORD}, events_per_day=0, clip_cache=work / "cache",
                       now_ms=local_ms(23)).start()

    def tlbuild(cfg: Path, *command: str) -> float:
        return timed([sys.executable, "-m", "tlbuild.cli", "--config", str(cfg),
                      "--camera", "yard", "--quiet", *command, "--date", DATE], env)

    startup = tool_startup(env)
    warm = config(work, "warm", nvr.url, args.size, 2)
    tlbuild(warm, "fetch")  # makes the simulator's stills once: later runs measure tlbuild
    day = config(work, "day", nvr.url, args.size, 2)
    first = tlbuild(day, "run")  # 00:00 to 22:59
    noop = statistics.median(tlbuild(day, "run") for _ in range(3))
    nvr.state.now_ms = local_ms(23) + 3_600_000
    hour = tlbuild(day, "run")  # 23:00 to 23:59: 60 new stills
    nvr.state.still_latency = args.latency
    nvr.state.now_ms = local_ms(6)  # 360 stills each, to keep the slow runs short
    rates = {}
    for workers in (1, 2):
        cfg = config(work, f"w{workers}", nvr.url, args.size, workers)
        rates[workers] = 360 / tlbuild(cfg, "fetch")
    nvr.stop()

    print(f"stills: 1440 of {args.size} (one a minute)")
    print(f"start-up (tlbuild --help):  {startup:.3f} s")
    print(f"first build (00:00-22:59, 1380 stills): {first:.2f} s")
    print(f"no-op rerun:                   {noop:.3f} s = {noop / startup:.1f}x start-up")
    print(f"one new hour (60 stills):      {hour:.2f} s = {hour / first:.2f}x the first build")
    print(f"fetch with the console taking {args.latency * 1000:.0f} ms a still: "
          f"1 in flight {rates[1]:.1f} stills/s, 2 in flight {rates[2]:.1f} stills/s "
          f"= {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
