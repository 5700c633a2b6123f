"""Verify that means it: exact frame counts and lengths, whole decodes, a damaged
video caught and rendered again; an unusable ffmpeg refused before any request."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from conftest import CAMERA, DATE, USER

from tlbuild.cli import main
from tlbuild.ffmpeg import forget_ffmpeg
from tlbuild.probe import probe


def cut(path: Path, fraction: float) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(int(path.stat().st_size * fraction))


def test_verify_reports_exact_counts(tlbuild, out):
    assert tlbuild() == 0
    report = out.json("metadata/verify.json")
    assert report["ok"] and report["frames"] == report["expected_frames"] == \
        out.day["output_frames"]
    assert report["decode_errors"] == [] and all(report["checks"].values())
    assert set(report["checks"]) >= {"decodes", "frame_count", "duration",
                                     "duration_floor", "clips_exist", "concat_order"}


def test_a_damaged_video_fails_verify_and_the_next_run_renders_it_again(tlbuild, out,
                                                                       capsys):
    assert tlbuild() == 0
    good = probe(out.timelapse())
    cut(out.timelapse(), 0.7)
    capsys.readouterr()
    assert tlbuild(command="verify") == 5  # checks the video as it is
    err = capsys.readouterr().err
    assert "verification of" in err and f"{good.frames} expected" in err
    assert "--force" in err and "doit render" in err
    assert not out.json("metadata/verify.json")["ok"]
    assert tlbuild() == 0  # the next run sees the change and renders again
    assert "changed since it was rendered" in capsys.readouterr().err
    assert probe(out.timelapse()).frames == good.frames
    assert tlbuild(command="verify") == 0


def test_render_force_renders_an_up_to_date_video_again(tlbuild, out):
    assert tlbuild() == 0
    before = out.timelapse().stat().st_mtime_ns
    assert tlbuild(command="render") == 0
    assert out.timelapse().stat().st_mtime_ns == before  # up to date
    assert tlbuild("--force", command="render") == 0
    assert out.timelapse().stat().st_mtime_ns != before


def fake_ffmpeg(folder: Path, version: str, encoders: str) -> Path:
    """A stand-in for an unsuitable ffmpeg build: it only answers -version and
    -encoders, as an old or stripped-down build would."""
    path = folder / "ffmpeg"
    path.write_text(f"""#!/bin/sh
case "$*" in
  *-version*) echo "ffmpeg version {version} Copyright (c) the FFmpeg developers" ;;
  *-encoders*) printf ' V....D {encoders}  encoder\\n' ;;
esac
""")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.mark.parametrize("version,encoders,message", [
    ("4.4.2-0ubuntu0.22.04.1", "libx264", "version 4.4 is older than 5.1"),
    ("6.1.1", "libopenh264", "it has no libx264 encoder"),
])
def test_an_unusable_ffmpeg_is_refused_before_any_request(nvr, out, tmp_path,
                                                          monkeypatch, capsys, version,
                                                          encoders, message):
    monkeypatch.setenv("TLBUILD_FFMPEG", str(fake_ffmpeg(tmp_path, version, encoders)))
    forget_ffmpeg()
    try:
        code = main(["--host", nvr.url, "--username", USER, "--camera", CAMERA,
                     "--out", str(out.root), "run", "--date", DATE])
    finally:
        forget_ffmpeg()
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and version in err and "TLBUILD_FFMPEG" in err
    assert nvr.state.log == []
