"""Benchmark one simulated UniFi day of 500+ clips; prints figures and ratios.

    python bench/bench_unifi.py [--events 800] [--size 320x180] [--fps 10]

Every ratio compares two runs made in this same process on this machine:
  * no-op rerun wall time / tool start-up time (`tlbuild --help`);
  * tlbuild's render / the plain single-pass ffmpeg command on the same concat.txt;
  * download throughput from the simulator (MB/s) during `tlbuild fetch`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import startup as tool_startup
from common import timed

from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.sim.clips import ClipSpec, make_clip
from tlbuild.sim.unifi import SimulatedNvr

USER, PASSWORD, CAMERA, DATE = "bench", "bench-password", "Demo Driveway", "2024-01-15"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=800, help="motion events in the day")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))

    work = Path(tempfile.mkdtemp(prefix="tlbuild-bench-"))
    env = {**os.environ, "UPVS_PASSWORD": PASSWORD, "TLBUILD_SIM_CACHE": str(work / "cache")}
    # export_speed=None: the simulated console answers at once, so the figure is
    # tlbuild's own throughput, not the 77x real time of a real console
    clip = ClipSpec(width, height, args.fps, pattern="camera")  # one cached clip per length
    nvr = SimulatedNvr({USER: PASSWORD}, clip=clip,
                       events_per_day=args.events, clip_cache=work / "cache",
                       export_speed=None).start()
    out = work / "out"
    cli = [sys.executable, "-m", "tlbuild.cli", "--host", nvr.url, "--username", USER,
           "--camera", CAMERA, "--out", str(out), "--quiet"]
    render_flags = ["--fps", "30", "--crf", "23", "--preset", "medium", "--target", "600"]

    startup = tool_startup(env)
    timed(cli + ["scan", "--date", DATE], env)
    clips = len(json.loads((out / "manifests/clip_index.json").read_text()))
    # warm the simulator's clip cache, so the fetch measures transfer, not generation
    for entry in json.loads((out / "manifests/clip_index.json").read_text()):
        make_clip(nvr.state.clip, max(1, -(-entry["duration_ms"] // 1000)), work / "cache")

    fetch = timed(cli + ["fetch", "--date", DATE, "--workers", "4"], env)
    clip_bytes = sum(p.stat().st_size for p in (out / "clips").rglob("*.mp4"))
    render = timed(cli + ["render", "--date", DATE, *render_flags], env)
    checking = timed(cli + ["verify", "--date", DATE], env) - startup  # verify alone
    noop = statistics.median(timed(cli + ["run", "--date", DATE, *render_flags], env)
                             for _ in range(3))

    day = json.loads((out / "metadata/day.json").read_text())
    plain_cmd = [ffmpeg_exe(), "-hide_banner", "-v", "error", "-f", "concat", "-safe", "0",
                "-i", str(out / "manifests/concat.txt"), "-vf",
                f"setpts=PTS/{day['speed_factor']}", "-r", "30", "-c:v", "libx264",
                "-crf", "23", "-preset", "medium", "-pix_fmt", "yuv420p", "-an", "-y",
                str(work / "plain.mp4")]
    plain = timed(plain_cmd, env)
    nvr.stop()

    print(f"clips: {clips} ({day['total_duration_secs']:.0f} s of {width}x{height} "
          f"@{args.fps} fps footage, speed {day['speed_factor']}x)")
    print(f"start-up (tlbuild --help):  {startup:.3f} s")
    print(f"no-op rerun of {clips} clips:   {noop:.3f} s  = {noop / startup:.1f}x start-up")
    print(f"fetch: {clip_bytes / 1e6:.1f} MB in {fetch:.2f} s = "
          f"{clip_bytes / 1e6 / fetch:.1f} MB/s (4 workers, loopback)")
    print(f"render: tlbuild {render:.2f} s vs the plain command {plain:.2f} s = "
          f"{render / plain:.2f}x; without its verify (a full decode, {checking:.2f} s): "
          f"{(render - checking) / plain:.2f}x")


if __name__ == "__main__":
    main()
