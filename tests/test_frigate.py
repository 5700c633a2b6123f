"""Frigate as a source, against the simulated Frigate over real HTTP: event days past
one page of events, whole recorded days with gaps, stills from the recording, the
login of port 8971, and the local day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import PASSWORD, Day

from tlbuild.cli import main
from tlbuild.probe import probe
from tlbuild.sim.clips import ClipSpec
from tlbuild.sim.frigate import SimulatedFrigate, frigate_event

DATE = "2024-01-15"
ZONE = ZoneInfo("America/New_York")


def local(hour: int, minute: int = 0, second: float = 0) -> float:
    return dt.datetime(2024, 1, 15, hour, minute, tzinfo=ZONE).timestamp() + second


@pytest.fixture
def make_frigate(clip_cache):
    started = []

    def make(**state) -> SimulatedFrigate:
        state.setdefault("clip", ClipSpec(160, 90, 5))
        server = SimulatedFrigate(clip_cache=clip_cache, **state).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def camera(server, **keys) -> dict:
    return {"source": "frigate", "host": server.url, "camera": "front_door",
            "target": 10, "fps": 5, "preset": "ultrafast", **keys}


def build(config: Path, *args: str, command: str = "run") -> int:
    return main(["--config", str(config), "--camera", "front", command, "--date", DATE,
                 *args])


@pytest.mark.slow
def test_an_event_day_past_one_page_merged_filtered_then_a_rerun_asks_nothing(
        make_frigate, write_config, tmp_path, monkeypatch):
    # 107 clips: one frame a second is enough to make them quickly
    server = make_frigate(events_per_day=105, users={"viewer": PASSWORD},
                          clip=ClipSpec(160, 90, 1))
    # two overlapping events (merged: no footage twice), one still in progress
    server.state.extra_events += [
        frigate_event("front_door", local(12, 0, 0.25), local(12, 0, 20), "person", 0.9),
        frigate_event("front_door", local(12, 0, 10.5), local(12, 0, 30), "car", 0.8),
        frigate_event("front_door", local(23, 59, 50), None, "person", 0.9)]
    monkeypatch.setenv("FRIGATE_PASSWORD", PASSWORD)
    config = write_config({"front": camera(server, username="viewer",
                                           password_env="FRIGATE_PASSWORD")})
    assert build(config) == 0
    day = Day(tmp_path / "out" / "front" / DATE)
    assert server.count("login") == 1 and server.count("events") >= 2  # paged
    ids = {i for entry in day.index for i in entry["event_ids"]}
    assert len(ids) == 105 + 2  # every event of the day, the running one not yet
    merged = [entry for entry in day.index if len(entry["event_ids"]) == 2]
    assert len(merged) == 1 and merged[0]["start_ms"] == int(local(12)) * 1000
    assert merged[0]["end_ms"] == int(local(12, 0, 30)) * 1000  # whole seconds
    starts = sorted((e["start_ms"], e["end_ms"]) for e in day.index)
    assert all(a[1] <= b[0] for a, b in zip(starts, starts[1:], strict=False))
    verify = day.json("metadata/verify.json")
    assert verify["ok"] and verify["frames"] == day.day["output_frames"]
    clips, listed = server.count("clip"), len(day.index)
    assert build(config) == 0 and server.count("clip") == clips  # nothing asked again
    # a label filter and a score floor leave events out
    config = write_config({"front": camera(server, username="viewer",
                                           password_env="FRIGATE_PASSWORD",
                                           labels=["person"], min_score=0.85)})
    assert build(config) == 0
    kept = Day(tmp_path / "out" / "front" / DATE).index
    assert kept and len(kept) < listed
    assert all("person" in entry["event_type"] for entry in kept)
    assert "person only; detections scoring 0.85 or more" in (
        day.root / "report.html").read_text()


def test_every_event_even_from_a_server_that_pages_by_fewer_than_asked(
        make_frigate, write_config, tmp_path):
    server = make_frigate(events_per_day=45, max_limit=20)  # answers 20 at most
    config = write_config({"front": camera(server)})
    assert build(config, command="scan") == 0
    day = Day(tmp_path / "out" / "front" / DATE)
    assert len({i for entry in day.index for i in entry["event_ids"]}) == 45
    assert server.count("events") >= 3


def test_a_wrong_password_is_exit_3_and_said_once(make_frigate, write_config,
                                                  monkeypatch, capsys):
    server = make_frigate(users={"viewer": PASSWORD})
    monkeypatch.setenv("FRIGATE_PASSWORD", "wrong-" + PASSWORD)
    config = write_config({"front": camera(server, username="viewer",
                                           password_env="FRIGATE_PASSWORD")})
    assert build(config) == 3
    err = capsys.readouterr().err
    assert "refused the login" in err and PASSWORD not in err
    assert server.count("login") == 1  # never retried


def test_a_long_event_is_asked_for_in_parts_of_an_hour_at_most(
        make_frigate, write_config, tmp_path):
    server = make_frigate(events_per_day=0, clip=ClipSpec(160, 90, 2))
    server.state.extra_events.append(
        frigate_event("front_door", local(10, 0, 0.5), local(11, 30), "car", 0.9))
    config = write_config({"front": camera(server, fps=2)})
    assert build(config) == 0
    parts = [p.split("/") for p in server.state.requests("clip")]
    spans = [int(float(p[6])) - int(float(p[4])) for p in parts]
    assert len(spans) == 2 and all(span <= 3600 for span in spans)
    assert sum(spans) == int(local(11, 30)) - int(local(10))
    day = Day(tmp_path / "out" / "front" / DATE)
    assert [e["part"] for e in day.index] == [[1, 2], [2, 2]]
    assert abs(probe(day.timelapse("front")).duration - 10) < 0.5


def test_a_recorded_day_leaves_its_gaps_out_and_the_page_shows_them(
        make_frigate, write_config, tmp_path):
    server = make_frigate(events_per_day=0, clip=ClipSpec(160, 90, 2),
                          recording_from=local(8, 40),
                          gaps=[(local(9, 20), local(14)), (local(14, 20), local(23, 59, 60))])
    config = write_config({"front": camera(server, clips="recordings", fps=2)})
    assert build(config) == 0
    day = Day(tmp_path / "out" / "front" / DATE)
    # 08:40-09:20 cut at 09:00 (a finished hour keeps its clip), then 14:00-14:20
    assert [(e["start_ms"] // 1000, e["end_ms"] // 1000) for e in day.index] == [
        (int(local(8, 40)), int(local(9))), (int(local(9)), int(local(9, 20))),
        (int(local(14)), int(local(14, 20)))]
    assert day.day["total_duration_secs"] == pytest.approx(3600, abs=3)
    record = day.json("metadata/camera.json")
    assert record["day"]["timezone"] == "America/New_York"  # Frigate's ui.timezone
    assert [local(9, 20), local(14)] in [[a / 1000, b / 1000] for a, b in record["gaps"]]
    page = (day.root / "report.html").read_text()
    assert page.count('class="mark skipped"') == len(record["gaps"])
    assert 'id="keogram"' in page  # a recorded day follows the clock


def test_the_local_day_is_the_configs_zone_else_frigates_else_this_machines(
        make_frigate, write_config, tmp_path, monkeypatch):
    import tzlocal
    server = make_frigate(events_per_day=2, timezone=None)
    monkeypatch.setenv("TZ", "Europe/Stockholm")  # this machine's zone, read again
    monkeypatch.setattr(tzlocal.unix, "_cache_tz_name", None)
    config = write_config({"front": camera(server)})
    assert build(config, command="scan") == 0
    day = Day(tmp_path / "out" / "front" / DATE)
    assert day.json("metadata/camera.json")["day"]["timezone"] == "Europe/Stockholm"
    config = write_config({"front": camera(server, timezone="Asia/Tokyo")})
    assert build(config, command="scan") == 0
    window = day.json("metadata/camera.json")["day"]
    assert window["timezone"] == "Asia/Tokyo" and window["start_ms"] == int(
        dt.datetime(2024, 1, 15, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp() * 1000)


@pytest.mark.slow
def test_stills_from_the_recording_skip_where_nothing_was_recorded(
        make_frigate, write_config, tmp_path):
    server = make_frigate(events_per_day=0, gaps=[(local(10), local(12))])
    config = write_config({"front": {
        "source": "frigate-snapshots", "host": server.url, "camera": "front_door",
        "interval": 1800, "height": 90, "fps": 4, "preset": "ultrafast"}})
    assert build(config) == 0
    day = Day(tmp_path / "out" / "front" / DATE)
    index = day.json("manifests/frame_index.json")
    assert len(index) == 48 and server.count("snapshot") + server.count(
        "snapshot", 404) >= 48
    missing = [e for e in index if e["status"] == "bad"]
    assert len(missing) == 4 and {e["reason"] for e in missing} == {"no recording"}
    assert probe(day.timelapse("front")).frames == 44
    asked = server.count("snapshot")
    assert build(config) == 0 and server.count("snapshot") == asked  # nothing again


def test_cameras_of_a_frigate_named_on_the_command_line(make_frigate, capsys):
    server = make_frigate()
    assert main(["--host", server.url, "--source", "frigate", "cameras"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["'front_door'", "'back_yard'"]


def test_the_shipped_frigate_demo_builds_its_day(tmp_path):
    from conftest import REPO
    assert main(["--config", str(REPO / "config" / "tlbuild.toml"), "--camera",
                 "frigate-demo", "--out", str(tmp_path), "run", "--date", DATE]) == 0
    verify = json.loads((tmp_path / "frigate-demo" / DATE / "metadata" /
                         "verify.json").read_text())
    assert verify["ok"]


@pytest.mark.slow
def test_a_batch_logs_in_once_per_server(make_frigate, write_config, tmp_path,
                                         monkeypatch):
    server = make_frigate(events_per_day=3, users={"viewer": PASSWORD})
    monkeypatch.setenv("FRIGATE_PASSWORD", PASSWORD)
    config = write_config({name: camera(server, username="viewer",
                                        password_env="FRIGATE_PASSWORD", camera=cam)
                           for name, cam in (("front", "front_door"),
                                             ("back", "back_yard"))})
    assert main(["batch", "--quiet", "--config", str(config), "--from", DATE, "--to",
                 "2024-01-16"]) == 0
    assert server.count("login") == 1  # four shards, one session
    assert len(list((tmp_path / "out").rglob("timelapse/*.mp4"))) == 4
