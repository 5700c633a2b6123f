"""The demos look like cameras: every simulated frame shows the scene at its time
with the camera's clock burned in, and carries that time in a strip of bits along
its bottom edge, read back here from the decoded frames of downloads and finished
timelapses. Also the shipped demo cameras (S3 frames, publishing), the time overlay
of UniFi and Axis cameras, and the simulators run by hand."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from conftest import DATE, REPO, Day, frame_times, unifi_camera

from tlbuild.cli import main
from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.probe import probe
from tlbuild.sim.axis import ArchiveSpec, SimulatedAxis
from tlbuild.sim.clips import ClipSpec

UTC = dt.timezone.utc
SHIPPED = REPO / "config" / "tlbuild.toml"


def test_clips_and_their_timelapse_show_the_time_they_were_filmed(make_nvr,
                                                                  write_config):
    sim = make_nvr(events_per_day=4)
    config = write_config({"yard": unifi_camera(sim)})
    assert main(["--config", str(config), "--camera", "yard", "run", "--date", DATE]) == 0
    day = Day(config.parent / "out" / "yard" / DATE)
    fps = sim.state.clip.fps
    spans = []
    for entry in day.index:
        shown = frame_times(day.root / entry["file_path"])
        start = dt.datetime.fromtimestamp(entry["start_ms"] / 1000, UTC)
        # frame n was filmed n/fps seconds after the export's start (whole seconds)
        for number in (0, len(shown) // 2, len(shown) - 1):
            expected = start + dt.timedelta(seconds=number / fps)
            assert abs((shown[number] - expected).total_seconds()) <= 1, entry["file_path"]
        spans.append((shown[0], shown[-1]))
    # every frame of the timelapse is footage of one of the clips, in time order
    output = frame_times(day.timelapse("yard"))
    assert output == sorted(output)
    assert all(any(first <= moment <= last for first, last in spans) for moment in output)


@pytest.mark.parametrize("app", ["timelapse3", "timelapseme"])
def test_archive_frames_show_their_capture_times(app, clip_cache, write_config,
                                                 monkeypatch):
    first = dt.datetime(2024, 1, 15, 0, 10, tzinfo=UTC)
    spec = ArchiveSpec("Front_2024_01_15_0000." + ("mp4" if app == "timelapse3" else "avi"),
                       "p1", first, dt.datetime(2024, 1, 15, 23, 40, tzinfo=UTC), 48)
    with SimulatedAxis(app, {"root": "pw"}, [spec], cache=clip_cache) as sim:
        monkeypatch.setenv("AXIS_PW", "pw")
        config = write_config({"front": {
            "source": "axis-timelapse2", "host": sim.host, "username": "root",
            "password_env": "AXIS_PW", "preset": "ultrafast", "timezone": "UTC"}})
        assert main(["--config", str(config), "--camera", "front", "run", "--date",
                     DATE]) == 0
    shown = frame_times(config.parent / "out" / "front" / DATE / "timelapse" /
                        f"front_{DATE}_timelapse.mp4")
    if app == "timelapseme":  # the camera reports each frame's real, uneven time
        expected = spec.frame_times()
    else:  # a steady timer from the first frame to the last
        step = (spec.last - spec.first) / (spec.frames - 1)
        expected = [spec.first + step * number for number in range(spec.frames)]
    assert len(shown) == len(expected)
    assert all(abs((got - want).total_seconds()) <= 1
               for got, want in zip(shown, expected, strict=True))


def test_the_s3_demo_of_the_shipped_config_shows_the_day_passing(tmp_path):
    assert main(["--config", str(SHIPPED), "--camera", "s3-demo", "--out", str(tmp_path),
                 "run", "--date", DATE]) == 0
    video = tmp_path / "s3-demo" / DATE / "timelapse" / f"s3-demo_{DATE}_timelapse.mp4"
    shown = frame_times(video)
    midnight = dt.datetime(2024, 1, 15, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert shown == [midnight + dt.timedelta(minutes=10 * n) for n in range(144)]
    # dark at night, light at noon: the scene follows the time of day
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    info = probe(video)
    size = info.width * info.height
    brightness = [sum(raw[n * size:(n + 1) * size]) / size for n in (12, 72)]  # 2:00, 12:00
    assert brightness[1] > brightness[0] + 40


def test_without_the_demo_extra_the_s3_demo_says_what_to_install(tmp_path):
    def tlbuild_without_moto(*args: str) -> subprocess.CompletedProcess:
        # a fresh process: this one may have started the simulated store already
        code = ("import sys; sys.modules['moto.server'] = None; "
                "from tlbuild.cli import main; raise SystemExit(main(sys.argv[1:]))")
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=120)

    run = tlbuild_without_moto("--config", str(SHIPPED), "--camera", "s3-demo", "--out",
                               str(tmp_path), "run", "--date", DATE)
    assert run.returncode == 2 and "pip install -e '.[demo]'" in run.stderr
    # doctor: a demo that needs an extra is skipped, not a problem of the setup
    doctor = tlbuild_without_moto("doctor", "--config", str(SHIPPED), "--camera",
                                  "s3-demo", "--out", str(tmp_path))
    assert doctor.returncode == 0
    assert "skip  camera s3-demo: the simulated S3 store needs moto" in doctor.stdout


def test_the_demo_publishes_to_its_simulated_allsky_server_once(tmp_path):
    run = ["--config", str(SHIPPED), "--camera", "demo", "--out", str(tmp_path), "run",
           "--date", DATE]
    assert main(run) == 0
    receipt = tmp_path / "demo" / DATE / "publish" / "demo-allsky.json"
    sent = receipt.read_text()
    assert '"remote_id"' in sent and '"sink": "demo-allsky"' in sent
    page = (tmp_path / "demo" / DATE / "report.html").read_text()
    assert "time code" in page  # the demo page says what the strip in its footage is
    assert main(run) == 0
    assert receipt.read_text() == sent  # unchanged: nothing sent again


def overlay_brightness(video: Path) -> int:
    """The brightest luma in the corner where tlbuild's time overlay goes (bottom
    left, above the simulators' strip)."""
    info = probe(video)
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True,
                         check=True).stdout
    rows = range(info.height - info.height // 8, info.height - info.height // 24 - 2)
    return max(raw[y * info.width + x] for y in rows for x in range(4, info.width // 3))


def test_overlay_time_burns_in_the_time_for_unifi_and_axis(make_nvr, write_config,
                                                           clip_cache, monkeypatch,
                                                           tmp_path):
    sim = make_nvr(events_per_day=3, clip=ClipSpec(320, 180, 5))
    monkeypatch.setenv("AXIS_PW", "pw")
    first = dt.datetime(2024, 1, 15, 0, 10, tzinfo=UTC)
    archive = ArchiveSpec("Front_2024_01_15_0000.avi", "p1", first,
                          dt.datetime(2024, 1, 15, 23, 40, tzinfo=UTC), 24, 5, 320, 180)
    with SimulatedAxis("timelapse2", {"root": "pw"}, [archive], cache=clip_cache) as cam:
        axis = {"source": "axis-timelapse2", "host": cam.host, "username": "root",
                "password_env": "AXIS_PW", "preset": "ultrafast"}
        for overlay in (False, True):
            config = write_config({"yard": unifi_camera(sim, overlay_time=overlay),
                                   "front": {**axis, "overlay_time": overlay}},
                                  folder=tmp_path / str(overlay))
            for camera in ("yard", "front"):
                assert main(["--config", str(config), "--camera", camera, "run", "--date",
                             DATE]) == 0
    for camera, frames in (("yard", None), ("front", 24)):
        plain, overlaid = (tmp_path / str(overlay) / "out" / camera / DATE / "timelapse" /
                           f"{camera}_{DATE}_timelapse.mp4" for overlay in (False, True))
        assert probe(overlaid).frames == (frames or probe(plain).frames)
        assert overlay_brightness(plain) < 150 < overlay_brightness(overlaid), camera
    day = Day(tmp_path / "True" / "out" / "yard" / DATE).day
    assert day["overlay_time"] is True and day["render_plan"]["mode"] == "intermediate"


@pytest.mark.parametrize("module, args", [
    ("unifi", []), ("axis", ["--date", DATE]), ("allsky", []),
    ("s3", ["--date", DATE, "--every", "3600"])])
def test_a_simulator_run_by_hand_says_where_it_listens_and_how_to_use_it(module, args):
    env = {**os.environ, "SIM_PASSWORD": "pw", "SIM_APIKEY": "key"}
    process = subprocess.Popen([sys.executable, "-m", f"tlbuild.sim.{module}", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops it" in line:
                break
        text = "".join(lines)
        url = re.search(r"http://127\.0\.0\.1:\d+[^\s,\"]*", text)
        assert url, text
        assert re.search(r'^\s+(host|url|endpoint_url) = "', text, re.M), text
        assert requests.get(url.group(0), timeout=10).status_code < 600  # it answers
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_processes_sharing_the_simulators_cache_make_the_same_stills_without_error(
        tmp_path):
    """Simulators in several processes (a demo, a test's console, a batch's) share a
    cache: the stills one of them is making as another asks for the same ones are
    made by both, and the one that finishes second uses the first one's."""
    asks = ("from pathlib import Path\n"
            "from tlbuild.sim.clips import recorded_still\n"
            "for hour in range(3):\n"
            f"    still = recorded_still(64, 36, 1705300000000 + hour * 3600000, 'UTC', "
            f"Path({str(tmp_path)!r}))\n"
            "    assert still[:2] == b'\\xff\\xd8', hour\n")
    processes = [subprocess.Popen([sys.executable, "-c", asks], stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 3, errors
    assert not list(tmp_path.glob(".stills-*"))  # no maker's work folder left behind
