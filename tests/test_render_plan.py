"""Fast incremental rendering: per-clip intermediates, the keyframe-only path, and
output that matches the plain single-pass ffmpeg command on the same clips."""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlbuild.clips import first_frame_test
from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.probe import decode, probe
from tlbuild.render_plan import (
    DIRECT,
    INTERMEDIATE,
    KEYFRAME,
    RenderPlan,
    ladder_step,
    plan_render,
)
from tlbuild.sim.events import event, event_id


def clips(n: int = 3, fps: float = 30, gop: float = 2.0) -> list[dict]:
    return [{"fps": fps, "keyframe_secs": gop, "video_secs": 30}] * n


@pytest.mark.parametrize("speed,fps,expected", [
    (600, 30, RenderPlan(KEYFRAME, 8)),      # 10 GOPs per frame: one keyframe in 8
    (150, 30, RenderPlan(KEYFRAME, 2)),      # 5 s of footage per frame: 2.5 GOPs
    (60, 30, RenderPlan(KEYFRAME)),          # exactly one GOP per output frame
    (59, 30, RenderPlan(INTERMEDIATE, 48)),  # just under: decode all, keep every 48th
    (12, 30, RenderPlan(INTERMEDIATE, 12)),  # 12 source frames per output frame
    (11, 30, RenderPlan(INTERMEDIATE, 8)),
    (5, 30, RenderPlan(INTERMEDIATE, 4)),
    (3, 30, RenderPlan(DIRECT)),             # too few frames to drop: the plain pass
    (1, 30, RenderPlan(DIRECT)),
])
def test_plan_choice(speed, fps, expected):
    assert plan_render(speed, fps, clips()) == expected


@given(st.floats(min_value=1, max_value=1e5))
def test_the_ladder_keeps_at_most_half_again_the_frames_used(frames_per_output):
    step = ladder_step(frames_per_output)
    assert step <= frames_per_output < step * 1.5 or step == 1
    assert step in {2 ** k for k in range(18)} | {3 * 2 ** k for k in range(17)}
    # a day that grows by a fifth keeps its step or moves one rung up
    assert step <= ladder_step(frames_per_output * 1.2) <= max(step * 1.5, 2)


def test_the_first_pass_keeps_each_clips_first_frame_among_hundreds(ffmpeg_build):
    """The first pass marks each clip's first frame with a binary search over the
    clips' starts: among 600 clips of 1 to 40 frames (10 fps), exactly the frames at
    the starts, with every ffmpeg build (ffmpeg parses the whole expression)."""
    lengths = [1 + (n * 7919) % 40 for n in range(600)]
    starts = list(itertools.accumulate([0, *lengths[:-1]]))  # in frames
    expression = first_frame_test([start / 10 for start in starts])
    result = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         f"color=s=32x18:r=10:d={sum(lengths) / 10}", "-vf", f"select='{expression}'",
         "-fps_mode", "passthrough", "-f", "framecrc", "-"],
        capture_output=True, text=True, check=True)
    kept = [int(line.split(",")[2]) for line in result.stdout.splitlines()
            if line.startswith("0,")]
    assert kept == starts


def test_keyframe_path_needs_every_clip_within_one_frame():
    mixed = clips(2) + [{"fps": 30, "keyframe_secs": 8.0}]  # one clip with a long GOP
    assert plan_render(150, 30, mixed).mode == INTERMEDIATE
    unknown = clips(2) + [{"fps": 30}]
    assert plan_render(150, 30, unknown).mode == INTERMEDIATE


def spec_render(root: Path, speed: float, fps: int, out: Path) -> None:
    """The plain single-pass command, literally, on the same concat.txt."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i",
                    str(root / "manifests/concat.txt"), "-vf", f"setpts=PTS/{speed}",
                    "-r", str(fps), "-c:v", "libx264", "-crf", "23", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-an", "-y", str(out)], check=True)


def assert_exact(out, fps: int) -> None:
    """The video has the day's frame count, footage / speed in frames, and lasts
    that many frames within one frame; every frame decodes."""
    day = out.day
    frames = round(day["total_duration_secs"] / day["speed_factor"] * fps)
    assert day["output_frames"] == frames
    video = probe(out.timelapse())
    assert video.frames == frames, (video.frames, frames)
    assert abs(video.duration - frames / fps) < 1 / fps
    decoded = decode(out.timelapse())
    assert (decoded.frames, decoded.errors) == (frames, [])
    # the decode's own reading of the container agrees with the probe's
    assert decoded.info == replace(video, frames=frames, keyframes=0)


@pytest.mark.parametrize("fps,target,mode", [(10, 8, INTERMEDIATE), (5, 8, KEYFRAME),
                                             (5, 600, DIRECT)])
def test_every_render_path_gives_the_days_frame_count(make_nvr, tlbuild, out, tmp_path,
                                                      fps, target, mode, ffmpeg_build):
    sim = make_nvr(events_per_day=10)
    # later options win in argparse: these replace the fixture's defaults
    assert tlbuild("--fps", str(fps), "--target", str(target), target_nvr=sim) == 0
    day = out.day
    assert day["render_plan"]["mode"] == mode
    assert_exact(out, fps)
    # The plain command on the same concat.txt with the same ffmpeg lasts as
    # long, but for the end of the stream: builds differ in the frames they add
    # there (5.1 about 2, 9.0 the last frame's unscaled duration).
    single = tmp_path / "single.mp4"
    spec_render(out.root, day["speed_factor"], fps, single)
    assert 0 <= probe(single).frames - day["output_frames"] <= 3
    if mode != DIRECT:
        assert len(list((out.root / "intermediates").glob("*.mkv"))) == day["valid_clips"]


def intermediates(out) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns
            for p in (out.root / "intermediates").glob("*.mkv")}


def test_crf_change_reuses_intermediates(make_nvr, tlbuild, out, ffmpeg_build):
    sim = make_nvr(events_per_day=10)
    assert tlbuild("--fps", "10", "--target", "8", target_nvr=sim) == 0
    made = intermediates(out)
    assert made and out.day["render_plan"]["mode"] == INTERMEDIATE
    before = out.timelapse().read_bytes()
    assert tlbuild("--fps", "10", "--target", "8", "--crf", "35", target_nvr=sim) == 0
    assert intermediates(out) == made  # no clip decoded again
    assert out.timelapse().read_bytes() != before
    assert_exact(out, 10)  # from the intermediates: the same count and length
    assert tlbuild("--fps", "10", "--target", "8", "--crf", "35", target_nvr=sim) == 0
    assert intermediates(out) == made


def test_every_ffmpeg_build_makes_the_same_video(make_nvr, tmp_path, monkeypatch):
    """One day rendered with each ffmpeg found: frame counts and lengths agree, first
    render and re-render alike."""
    from conftest import CAMERA, FFMPEG_BUILDS, USER

    from tlbuild.cli import main
    from tlbuild.ffmpeg import forget_ffmpeg
    if len(FFMPEG_BUILDS) < 2:
        pytest.skip("only one ffmpeg build here: install Debian's ffmpeg to compare")
    sim = make_nvr(events_per_day=10)
    results = {}
    for path, name in FFMPEG_BUILDS:
        monkeypatch.setenv("TLBUILD_FFMPEG", path)
        forget_ffmpeg()
        root = tmp_path / name
        base = ["--host", sim.url, "--username", USER, "--camera", CAMERA, "--out",
                str(root)]
        first = base + ["run", "--date", "2024-01-15", "--fps", "10", "--target", "8",
                        "--preset", "ultrafast"]
        assert main(first) == 0
        video = probe(next((root / "timelapse").glob("*.mp4")))
        assert main(base + ["render", "--date", "2024-01-15", "--fps", "10", "--target",
                            "8", "--preset", "ultrafast", "--crf", "30"]) == 0
        again = probe(next((root / "timelapse").glob("*.mp4")))
        results[name] = (video.frames, video.duration, again.frames, again.duration)
    forget_ffmpeg()
    assert len(set(results.values())) == 1, results


@pytest.mark.parametrize("fps,mode", [(10, INTERMEDIATE), (5, KEYFRAME)])
def test_a_new_clip_builds_exactly_one_new_intermediate(make_nvr, tlbuild, out, fps, mode,
                                                        ffmpeg_build):
    """The first build makes the intermediates inside the render (decoded in its one
    pass, or keyframes copied many clips per run); a later clip gets its own."""
    sim = make_nvr(events_per_day=10)
    assert tlbuild("--fps", str(fps), "--target", "8", target_nvr=sim) == 0
    made, plan = intermediates(out), out.day["render_plan"]
    assert plan["mode"] == mode and len(made) == out.day["valid_clips"]
    camera = sim.state.cameras[0].id
    late = out.json("metadata/camera.json")["day"]["start_ms"] + 23 * 3_600_000
    sim.state.add_events([event(event_id("late"), "motion", camera, late, late + 3000)])
    exports = sim.count("export")
    assert tlbuild("--fps", str(fps), "--target", "8", target_nvr=sim) == 0
    assert sim.count("export") == exports + 1
    assert out.day["render_plan"] == plan  # d is a power of two: it rarely changes
    after = intermediates(out)
    assert len(after) == len(made) + 1
    assert all(after[name] == stamp for name, stamp in made.items())
    assert_exact(out, fps)


def test_the_keyframe_path_decodes_one_keyframe_in_two(make_nvr, tlbuild, out,
                                                       ffmpeg_build):
    """Where an output frame spans 2.5 keyframe intervals, each clip's intermediate
    keeps one keyframe in two; the video still has
    the day's exact frame count and shows the footage in order."""
    from conftest import frame_times
    sim = make_nvr(events_per_day=10)
    assert tlbuild("--fps", "5", "--target", "4", target_nvr=sim) == 0
    assert out.day["render_plan"] == {"mode": KEYFRAME, "step": 2}
    kept_in_all = keyframes_in_all = 0
    for intermediate in (out.root / "intermediates").glob("*.mkv"):
        clip = probe(next(out.root.rglob(f"{intermediate.stem}.mp4")))
        kept = probe(intermediate)
        assert kept.keyframes == kept.frames  # keyframes only
        assert clip.keyframes // 2 <= kept.frames <= (clip.keyframes + 1) // 2 + 1
        kept_in_all, keyframes_in_all = kept_in_all + kept.frames, \
            keyframes_in_all + clip.keyframes
    assert kept_in_all < keyframes_in_all * 0.7
    assert_exact(out, 5)
    shown = frame_times(out.timelapse())
    assert shown == sorted(shown)


def test_low_speed_renders_directly(tlbuild, out):
    assert tlbuild("--fps", "5", "--target", "600") == 0
    assert out.day["render_plan"] == {"mode": DIRECT, "step": 1}
    assert not (out.root / "intermediates").exists()
    assert_exact(out, 5)


def test_channel_and_scale(nvr, tlbuild, out, ffmpeg_build):
    assert tlbuild("--channel", "1", "--scale=-2:48") == 0
    assert all(q["channel"] == "1" for q in nvr.state.exports())
    assert all(p.name.endswith("_ch1.mp4") for p in out.clips())
    video = probe(out.timelapse())
    assert (video.width, video.height) == (86, 48)
    assert_exact(out, 5)
    assert tlbuild("--scale", "nonsense") == 2
