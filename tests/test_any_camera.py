"""Any camera: days from any folder of images (times from names, EXIF or the file),
and cameras tlbuild records itself (`tlbuild capture` from a snapshot URL), against
a simulated camera with Digest auth over real HTTP."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PASSWORD, Day
from PIL import Image

from tlbuild.cli import main
from tlbuild.probe import probe
from tlbuild.sim.snapshot import SimulatedSnapshotCamera
from tlbuild.sources.snapshot_client import SnapshotClient, redact

DATE = "2024-01-15"


def utc(hour: int, day: int = 15) -> float:
    return dt.datetime(2024, 1, day, hour, tzinfo=dt.timezone.utc).timestamp()


def image(path: Path, shade: int = 90, exif: tuple[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.new("RGB", (160, 90), (shade, 120, 200 - shade))
    tags = Image.Exif()
    if exif:
        tags.get_ifd(0x8769).update({0x9003: exif[0], 0x9011: exif[1]})
    picture.save(path, exif=tags) if path.suffix == ".jpg" else picture.save(path)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    """A folder of one day's images named every common way, one dated by EXIF only,
    one by its file time only, a damaged one, one of the next day."""
    root = tmp_path / "camera-folder"
    for name in ("20240115_080000.jpg", "IMG_20240115_090000.jpg",
                 "2024-01-15T10-00-00.jpg", "2024-01-15 11.00.00.png",
                 f"{int(utc(16))}.jpg", "sub/20240115_150000.jpg",
                 "20240116_080000.jpg"):
        image(root / name)
    image(root / "photo.jpg", exif=("2024:01:15 13:30:00", "+01:00"))  # 12:30 UTC
    os.utime(image(root / "nodate.jpg"), (utc(14), utc(14)))
    (root / "20240115_170000.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return root


def folder_camera(path: Path, **keys) -> dict:
    return {"source": "folder", "path": str(path), "timezone": "UTC", "fps": 4,
            "preset": "ultrafast", **keys}


def build(config: Path, camera: str = "yard", date: str = DATE) -> int:
    return main(["--config", str(config), "--camera", camera, "run", "--date", date])


def test_a_folder_day_by_name_exif_and_file_time_then_an_edit_is_picked_up(
        folder, write_config, tmp_path):
    config = write_config({"yard": folder_camera(folder)})
    assert build(config) == 0
    day = Day(tmp_path / "out" / "yard" / DATE)
    index = day.json("manifests/frame_index.json")
    good = [e for e in index if e["status"] == "ok"]
    assert [dt.datetime.fromtimestamp(e["timestamp"], dt.timezone.utc).strftime("%H:%M")
            for e in good] == ["08:00", "09:00", "10:00", "11:00", "12:30", "14:00",
                               "15:00", "16:00"]
    [bad] = [e for e in index if e["status"] == "bad"]
    assert "not a readable JPEG or PNG" in bad["reason"]  # listed, left out
    assert day.day["time_rules"] == {"name": 7, "exif": 1, "mtime": 1}
    video = day.timelapse("yard")
    assert probe(video).frames == 8
    made = video.stat().st_mtime_ns
    assert build(config) == 0 and video.stat().st_mtime_ns == made  # nothing to do
    image(folder / "20240115_080000.jpg", shade=10)  # edited in place
    assert build(config) == 0 and video.stat().st_mtime_ns != made
    assert not list(folder.rglob("*.json"))  # nothing written into the folder
    # a dense folder thinned to one image per 4 h
    config = write_config({"yard": folder_camera(folder, interval=4 * 3600)})
    assert build(config) == 0
    assert probe(video).frames == 3  # the first of 08-12, 12-16 and 16-20 h: 08:00,
    thinned = [e for e in day.json("manifests/frame_index.json")  # 12:30 and 16:00
               if e.get("reason", "").startswith("thinned")]
    assert len(thinned) == 8 - 3


def test_a_pattern_names_the_cameras_own_form(tmp_path, write_config):
    root = tmp_path / "cam"
    for hour in (6, 7):
        image(root / f"front-15.01.2024-{hour:02d}h00.jpg")
    config = write_config({"yard": folder_camera(root, pattern="front-%d.%m.%Y-%Hh%M")})
    assert build(config) == 0
    assert probe(Day(tmp_path / "out" / "yard" / DATE).timelapse("yard")).frames == 2


@pytest.fixture
def camera(clip_cache):
    started = []

    def make(**state) -> SimulatedSnapshotCamera:
        sim = SimulatedSnapshotCamera(cache=clip_cache, **state).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.mark.parametrize("auth", ["digest", "basic", "bearer"])
def test_a_snapshot_with_the_auth_the_camera_asks_for(camera, tmp_path, auth):
    from tlbuild.config import Secret
    sim = camera(users={"admin": PASSWORD}, auth=auth, token="t0ken")
    client = SnapshotClient(sim.snapshot_url, None if auth == "bearer" else "admin",
                            Secret(PASSWORD), Secret("t0ken") if auth == "bearer" else None)
    data = client.grab(tmp_path / "still.jpg")
    assert data[:3] == b"\xff\xd8\xff" and (tmp_path / "still.jpg").read_bytes() == data
    wrong = SnapshotClient(sim.snapshot_url, "admin", Secret("nope"))
    with pytest.raises(Exception, match="refused the snapshot"):
        wrong.grab(tmp_path / "no.jpg")
    assert not (tmp_path / "no.jpg").exists()


def test_urls_are_printed_without_their_secrets():
    assert redact("http://admin:pw@cam:81/cgi-bin/api.cgi?cmd=Snap&user=u&password=pw") \
        == "http://cam:81/cgi-bin/api.cgi?cmd=Snap&user=u&password=***"
    assert "secret" not in redact("rtsp://u:secret@10.0.0.2:554/stream1")


def capture_process(config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tlbuild.cli", "capture", "--config",
                             str(config), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stills(root: Path) -> list[Path]:
    return sorted(root.rglob("captures/*/*.jpg"))


def test_capture_keeps_time_survives_a_dead_camera_stops_on_sigterm_then_builds(
        camera, write_config, tmp_path, monkeypatch):
    sim = camera(users={"admin": PASSWORD}, auth="digest")
    monkeypatch.setenv("CAM_PASSWORD", PASSWORD)
    config = write_config({
        "porch": {"source": "snapshot", "url": sim.snapshot_url, "username": "admin",
                  "password_env": "CAM_PASSWORD", "interval": 1, "timezone": "UTC",
                  "fps": 4, "preset": "ultrafast"},
        "dead": {"source": "snapshot", "url": "http://127.0.0.1:9/snap.jpg",
                 "interval": 1, "timeout": 2}})
    process = capture_process(config)
    out = tmp_path / "out"
    deadline = time.monotonic() + 60
    while len(stills(out / "porch")) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(stills(out / "porch")) >= 4, process.stderr
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - started < 2 and process.returncode == 0, err
    assert not list(out.rglob("*.partial")) and not stills(out / "dead")
    assert err.count("dead: capture failed") == 1  # said once per outage
    assert "porch: stopped after" in err  # each camera ends its turn before the exit
    taken = stills(out / "porch")
    seconds = [dt.datetime.strptime(p.stem, "%Y-%m-%dT%H-%M-%S") for p in taken]
    assert all(1 <= (b - a).total_seconds() <= 2 for a, b in zip(seconds, seconds[1:],
                                                               strict=False))
    today = taken[0].parent.name
    assert main(["--config", str(config), "--camera", "porch", "run", "--date",
                 today]) == 0
    day = Day(out / "porch" / today)
    assert probe(day.timelapse("porch", today)).frames == len(taken)
    assert day.day["time_rules"] == {"name": len(taken)}


def test_capture_stops_writing_below_min_free_mb_and_says_so(camera, write_config,
                                                            tmp_path):
    sim = camera(auth="none")
    config = write_config({"porch": {"source": "snapshot", "url": sim.snapshot_url,
                                     "interval": 1, "min_free_mb": 10_000_000}})
    process = capture_process(config)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert not stills(tmp_path / "out" / "porch") and sim.count() == 0
    assert err.count("MB free") == 1 and "not writing" in err


def test_capture_without_snapshot_cameras_is_a_usage_error(write_config, nvr, capsys):
    from conftest import unifi_camera
    config = write_config({"yard": unifi_camera(nvr)})
    assert main(["capture", "--config", str(config)]) == 2
    assert "snapshot" in capsys.readouterr().err


def test_a_snapshot_day_without_captures_is_empty_and_listing_writes_nothing(
        write_config, tmp_path):
    config = write_config({"porch": {"source": "snapshot", "url": "http://127.0.0.1:9/s",
                                      "interval": 60}})
    listing = subprocess.run([sys.executable, "-m", "doit", "-f",
                              str(Path(__file__).resolve().parents[1] / "dodo.py"),
                              "list", f"config={config}", "camera=porch",
                              f"date={DATE}"], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert not (tmp_path / "out" / "porch" / "captures").exists()
    assert build(config, "porch") == 0  # nothing captured that day: nothing to render
    assert not (tmp_path / "out" / "porch" / DATE / "timelapse").exists()
