"""Continuous days from a UniFi camera's recording (source "unifi-snapshots") against
the simulated console, which serves recorded stills of its scene with the time in
each frame's strip, and rollups of weeks, months and one time of day."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import CAMERA, DATE, PASSWORD, REPO, USER, frame_times

from tlbuild.cli import main
from tlbuild.probe import probe
from tlbuild.selection import TWILIGHT, sun_elevation

ZONE = ZoneInfo("America/New_York")  # the simulated console's time zone


def local_ms(hour: int, minute: int = 0, day: int = 15) -> int:
    return int(dt.datetime(2024, 1, day, hour, minute, tzinfo=ZONE).timestamp() * 1000)


def stills_camera(nvr, **keys) -> dict:
    return {"source": "unifi-snapshots", "host": nvr.url, "username": USER,
            "password_env": "UPVS_PASSWORD", "camera": CAMERA, "interval": 300,
            "width": 160, "height": 90, "fps": 12, "preset": "ultrafast", **keys}


def build(config: Path, *args: str, date: str = DATE, command: str = "run") -> int:
    return main(["--config", str(config), "--camera", "yard", command, "--date", date,
                 *args])


def index_of(root: Path) -> list[dict]:
    return json.loads((root / "manifests" / "frame_index.json").read_text())


def video_of(root: Path, date: str = DATE) -> Path:
    return root / "timelapse" / f"yard_{date}_timelapse.mp4"


def test_a_day_every_5_minutes_with_a_gap_then_a_rerun_fetches_nothing(
        make_nvr, write_config, tmp_path, monkeypatch, ffmpeg_build):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0, gaps=[(local_ms(10), local_ms(11))])
    config = write_config({"yard": stills_camera(nvr)})
    assert build(config) == 0
    root = tmp_path / "out" / "yard" / DATE
    index = index_of(root)
    assert len(index) == 288 and nvr.count("snapshot") == 288
    missing = [e for e in index if e["status"] == "bad"]
    assert len(missing) == 12 and {e["reason"] for e in missing} == {"no recording"}
    assert all(local_ms(10) <= e["timestamp"] * 1000 < local_ms(11) for e in missing)
    kept = [e for e in index if e["status"] == "ok"]
    # every frame of the video is the recording at its time, in order
    shown = frame_times(video_of(root))
    assert shown == [dt.datetime.fromtimestamp(e["timestamp"], dt.timezone.utc)
                     for e in kept]
    assert len(shown) == 276
    assert build(config) == 0 and nvr.count("snapshot") == 288  # nothing asked again


def test_today_asks_only_up_to_now_and_a_later_run_adds_the_new_stills(
        make_nvr, write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0, now_ms=local_ms(12, 2))
    config = write_config({"yard": stills_camera(nvr)})
    assert build(config) == 0
    assert nvr.count("snapshot") == 145  # 00:00 to 12:00
    nvr.state.now_ms = local_ms(18, 0)
    assert build(config) == 0
    assert nvr.count("snapshot") == 145 + 71  # 12:05 to 17:55, nothing twice
    assert probe(video_of(tmp_path / "out" / "yard" / DATE)).frames == 216


def test_a_console_that_repeats_its_last_frame_in_a_gap(make_nvr, write_config,
                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0, gaps=[(local_ms(10), local_ms(11))],
                   still_gaps="repeat")
    config = write_config({"yard": stills_camera(nvr, interval=600)})
    assert build(config) == 0
    index = index_of(tmp_path / "out" / "yard" / DATE)
    repeats = [e for e in index if e["status"] == "skipped"]
    # 10:00 shows the last frame before the gap; 10:10 to 10:50 repeat it
    assert [e["timestamp"] * 1000 for e in repeats] == [
        local_ms(10, m) for m in (10, 20, 30, 40, 50)]
    assert all("same image" in e["reason"] for e in repeats)
    day = json.loads((tmp_path / "out/yard" / DATE / "metadata/day.json").read_text())
    assert day["frame_count"] == 144 - 5 and day["skipped_frames"] == 5


def test_bad_answers_are_recorded_skipped_and_asked_again(make_nvr, write_config,
                                                          tmp_path, monkeypatch):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0)
    config = write_config({"yard": stills_camera(nvr, interval=3600, retries=1)})
    for kind in ("html", "truncate", "cut"):
        nvr.fault("snapshot", kind)
    assert build(config) == 1  # built, but three stills failed
    index = index_of(tmp_path / "out" / "yard" / DATE)
    failed = [e for e in index if e["status"] == "bad"]
    assert len(failed) == 3 and all(e["reason"] for e in failed)
    assert any("not a JPEG" in e["reason"] for e in failed)
    assert any("truncated" in e["reason"] for e in failed)
    assert probe(video_of(tmp_path / "out" / "yard" / DATE)).frames == 21
    assert build(config) == 0  # the three are asked again, the rest is kept
    assert nvr.count("snapshot") == 24 + 3
    assert probe(video_of(tmp_path / "out" / "yard" / DATE)).frames == 24


def test_hours_weekdays_daylight_and_dark_frames(make_nvr, write_config, tmp_path,
                                                monkeypatch):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0)

    def day_with(name: str, **keys) -> tuple[int, list[dict]]:
        config = write_config({"yard": stills_camera(nvr, interval=1800, **keys)},
                              folder=tmp_path / name)
        code = build(config)
        root = tmp_path / name / "out" / "yard" / DATE
        return code, index_of(root) if (root / "manifests/frame_index.json").exists() \
            else []

    def kept(index: list[dict]) -> list[dict]:
        return [e for e in index if e["status"] == "ok"]

    code, index = day_with("hours", hours=["07:00-09:00", "17:00-18:00"])
    assert code == 0
    assert [dt.datetime.fromtimestamp(e["timestamp"], ZONE).strftime("%H:%M")
            for e in kept(index)] == ["07:00", "07:30", "08:00", "08:30", "17:00", "17:30"]
    # the times left out are never asked, but listed with why
    assert len(index) == 48 and all("outside the chosen hours" in e["reason"]
                                    for e in index if e["status"] == "skipped")

    asked = nvr.count("snapshot")
    code, index = day_with("weekend", weekdays=["sat", "sun"])  # 2024-01-15: a Monday
    assert code == 0 and kept(index) == [] and nvr.count("snapshot") == asked
    assert len(index) == 48 and all("not a chosen weekday" in e["reason"] for e in index)

    # New York: civil dawn near 06:50, dusk near 17:20 in mid-January
    code, index = day_with("daylight", daylight_only=True, latitude=40.71,
                           longitude=-74.01)
    assert code == 0
    index = kept(index)
    hours = [dt.datetime.fromtimestamp(e["timestamp"], ZONE) for e in index]
    assert dt.time(6, 30) <= hours[0].time() <= dt.time(7, 30)
    assert dt.time(16, 30) <= hours[-1].time() <= dt.time(17, 30)
    assert all(sun_elevation(e["timestamp"], 40.71, -74.01) >= TWILIGHT for e in index)

    code, index = day_with("dark", skip_dark=True)
    assert code == 0
    dark = {dt.datetime.fromtimestamp(e["timestamp"], ZONE).hour for e in index
            if e["status"] == "skipped"}
    assert all("dark: mean brightness" in e["reason"] for e in index
               if e["status"] == "skipped")
    assert 2 in dark and 12 not in dark and 23 in dark
    assert all(e["brightness"] >= 40 for e in index if e["status"] == "ok")


def test_deflicker_keeps_every_frame(make_nvr, write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0)
    config = write_config({"yard": stills_camera(nvr, interval=1800, deflicker=True)})
    assert build(config) == 0
    root = tmp_path / "out" / "yard" / DATE
    assert probe(video_of(root)).frames == 48
    day = json.loads((root / "metadata" / "day.json").read_text())
    assert day["render"]["deflicker"] is True


def rollup(config: Path, *args: str) -> int:
    return main(["rollup", "--config", str(config), "--camera", "yard", *args])


@pytest.mark.slow
def test_week_rollups_copy_streams_and_remake_only_for_a_rebuilt_day(
        make_nvr, write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0)
    config = write_config({"yard": stills_camera(nvr, interval=3600)})
    # 2024-W03 is 15-21 January; the 22nd starts W04
    assert main(["batch", "--config", str(config), "--camera", "yard", "--from",
                 "2024-01-15", "--to", "2024-01-22", "--quiet"]) == 0
    rollups = tmp_path / "out" / "yard" / "rollups"
    assert rollup(config, "--week", "2024-W03") == 0
    assert rollup(config, "--week", "2024-W04") == 0
    week = json.loads((rollups / "2024-W03" / "rollup.json").read_text())
    assert week == {"file": "yard_2024-W03.mp4", "method": "copy", "frames": 7 * 24}
    w03, w04 = (rollups / w / f"yard_{w}.mp4" for w in ("2024-W03", "2024-W04"))
    shown = frame_times(w03)
    assert shown == sorted(shown) and len(shown) == 168  # every day, in order
    assert shown[0] == dt.datetime(2024, 1, 15, 5, tzinfo=dt.timezone.utc)  # 00:00 EST
    before = {w03: w03.stat().st_mtime_ns, w04: w04.stat().st_mtime_ns}

    # one day rendered again with another crf: only its week is made again, and
    # re-encoded (another encoder setting cannot be stream-copied)
    assert build(config, "--crf", "30", "--force", date="2024-01-17",
                 command="render") == 0
    assert rollup(config, "--week", "2024-W03") == 0
    assert rollup(config, "--week", "2024-W04") == 0
    assert w03.stat().st_mtime_ns != before[w03] and w04.stat().st_mtime_ns == before[w04]
    week = json.loads((rollups / "2024-W03" / "rollup.json").read_text())
    assert week["method"] == "encode" and probe(w03).frames == 168
    # the same rollup through doit: nothing left to do
    again = subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"),
                            "camera=yard", "week=2024-W03", f"config={config}"],
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 0 and "0 run, 2 up to date" in again.stderr

    # one frame a day at noon, over the month's eight built days
    assert rollup(config, "--month", "2024-01", "--at", "12:00") == 0
    noon = rollups / "2024-01-at-1200" / "yard_2024-01-at-1200.mp4"
    assert frame_times(noon) == [
        dt.datetime(2024, 1, day, 12, tzinfo=ZONE).astimezone(dt.timezone.utc)
        for day in range(15, 23)]


def test_rollup_usage_errors(write_config, tmp_path, make_nvr, capsys):
    nvr = make_nvr(events_per_day=0)
    config = write_config({"yard": stills_camera(nvr),
                           "clips": {"source": "unifi", "host": nvr.url, "username": USER,
                                     "password_env": "UPVS_PASSWORD", "camera": CAMERA}})
    assert rollup(config, "--week", "2024-W60") == 2
    assert "ISO week" in capsys.readouterr().err
    assert main(["rollup", "--config", str(config), "--camera", "clips", "--month",
                 "2024-01", "--at", "12:00"]) == 2
    assert "needs a frame source" in capsys.readouterr().err
    assert rollup(config, "--month", "2024-02") == 5  # nothing built that month
    assert "no verified day" in capsys.readouterr().err
