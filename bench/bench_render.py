"""Benchmark rendering: intermediates and the keyframe path against the plain command.

    python bench/bench_render.py [--clips 12] [--clip-secs 30] [--size 1280x720]

Scenario 1 (as measured in the issue): 12 clips, 6 min of 720p30 H.264 with a 2 s GOP
and camera-like content (a still scene, sensor noise, one moving object; encoded with
CABAC like a camera's stream), rendered at 12x and 150x (30 fps, crf 23, preset medium):
  * the plain single-pass ffmpeg command on concat.txt;
  * tlbuild's first render (intermediates + final render) and a re-render after a CRF
    change; quality of tlbuild's output against the plain command's (SSIM, PSNR).
Scenario 2: a 100-clip day built in full, then one new clip: the rebuild (fetch +
render) against the full first build.
All figures are ratios of runs made in this process on this machine; tlbuild's
renders are timed in-process (doit included, interpreter start-up not), the plain
command as a bare ffmpeg. The limit line: the x264 encode of the same output frames
at the same settings from frames already decoded (raw frames read by the encoder),
the part of any render that cannot be avoided; every render is also printed as a
ratio to it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
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


def encode_limit(work: Path, video: Path, fps: int, crf: str, preset: str) -> float:
    """Seconds to encode `video`'s frames with x264 at these settings from raw frames
    already decoded: what no render of the same output can go below."""
    info = probe(video)
    raw = work / "limit.yuv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "rawvideo",
                    "-pix_fmt", "yuv420p", "-y", str(raw)], check=True)
    try:
        return timed([ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt",
                      "yuv420p", "-s", f"{info.width}x{info.height}", "-r", str(fps),
                      "-i", str(raw), "-c:v", "libx264", "-crf", crf, "-preset", preset,
                      "-pix_fmt", "yuv420p", "-an", "-f", "mp4", "-y",
                      str(work / "limit.mp4")], dict(os.environ))
    finally:
        raw.unlink(missing_ok=True)


def quality(ours: Path, theirs: Path) -> tuple[float, float]:
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(ours), "-i",
                             str(theirs), "-lavfi", "[0:v][1:v]ssim;[0:v][1:v]psnr",
                             "-f", "null", "-"], capture_output=True, text=True)
    ssim = float(re.findall(r"All:([\d.]+)", result.stderr)[-1])
    psnr = re.findall(r"average:([\d.]+|inf)", result.stderr)[-1]
    return ssim, float(psnr)


def scenario_speeds(work: Path, env: dict[str, str], clips: int, clip_secs: int,
                    spec: ClipSpec) -> None:
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
          f"H.264, GOP {spec.keyframe_secs} s, camera-like content")
    for speed in (12, 150):
        flags = ["--target", f"{total / speed:g}", "--fps", "30", "--crf", "23",
                 "--preset", "medium"]
        shutil.rmtree(out / "intermediates", ignore_errors=True)
        (out / "timelapse").exists() and shutil.rmtree(out / "timelapse")
        first = timed_in_process(cli[3:] + ["render", "--date", DATE, *flags], env)
        day = json.loads((out / "metadata/day.json").read_text())
        plan = day["render_plan"]
        ours = work / f"ours_{speed}.mp4"
        shutil.copy(next((out / "timelapse").glob("*.mp4")), ours)
        rerender = timed_in_process(cli[3:] + ["render", "--date", DATE, *flags[:-4],
                                               "--crf", "30", "--preset", "medium"], env)
        rerendered = work / f"ours_{speed}_crf30.mp4"
        shutil.copy(next((out / "timelapse").glob("*.mp4")), rerendered)
        # the render command also verifies (a full decode of the output): time that
        # alone, so the render itself can be set against the encode limit
        checking = timed_in_process(cli[3:] + ["verify", "--date", DATE], env)
        rendering = rerender - checking
        limit_first = encode_limit(work, ours, 30, "23", "medium")
        limit_rerender = encode_limit(work, rerendered, 30, "30", "medium")
        theirs = work / f"plain_{speed}.mp4"
        plain_time = timed([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0",
                           "-i", str(out / "manifests/concat.txt"), "-vf",
                           f"setpts=PTS/{day['speed_factor']}", "-r", "30", "-c:v",
                           "libx264", "-crf", "23", "-preset", "medium", "-pix_fmt",
                           "yuv420p", "-an", "-y", str(theirs)], env)
        # quality of a render from the intermediates, at the plain command's settings
        timed_in_process(cli[3:] + ["render", "--date", DATE, *flags], env)
        shutil.copy(next((out / "timelapse").glob("*.mp4")), ours)
        a, b = probe(ours), probe(theirs)
        ssim, psnr = quality(ours, theirs)
        print(f"  {speed}x ({plan['mode']}, step {plan['step']}): plain command "
              f"{plain_time:.1f} s | tlbuild first render {first:.1f} s "
              f"= {first / plain_time:.2f}x the plain command, {first / limit_first:.2f}x the "
              f"limit ({limit_first:.1f} s)")
        print(f"      CRF re-render {rerender:.1f} s = {rerender / first:.2f}x the first "
              f"render, {rerender / plain_time:.2f}x the plain command, "
              f"{rerender / limit_rerender:.2f}x "
              f"the limit ({limit_rerender:.1f} s to encode {a.frames} frames at crf 30); "
              f"without its verify ({checking:.1f} s): {rendering / limit_rerender:.2f}x "
              "the limit")
        print(f"      rendered from the intermediates at crf 23 vs the plain command's output: "
              f"frames {a.frames} vs {b.frames}, duration {a.duration:.2f} vs "
              f"{b.duration:.2f} s, SSIM {ssim:.4f}, PSNR {psnr:.1f} dB")
    nvr.stop()


def scenario_new_clip(work: Path, env: dict[str, str], spec: ClipSpec) -> None:
    nvr = SimulatedNvr({USER: PASSWORD}, clip=spec, events_per_day=0, export_speed=None,
                       clip_cache=work / "cache").start()
    add_clips(nvr, 100, 8)
    make_clip(spec, 8, work / "cache")
    out = work / "hundred"
    cli = [sys.executable, "-m", "tlbuild.cli", "--host", nvr.url, "--username", USER,
           "--camera", CAMERA, "--out", str(out), "--quiet", "run", "--date", DATE,
           "--target", "60", "--fps", "30", "--preset", "medium"]
    full = timed(cli, env)
    add_clips(nvr, 1, 8, first=100)
    rebuild = timed(cli, env)
    day = json.loads((out / "metadata/day.json").read_text())
    plan = day["render_plan"]
    video = next((out / "timelapse").glob("*.mp4"))
    limit = encode_limit(work, video, 30, "23", "medium")
    plain_time = timed([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i",
                       str(out / "manifests/concat.txt"), "-vf",
                       f"setpts=PTS/{day['speed_factor']}", "-r", "30", "-c:v",
                       "libx264", "-crf", "23", "-preset", "medium", "-pix_fmt",
                       "yuv420p", "-an", "-y", str(work / "plain_hundred.mp4")], env)
    print(f"scenario 2: 100 clips of 8 s {spec.width}x{spec.height}@{spec.fps} "
          f"({plan['mode']}, step {plan['step']}): full first build {full:.1f} s | one "
          f"new clip, rebuild {rebuild:.1f} s = {rebuild / full:.2f}x the first build, "
          f"{rebuild / plain_time:.2f}x the plain command's render ({plain_time:.1f} s), "
          f"{rebuild / limit:.2f}x the limit ({limit:.1f} s)")
    nvr.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--clip-secs", type=int, default=30)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--skip-new-clip", action="store_true")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="tlbuild-bench-render-"))
    env = {**os.environ, "UPVS_PASSWORD": PASSWORD, "TLBUILD_SIM_CACHE": str(work / "cache")}
    scenario_speeds(work, env, args.clips, args.clip_secs,
                    ClipSpec(width, height, 30, 2, "camera", "veryfast"))
    if not args.skip_new_clip:
        scenario_new_clip(work, env, ClipSpec(640, 360, 30, 2, "camera", "veryfast"))


if __name__ == "__main__":
    main()
