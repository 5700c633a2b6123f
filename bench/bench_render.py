"""Benchmark rendering: intermediates and the keyframe path against the plain command.

    python bench/bench_render.py [--clips 12] [--clip-secs 30] [--size 1280x720]
                                 [--speeds 12,150] [--rounds 3] [--skip-new-clip]

Scenario 1 (as measured in the issue): 12 clips, 6 min of 720p30 H.264 with a 2 s GOP
and camera-like content (a still scene, sensor noise, one moving object; encoded with
CABAC like a camera's stream), rendered at 12x and 150x (30 fps, crf 23, preset medium):
  * the plain single-pass ffmpeg command on concat.txt;
  * tlbuild's first render (intermediates + final render) and a re-render after a CRF
    change; quality of tlbuild's output against the plain command's (SSIM, PSNR).
Scenario 2: a 100-clip day built in full, then one new clip a round: the rebuild
(fetch + render) against the encode limit and the full first build.
All figures are ratios of runs made in this process on this machine; tlbuild's
renders are timed in-process (doit included, interpreter start-up not), the plain
command as a bare ffmpeg. The limit: x264 encoding, at the same settings, the frames
the day's output is made of (the clips decoded through the day's chain, read raw from
disk), the part of any render that cannot be avoided. This machine's speed drifts by
10-30 % within minutes, so each measurement is made in rounds, every ratio against
baselines of its own round, and the median is printed with its range.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import timed

from tlbuild.days import day_window
from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.probe import probe
from tlbuild.sim.clips import ClipSpec, make_clip
from tlbuild.sim.events import event, event_id
from tlbuild.sim.unifi import SimulatedNvr

USER, PASSWORD, CAMERA, DATE = "bench", "bench-password", "Demo Driveway", "2024-01-15"


def add_clips(nvr: SimulatedNvr, count: int, seconds: int, first: int = 0) -> None:
    camera = nvr.state.cameras[0].id
    start, _ = day_window(dt.date.fromisoformat(DATE), nvr.state.timezone)
    for n in range(first, first + count):
        begin = start + 3_600_000 + n * (seconds + 60) * 1000
        nvr.state.add_events([event(event_id("bench", n), "motion", camera, begin,
                                    begin + seconds * 1000)])


def timed_in_process(args: list[str], env: dict[str, str]) -> float:
    """tlbuild's own work for a render, without the interpreter's start-up: the
    plain command it is compared with is a bare ffmpeg."""
    from tlbuild.cli import main
    os.environ.update(env)
    start = time.perf_counter()
    code = main(args)
    if code != 0:
        sys.exit(f"tlbuild failed ({code}): {' '.join(args)}")
    return time.perf_counter() - start


def plain_frames(work: Path, concat: Path, speed: float, frames: int, fps: int) -> Path:
    """The frames any render of this output encodes: the day's clips decoded and put
    through the day's chain (speed-up, one frame per tick, the exact count), written
    as raw yuv420p, so that an encode of them reads them from disk."""
    raw = work / "frames.yuv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i",
                    str(concat), "-vf", f"setpts=PTS/{speed:g},fps={fps},"
                    "tpad=stop_mode=clone:stop_duration=60", "-fps_mode", "passthrough",
                    "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "yuv420p",
                    "-y", str(raw)], check=True)
    return raw


def encode_limit(work: Path, raw: Path, size: tuple[int, int], fps: int, crf: str,
                 preset: str) -> float:
    """Seconds for x264 to encode `raw`'s frames at these settings: what no render of
    the same output can go below (the frames are the day's own, not a render's
    decoded output, which x264 re-encodes much faster: its detail is gone)."""
    return timed([ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
                  "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", str(raw), "-c:v",
                  "libx264", "-crf", crf, "-preset", preset, "-pix_fmt", "yuv420p", "-an",
                  "-f", "mp4", "-y", str(work / "limit.mp4")], dict(os.environ))


def plain_command(concat: Path, speed: float, output: Path, env: dict[str, str]) -> float:
    """The plain single-pass command a script without tlbuild would run."""
    return timed([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i",
                  str(concat), "-vf", f"setpts=PTS/{speed}", "-r", "30", "-c:v", "libx264",
                  "-crf", "23", "-preset", "medium", "-pix_fmt", "yuv420p", "-an", "-y",
                  str(output)], env)


def quality(ours: Path, theirs: Path) -> tuple[float, float]:
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(ours), "-i",
                             str(theirs), "-lavfi", "[0:v][1:v]ssim;[0:v][1:v]psnr",
                             "-f", "null", "-"], capture_output=True, text=True)
    ssim = float(re.findall(r"All:([\d.]+)", result.stderr)[-1])
    psnr = re.findall(r"average:([\d.]+|inf)", result.stderr)[-1]
    return ssim, float(psnr)


def median_of(rounds: list[dict[str, float]], key: str) -> str:
    """The median of one ratio over the rounds, with its range."""
    values = sorted(row[key] for row in rounds)
    return (f"{statistics.median(values):.2f}x" if len(values) < 2 else
            f"{statistics.median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})")


def scenario_speeds(work: Path, env: dict[str, str], clips: int, clip_secs: int,
                    spec: ClipSpec, rounds: int, speeds: list[int]) -> None:
    nvr = SimulatedNvr({USER: PASSWORD}, clip=spec, events_per_day=0, export_speed=None,
                       clip_cache=work / "cache").start()
    add_clips(nvr, clips, clip_secs)
    make_clip(spec, clip_secs, work / "cache")
    out = work / "speeds"
    cli = [sys.executable, "-m", "tlbuild.cli", "--host", nvr.url, "--username", USER,
           "--camera", CAMERA, "--out", str(out), "--quiet"]
    timed(cli + ["fetch", "--date", DATE], env)
    total = clips * clip_secs
    print(f"scenario 1: {clips} clips, {total} s of {spec.width}x{spec.height}@{spec.fps} "
          f"H.264, GOP {spec.keyframe_secs} s, camera-like content; {rounds} rounds, "
          "each ratio against baselines run in the same round, then the median (range)")
    concat = out / "manifests/concat.txt"
    for speed in speeds:
        flags = ["--target", f"{total / speed:g}", "--fps", "30", "--preset", "medium"]
        raw = None
        results = []
        for _ in range(rounds):
            shutil.rmtree(out / "intermediates", ignore_errors=True)
            shutil.rmtree(out / "timelapse", ignore_errors=True)
            first = timed_in_process(cli[3:] + ["render", "--date", DATE, *flags,
                                                "--crf", "23"], env)
            day = json.loads((out / "metadata/day.json").read_text())
            plan, frames = day["render_plan"], day["output_frames"]
            rerender = timed_in_process(cli[3:] + ["render", "--date", DATE, *flags,
                                                   "--crf", "30"], env)
            # the render command also verifies (a full decode of the output): that
            # alone, so the render itself can be set against the encode limit
            checking = timed_in_process(cli[3:] + ["verify", "--date", DATE], env)
            info = probe(next((out / "timelapse").glob("*.mp4")))
            raw = raw or plain_frames(work, concat, day["speed_factor"], frames, 30)
            size = (info.width, info.height)
            plain = plain_command(concat, day["speed_factor"], work / f"plain_{speed}.mp4",
                                  env)
            limit23 = encode_limit(work, raw, size, 30, "23", "medium")
            limit30 = encode_limit(work, raw, size, 30, "30", "medium")
            results.append({"first": first / plain, "first_limit": first / limit23,
                            "rerender": rerender / limit30,
                            "rendering": (rerender - checking) / limit30,
                            "over": rerender - limit30})
            print(f"  {speed}x round {len(results)}: plain {plain:.1f} s, first render "
                  f"{first:.1f} s, limit {limit23:.1f} s | CRF re-render {rerender:.1f} s "
                  f"(its verify {checking:.1f} s), limit {limit30:.1f} s")
        raw.unlink()
        print(f"  {speed}x ({plan['mode']}, step {plan['step']}, {frames} frames): first "
              f"render {median_of(results, 'first')} the plain command, "
              f"{median_of(results, 'first_limit')} the limit")
        print(f"      CRF re-render {median_of(results, 'rerender')} the limit; without "
              f"its verify {median_of(results, 'rendering')}; beyond the limit "
              f"{statistics.median(row['over'] for row in results):.2f} s")
        # quality of a render from the intermediates, at the plain command's settings
        timed_in_process(cli[3:] + ["render", "--date", DATE, *flags, "--crf", "23"], env)
        ours = next((out / "timelapse").glob("*.mp4"))
        theirs = work / f"plain_{speed}.mp4"
        a, b = probe(ours), probe(theirs)
        ssim, psnr = quality(ours, theirs)
        print(f"      rendered from the intermediates at crf 23 vs the plain command's output: "
              f"frames {a.frames} vs {b.frames}, duration {a.duration:.2f} vs "
              f"{b.duration:.2f} s, SSIM {ssim:.4f}, PSNR {psnr:.1f} dB")
    nvr.stop()


def scenario_new_clip(work: Path, env: dict[str, str], spec: ClipSpec, rounds: int) -> None:
    nvr = SimulatedNvr({USER: PASSWORD}, clip=spec, events_per_day=0, export_speed=None,
                       clip_cache=work / "cache").start()
    add_clips(nvr, 100, 8)
    make_clip(spec, 8, work / "cache")
    out = work / "hundred"
    cli = [sys.executable, "-m", "tlbuild.cli", "--host", nvr.url, "--username", USER,
           "--camera", CAMERA, "--out", str(out), "--quiet", "run", "--date", DATE,
           "--target", "60", "--fps", "30", "--preset", "medium"]
    full = timed(cli, env)
    results = []
    for n in range(rounds):
        add_clips(nvr, 1, 8, first=100 + n)
        rebuild = timed(cli, env)
        day = json.loads((out / "metadata/day.json").read_text())
        plan = day["render_plan"]
        concat = out / "manifests/concat.txt"
        raw = plain_frames(work, concat, day["speed_factor"], day["output_frames"], 30)
        limit = encode_limit(work, raw, (spec.width, spec.height), 30, "23", "medium")
        raw.unlink()
        plain = plain_command(concat, day["speed_factor"], work / "plain_hundred.mp4", env)
        results.append({"limit": rebuild / limit, "plain": rebuild / plain,
                        "full": rebuild / full})
        print(f"  round {n + 1}: one new clip ({100 + n + 1} clips), rebuild {rebuild:.1f} s, "
              f"limit {limit:.1f} s, plain command {plain:.1f} s")
    print(f"scenario 2: 100 clips of 8 s {spec.width}x{spec.height}@{spec.fps} "
          f"({plan['mode']}, step {plan['step']}): full first build {full:.1f} s | one "
          f"new clip: rebuild {median_of(results, 'limit')} the limit, "
          f"{median_of(results, 'plain')} the plain command's render, "
          f"{median_of(results, 'full')} the first build")
    nvr.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--clip-secs", type=int, default=30)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--skip-new-clip", action="store_true")
    parser.add_argument("--speeds", default="12,150",
                        help="speed factors of scenario 1, separated by commas")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of each measurement; the medians are printed")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="tlbuild-bench-render-"))
    env = {**os.environ, "UPVS_PASSWORD": PASSWORD, "TLBUILD_SIM_CACHE": str(work / "cache")}
    scenario_speeds(work, env, args.clips, args.clip_secs,
                    ClipSpec(width, height, 30, 2, "camera", "veryfast"), args.rounds,
                    [int(speed) for speed in args.speeds.split(",")])
    if not args.skip_new_clip:
        scenario_new_clip(work, env, ClipSpec(640, 360, 30, 2, "camera", "veryfast"),
                          args.rounds)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
