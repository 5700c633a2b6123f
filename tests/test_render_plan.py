"""Fast incremental rendering: per-clip intermediates, the keyframe-only path, and
output that matches the spec's single-pass command on the same clips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tlbuild.media import ffmpeg_exe, probe
from tlbuild.render_plan import DIRECT, INTERMEDIATE, KEYFRAME, RenderPlan, plan_render
from tlbuild.sim.events import event, event_id



def clips(n: int = 3, fps: float = 30, gop: float = 2.0) -> list[dict]:
    return [{"fps": fps, "keyframe_secs": gop, "video_secs": 30}] * n


@pytest.mark.parametrize("speed,fps,expected", [
    (150, 30, RenderPlan(KEYFRAME)),         # 5 s of footage per frame >= 2 s GOP
    (60, 30, RenderPlan(KEYFRAME)),          # exactly one GOP per output frame
    (59, 30, RenderPlan(INTERMEDIATE, 32)),  # just under: decode all, keep every 32nd
    (12, 30, RenderPlan(INTERMEDIATE, 8)),   # 12 source frames per output frame
    (3, 30, RenderPlan(DIRECT)),             # too few frames to drop: the spec's pass
    (1, 30, RenderPlan(DIRECT)),
])
def test_plan_choice(speed, fps, expected):
    assert plan_render(speed, fps, clips()) == expected


def test_keyframe_path_needs_every_clip_within_one_frame():
    mixed = clips(2) + [{"fps": 30, "keyframe_secs": 8.0}]  # one clip with a long GOP
    assert plan_render(150, 30, mixed).mode == INTERMEDIATE
    unknown = clips(2) + [{"fps": 30}]
    assert plan_render(150, 30, unknown).mode == INTERMEDIATE


def spec_render(root: Path, speed: float, fps: int, out: Path) -> None:
    """The spec's command, literally, on the same concat.txt."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i",
                    str(root / "manifests/concat.txt"), "-vf", f"setpts=PTS/{speed}",
                    "-r", str(fps), "-c:v", "libx264", "-crf", "23", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-an", "-y", str(out)], check=True)


def build(tlbuild, fps: int, target: int, *extra: str) -> int:
    return tlbuild("--fps", str(fps), "--target", str(target), *extra)


@pytest.mark.parametrize("fps,mode", [(10, INTERMEDIATE), (5, KEYFRAME)])
def test_output_matches_the_single_pass_render(make_nvr, tlbuild, out, tmp_path, fps,
                                               mode):
    sim = make_nvr(events_per_day=10)
    # later options win in argparse: these replace the fixture's defaults
    assert tlbuild("--fps", str(fps), "--target", "8", target_nvr=sim) == 0
    day = out.day
    assert day["render_plan"]["mode"] == mode
    single = tmp_path / "single.mp4"
    spec_render(out.root, day["speed_factor"], fps, single)
    ours, theirs = probe(out.timelapse()), probe(single)
    assert ours.frames == theirs.frames
    assert abs(ours.duration - theirs.duration) < 1 / fps + 0.01
    assert len(list((out.root / "intermediates").glob("*.mkv"))) == day["valid_clips"]


def intermediates(out) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns
            for p in (out.root / "intermediates").glob("*.mkv")}


def test_crf_change_reuses_intermediates(make_nvr, tlbuild, out):
    sim = make_nvr(events_per_day=10)
    assert tlbuild("--fps", "10", "--target", "8", target_nvr=sim) == 0
    made = intermediates(out)
    assert made and out.day["render_plan"]["mode"] == INTERMEDIATE
    before = out.timelapse().read_bytes()
    assert tlbuild("--fps", "10", "--target", "8", "--crf", "35", target_nvr=sim) == 0
    assert intermediates(out) == made  # no clip decoded again
    assert out.timelapse().read_bytes() != before
    # rendered from the intermediates: still the spec's frame count and length
    single = out.root.parent / "single.mp4"
    spec_render(out.root, out.day["speed_factor"], 10, single)
    assert probe(out.timelapse()).frames == probe(single).frames
    assert tlbuild("--fps", "10", "--target", "8", "--crf", "35", target_nvr=sim) == 0
    assert intermediates(out) == made


def test_a_new_clip_builds_exactly_one_new_intermediate(make_nvr, tlbuild, out):
    sim = make_nvr(events_per_day=10)
    assert tlbuild("--fps", "10", "--target", "8", target_nvr=sim) == 0
    made, plan = intermediates(out), out.day["render_plan"]
    camera = sim.state.cameras[0].id
    late = out.json("metadata/camera.json")["day"]["start_ms"] + 23 * 3_600_000
    sim.state.extra_events.append(event(event_id("late"), "motion", camera, late,
                                        late + 3000))
    sim.state._sorted = None
    exports = sim.count("export")
    assert tlbuild("--fps", "10", "--target", "8", target_nvr=sim) == 0
    assert sim.count("export") == exports + 1
    assert out.day["render_plan"] == plan  # d is a power of two: it rarely changes
    after = intermediates(out)
    assert len(after) == len(made) + 1
    assert all(after[name] == stamp for name, stamp in made.items())


def test_low_speed_renders_directly_and_clean_removes_intermediates(tlbuild, out):
    assert tlbuild("--fps", "5", "--target", "600") == 0
    assert out.day["render_plan"] == {"mode": DIRECT, "step": 1}
    assert not (out.root / "intermediates").exists()


def test_channel_and_scale(nvr, tlbuild, out):
    assert tlbuild("--channel", "1", "--scale=-2:48") == 0
    assert all(q["channel"] == "1" for q in nvr.state.exports())
    assert all(p.name.endswith("_ch1.mp4") for p in out.clips())
    video = probe(out.timelapse())
    assert (video.width, video.height) == (86, 48)
    assert tlbuild("--scale", "nonsense") == 2
