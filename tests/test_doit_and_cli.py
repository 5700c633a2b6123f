"""`doit camera=.. date=..` and `tlbuild` as real processes: clean, list, partial
rebuilds, config errors, and SIGTERM in the middle of a fetch followed by a resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CAMERA, REPO, USER, Day, run_cli_subprocess, unifi_camera

from tlbuild.probe import probe


def doit(*args: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"),
                           *args, f"config={config}"], capture_output=True, text=True,
                          timeout=300)


def test_doit_build_list_info_partial_rebuild_and_clean(write_config, nvr, tmp_path):
    config = write_config({"yard": unifi_camera(nvr)})
    day = Day(tmp_path / "out" / "yard" / "2024-01-15")
    built = doit("camera=yard", "date=2024-01-15", config=config)
    assert built.returncode == 0, built.stderr
    assert day.timelapse("yard").exists() and day.clips()

    listing = doit("list", "--all", "camera=yard", "date=2024-01-15", config=config)
    assert listing.returncode == 0
    for name in ("scan", "fetch", "manifest", "speed", "render", "verify"):
        assert name in listing.stdout
    assert listing.stdout.count("fetch:clip_") == len(day.clips())

    info = doit("info", "render", "camera=yard", "date=2024-01-15", config=config)
    assert info.returncode == 0 and "up-to-date" in info.stdout

    exports = nvr.count("export")
    mtime = day.timelapse("yard").stat().st_mtime_ns
    only_render = doit("render", "camera=yard", "date=2024-01-15", config=config)
    assert only_render.returncode == 0
    assert nvr.count("export") == exports  # nothing downloaded again
    assert day.timelapse("yard").stat().st_mtime_ns == mtime  # up to date: not re-rendered
    (day.root / "timelapse" / "yard_2024-01-15_timelapse.mp4").unlink()
    assert doit("render", "camera=yard", "date=2024-01-15", config=config).returncode == 0
    assert day.timelapse("yard").exists() and nvr.count("export") == exports

    dry = doit("clean", "--dry-run", "camera=yard", "date=2024-01-15", config=config)
    assert dry.returncode == 0 and day.timelapse("yard").exists()
    assert f"removing {day.timelapse('yard')}" in dry.stdout
    cleaned = doit("clean", "camera=yard", "date=2024-01-15", config=config)
    assert cleaned.returncode == 0, cleaned.stderr
    # each task says what it removes, in words and paths, not as doit's function names
    assert "<locals>" not in cleaned.stdout and "function" not in cleaned.stdout
    assert f"removing {day.timelapse('yard')}" in cleaned.stdout
    assert not day.clips() and not day.timelapse("yard").exists()
    assert not (day.root / "manifests" / "clip_index.json").exists()
    assert not (day.root / "metadata" / "day.json").exists()
    # everything the build made, but its log and doit's own state (and lock)
    left = sorted(p.relative_to(day.root).as_posix() for p in day.root.rglob("*"))
    assert left == [".tlbuild-day.lock", ".tlbuild-doit.sqlite3", "logs", "logs/run.log"]


def test_doit_without_variables_explains_usage(write_config, nvr, tmp_path):
    config = write_config({"yard": unifi_camera(nvr)})
    result = doit(config=config)
    assert result.returncode == 2
    assert "camera=NAME date=YYYY-MM-DD" in result.stderr and "yard" in result.stderr
    before = {p: p.stat().st_mtime_ns for p in REPO.glob(".doit.db*")}
    listing = doit("list", config=config)
    assert listing.returncode == 2 and "yard" in listing.stderr
    # doit's own state file is neither made nor touched
    assert {p: p.stat().st_mtime_ns for p in REPO.glob(".doit.db*")} == before
    wrong = doit("fetch:nonsense", "camera=yard", "date=2024-01-15", config=config)
    assert wrong.returncode == 2 and "no task 'fetch:nonsense'" in wrong.stderr
    assert nvr.count("login") == 0  # refused before asking the console anything


@pytest.mark.parametrize("extra,message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"crf": 99}, "crf must be between 0 and 51"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
])
def test_config_errors_name_file_and_key(nvr, write_config, extra, message):
    config = write_config({"yard": unifi_camera(nvr, **extra)})
    result = doit("camera=yard", "date=2024-01-15", config=config)
    assert result.returncode == 2
    assert message in result.stderr and str(config) in result.stderr
    assert nvr.state.log == []  # found before any request


def test_missing_secret_is_reported_before_any_request(write_config, nvr, monkeypatch):
    monkeypatch.delenv("UPVS_PASSWORD")
    config = write_config({"yard": unifi_camera(nvr)})
    from tlbuild.cli import main
    assert main(["--config", str(config), "--camera", "yard", "run",
                 "--date", "2024-01-15"]) == 2
    assert nvr.state.log == []


def test_unknown_config_camera(write_config, nvr, tmp_path, capsys):
    from tlbuild.cli import main
    config = write_config({"yard": unifi_camera(nvr)})
    assert main(["--config", str(config), "--camera", "nope", "run",
                 "--date", "2024-01-15"]) == 2
    assert "unknown camera 'nope'" in capsys.readouterr().err


def test_hostile_camera_and_event_names_stay_inside_the_output_root(make_nvr, tmp_path):
    from tlbuild.cli import main
    from tlbuild.sim.unifi import Camera
    sim = make_nvr(cameras=[Camera("../../../../tmp/evil", "../../escape"),
                            Camera("cccccccccccccccccccccccc", "Other")])
    root = tmp_path / "out"
    code = main(["--host", sim.url, "--username", USER, "--camera", "../../escape",
                 "--out", str(root), "run", "--date", "2024-01-15", "--target", "5",
                 "--fps", "5", "--preset", "ultrafast"])
    assert code == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(root in p.parents for p in written)
    # the sanitized name carries a hash of the original: it had to be changed
    assert list(root.glob("clips/escape-*/2024-01-15/clip_*.mp4"))
    assert list(root.glob("timelapse/escape-*_2024-01-15_timelapse.mp4"))


def test_sigterm_mid_fetch_then_resume_downloads_only_what_is_missing(make_nvr, tmp_path):
    sim = make_nvr(events_per_day=14)
    sim.fault("export", "slow", times=100, delay=0.4)
    root = tmp_path / "out"
    args = ["--host", sim.url, "--username", USER, "--camera", CAMERA, "--out", str(root),
            "run", "--date", "2024-01-15", "--workers", "2", "--target", "5", "--fps", "5",
            "--preset", "ultrafast"]
    process = run_cli_subprocess(args)
    deadline = time.monotonic() + 60
    while len(sim.state.exports()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err

    day = Day(root)
    kept = day.clips()
    assert 0 < len(kept) < len(day.index)
    for clip in kept:
        probe(clip)  # nothing half-written under a final name
    first_run = len(sim.state.exports())
    sim.state.faults.clear()

    resumed = run_cli_subprocess(args)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    fetched_again = {int(q["start"]) for q in sim.state.exports()[first_run:]}
    kept_starts = {int(p.name.split("_")[1]) for p in kept}
    assert not fetched_again & kept_starts  # no complete clip downloaded twice
    assert len(day.clips()) == len(day.index)
    assert all(e["status"] == "complete" for e in day.index)
    assert not list(root.rglob("*.partial"))
    assert probe(day.timelapse()).duration > 0


def test_corrupt_clip_on_disk_is_dropped_and_fetched_again(nvr, tlbuild, out):
    assert tlbuild() == 0
    victim = out.clips()[0]
    victim.write_bytes(b"\x00\x00\x00\x18ftypmp42garbage")
    exports = nvr.count("export")
    # the manifest sees the changed clip, probes it, drops it and marks it failed
    assert tlbuild() == 1
    assert [e["status"] for e in out.index].count("failed") == 1
    assert str(victim) not in (out.root / "manifests/concat.txt").read_text()
    assert tlbuild() == 0
    assert nvr.count("export") == exports + 1
    probe(victim)
