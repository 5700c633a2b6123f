"""Axis Timelapse2 (1.x AVI), Timelapse3 (3.x MP4) and TimelapseMe archives, against
the simulated camera over real HTTP with Digest auth, rendered with real ffmpeg."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run_cli_subprocess

from tlbuild.cli import main
from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.probe import probe
from tlbuild.sim.axis import ArchiveSpec, SimulatedAxis

UTC = dt.timezone.utc
DATE = "2024-01-15"
PASSWORD = "axis-admin-pa55"


def daily(name: str = "Front_2024_01_15_0000.avi", frames: int = 48) -> ArchiveSpec:
    return ArchiveSpec(name, "p1", dt.datetime(2024, 1, 15, 0, 10, tzinfo=UTC),
                       dt.datetime(2024, 1, 15, 23, 40, tzinfo=UTC), frames)


def weekly(name: str = "Front_2024_01_13_0000.avi") -> ArchiveSpec:
    # one frame an hour from Jan 13 00:00 to Jan 19 23:00: 168 frames, 24 on Jan 15
    return ArchiveSpec(name, "p1", dt.datetime(2024, 1, 13, tzinfo=UTC),
                       dt.datetime(2024, 1, 19, 23, tzinfo=UTC), 168)


@pytest.fixture
def camera(request, clip_cache):
    started = []

    def make(app: str, archives: list[ArchiveSpec], **kwargs) -> SimulatedAxis:
        sim = SimulatedAxis(app, {"root": PASSWORD}, archives, cache=clip_cache,
                            **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def config(write_config, cam: SimulatedAxis, monkeypatch, **keys) -> Path:
    monkeypatch.setenv("AXIS_PW", PASSWORD)
    return write_config({"front": {"source": "axis-timelapse2", "host": cam.host,
                                   "username": "root", "password_env": "AXIS_PW",
                                   "preset": "ultrafast", **keys}})


def build(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), "--camera", "front", "run", "--date", DATE, *args])


def day_root(tmp_path: Path) -> Path:
    return tmp_path / "out" / "front" / DATE


def output(tmp_path: Path) -> Path:
    return day_root(tmp_path) / "timelapse" / f"front_{DATE}_timelapse.mp4"


@pytest.mark.parametrize("app", ["timelapse2", "timelapse3", "timelapseme"])
def test_each_app_variant_end_to_end(write_config, camera, app, tmp_path, monkeypatch):
    cam = camera(app, [daily(), ArchiveSpec(
        "Front_2024_01_14_0000.avi", "p1", dt.datetime(2024, 1, 14, tzinfo=UTC),
        dt.datetime(2024, 1, 14, 23, tzinfo=UTC), 24)])
    assert build(config(write_config, cam, monkeypatch)) == 0
    root = day_root(tmp_path)
    assert json.loads((root / "metadata/camera.json").read_text())["app"] == app
    index = json.loads((root / "manifests/archive_index.json").read_text())
    assert len(index) == 2 and sum(bool(i.get("in_day")) for i in index) == 1
    video = probe(output(tmp_path))
    assert video.frames == 48 and video.codec == "h264" and abs(video.fps - 5) < 0.01
    assert len(list((root / "archives").iterdir())) == 1  # only the day's archive
    # read only: nothing that changes the camera
    assert cam.state.requests_to("timelapse2/reset") == 0
    assert cam.state.requests_to("timelapse2/export") == 0
    exports = cam.state.requests_to("timelapse2/download") + \
        cam.state.requests_to("timelapseme/archives")
    assert build(config(write_config, cam, monkeypatch)) == 0  # a rerun downloads nothing
    assert cam.state.requests_to("timelapse2/download", 200) + cam.state.requests_to(
        "timelapseme/archives", 200) <= exports


@pytest.mark.parametrize("app", ["timelapse2", "timelapse3"])
def test_multi_day_archive_is_cut_to_the_day(write_config, camera, app, tmp_path, monkeypatch,
                                             ffmpeg_build):
    cam = camera(app, [weekly()])
    assert build(config(write_config, cam, monkeypatch, fps=12)) == 0
    video = probe(output(tmp_path))
    assert video.frames == 24 and abs(video.fps - 12) < 0.01  # output fps configurable
    assert abs(video.duration - 2.0) < 1 / 12
    verified = json.loads((day_root(tmp_path) / "metadata/verify.json").read_text())
    assert verified["ok"] and verified["expected_frames"] == 24
    # the day page's bar for the archive seeks by position: its video runs 0 to 2 s
    page = (day_root(tmp_path) / "report.html").read_text()
    assert 'data-seek="0.0" data-seek-end="2.0"' in page
    # a render alone (no camera asked) makes it again, with a chapter per local hour
    cfg = config(write_config, cam, monkeypatch, fps=12)
    assert main(["--config", str(cfg), "--camera", "front", "render", "--date", DATE,
                 "--force"]) == 0
    meta = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(output(tmp_path)), "-f",
                           "ffmetadata", "-"], capture_output=True, text=True).stdout
    titles = re.findall(r"^title=(.*)$", meta, re.M)
    assert titles and titles == sorted(titles) and titles[0].endswith(":00")


def test_timelapse3_gets_one_request_at_a_time_and_days_come_from_first_last(
        write_config, camera, tmp_path, monkeypatch):
    # size-split archives, named (as Timelapse3 does) by the local time they were
    # archived: the last one, archived at midnight, carries the next day's date
    def quarter(k: int) -> ArchiveSpec:
        start = dt.datetime(2024, 1, 15, 6 * k, tzinfo=UTC)
        named = start + dt.timedelta(hours=6)
        return ArchiveSpec(f"Front_{named:%Y_%m_%d_%H%M}.mp4", "p1", start,
                           start + dt.timedelta(hours=5, minutes=55), 12)
    cam = camera("timelapse3", [quarter(k) for k in range(4)])
    cam.fault("download", "slow", times=4, delay=0.3)  # downloads that overlap if allowed
    assert build(config(write_config, cam, monkeypatch, workers=4)) == 0
    assert probe(output(tmp_path)).frames == 48
    assert cam.state.requests_to("timelapse2/download", 200) == 4
    assert cam.state.max_in_flight == 1


def test_timelapseme_cut_uses_the_real_frame_times(write_config, camera, tmp_path, monkeypatch):
    spec = weekly("week.avi")
    cam = camera("timelapseme", [spec])
    assert build(config(write_config, cam, monkeypatch)) == 0
    start = dt.datetime(2024, 1, 15, tzinfo=UTC)
    expected = sum(start <= t.replace(microsecond=0) < start + dt.timedelta(days=1)
                   for t in spec.frame_times())
    assert probe(output(tmp_path)).frames == expected


def test_local_time_zone_day(write_config, camera, tmp_path, monkeypatch):
    cam = camera("timelapse3", [weekly()])
    assert build(config(write_config, cam, monkeypatch, timezone="Asia/Tokyo")) == 0
    # Tokyo's Jan 15 is 2024-01-14T15:00Z .. 2024-01-15T15:00Z: still 24 hourly frames
    assert probe(output(tmp_path)).frames == 24


def test_wrong_credentials(write_config, camera, tmp_path, monkeypatch, capsys):
    cam = camera("timelapse2", [daily()])
    cfg = config(write_config, cam, monkeypatch)
    monkeypatch.setenv("AXIS_PW", "wrong")
    assert build(cfg) == 3
    assert "rejected the credentials" in capsys.readouterr().err
    assert main(["axis-download", "--host", cam.host, "--user", "root", "--pass", "nope",
                 "--outdir", str(tmp_path / "dl")]) == 2


def test_size_mismatch_triggers_a_new_download(write_config, camera, tmp_path, monkeypatch):
    cam = camera("timelapse2", [daily()])
    cfg = config(write_config, cam, monkeypatch)
    assert build(cfg) == 0
    [archive] = (day_root(tmp_path) / "archives").iterdir()
    whole = archive.read_bytes()
    archive.write_bytes(whole[: len(whole) // 3])  # an earlier download cut short
    before = cam.state.requests_to("timelapse2/download", 200)
    assert build(cfg) == 0
    assert cam.state.requests_to("timelapse2/download", 200) == before + 1
    assert archive.read_bytes() == whole


def test_hostile_archive_names_stay_inside(write_config, camera, tmp_path, monkeypatch):
    def hour(name: str, at: int) -> ArchiveSpec:
        return ArchiveSpec(name, "p1", dt.datetime(2024, 1, 15, at, tzinfo=UTC),
                           dt.datetime(2024, 1, 15, at, 50, tzinfo=UTC), 5)
    long_name = "\U0001F600" * 70 + ".avi"  # 284 bytes: over the file name limit
    cam = camera("timelapse2", [daily("../../../escape.avi"), hour("a/b\\c.avi", 12),
                                hour(long_name, 14), hour("line\nbreak.avi", 16)])
    assert build(config(write_config, cam, monkeypatch, profile="p1")) == 0
    root = day_root(tmp_path)
    assert probe(output(tmp_path)).frames == 48 + 15
    assert all(len(p.name.encode()) <= 255 for p in tmp_path.rglob("*"))
    # one record per log line: the newline in the name is escaped, not obeyed
    assert all(line[:4].isdigit() for line in
               (root / "logs" / "run.log").read_text().splitlines())
    downloads = tmp_path / "dl" / "inner"
    assert main(["axis-download", "--host", cam.host, "--user", "root", "--pass",
                 PASSWORD, "--outdir", str(downloads), "--no-progress"]) == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all((tmp_path / "out") in p.parents or downloads in p.parents
               or p.name == "tlbuild.toml" for p in written)
    assert len(list(downloads.iterdir())) == 4
    assert not (tmp_path.parent / "escape.avi").exists()


def test_a_damaged_segment_is_made_again(write_config, camera, tmp_path, monkeypatch):
    cam = camera("timelapse3", [daily(frames=24)])
    assert build(config(write_config, cam, monkeypatch)) == 0
    segment = next((day_root(tmp_path) / "segments").glob("*.mp4"))
    segment.write_bytes(segment.read_bytes()[:200])  # "moov atom not found"
    assert build(config(write_config, cam, monkeypatch)) == 0
    assert probe(segment).frames == 24 and probe(output(tmp_path)).frames == 24


def test_rate_limit_holds(camera, tmp_path):
    cam = camera("timelapse3", [daily(frames=40)])
    size = cam.state.media(cam.state.archives[0]).stat().st_size
    mbps = size * 8 / 1e6 / 1.5  # the file should take about 1.5 s
    started = time.monotonic()
    assert main(["axis-download", "--host", cam.host, "--user", "root", "--pass",
                 PASSWORD, "--outdir", str(tmp_path / "dl"), "--no-progress",
                 "--rate-limit", f"{mbps:.4f}"]) == 0
    elapsed = time.monotonic() - started
    rate = size * 8 / 1e6 / elapsed
    assert elapsed >= 1.5 * 0.9 and rate <= mbps * 1.1


def test_5xx_is_retried_and_4xx_is_not(camera, tmp_path, capsys):
    cam = camera("timelapse2", [daily(), daily("second.avi", 10)])
    cam.fault("download", "status", times=1, status=503)
    args = ["axis-download", "--host", cam.host, "--user", "root", "--pass", PASSWORD,
            "--outdir", str(tmp_path / "dl"), "--no-progress", "--retry-delay", "0"]
    assert main(args) == 0
    assert cam.state.requests_to("timelapse2/download", 503) == 1
    cam.fault("download", "status", times=1, status=404)
    assert main(args + ["--overwrite"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "Done. downloaded=1 skipped=0 failed=1" in out
    assert cam.state.requests_to("timelapse2/download", 404) == 1  # never retried


def test_cut_connection_is_retried_and_leaves_no_partial(write_config, camera, tmp_path,
                                                         monkeypatch):
    cam = camera("timelapse2", [daily()])
    cam.fault("download", "cut", times=1)
    assert build(config(write_config, cam, monkeypatch)) == 0
    assert not list(tmp_path.rglob("*.partial"))
    assert probe(output(tmp_path)).frames == 48


def test_ctrl_c_once_finishes_the_file_twice_stops_now(camera, tmp_path):
    cam = camera("timelapse2", [daily(f"day{n}.avi", 20) for n in range(4)])
    cam.fault("download", "slow", times=100, delay=3.0)
    args = ["axis-download", "--host", cam.host, "--user", "root", "--pass", PASSWORD,
            "--outdir", str(tmp_path / "once"), "--no-progress"]

    def downloading(process) -> None:
        """Wait until the first download is asked for (the camera then waits 3 s)."""
        while not process.stdout.readline().startswith("GET"):
            assert process.poll() is None
        time.sleep(0.3)

    process = run_cli_subprocess(args)
    downloading(process)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    finished = list((tmp_path / "once").iterdir())
    assert 1 <= len(finished) < 4 and not [p for p in finished if ".partial" in p.name]
    for path in finished:
        assert probe(path).frames == 20  # whole files only

    process = run_cli_subprocess([*args[:-2], str(tmp_path / "twice"), "--no-progress"])
    downloading(process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in out
    assert not list((tmp_path / "twice").glob("*.partial"))
    cam.state.faults.clear()
    rerun = run_cli_subprocess([*args[:-2], str(tmp_path / "twice"), "--no-progress"])
    out, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 0 and len(list((tmp_path / "twice").iterdir())) == 4


def test_a_server_that_drips_one_byte_at_a_time_ends_the_run(write_config, camera, tmp_path,
                                                            monkeypatch, capsys):
    """Every read arrives within the read timeout, but the answer never ends: the
    exchange's deadline (1 s here to start, then at least 8 KiB/s) gives it up."""
    cam = camera("timelapse2", [daily()])
    cam.fault("app", "drip", times=100, delay=0.05)
    cfg = config(write_config, cam, monkeypatch, timeout=1, retries=2)
    started = time.monotonic()
    assert build(cfg) == 5
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert "no complete answer in time" in err and "Traceback" not in err
    assert cam.state.requests_to("timelapse2/app", 200) == 2  # retried, then given up
    cam.state.faults.clear()
    assert build(cfg) == 0  # the next run, against a server that answers, builds the day
