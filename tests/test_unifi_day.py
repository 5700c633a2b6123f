"""End to end: one UniFi camera-day against the simulated NVR, real HTTP and ffmpeg."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

from conftest import CAMERA, DATE

from tlbuild.days import day_window
from tlbuild.probe import probe
from tlbuild.sources.unifi_client import EVENT_TYPES


def expected_events(nvr, date=DATE, camera=CAMERA):
    camera_id = next(c.id for c in nvr.state.cameras if c.name == camera)
    start, end = day_window(dt.date.fromisoformat(date), nvr.state.timezone)
    return {e["id"] for e in nvr.state.events_between(start, end)
            if e["camera"] == camera_id and e["type"] in EVENT_TYPES
            and e["end"] is not None and start <= e["start"] < end}


def test_full_day_builds_a_timelapse(nvr, tlbuild, out):
    assert tlbuild() == 0
    index, day = out.index, out.day
    assert index and all(entry["status"] == "complete" for entry in index)
    assert {i for e in index for i in e["event_ids"]} == expected_events(nvr)
    assert len(out.clips()) == len(index) == day["valid_clips"] == day["total_clips"]
    # merged clips never overlap: no footage twice
    spans = sorted((e["start_ms"], e["end_ms"]) for e in index)
    assert all(a[1] < b[0] for a, b in pairwise(spans))
    concat = (out.root / "manifests/concat.txt").read_text().splitlines()
    assert concat == [f"file '{out.root / e['file_path']}'" for e in index]
    total = sum(probe(p).duration for p in out.clips())
    assert abs(day["total_duration_secs"] - total) < 0.01
    assert day["speed_factor"] == round(max(total / 10, 1.0), 6)
    video = probe(out.timelapse())
    assert video.codec == "h264" and (video.width, video.height) == (160, 90)
    assert abs(video.duration - min(total, 10)) <= 10 and abs(video.duration - 10) < 1.5
    assert out.json("metadata/verify.json")["ok"] is True
    camera = out.json("metadata/camera.json")
    assert camera["name"] == CAMERA and camera["day"]["hours"] == 24
    assert "accessKey" not in str(camera) and "users" not in camera


def test_more_than_100_events_over_several_pages(make_nvr, tlbuild, out):
    busy = make_nvr(events_per_day=140)
    assert tlbuild("--no-merge", command="scan", target_nvr=busy) == 0
    wanted = expected_events(busy)
    assert len(wanted) > 150  # several pages of 100, with overlapping events
    found = [i for e in out.index for i in e["event_ids"]]
    assert sorted(found) == sorted(wanted)  # none lost, none twice
    assert busy.count("events") >= 2


def test_merge_exports_overlapping_events_once(make_nvr, tlbuild, out, tmp_path):
    sim = make_nvr(events_per_day=40)
    assert tlbuild(command="scan", target_nvr=sim) == 0
    merged = out.index
    assert tlbuild("--no-merge", command="scan", target_nvr=sim) == 0
    separate = out.index
    assert len(separate) == len(expected_events(sim))
    assert len(merged) < len(separate)
    assert sorted(i for e in merged for i in e["event_ids"]) == sorted(
        e["event_id"] for e in separate)


def test_noop_rerun_makes_no_export_and_no_render(nvr, tlbuild, out):
    assert tlbuild() == 0
    exports = nvr.count("export")
    stamp = out.timelapse().stat().st_mtime_ns
    index_stamp = (out.root / "manifests/clip_index.json").stat().st_mtime_ns
    assert tlbuild() == 0
    assert nvr.count("export") == exports
    assert out.timelapse().stat().st_mtime_ns == stamp
    assert (out.root / "manifests/clip_index.json").stat().st_mtime_ns == index_stamp
    assert nvr.state.count("login") == 2  # one login per run, not per clip


def test_crf_change_rerenders_without_downloads(nvr, tlbuild, out):
    assert tlbuild() == 0
    exports, before = nvr.count("export"), out.timelapse().read_bytes()
    assert tlbuild("--crf", "40") == 0
    assert nvr.count("export") == exports
    assert out.timelapse().read_bytes() != before


def test_render_works_offline_from_downloaded_clips(nvr, tlbuild, out):
    assert tlbuild(command="fetch") == 0
    requests_before = len(nvr.state.log)
    assert tlbuild(command="render") == 0
    assert len(nvr.state.log) == requests_before
    assert probe(out.timelapse()).duration > 0


def test_zero_data_day(make_nvr, tlbuild, out, capsys):
    empty = make_nvr(events_per_day=0)
    assert tlbuild(target_nvr=empty) == 0
    assert out.index == []
    assert empty.count("export") == 0
    assert not out.timelapse().exists()
    assert "no events" in capsys.readouterr().err


def test_dst_days_are_23_and_25_hours(nvr, tlbuild, out):
    start, end = day_window(dt.date(2024, 3, 10), "America/New_York")
    assert end - start == 23 * 3_600_000
    start, end = day_window(dt.date(2024, 11, 3), "America/New_York")
    assert end - start == 25 * 3_600_000
    assert tlbuild(command="scan", date="2024-03-10") == 0
    window = out.json("metadata/camera.json")["day"]
    assert window["hours"] == 23 and window["timezone"] == "America/New_York"
    assert all(window["start_ms"] <= e["start_ms"] < window["end_ms"] for e in out.index)
    assert {i for e in out.index for i in e["event_ids"]} == expected_events(
        nvr, "2024-03-10")
