"""Untrusted and user-chosen names (config camera names, event ids, S3 keys) survive
every place they go: doit task names, paths under the output root, ffmpeg arguments
and patterns, and links in the pages. Property-based over names, then end to end
with the worst ones against the simulated console and a real ffmpeg."""

from __future__ import annotations

import subprocess
import urllib.parse
from pathlib import Path

import pytest
from conftest import DATE, Day, unifi_camera
from doit.task import Task
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlbuild.cli import main
from tlbuild.config import validate_name
from tlbuild.errors import ConfigError
from tlbuild.ffmpeg import concat_paths, concat_quote, ffmpeg_exe, numbered
from tlbuild.files import safe_name
from tlbuild.report import _pages
from tlbuild.sim.events import event
from tlbuild.taskdef import doit_name

names = st.text(st.characters(codec="utf-8"), min_size=0, max_size=40)
nasty = st.text(alphabet="=% #?&'\"<>:/\\.\t\n -_aZ\u00e9\U0001F600", max_size=20)


@settings(max_examples=300)
@given(st.one_of(names, nasty))
def test_a_config_name_is_refused_or_stays_inside_out(name):
    out = Path("/srv/out")
    try:
        accepted = validate_name(name, "test")
    except ConfigError as error:
        assert "\n" not in str(error)
        return
    folder = out / accepted / DATE
    assert folder.parent.parent == out and accepted not in ("", ".", "..")
    assert accepted.casefold() != "index.html" and "/" not in accepted


@settings(max_examples=300)
@given(st.one_of(names, nasty), st.one_of(names, nasty))
def test_any_id_makes_a_task_name_doit_takes(first, second):
    for text in (first, second):
        made = doit_name(text)
        Task(f"fetch:{made}", actions=None)  # doit raises InvalidTask on a bad name
        assert made and "=" not in made and not any(c.isspace() for c in made)
    if first != second:
        assert doit_name(first) != doit_name(second)


@settings(max_examples=300)
@given(st.one_of(names, nasty))
def test_page_links_lead_back_to_the_file(name):
    camera = safe_name(name, "camera")
    relative = f"{camera}/{DATE}/report.html"
    href = _pages.from_string("{{ page|urlencode }}").render(page=relative)
    parts = urllib.parse.urlsplit(href)
    assert not parts.scheme and not parts.query and not parts.fragment
    assert urllib.parse.unquote(parts.path) == relative


@settings(max_examples=300)
@given(st.lists(st.one_of(names, nasty).filter(lambda t: "\n" not in t and "\r" not in t
                                              and "\x00" not in t), max_size=5))
def test_a_concat_list_reads_back_the_paths_written(paths):
    listing = "".join(f"file {concat_quote('/out/' + path)}\n" for path in paths)
    assert concat_paths(listing) == ["/out/" + path for path in paths]


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nasty.map(lambda text: safe_name(text, "camera")))
def test_ffmpeg_patterns_in_folders_of_any_name(tmp_path, name):
    folder = tmp_path / name / "work"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=32x18:rate=5", "-frames:v", "10", "-f", "segment",
                    "-segment_times", "1", "-c:v", "mjpeg", "-y",
                    numbered(folder, "%06d.mkv")], check=True)
    assert sorted(p.name for p in folder.iterdir()) == ["000000.mkv", "000001.mkv"]
    for made in folder.iterdir():
        made.unlink()


@pytest.mark.parametrize("name", ["cam#1 100%", "a=b %d&x#y 'q'"])
def test_a_camera_and_an_event_with_odd_names_build_a_day(make_nvr, write_config, name,
                                                          tmp_path):
    sim = make_nvr(events_per_day=3)
    start = 1705330800000  # 2024-01-15 10:00 in New York
    sim.state.extra_events.append(event("ev=1 %d#x", "motion", sim.state.cameras[0].id,
                                        start, start + 8000, score=90))
    config = write_config({name: unifi_camera(sim)})
    assert main(["--config", str(config), "--camera", name, "run", "--date", DATE]) == 0
    day = Day(tmp_path / "out" / name / DATE)
    assert day.timelapse(name).is_file()
    assert any("ev=1 %d#x" in e.get("event_ids", []) for e in day.index)
    page = (day.root / "report.html").read_text()
    video = urllib.parse.quote(day.timelapse(name).name)
    assert f'src="timelapse/{video}"' in page
    assert main(["report", "--config", str(config)]) == 0
    gallery = (tmp_path / "out" / "index.html").read_text()
    assert f'href="{urllib.parse.quote(name)}/{DATE}/report.html"' in gallery


def test_a_camera_named_like_tlbuilds_own_files_is_refused(nvr, write_config, capfd):
    config = write_config({"index.html": unifi_camera(nvr)})
    assert main(["--config", str(config), "--camera", "index.html", "run", "--date",
                 DATE]) == 2
    assert "tlbuild's own" in capfd.readouterr().err
