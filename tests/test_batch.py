"""Batches of (camera, date) shards against the simulated NVR, each shard its own
process: a 3x3 batch, a failing shard, SIGTERM mid-batch and the partition."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli_subprocess, unifi_camera

from tlbuild.batch import Shard, all_shards, select_shards, shard_position
from tlbuild.cli import main
from tlbuild.errors import UsageError

DATES = ["2024-01-15", "2024-01-16", "2024-01-17"]


def batch_cameras(nvr, broken: bool = False) -> dict:
    """Three config cameras of one simulated console (and one it does not have)."""
    cameras = {"drive": "Demo Driveway", "garden": "Demo Garden", "yard": "Back Yard"}
    if broken:
        cameras["ghost"] = "No Such Camera"
    return {key: unifi_camera(nvr, name, target=5, workers=2)
            for key, name in cameras.items()}


def timelapses(tmp_path: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns
            for p in (tmp_path / "out").rglob("timelapse/*.mp4")}


@pytest.mark.slow
def test_batch_of_3_cameras_by_3_days_then_a_noop_rerun(write_config, make_nvr, tmp_path,
                                                        capsys):
    nvr = make_nvr(events_per_day=4)  # the shards matter here, not their clips
    config = write_config(batch_cameras(nvr))
    args = ["batch", "--config", str(config), "--camera", "all", "--from", DATES[0],
            "--to", DATES[-1], "-j", "3"]
    assert main(args) == 0
    assert "9 shards: 9 ok, 0 failed" in capsys.readouterr().out
    built = timelapses(tmp_path)
    assert len(built) == 9
    for camera in ("drive", "garden", "yard"):
        for date in DATES:
            root = tmp_path / "out" / camera / date
            assert (root / ".tlbuild-doit.sqlite3").exists()  # one state file per shard
            assert (root / "logs" / "run.log").exists()
            day = json.loads((root / "metadata" / "day.json").read_text())
            assert day["tool_version"] and day["ffmpeg_version"].startswith("ffmpeg")
            assert day["render"] == {"crf": 23, "fps": 5, "preset": "ultrafast",
                                     "target": 5.0}
    exports = nvr.count("export")
    assert main(args) == 0  # an unchanged batch does no work at all
    assert nvr.count("export") == exports and timelapses(tmp_path) == built
    assert main(["status", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(" built " in line for line in lines) == 9


@pytest.mark.slow
def test_failing_shard_does_not_stop_the_others(write_config, make_nvr, tmp_path, capsys):
    nvr = make_nvr(events_per_day=4)  # the shards matter here, not their clips
    config = write_config(batch_cameras(nvr, broken=True))
    code = main(["batch", "--config", str(config), "--camera", "ghost,drive", "--from",
                 DATES[0], "--to", DATES[1]])
    out = capsys.readouterr().out
    assert code == 1
    assert "4 shards: 2 ok, 2 failed" in out and "not found" in out
    assert len(timelapses(tmp_path)) == 2
    assert main(["status", "--config", str(config), "--camera", "ghost", "--from",
                 DATES[0]]) == 1  # a day that is not built
    status = capsys.readouterr().out
    assert "failed" in status and "No Such Camera" in status
    # --quiet (as cron runs it): one line per failed shard, nothing for the rest
    quiet = ["batch", "--quiet", "--config", str(config), "--camera", "ghost,drive",
             "--from", DATES[0], "--to", DATES[1]]
    assert main(quiet) == 1
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    assert len(lines) == 2 and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d FAILED ", line)
                                   and "ghost" in line and "not found" in line
                                   for line in lines)
    assert main([*quiet[:4], "--camera", "drive", *quiet[6:]]) == 0
    captured = capsys.readouterr()
    assert captured.out + captured.err == ""  # success prints nothing


@pytest.mark.slow
def test_doit_batch_variables_run_shards_in_parallel(write_config, make_nvr, tmp_path):
    nvr = make_nvr(events_per_day=4)  # the shards matter here, not their clips
    config = write_config(batch_cameras(nvr))
    result = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), "-n", "2", "-P",
         "thread", "camera=drive,yard", f"date={DATES[0]}..{DATES[1]}",
         f"config={config}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 shards: 4 ok" in result.stdout
    assert len(timelapses(tmp_path)) == 4
    assert nvr.count("login") == 1  # one session for every shard on the console


@pytest.mark.slow
def test_sigterm_mid_batch_keeps_finished_work_and_the_rerun_completes(write_config, make_nvr,
                                                                        tmp_path):
    sim = make_nvr(events_per_day=5)
    sim.fault("export", "slow", times=1000, delay=0.3)
    config = write_config(batch_cameras(sim))
    args = ["batch", "--config", str(config), "--from", DATES[0], "--to", DATES[-1],
            "-j", "2"]
    process = run_cli_subprocess(args)
    deadline = time.monotonic() + 120
    while not timelapses(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # let other shards get partway through their downloads
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    finished = timelapses(tmp_path)
    assert 1 <= len(finished) < 9
    assert not list((tmp_path / "out").rglob("*.partial"))
    kept = {p: p.stat().st_ino for p in (tmp_path / "out").rglob("clip_*.mp4")}
    assert kept
    sim.state.faults.clear()

    rerun = run_cli_subprocess(args)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out + err
    assert len(timelapses(tmp_path)) == 9
    assert all(timelapses(tmp_path)[name] == stamp for name, stamp in finished.items())
    # a clip downloaded again would be a new file (renamed in): none is
    assert all(path.stat().st_ino == inode for path, inode in kept.items())


def test_shard_selection_is_a_partition(write_config, nvr, tmp_path, capsys):
    config = write_config(batch_cameras(nvr))
    base = ["batch", "--config", str(config), "--from", "2024-01-01", "--to",
            "2024-01-10", "--dry-run"]
    assert main(base) == 0
    everything = capsys.readouterr().out.splitlines()
    assert len(everything) == 30
    parts = []
    for k in range(4):
        assert main(base + ["--shard", f"{k}/4"]) == 0
        parts.append(capsys.readouterr().out.splitlines())
    assert sorted(line for part in parts for line in part) == sorted(everything)
    assert sum(len(part) for part in parts) == len(everything)  # each exactly once
    assert main(base + ["--shard", "1/4"]) == 0
    assert capsys.readouterr().out.splitlines() == parts[1]  # deterministic


def test_shard_position_from_array_job_environments():
    assert shard_position(None, None, {}) is None
    assert shard_position("2/5", None, {}) == (2, 5)
    assert shard_position(None, None, {"SLURM_ARRAY_TASK_ID": "4",
                                       "SLURM_ARRAY_TASK_MIN": "1",
                                       "SLURM_ARRAY_TASK_COUNT": "6"}) == (3, 6)
    assert shard_position(None, 3, {"JOB_COMPLETION_INDEX": "2"}) == (2, 3)
    with pytest.raises(UsageError, match="not which one"):
        shard_position(None, 8, {})  # --shards without an array index
    with pytest.raises(UsageError):
        shard_position(None, None, {"JOB_COMPLETION_INDEX": "2"})
    shards = all_shards(["a", "b"], [__import__("datetime").date(2024, 1, d)
                                     for d in range(1, 8)])
    with pytest.raises(UsageError):
        select_shards(shards, 4, 4)
    assert select_shards(shards, 0, 1) == shards and isinstance(shards[0], Shard)
