"""Crash-, concurrency- and name-safe builds, through the real CLI against the
simulated console: kill -9 and an immediate rerun, two runs at once, stops within
seconds, damaged files that heal, hostile names and bad input with clear errors."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CAMERA, DATE, USER, Day, run_cli_subprocess, unifi_camera

from tlbuild.cli import main
from tlbuild.probe import decode, probe
from tlbuild.sim.clips import ClipSpec
from tlbuild.sim.events import event

HOUR = 3_600_000


def cli_args(nvr, root: Path, *extra: str, command: str = "run") -> list[str]:
    return ["--host", nvr.url, "--username", USER, "--camera", CAMERA, "--out",
            str(root), command, "--date", DATE, *extra]


def processes_matching(text: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def gone_within(text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while processes_matching(text) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not processes_matching(text)


@pytest.fixture
def slow_render_nvr(make_nvr):
    """Clips enough for a render to take seconds (8 events of 30 fps footage)."""
    return make_nvr(clip=ClipSpec(320, 180, 30), events_per_day=8, export_speed=None)


@pytest.mark.slow
def test_kill_9_mid_render_then_an_immediate_rerun(slow_render_nvr, tmp_path):
    root = tmp_path / "out"
    render = cli_args(slow_render_nvr, root, "--preset", "slow", "--fps", "30",
                      "--target", "20", command="render")
    assert main(cli_args(slow_render_nvr, root, command="fetch")) == 0
    killed = run_cli_subprocess(render)
    deadline = time.monotonic() + 60
    while not processes_matching(str(root / "timelapse")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # ffmpeg is writing its output
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert gone_within(str(root / "timelapse"), 2.0)  # its ffmpeg died with it
    assert not list((root / "timelapse").glob("*.mp4"))  # killed before the end
    rerun = run_cli_subprocess(render)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    video = next((root / "timelapse").glob("*.mp4"))
    assert decode(video).errors == [] and probe(video).frames == 600
    assert not list(root.rglob("*.partial"))


@pytest.mark.slow
def test_two_runs_of_one_day_at_once(slow_render_nvr, tmp_path):
    root = tmp_path / "out"
    args = cli_args(slow_render_nvr, root, "--fps", "30", "--target", "20")
    first = run_cli_subprocess(args)
    time.sleep(0.1)
    second = run_cli_subprocess(args)
    (_, err1), (_, err2) = first.communicate(timeout=180), second.communicate(
        timeout=180)
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 7], err1 + err2
    assert "another run is building" in err1 + err2
    video = next((root / "timelapse").glob("*.mp4"))
    assert decode(video).errors == [] and probe(video).frames == 600
    assert main(args) == 0  # and the lock is free again


def test_sigterm_during_a_stalled_export_stops_within_seconds(make_nvr, tmp_path):
    sim = make_nvr(events_per_day=6)
    sim.fault("export", "stall", times=100, delay=120)
    root = tmp_path / "out"
    process = run_cli_subprocess(cli_args(sim, root))
    deadline = time.monotonic() + 30
    while sim.state.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - started < 5
    assert process.returncode == 130, err
    assert "interrupted" in err and "retrying" not in err
    assert not list(root.rglob("*.partial"))
    sim.state.faults.clear()
    assert main(cli_args(sim, root, "--fps", "5", "--preset", "ultrafast")) == 0


def test_kill_9_of_a_batch_stops_its_shards(write_config, make_nvr, tmp_path):
    from test_batch import batch_cameras
    # a shard left alone would need 12 s of exports for its day (24 at 1 s, two at a
    # time): gone well before that, it was stopped, not finished
    sim = make_nvr(events_per_day=24)
    sim.fault("export", "slow", times=1000, delay=1.0)
    config = write_config(batch_cameras(sim))
    batch = run_cli_subprocess(["batch", "--config", str(config), "--from", DATE,
                                "--to", "2024-01-17", "-j", "2"])
    deadline = time.monotonic() + 60
    while len(processes_matching(str(config))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # the batch and two shards
    batch.send_signal(signal.SIGKILL)
    batch.communicate()
    # each shard saves its state first (SIGTERM); on a loaded machine that takes seconds
    assert gone_within(str(config), 9.0)


def test_damaged_files_heal_on_the_next_run(nvr, tlbuild, out, capfd):
    assert tlbuild() == 0
    exports = nvr.count("export")
    index = out.root / "manifests" / "clip_index.json"
    index.write_text(index.read_text()[:100])            # a truncated index
    (out.root / "metadata" / "day.json").write_text("{")  # a damaged day record
    intermediate = next((out.root / "intermediates").glob("*.mkv"), None)
    if intermediate:
        intermediate.write_bytes(intermediate.read_bytes()[:300])
    state = out.root / ".tlbuild-doit.sqlite3"
    state.write_bytes(b"not a database" * 100)           # doit's state file
    assert tlbuild() == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err and "damaged" in err
    assert nvr.count("export") == exports  # nothing downloaded again
    assert out.json("metadata/verify.json")["ok"] and out.day["valid_clips"]
    assert decode(out.timelapse()).errors == []
    with sqlite3.connect(state) as db:  # a fresh, healthy state file
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_a_400_byte_event_id_fails_nothing(make_nvr, tlbuild, out):
    sim = make_nvr(events_per_day=3)
    camera = sim.state.cameras[0].id
    start = out_day_start(sim) + 9 * HOUR
    sim.state.add_events([event("\u00e9" * 200, "motion", camera, start, start + 5000,
                                score=80)])
    assert tlbuild(target_nvr=sim) == 0
    assert any("\u00e9" * 200 in e["event_ids"] for e in out.index)
    assert all(e["status"] == "complete" for e in out.index)
    assert all(len(p.name.encode()) <= 255 for p in out.root.rglob("*"))


def out_day_start(sim) -> int:
    import datetime as dt

    from tlbuild.days import day_window
    return day_window(dt.date.fromisoformat(DATE), sim.state.timezone)[0]


@pytest.mark.parametrize("name", ["../../escape", "/etc/cron.d/x", "a\x00b", "c" * 300,
                                  "all"])
def test_config_camera_names_that_cannot_be_folders(nvr, tmp_path, capsys, name,
                                                    write_config):
    config = write_config({name: unifi_camera(nvr)})
    assert main(["--config", str(config), "batch", "--from", DATE]) == 2
    assert main(["--config", str(config), "--camera", "x", "run", "--date", DATE]) == 2
    err = capsys.readouterr().err
    assert "cannot name a folder" in err and "Traceback" not in err
    assert nvr.state.log == [] and not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("problem,extra,message", [
    ("fps 0", {"fps": 0}, "fps must be between 1 and 240"),
    ("date", {}, "tlbuild builds days from 2000-01-01 to 2099-12-31"),
])
def test_bad_input_is_refused_before_any_request(nvr, capsys, problem, extra, message,
                                                 write_config):
    config = write_config({"yard": unifi_camera(nvr, **extra)})
    date = "9999-12-31" if problem == "date" else DATE
    assert main(["--config", str(config), "--camera", "yard", "run", "--date",
                 date]) == 2
    assert message in capsys.readouterr().err
    assert nvr.state.log == []


def test_a_config_that_is_not_utf8(tmp_path, capsys):
    config = tmp_path / "latin1.toml"
    config.write_bytes('out = "caf\u00e9"\n'.encode("latin-1"))
    assert main(["--config", str(config), "--camera", "x", "run", "--date", DATE]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_every_clip_failing_has_its_own_exit_code(nvr, tlbuild, out, capsys):
    nvr.fault("export", "status", times=1000, status=404)
    assert tlbuild() == 6
    err = capsys.readouterr().err
    assert "every clip" in err and "no timelapse" in err
    assert not out.timelapse().exists()
    nvr.state.faults.clear()
    assert tlbuild() == 0


def small_filesystem(path: Path, size: str, read_only: bool = False) -> None:
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root and mount rights, which this "
                    f"machine does not give: {made.stderr.strip()}")


@pytest.fixture
def mounts():
    made: list[Path] = []
    yield made
    for path in made:
        subprocess.run(["umount", str(path)], capture_output=True)


def test_a_read_only_output_folder_says_so_in_one_line(nvr, tmp_path, capfd, mounts):
    root = tmp_path / "ro"
    small_filesystem(root, "1m", read_only=True)
    mounts.append(root)
    assert main(cli_args(nvr, root / "day")) == 5
    err = capfd.readouterr().err
    assert "Read-only file system" in err and str(root) in err
    assert "Traceback" not in err and err.count("\n") <= 2


def test_a_full_disk_says_so_and_the_rerun_continues(nvr, tmp_path, capfd, mounts):
    root = tmp_path / "small"
    small_filesystem(root, "400k")
    mounts.append(root)
    code = main(cli_args(nvr, root / "day", "--fps", "5", "--preset", "ultrafast"))
    assert code == 5
    err = capfd.readouterr().err
    assert "No space left on device" in err or "no space left on device" in err
    assert "Traceback" not in err
    assert not list(root.rglob("*.partial"))
    for clip in Day(root / "day").clips():
        probe(clip)  # what was kept is whole
