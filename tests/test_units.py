"""Fast tests of the pure functions: event grouping and parts, reconcile, the Axis
day cut, S3 frame times, retry delays, names, dates, the render plan's numbers, and
the argv each ffmpeg template renders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tlbuild.clips import group_events, keyframe_filter, reconcile, split_range
from tlbuild.days import day_window, parse_date
from tlbuild.errors import UsageError
from tlbuild.ffmpeg import concat_quote, render_argv
from tlbuild.files import printable, safe_name
from tlbuild.http import RetryPolicy
from tlbuild.overlay import clock_filters, offset_spans
from tlbuild.pictures import Pictures
from tlbuild.render_plan import KEYFRAME, RenderPlan, output_frames, output_size, size_filter
from tlbuild.sources.axis_client import Archive
from tlbuild.sources.axis_timelapse2 import day_cut, frame_times
from tlbuild.sources.s3_frames import frame_id, frame_timestamp, group_objects
from tlbuild.sources.unifi import MAX_EXPORT_MS, Retention, clip_entries, day_events


def ev(eid: str, start: int, end: int | None, kind: str = "motion", camera: str = "c",
       smart: list[str] | None = None) -> dict:
    return {"id": eid, "type": kind, "start": start, "end": end, "camera": camera,
            "smartDetectTypes": smart or [], "score": 50}


# --- UniFi events ----------------------------------------------------------------

def test_day_events_keep_this_cameras_finished_footage_inside_the_day():
    events = [ev("a", 5, 10), ev("b", 5, None), ev("c", 5, 10, camera="other"),
              ev("d", 5, 10, kind="access"), ev("e", 95, 130), ev("f", -5, 3)]
    kept = day_events(events, "c", 0, 100)
    assert [e["id"] for e in kept] == ["a", "e"]
    assert kept[1]["end"] == 100  # cut at the day's end


def test_merging_joins_overlaps_and_touching_events_only():
    events = sorted([ev("a", 0, 10), ev("b", 5, 20), ev("c", 20, 25), ev("d", 30, 40)],
                    key=lambda e: (e["start"], e["end"], e["id"]))
    assert [[e["id"] for e in g] for g in group_events(events, merge=True)] == \
        [["a", "b", "c"], ["d"]]
    assert len(group_events(events, merge=False)) == 4


def test_a_long_clip_becomes_parts_of_at_most_an_hour():
    group = [ev("long", 0, 2 * MAX_EXPORT_MS + 1, smart=["person"]),
             ev("short", 10, 20, smart=["vehicle"])]
    parts = clip_entries(group, "clips/c/2024-01-15")
    assert [p["part"] for p in parts] == [[1, 3], [2, 3], [3, 3]]
    assert parts[0]["start_ms"] == 0 and parts[-1]["end_ms"] == 2 * MAX_EXPORT_MS + 1
    assert all(p["end_ms"] - p["start_ms"] <= MAX_EXPORT_MS for p in parts)
    assert len({p["file_path"] for p in parts}) == 3
    assert parts[0]["smart_types"] == ["person", "vehicle"]
    single = clip_entries([ev("x", 0, 1000)], "clips/c/2024-01-15", channel=1)
    assert "part" not in single[0] and single[0]["file_path"].endswith("_ch1.mp4")


def test_a_range_splits_into_equal_parts_of_at_most_the_longest():
    assert split_range(0, 10, 10) == [(0, 10)]
    assert split_range(0, 11, 10) == [(0, 5), (5, 11)]
    assert split_range(5, 5, 10) == [(5, 5)]
    parts = split_range(1000, 1000 + 3 * 3_600_000 + 1, 3_600_000)
    assert len(parts) == 4 and parts[0][0] == 1000 and parts[-1][1] == 1000 + 3 * 3_600_000 + 1
    assert all(b == c for (_, b), (c, _) in zip(parts, parts[1:], strict=False))


def test_retention_marks_low_resolution_and_gone_events():
    kept = Retention(start_lq=100, start=200, end=1000)
    assert kept.gone({"end": 100}) and not kept.gone({"end": 101})
    assert kept.low_resolution(199) and not kept.low_resolution(200)
    assert kept.unfinished({"end": 1001}) and not kept.unfinished({"end": 1000})
    assert Retention.of({"stats": {"video": {"recordingStart": None}}}) == Retention()


def test_reconcile_keeps_finished_clips_and_drops_a_corrupt_one(tmp_path: Path):
    folder = tmp_path / "clips/c/d"
    folder.mkdir(parents=True)
    for name in ("a.mp4", "old.mp4", "bad.mp4"):
        (folder / name).write_bytes(b"x")
    new = [{"file_path": "clips/c/d/a.mp4", "start_ms": 0, "end_ms": 10, "event_id": "a",
            "status": "pending"},
           {"file_path": "clips/c/d/bad.mp4", "start_ms": 20, "end_ms": 30,
            "event_id": "bad", "status": "pending"}]
    previous = [{"file_path": "clips/c/d/a.mp4", "start_ms": 0, "end_ms": 10,
                 "event_id": "a", "status": "complete", "video_secs": 9.5},
                {"file_path": "clips/c/d/bad.mp4", "start_ms": 20, "end_ms": 30,
                 "event_id": "bad", "status": "failed", "error": "not video"},
                {"file_path": "clips/c/d/old.mp4", "start_ms": 50, "end_ms": 60,
                 "event_id": "old", "status": "complete"}]
    result = {e["event_id"]: e for e in reconcile(new, previous, tmp_path)}
    assert result["a"]["status"] == "complete" and result["a"]["video_secs"] == 9.5
    assert result["bad"]["status"] == "failed" and not (folder / "bad.mp4").exists()
    assert result["old"]["status"] == "complete"  # no longer listed: kept (retention)
    dropped = reconcile(new, previous, tmp_path, keep_unlisted=False)
    assert "old" not in {e["event_id"] for e in dropped}  # the filter changed


# --- Axis and S3 ------------------------------------------------------------------

def test_axis_day_cut_and_even_frame_times():
    archive = Archive("w.avi", "p", None, 5, 1.0, first_ms=0, last_ms=4000,
                      container="avi")
    times = frame_times(archive, [])
    assert times == [0, 1000, 2000, 3000, 4000]
    assert day_cut(times, 1000, 3000) == (1, 2)
    assert day_cut(times, 5000, 6000) is None
    real = [0, 500, 2500, 3000, 4000]
    assert frame_times(archive, real) == real  # TimelapseMe's real times, when they fit


@pytest.mark.parametrize("value,seconds", [(1705312800, 1705312800.0),
                                           (1705312800123, 1705312800.123),
                                           (1705312800123456, 1705312800.123456),
                                           (1705312800123456789, 1705312800.1234567)])
def test_s3_frame_timestamps_in_any_unit(value, seconds):
    assert frame_timestamp({"timestamp": value}) == pytest.approx(seconds)


def test_s3_frame_timestamp_must_be_a_positive_number():
    for bad in ({}, {"timestamp": "now"}, {"timestamp": True}, {"timestamp": -1}):
        with pytest.raises(ValueError):
            frame_timestamp(bad)


def test_s3_objects_pair_into_frames_with_safe_unique_ids():
    objects = [{"key": "D/2024-01-15/t-1.json", "etag": "1"},
               {"key": "D/2024-01-15/t-1.jpg", "etag": "2"},
               {"key": "D/2024-01-15/t-2.json", "etag": "3"},
               {"key": "D/2024-01-15/readme.txt", "etag": "4"}]
    frames = group_objects(objects, "D")
    assert [set(f) >= {"json"} for f in frames] == [True, True]
    assert "jpg" in frames[0] and "jpg" not in frames[1]
    assert frame_id("D", "a/../../b") != frame_id("D", "a/b")
    assert "/" not in frame_id("D", "a/../../b")


# --- shared helpers -------------------------------------------------------------

def test_retry_delays_grow_are_capped_and_honour_retry_after():
    policy = RetryPolicy(attempts=5)
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0), (7, 30.0)):
        for _ in range(20):
            assert 0.75 * base <= policy.delay(attempt) <= 1.25 * base
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=600.0) == 30.0


def test_safe_names_by_bytes():
    assert safe_name("Back Yard") == "Back Yard"
    long = safe_name("\U0001F600" * 90)
    assert len(long.encode()) <= 120 and long != safe_name("\U0001F600" * 91)
    assert safe_name("a/b") != safe_name("ab") and "/" not in safe_name("a/b")
    assert safe_name("..", "x").startswith("x-") and safe_name("", "x").startswith("x-")
    assert printable("a\nb\x1b") == "a\\nb\\x1b"


def test_dates():
    assert parse_date("2024-02-29") == dt.date(2024, 2, 29)
    assert parse_date("today") - parse_date("yesterday") == dt.timedelta(days=1)
    assert parse_date("today") in (dt.date.today(), dt.date.today() - dt.timedelta(1))
    for bad in ("2023-02-29", "2024-1-5", "9999-12-31", "1999-12-31"):
        with pytest.raises(UsageError):
            parse_date(bad)
    start, end = day_window(dt.date(2024, 3, 10), "America/New_York")
    assert end - start == 23 * 3_600_000


def test_render_plan_numbers():
    assert output_frames(150, 7.5, 30) == 600
    assert output_frames(55, 2.75, 30) == 600
    assert output_frames(1, 1, 30) == 30 and output_frames(0.001, 1, 30) == 1
    clips = [{"width": 640, "height": 360}, {"width": 1920, "height": 1080}]
    assert output_size(clips) == (1920, 1080) and output_size(clips[:1]) is None
    assert size_filter("-2:720", (1920, 1080)) == "scale=-2:720"
    assert size_filter(None, (1920, 1080)).startswith("scale=1920:1080:")
    assert size_filter(None, None) is None


# --- templates: the argv each renders ----------------------------------------------

def argv(template: str, **values) -> list[str]:
    return render_argv(template, **values)[1:]  # without the ffmpeg path


def test_render_template_argv():
    assert argv("render_concat.j2", concat="c.txt", speed="7.5", fps=30, frames=600,
                pad=5, scale=None, crf=23, preset="medium", output="o.mp4",
                chapters=None) == [
        "-hide_banner", "-f", "concat", "-safe", "0", "-i", "c.txt", "-map", "0:v:0",
        "-vf", "setpts=PTS/7.5,fps=30,tpad=stop_mode=clone:stop_duration=5",
        "-fps_mode", "passthrough", "-frames:v", "600", "-c:v", "libx264", "-crf", "23",
        "-preset", "medium", "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart",
        "-f", "mp4", "-y", "o.mp4"]
    scaled = argv("render_concat.j2", concat="c.txt", speed="2", fps=10, frames=6, pad=5,
                  scale="scale=-2:48", crf=23, preset="fast", output="o.mp4",
                  chapters="o.chapters")
    assert scaled[:3] == ["-hide_banner", "-reinit_filter", "0"]
    assert scaled[scaled.index("-vf") + 1].endswith(",scale=-2:48")
    # the chapters come in the same run, from a second input: no remux afterwards
    assert scaled[scaled.index("c.txt") + 1:][:4] == ["-f", "ffmetadata", "-i", "o.chapters"]
    assert scaled[-8:-4] == ["-map_chapters", "1", "-movflags", "+faststart"]


def test_frames_and_segment_templates_argv():
    frames = argv("render_frames.j2", frames="f.txt", width=160, height=90, fps="10",
                  frame_count=13, crf=23, preset="ultrafast", overlay=False, font=None,
                  output="o.mp4", chapters=None)
    assert frames[:6] == ["-hide_banner", "-reinit_filter", "0", "-f", "concat", "-safe"]
    chain = frames[frames.index("-vf") + 1]
    assert chain.startswith("scale=160:90:") and "settb=AVTB,setpts=N/(10*TB),fps=10" in chain
    assert frames[frames.index("-frames:v") + 1] == "13" and "-r" not in frames
    smoothed = argv("render_frames.j2", frames="f.txt", width=160, height=90, fps="10",
                    frame_count=13, crf=23, preset="ultrafast", overlay=False, font=None,
                    output="o.mp4", deflicker=True, chapters=None)
    assert "fps=10,deflicker=size=5:mode=pm,format=yuv420p" in \
        smoothed[smoothed.index("-vf") + 1]
    segment = argv("archive_segment.j2", archive="a.avi", first=3, last=9, count=7,
                   fps="12", crf=23, preset="fast", output="s.mp4")
    assert segment[segment.index("-vf") + 1] == (
        "select='between(n\\,3\\,9)',settb=AVTB,setpts=N/(12*TB),fps=12,format=yuv420p")
    assert segment[segment.index("-fps_mode") + 1] == "passthrough"
    clocked = argv("archive_segment.j2", archive="a.avi", first=3, last=9, count=7,
                   fps="12", crf=23, preset="fast", output="s.mp4", real_step="60",
                   clock="drawtext=text='x'")
    assert clocked[clocked.index("-vf") + 1] == (
        "select='between(n\\,3\\,9)',settb=AVTB,setpts=N*60/TB,drawtext=text='x',"
        "setpts=N/(12*TB),fps=12,format=yuv420p")


# --- frame selection and rollup periods -------------------------------------------

def test_hours_windows_and_periods():
    from tlbuild.config import ConfigError
    from tlbuild.rollup import parse_at, parse_period
    from tlbuild.selection import Selection, parse_hours
    assert parse_hours("07:00-19:00", "t") == ((420, 1140),)
    assert parse_hours(["22:00-02:00"], "t") == ((0, 120), (1320, 1440))  # wraps
    for bad in ("7-19", "07:00-07:00", "25:00-26:00", 5):
        with pytest.raises(ConfigError):
            parse_hours(bad, "t")
    monday_noon = dt.datetime(2024, 1, 15, 17, tzinfo=dt.timezone.utc).timestamp()
    zone = "America/New_York"
    assert Selection(weekdays=(0,)).left_out(monday_noon, zone) is None
    assert "weekday" in Selection(weekdays=(5, 6)).left_out(monday_noon, zone)
    assert "hours" in Selection(hours=((0, 60),)).left_out(monday_noon, zone)
    label, dates = parse_period("2026-W10", None)
    assert label == "2026-W10" and dates[0] == dt.date(2026, 3, 2) and len(dates) == 7
    label, dates = parse_period(None, "2024-02")
    assert label == "2024-02" and len(dates) == 29
    for week, month in (("2026-W54", None), (None, "2024-13"), (None, None)):
        with pytest.raises(UsageError):
            parse_period(week, month)
    assert parse_at("07:05") == dt.time(7, 5)
    with pytest.raises(UsageError):
        parse_at("24:00")


# --- the time overlay -------------------------------------------------------------

def test_clock_spans_split_where_the_clocks_change():
    # Europe/Stockholm moved from +01:00 to +02:00 at 01:00 UTC on 2024-03-31
    first = dt.datetime(2024, 3, 30, 23, 0, tzinfo=dt.timezone.utc)
    spans = offset_spans(first, 86400, "Europe/Stockholm")
    assert [offset for _, _, offset in spans] == [3600, 7200]
    assert spans[0][0] == 0 and spans[-1][1] == 86400
    assert abs(spans[0][1] - 7200) <= 1  # within the second of the change
    assert offset_spans(first, 86400, "UTC") == [(0.0, 86400.0, 0.0)]


def test_clock_filters_show_local_time_from_the_first_frame():
    first = dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.timezone.utc)
    (one,) = clock_filters(first, 600, "America/New_York", font=None)
    # drawtext adds the local time of `first` (UTC-5) to each frame's seconds
    assert f"gmtime\\:{first.timestamp() - 5 * 3600:.3f}" in one
    assert "enable" not in one and "fontfile" not in one
    change = dt.datetime(2024, 3, 30, 23, 0, tzinfo=dt.timezone.utc)
    before, after = clock_filters(change, 86400, "Europe/Stockholm", font="/f.ttf")
    assert "fontfile=/f.ttf:" in before
    assert "enable='lt(t\\," in before and "enable='gte(t\\," in after
    assert "lt(" not in after  # the last span takes every frame after it


def test_probe_templates_argv():
    assert argv("probe.j2", path="/a b.mp4") == [
        "-hide_banner", "-nostdin", "-xerror", "-i", "/a b.mp4", "-map", "0:v:0", "-c",
        "copy", "-f", "framecrc", "-"]
    # each line tagged with its level: the input's facts (info) and the errors
    assert argv("decode.j2", path="x", pictures=None)[2:4] == ["-loglevel", "level+info"]
    # the check of a fresh render makes the keogram and the poster from the same decode
    both = argv("decode.j2", path="x", pictures=Pictures(Path("k.png"), Path("p.jpg"), 2880))
    keogram = both[both.index("-") + 1:both.index("k.png") + 1]
    assert keogram[:2] == ["-map", "0:v:0"]
    assert keogram[3].startswith("select='not(mod(n\\,2))',crop=2:ih:iw/2:0")
    assert keogram[3].endswith("tile=1440x1")
    poster = both[both.index("k.png") + 1:]
    assert poster[-1] == "p.jpg" and poster[3] == "select='eq(n\\,1439)'"
    assert argv("ffmpeg_info.j2", what="encoders") == ["-hide_banner", "-encoders"]


def test_intermediate_template_argv():
    mjpeg = argv("intermediate.j2", clip="c.mp4", keyframes=False,
                 filters="select='not(mod(n\\,8))'", output="i.mkv")
    assert mjpeg[mjpeg.index("-vf") + 1] == "select='not(mod(n\\,8))',format=yuv420p"
    assert mjpeg[mjpeg.index("-strict"):][:2] == ["-strict", "unofficial"]
    every = keyframe_filter(RenderPlan(KEYFRAME), {"keyframe_secs": 2.0})
    keyframes = argv("intermediate.j2", clip="c.mp4", keyframes=every, filters="",
                     output="i.mkv")
    assert keyframes[keyframes.index("-bsf:v") + 1] == "noise=drop=not(key)"
    # one keyframe in two: those whose number (packets / packets per keyframe) is
    # even; a comma escaped for ffmpeg's list of bitstream filters
    assert keyframe_filter(RenderPlan(KEYFRAME, 2), {"keyframe_secs": 5.0, "fps": 30}) == (
        "noise=drop=not(key)+mod(round(n/150.000000)\\,2)")


def test_a_template_value_with_a_line_break_is_refused():
    from tlbuild.errors import MediaError
    with pytest.raises(MediaError):
        render_argv("probe.j2", path="a\nb")
    assert concat_quote("it's") == "'it'\\''s'"


@pytest.mark.parametrize("height", [90, 180, 720])
def test_the_burned_in_clock_is_readable_on_a_small_video(height, ffmpeg_build):
    """At least 16 px of text however small the video, a 24th of a large one."""
    import subprocess

    from tlbuild.ffmpeg import default_font, ffmpeg_exe, ffmpeg_filters
    if "drawtext" not in ffmpeg_filters():
        pytest.skip("this ffmpeg build has no drawtext (no libfreetype)")
    first = dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.timezone.utc)
    (clock,) = clock_filters(first, 10, "UTC", default_font())
    width = height * 16 // 9
    gray = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         f"color=c=black:s={width}x{height}:r=1", "-frames:v", "1", "-vf",
         f"{clock},format=gray", "-f", "rawvideo", "-"], capture_output=True,
        check=True).stdout
    rows = [y for y in range(height) if max(gray[y * width:(y + 1) * width]) > 200]
    text = rows[-1] - rows[0] + 1
    assert text >= 11 and text >= height / 24 * 0.6, (height, text)


def test_probe_counts_keyframes_in_the_same_read(clip_cache):
    """One ffmpeg run per clip gives its packets and its keyframe spacing (what the
    render plan needs), without decoding a frame."""
    from tlbuild.probe import probe
    from tlbuild.sim.clips import ClipSpec, make_clip
    info = probe(make_clip(ClipSpec(160, 90, 5, 2), 10, clip_cache))
    assert (info.frames, info.keyframes, info.keyframe_secs) == (50, 5, 2.0)
