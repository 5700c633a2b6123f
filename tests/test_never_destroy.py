"""A finished video is only replaced by a verified successor, and the inputs of a day
whose video is not verified good are never pruned: tried as an adversary would, with
real processes, real files, kill -9 and the simulated console over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATE, REPO, Day, run_cli_subprocess, unifi_camera

from tlbuild.cli import main
from tlbuild.ffmpeg import ffmpeg_exe, forget_ffmpeg
from tlbuild.sim.unifi import Camera, Retention


@pytest.fixture
def built(nvr, write_config):
    """A config camera `yard` with its day built and verified."""
    config = write_config({"yard": unifi_camera(nvr)})
    assert main(["--config", str(config), "--camera", "yard", "run", "--date", DATE]) == 0
    day = Day(config.parent / "out" / "yard" / DATE)
    return config, day, day.timelapse("yard")


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--camera", "yard", *args, "--date", DATE])


def test_force_replaces_the_video_only_with_a_verified_one(built, tmp_path, capfd,
                                                           monkeypatch):
    config, day, video = built
    before = video.read_bytes()
    # an ffmpeg that damages what it renders: the new video fails its check and the
    # one it would have replaced stays as it was
    real = ffmpeg_exe()
    wrapper = tmp_path / "ffmpeg-that-cuts"
    wrapper.write_text(f"""#!/bin/sh
"{real}" "$@"; code=$?
for last; do :; done
case "$last" in *_timelapse.mp4.*.partial) truncate -s 3000 "$last";; esac
exit $code
""")
    wrapper.chmod(0o755)
    monkeypatch.setenv("TLBUILD_FFMPEG", str(wrapper))
    forget_ffmpeg()
    try:
        assert cli(config, "render", "--force") == 5
    finally:
        monkeypatch.delenv("TLBUILD_FFMPEG")
        forget_ffmpeg()
    err = capfd.readouterr().err
    assert "failed its check" in err and "the video before it is kept" in err
    assert video.read_bytes() == before
    assert not list(video.parent.glob("*.partial"))
    # with a sound ffmpeg --force renders a new one and swaps it in
    stamp = video.stat().st_mtime_ns
    assert cli(config, "render", "--force") == 0
    assert video.stat().st_mtime_ns != stamp
    assert json.loads((day.root / "metadata" / "verify.json").read_text())["ok"]


def test_kill_9_during_a_forced_render_keeps_the_video(built):
    config, day, video = built
    before = video.read_bytes()
    for _attempt in range(3):  # the render must be caught while ffmpeg writes
        process = run_cli_subprocess(["--config", str(config), "--camera", "yard",
                                      "render", "--date", DATE, "--force", "--fps", "30",
                                      "--target", "60", "--preset", "veryslow"],
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if list(video.parent.glob("*.partial")):
                break
            time.sleep(0.005)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
        process.communicate()
    else:
        pytest.fail("the render ended before it could be killed")
    assert video.read_bytes() == before  # the old video, whole
    assert cli(config, "run") == 0  # the rerun cleans up and goes on
    assert not list(day.root.rglob("*.partial"))


def test_status_and_prune_check_the_video_on_disk(built, capsys):
    config, day, video = built
    clips = day.clips()
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 3])  # damaged after it was verified
    assert main(["status", "--config", str(config), "--from", DATE]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "changed since it was verified" in out
    assert main(["prune", "--config", str(config), "--keep-days", "0"]) == 0
    captured = capsys.readouterr()
    assert "pruned 0 camera-days" in captured.out
    assert "kept the inputs of yard 2024-01-15" in captured.err
    assert day.clips() == clips and not (day.root / "metadata" / "pruned.json").exists()
    assert cli(config, "run") == 0  # the damaged video is rendered again
    assert main(["prune", "--config", str(config), "--keep-days", "0"]) == 0
    assert "pruned 1 camera-day:" in capsys.readouterr().out and not day.clips()


def test_prune_skips_a_day_that_a_run_is_building(built, capsys):
    config, day, _ = built
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         "lock = FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
         "time.sleep(60)",
         str(day.root / ".tlbuild-day.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["prune", "--config", str(config), "--keep-days", "0"]) == 0
        captured = capsys.readouterr()
        assert "pruned 0 camera-days" in captured.out
        assert "a run is building it now" in captured.err and day.clips()
    finally:
        holder.kill()
        holder.wait()
    assert main(["prune", "--config", str(config), "--keep-days", "0"]) == 0
    assert "pruned 1 camera-day:" in capsys.readouterr().out


def test_a_pruned_day_says_what_it_cannot_do(built, capfd):
    config, day, video = built
    assert main(["prune", "--config", str(config), "--keep-days", "0"]) == 0
    before = video.read_bytes()
    assert cli(config, "render", "--crf", "28") == 2
    err = capfd.readouterr().err
    assert "inputs pruned" in err and "crf 23 -> 28" in err and "--rebuild" in err
    assert cli(config, "render", "--force") == 2
    assert "inputs pruned" in capfd.readouterr().err
    assert video.read_bytes() == before
    clean = subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"),
                            "clean", "camera=yard", f"date={DATE}", f"config={config}"],
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert "keeping" in clean.stdout and "--rebuild" in clean.stdout
    assert video.read_bytes() == before
    capfd.readouterr()
    assert main(["status", "--config", str(config), "--from", DATE]) == 0
    assert "(inputs pruned)" in capfd.readouterr().out
    assert cli(config, "run") == 0  # published receipts kept: nothing sent again


def test_a_rebuild_that_finds_nothing_keeps_the_pruned_video(make_nvr, write_config,
                                                             capfd):
    sim = make_nvr(events_per_day=4,
                   cameras=[Camera("65a1b2c3d4e5f60718293a4b", "Demo Driveway")])
    config = write_config({"yard": unifi_camera(sim)})
    assert cli(config, "run") == 0
    day = Day(config.parent / "out" / "yard" / DATE)
    video = day.timelapse("yard")
    assert main(["prune", "--config", str(config), "--keep-days", "0"]) == 0
    before, summary = video.read_bytes(), day.day["summary"]
    everything_gone = 4_102_444_800_000  # the console keeps nothing before 2100
    sim.state.cameras[0].retention = Retention(start_lq=everything_gone,
                                               start=everything_gone)
    capfd.readouterr()
    assert cli(config, "run", "--rebuild") == 1
    err = capfd.readouterr().err
    assert "found no clips of this day" in err and "kept" in err
    assert video.read_bytes() == before and day.day["summary"] == summary
    assert (day.root / "metadata" / "pruned.json").exists()
    page = (day.root / "report.html").read_text()  # the page of the day as it was
    assert f"{summary['used']} of {summary['items']} clips used" in page
    assert main(["status", "--config", str(config), "--from", DATE]) == 0
