"""UniFi Protect as real consoles behave (camera-apis.md section 1), through the real
CLI against the simulated console over HTTP: event listing whichever end `limit`
keeps, gentle exports, retention, smart filters, sessions and logins."""

from __future__ import annotations

import datetime as dt
import random
from itertools import pairwise

import pytest
from conftest import CAMERA, DATE, PASSWORD, USER, Day, unifi_camera

from tlbuild.cli import main
from tlbuild.days import day_window
from tlbuild.probe import probe
from tlbuild.sim.clips import ClipSpec
from tlbuild.sim.events import event, event_id
from tlbuild.sim.unifi import LOW_QUALITY, Camera, Retention
from tlbuild.sources.unifi import EventFilter, passes

WINDOW = day_window(dt.date.fromisoformat(DATE), "America/New_York")
HOUR = 3_600_000


def camera_id(nvr, name: str = CAMERA) -> str:
    return next(c.id for c in nvr.state.cameras if c.name == name)


def busy_day(nvr, count: int = 260, depth: int = 5) -> set[str]:
    """`count` events spread over the day, plus an event across every point where a
    window of the day could be split in halves (down to `depth` levels)."""
    start, end = WINDOW
    rng, cam, events = random.Random(7), camera_id(nvr), []
    for n in range(count):
        begin = rng.randrange(start, end - 200_000)
        events.append(event(event_id("busy", n), "motion", cam, begin,
                            begin + rng.randint(5, 120) * 1000, score=50))
    for level in range(1, depth + 1):
        for k in range(1, 2 ** level, 2):
            point = start + (end - start) * k // 2 ** level
            events.append(event(event_id("split", level, k), "motion", cam,
                                point - 30_000, point + 30_000, score=50))
    nvr.state.add_events(events)
    return {e["id"] for e in events}


@pytest.mark.parametrize("keeps", ["newest", "oldest"])
def test_busy_day_loses_no_event_whichever_end_limit_keeps(make_nvr, tlbuild, out, keeps):
    busy = make_nvr(events_per_day=0, limit_keeps=keeps)
    wanted = busy_day(busy)
    assert len(wanted) == 291
    assert len(busy.state.events_between(*WINDOW, limit=100)) == 100  # pages get cut
    assert tlbuild("--no-merge", command="scan", target_nvr=busy) == 0
    found = [i for entry in Day(out.root).index for i in entry["event_ids"]]
    assert sorted(found) == sorted(wanted)  # every event, each once
    assert busy.count("events") <= 40  # bounded: a few dozen requests at most


def test_endless_event_pages_fail_clearly_and_bounded(nvr, tlbuild, out, capsys):
    nvr.fault("events", "endless", times=10**6)
    assert tlbuild(command="scan") == 5
    assert "kept answering full pages of events" in capsys.readouterr().err
    assert nvr.count("events") <= 1000
    assert not (out.root / "manifests" / "clip_index.json").exists()


def test_at_most_two_exports_in_flight_by_default(make_nvr, tlbuild, out, tmp_path):
    sim = make_nvr(events_per_day=14)
    assert tlbuild(target_nvr=sim) == 0
    assert len(out.index) >= 8
    assert sim.state.max_in_flight == 2
    one = make_nvr(events_per_day=14)
    assert main(["--host", one.url, "--username", USER, "--camera", CAMERA, "--out",
                 str(tmp_path / "one"), "fetch", "--date", DATE, "--workers", "1"]) == 0
    assert one.state.max_in_flight == 1


@pytest.mark.slow
def test_a_long_event_is_exported_in_parts_of_at_most_an_hour(make_nvr, tlbuild, out):
    # 2.5 hours of footage: one frame a second is enough to make it quickly
    sim = make_nvr(events_per_day=0, export_speed=None, clip=ClipSpec(160, 90, 1))
    start = WINDOW[0] + 10 * HOUR
    sim.state.add_events([event(event_id("long"), "motion", camera_id(sim), start,
                                start + 150 * 60_000, score=90)])
    assert tlbuild(target_nvr=sim) == 0
    parts = Day(out.root).index
    assert [p["part"] for p in parts] == [[1, 3], [2, 3], [3, 3]]
    assert all(p["end_ms"] - p["start_ms"] <= HOUR for p in parts)
    assert parts[0]["start_ms"] == start and parts[-1]["end_ms"] == start + 150 * 60_000
    assert all(a["end_ms"] == b["start_ms"] for a, b in pairwise(parts))
    assert sim.state.longest_export_ms <= HOUR
    concat = (out.root / "manifests" / "concat.txt").read_text().splitlines()
    assert concat == [f"file '{out.root / p['file_path']}'" for p in parts]  # in order
    day = out.day
    assert day["valid_clips"] == 3 and day["total_events"] == 1
    assert abs(day["total_duration_secs"] - 9000) < 30  # the whole window is footage
    video = probe(out.timelapse())
    assert video.frames == day["output_frames"] == 50  # 10 s at 5 fps
    assert abs(video.duration - 10) < 1 / 5


def test_a_range_without_recording_fails_that_clip_and_the_day_goes_on(nvr, tlbuild,
                                                                       out):
    assert tlbuild(command="scan") == 0
    victim = out.index[2]
    nvr.state.gaps.append((victim["start_ms"] - 1000, victim["end_ms"] + 1000))
    assert tlbuild() == 1
    failed = [e for e in out.index if e["status"] == "failed"]
    assert [e["file_path"] for e in failed] == [victim["file_path"]]
    assert failed[0]["error"] == "no recording"
    assert nvr.count("export", 404) == 1  # not retried
    assert out.timelapse().exists() and out.day["failed_clips"] == 1


@pytest.mark.slow
def test_smart_type_filter_keeps_only_those_detections(make_nvr, tlbuild, out):
    sim = make_nvr(events_per_day=40)
    assert tlbuild("--smart-types", "person,Vehicle", target_nvr=sim) == 0
    cam = camera_id(sim)
    day_events = [e for e in sim.state.events_between(*WINDOW) if e["camera"] == cam
                  and e["end"] is not None and WINDOW[0] <= e["start"] < WINDOW[1]]
    wanted = {e["id"] for e in day_events
              if {"person", "vehicle"} & set(e["smartDetectTypes"])}
    assert wanted and len(wanted) < len(day_events)
    assert {i for entry in out.index for i in entry["event_ids"]} == wanted
    assert out.day["filter"] == {"smart_types": ["person", "vehicle"], "min_score": 0}
    assert "<td>person, vehicle only</td>" in (out.root / "report.html").read_text()
    assert out.json("metadata/camera.json")["filter"]["smart_types"] == ["person",
                                                                         "vehicle"]
    # without the filter the next run lists every event again
    assert tlbuild(target_nvr=sim) == 0
    assert len({i for entry in out.index for i in entry["event_ids"]}) > len(wanted)
    assert tlbuild("--smart-types", "persons", target_nvr=sim) == 2


def test_min_score_keeps_audio_detections():
    strict = EventFilter(min_score=70)
    assert not passes({"type": "motion", "score": 69, "smartDetectTypes": []}, strict)
    assert passes({"type": "motion", "score": 70, "smartDetectTypes": []}, strict)
    assert passes({"type": "smartAudioDetect", "score": 0,
                   "smartDetectTypes": ["alrmBark"]}, strict)
    people = EventFilter(smart_types=("person",), min_score=50)
    assert not passes({"type": "motion", "score": 99, "smartDetectTypes": []}, people)
    assert passes({"type": "smartDetectZone", "score": 80,
                   "smartDetectTypes": ["person", "face"]}, people)
    assert not passes({"type": "smartDetectZone", "score": 40,
                       "smartDetectTypes": ["person"]}, people)


def test_a_day_older_than_full_resolution_retention(make_nvr, tlbuild, out, capsys):
    old = Retention(start_lq=WINDOW[0] - 100 * 24 * HOUR, start=WINDOW[1] + HOUR)
    sim = make_nvr(events_per_day=4,
                   cameras=[Camera("65a1b2c3d4e5f60718293a4b", CAMERA, retention=old)])
    assert tlbuild(target_nvr=sim) == 0
    assert "640x360" in capsys.readouterr().err
    assert out.day["low_resolution"] is True
    assert all(e["low_resolution"] for e in out.index)
    assert all((probe(c).width, probe(c).height) == LOW_QUALITY for c in out.clips())


def test_a_day_that_crosses_full_resolution_retention(make_nvr, tlbuild, out,
                                                       ffmpeg_build):
    """Clips of two sizes in one day: every clip is fitted into the largest size, and
    the frame count stays exact."""
    noon = Retention(start_lq=WINDOW[0] - 100 * 24 * HOUR, start=WINDOW[0] + 12 * HOUR)
    sim = make_nvr(events_per_day=6,
                   cameras=[Camera("65a1b2c3d4e5f60718293a4b", CAMERA, retention=noon)])
    assert tlbuild("--fps", "10", "--target", "8", target_nvr=sim) == 0
    sizes = {(probe(c).width, probe(c).height) for c in out.clips()}
    assert sizes == {LOW_QUALITY, (160, 90)}
    day = out.day
    assert day["low_resolution"] is True and day["output_size"] == list(LOW_QUALITY)
    video = probe(out.timelapse())
    assert (video.width, video.height) == LOW_QUALITY
    assert video.frames == day["output_frames"] and out.json("metadata/verify.json")["ok"]


def test_a_day_with_no_footage_left_makes_no_export(make_nvr, tlbuild, out, capsys):
    gone = Retention(start_lq=WINDOW[1] + HOUR, start=WINDOW[1] + 2 * HOUR)
    sim = make_nvr(cameras=[Camera("65a1b2c3d4e5f60718293a4b", CAMERA, retention=gone)])
    assert tlbuild(target_nvr=sim) == 0
    assert "keeps no footage this old" in capsys.readouterr().err
    assert out.index == [] and sim.count("export") == 0 and sim.count("events") == 0


def test_today_builds_what_is_recorded_and_a_later_run_adds_the_rest(make_nvr, tlbuild,
                                                                    out):
    sim = make_nvr(events_per_day=12, now_ms=WINDOW[0] + 12 * HOUR)
    assert tlbuild(target_nvr=sim) == 0
    morning = {e["file_path"] for e in out.index}
    assert morning and all(e["end_ms"] <= WINDOW[0] + 12 * HOUR for e in out.index)
    exports = sim.count("export")
    sim.state.now_ms = WINDOW[1] + HOUR
    assert tlbuild(target_nvr=sim) == 0
    later = {e["file_path"] for e in out.index}
    assert morning < later
    assert sim.count("export") - exports == len(later - morning)  # only the new clips


def test_uos_token_cookie(make_nvr, tlbuild, out):
    sim = make_nvr(cookie_name="UOS_TOKEN")
    assert tlbuild(target_nvr=sim) == 0
    assert out.timelapse().exists() and sim.count("login") == 1


def test_login_limit_is_not_retried(make_nvr, tlbuild, capsys):
    sim = make_nvr(login_limit=0)
    assert tlbuild(target_nvr=sim) == 3
    err = capsys.readouterr().err
    assert "login limit was reached" in err and "retry after" in err
    assert sim.count("login") == 1


def test_a_console_dropping_every_session_gets_one_renewal(nvr, tlbuild, capsys):
    nvr.fault("export", "drop_session", times=1000)
    assert tlbuild() == 3
    assert "dropped the session again" in capsys.readouterr().err
    assert nvr.count("login") == 2  # the first login and one renewal: no loop


def test_explicit_config_wins_over_upvs_host(nvr, tmp_path, monkeypatch, write_config):
    config = write_config({"yard": unifi_camera(nvr)})
    monkeypatch.setenv("UPVS_HOST", "https://192.0.2.1")  # would never answer
    assert main(["--config", str(config), "--camera", "yard", "scan", "--date",
                 DATE]) == 0
    assert (tmp_path / "out" / "yard" / DATE / "manifests" / "clip_index.json").exists()
    assert main(["--host", nvr.url, "--config", str(config), "--camera", "yard",
                 "scan", "--date", DATE]) == 2


def test_direct_mode_keeps_each_camera_day_apart(nvr, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    base = ["--host", nvr.url, "--username", USER, "--camera", CAMERA]
    assert main(base + ["scan", "--date", DATE]) == 0
    assert main(base + ["scan", "--date", "2024-01-16"]) == 0
    for date in (DATE, "2024-01-16"):
        assert (tmp_path / "out" / CAMERA / date / "manifests" / "clip_index.json").exists()
    shared = ["--out", str(tmp_path / "one")]
    assert main(base + shared + ["scan", "--date", DATE]) == 0
    assert main(base + shared + ["scan", "--date", "2024-01-16"]) == 2
    err = capfd.readouterr().err
    assert "already holds camera" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_batch_logs_in_once_per_console(write_config, make_nvr, tmp_path, capsys):
    from test_batch import batch_cameras
    sim = make_nvr(events_per_day=3)
    config = write_config(batch_cameras(sim))
    assert main(["batch", "--config", str(config), "--camera", "all", "--from", DATE,
                 "--to", "2024-01-16", "-j", "3"]) == 0
    assert "6 shards: 6 ok" in capsys.readouterr().out
    assert sim.count("login") == 1
    assert sim.state.max_in_flight <= 2  # across the shards' processes too
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes()
    logs = "".join(p.read_text() for p in (tmp_path / "out").rglob("run.log"))
    assert "logged in" not in logs  # the shards used the batch's session


def test_a_batch_with_a_rejected_login_tries_once(write_config, make_nvr, tmp_path, capsys,
                                                  monkeypatch):
    from test_batch import batch_cameras
    sim = make_nvr(events_per_day=3)
    monkeypatch.setenv("UPVS_PASSWORD", "wrong")
    config = write_config(batch_cameras(sim))
    assert main(["batch", "--config", str(config), "--camera", "all", "--from", DATE,
                 "--to", "2024-01-16"]) == 1
    out = capsys.readouterr().out
    assert "6 shards: 0 ok, 6 failed" in out and "authentication failed" in out
    assert sim.count("login") == 1
