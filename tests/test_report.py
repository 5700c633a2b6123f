"""The day page, the keogram, the chapters and the gallery, built against the
simulated console; the pages are then opened in a real headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import DATE, PASSWORD, REPO, unifi_camera

from tlbuild.cli import main
from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.report import write_gallery
from tlbuild.sim.events import event

ARTIFACTS = Path(os.environ.get("TLBUILD_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def built(tmp_path_factory, clip_cache) -> Path:
    """Two built days of one camera (the second with a clip the console cannot give),
    their pages and the gallery."""
    from tlbuild.sim.clips import ClipSpec
    from tlbuild.sim.unifi import SimulatedNvr
    folder = tmp_path_factory.mktemp("report")
    nvr = SimulatedNvr({"protect-api": PASSWORD}, clip=ClipSpec(160, 90, 5),
                       events_per_day=6, clip_cache=clip_cache).start()
    camera = nvr.state.cameras[0].id
    start = 1705406400000  # 2024-01-16 07:00 New York: an event without recording
    nvr.state.add_events([event("nothing-recorded", "smartDetectZone", camera, start,
                                start + 8000, smart=["person"])])
    nvr.state.gaps.append((start, start + 8000))
    os.environ["UPVS_PASSWORD"] = PASSWORD
    try:
        config = folder / "tlbuild.toml"
        import tomli_w
        config.write_text(tomli_w.dumps({"out": str(folder / "out"),
                                         "cameras": {"yard": unifi_camera(nvr)}}))
        assert main(["batch", "--config", str(config), "--from", DATE, "--to",
                     "2024-01-16", "--quiet"]) == 1  # the second day lost one clip
    finally:
        nvr.stop()
    return folder / "out"


def day(out: Path, date: str = DATE) -> Path:
    return out / "yard" / date


def test_pages_keogram_and_chapters_are_made(built, tmp_path):
    root = day(built)
    verify = json.loads((root / "metadata" / "verify.json").read_text())
    clips = json.loads((root / "manifests" / "clip_index.json").read_text())
    # keogram: one column per frame (at most 1440), the fixed height
    png = (root / "keogram.png").read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == math.ceil(verify["frames"] / math.ceil(verify["frames"] / 1440))
    assert height == 180
    # made by the render's own check (no second decode), the same as from the video
    from tlbuild.ffmpeg import render_file
    from tlbuild.pictures import Pictures
    again = tmp_path / "keogram.png"
    video = root / "timelapse" / f"yard_{DATE}_timelapse.mp4"
    render_file("keogram.j2", again, 1.0, video=video,
                pictures=Pictures(again, tmp_path / "poster.jpg", verify["frames"]))
    assert again.read_bytes() == png
    render_file("poster.j2", tmp_path / "poster.jpg", 1.0, video=video,
                at=f"{(verify['frames'] - 1) // 2 / verify['fps']:.6f}")
    assert (tmp_path / "poster.jpg").read_bytes() == (root / "poster.jpg").read_bytes()
    assert not list(root.rglob("*.partial"))
    # chapters: one per clip, at its place in the video, titled with its local time
    meta = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(
        root / "timelapse" / f"yard_{DATE}_timelapse.mp4"), "-f", "ffmetadata", "-"],
        capture_output=True, text=True, check=True).stdout
    starts = [int(v) for v in re.findall(r"^START=(\d+)", meta, re.M)]
    titles = re.findall(r"^title=(.*)$", meta, re.M)
    assert len(starts) == len(clips) and starts[0] == 0 and starts == sorted(starts)
    speed = json.loads((root / "metadata" / "day.json").read_text())["speed_factor"]
    second = sum(c["video_secs"] for c in clips[:1]) / speed
    assert abs(starts[1] / 1000 - second) < 0.002
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d .+", title) for title in titles)
    html = (root / "report.html").read_text()
    assert html.count('class="mark ') == len(clips) and "timelapse/yard_" in html
    page = (day(built, "2024-01-16") / "report.html").read_text()
    assert 'class="mark failed"' in page and "no recording" in page
    gallery = (built / "index.html").read_text()
    assert f"yard/{DATE}/report.html" in gallery and "1 failed: no recording" in gallery


def test_a_rerun_leaves_the_pages_alone(built, capsys):
    page = day(built) / "report.html"
    before = page.stat().st_mtime_ns
    config = built.parent / "tlbuild.toml"
    assert main(["--config", str(config), "--camera", "yard", "render", "--date", DATE]) == 0
    assert page.stat().st_mtime_ns == before
    assert f"day page: {page}" in capsys.readouterr().err


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no Chromium and chromedriver (Debian: apt-get install chromium "
                    "chromium-driver) to open the pages in")
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium (the test extra) drives Chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--window-size=1200,1400",
                 "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def open_page(browser, path: Path) -> list[dict]:
    """Load a page from file:// and return the console's errors."""
    browser.get(path.as_uri())
    time.sleep(0.5)
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def check_links(browser, page: Path) -> None:
    for element in browser.find_elements("css selector", "a[href], img[src], video[src]"):
        target = element.get_attribute("href") or element.get_attribute("src")
        address = urlsplit(target)
        if address.scheme == "file":
            assert Path(unquote(address.path)).is_file(), f"{page.name}: {target}"
    for image in browser.find_elements("css selector", "img"):
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 0


def screenshot(browser, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / name))


def test_the_gallery_opens_from_disk(browser, built):
    errors = open_page(browser, built / "index.html")
    assert errors == []
    check_links(browser, built / "index.html")
    days = browser.find_elements("css selector", "ul.days li")
    # newest first: the 16th (one clip lost), then the 15th
    assert [(day.text, day.get_attribute("class")) for day in days] == [
        ("16", "built"), ("15", "built")]
    assert "1 failed: no recording" in days[0].get_attribute("title")
    latest = browser.find_element("css selector", ".latest li").text
    assert "2024-01-16" in latest and "1 failed: no recording" in latest
    screenshot(browser, "gallery.png")
    browser.find_element("css selector", f"a[href='yard/{DATE}/report.html']").click()
    assert browser.title == f"yard {DATE}"


def test_the_day_page_plays_its_video_and_seeks_from_the_timeline(browser, built):
    page = day(built) / "report.html"
    errors = open_page(browser, page)
    assert errors == []
    check_links(browser, page)
    video = browser.find_element("id", "video")
    deadline = time.monotonic() + 15
    while browser.execute_script("return arguments[0].readyState", video) < 1:
        assert time.monotonic() < deadline, "the video never loaded its metadata"
        time.sleep(0.2)
    verify = json.loads((day(built) / "metadata" / "verify.json").read_text())
    duration = browser.execute_script("return arguments[0].duration", video)
    assert abs(duration - verify["duration_secs"]) <= 1 / verify["fps"]
    clips = json.loads((day(built) / "manifests" / "clip_index.json").read_text())
    marks = browser.find_elements("css selector", "#timeline .mark")
    assert len(marks) == len(clips)
    last = marks[-1]
    browser.execute_script("arguments[0].click()", last)
    time.sleep(0.3)
    seek = float(last.get_attribute("data-seek"))
    assert abs(browser.execute_script("return arguments[0].currentTime", video) - seek) < 0.3
    screenshot(browser, "day.png")
    failed = day(built, "2024-01-16") / "report.html"
    assert open_page(browser, failed) == []
    assert browser.find_elements("css selector", "#timeline .mark.failed")
    screenshot(browser, "day-with-a-failed-clip.png")


def test_a_stills_day_draws_its_keogram_on_the_clock(browser, make_nvr, write_config,
                                                     tmp_path, monkeypatch):
    """A continuous day's keogram sits over the hours it shows: two windows of the
    day, two parts, each aligned with its hours on the 24 h timeline."""
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    nvr = make_nvr(events_per_day=0)
    config = write_config({"yard": {
        "source": "unifi-snapshots", "host": nvr.url, "username": "protect-api",
        "password_env": "UPVS_PASSWORD", "camera": "Demo Driveway", "interval": 1800,
        "width": 160, "height": 90, "fps": 4, "preset": "ultrafast",
        "hours": ["08:00-12:00", "14:00-16:00"]}})
    assert main(["--config", str(config), "--camera", "yard", "run", "--date", DATE]) == 0
    page = tmp_path / "out" / "yard" / DATE / "report.html"
    assert open_page(browser, page) == []
    timeline = browser.find_element("id", "timeline").rect
    slices = [element.rect for element in
              browser.find_elements("css selector", "#keogram .slice")]
    assert len(slices) == 2
    for part, (first, last) in zip(slices, ((8, 12), (14, 16)), strict=True):
        hour = timeline["width"] / 24
        assert abs(part["x"] - (timeline["x"] + first * hour)) <= 2
        assert abs(part["width"] - (last - first) * hour) <= 2
    screenshot(browser, "day-of-stills.png")


def test_the_gallery_of_a_year_of_20_cameras_stays_light_and_fast(browser, tmp_path):
    """7000 day entries (20 cameras x 350 days, each with its page and poster): the
    newest first, a block per month, the page small and quick to open."""
    out = tmp_path / "out"
    poster = tmp_path / "poster.jpg"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=160x90", "-frames:v", "1", "-y", str(poster)], check=True)
    first = dt.date(2024, 1, 1)
    cameras = [f"cam{n:02d}" for n in range(20)]
    for camera in cameras:
        for offset in range(350):
            root = out / camera / (first + dt.timedelta(days=offset)).isoformat()
            root.mkdir(parents=True)
            (root / "report.html").write_text("<!DOCTYPE html><title>day</title>")
            shutil.copyfile(poster, root / "poster.jpg")
    (out / "cam00" / "rollups" / "2024-W10").mkdir(parents=True)
    (out / "cam00" / "rollups" / "2024-W10" / "cam00_2024-W10.mp4").write_bytes(b"")
    started = time.perf_counter()
    page = write_gallery(out, cameras)
    made = time.perf_counter() - started
    size = page.stat().st_size
    assert size < 1_500_000, size
    html = page.read_text()
    assert html.index("cam00/2024-12-15/report.html") < html.index(
        "cam00/2024-01-01/report.html")  # newest first
    assert 'href="cam00/rollups/2024-W10/cam00_2024-W10.mp4"' in html
    browser.get(page.as_uri())
    loaded = browser.execute_script(
        "var t = performance.getEntriesByType('navigation')[0];"
        "return t.loadEventEnd - t.startTime;")
    entries = browser.execute_script("return document.querySelectorAll('ul.days li').length")
    fetched = browser.execute_script(
        "return Array.from(document.images).filter(i => i.complete && i.naturalWidth)"
        ".length")
    print(f"gallery of 7000 days: {size / 1e6:.2f} MB, made in {made:.1f} s, "
          f"loaded in {loaded:.0f} ms, {fetched} pictures fetched")
    assert entries == 7000
    assert loaded < 3000, loaded  # ms, on a 2-core machine
    assert 20 <= fetched < 300  # the latest days; the rest wait until they are shown
