"""What a camera-day looks like: `report.html` (the video with its poster, a 24 h
timeline of the footage, the day's figures, what failed and where it was
published), `keogram.png` (the centre column of the timelapse's frames, side by
side: the whole day at a glance) and `poster.jpg`; and the gallery, `index.html` at
the output root. Static files with relative links, no network: they open from disk
or from any web server."""

from __future__ import annotations

import datetime as dt
import logging
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import jinja2

from . import __version__
from .build import DayBuild
from .ffmpeg import render_file
from .files import atomic_open, file_stamp, read_json
from .pictures import Pictures
from .records import DayRecord, VerifyReport
from .source import Mark
from .sources import SOURCES
from .status import day_state

log = logging.getLogger("tlbuild")

_pages = jinja2.Environment(
    loader=jinja2.PackageLoader("tlbuild", "templates"),
    autoescape=jinja2.select_autoescape(["html.j2"]), undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True)


def write_page(path: Path, template: str, **values: Any) -> None:
    with atomic_open(path, sync_dir=False, mode="w") as handle:
        handle.write(_pages.get_template(template).render(version=__version__, **values))


# --- pictures ------------------------------------------------------------------------

def make_pictures(build: DayBuild) -> None:
    """keogram.png and poster.jpg from the verified timelapse (its frames are the
    day's samples already: no clip is decoded again). A render of this run made them
    while checking the video: they are moved into place, not made again."""
    layout = build.layout
    report = VerifyReport.read(layout.verify_json)
    if report is None or not report.ok or not report.frames:
        log.info("no verified timelapse: no keogram")
        return
    stamp = file_stamp(layout.timelapse)
    made = build.pictures.pop(stamp, None)
    if made is not None and report.stamp == stamp and made.keogram.is_file() \
            and made.poster.is_file():
        made.keogram.replace(layout.keogram)
        made.poster.replace(layout.poster)
        return
    if made is not None:
        made.discard()
    render_file("keogram.j2", layout.keogram, report.frames / report.fps,
                video=layout.timelapse,
                pictures=Pictures(layout.keogram, layout.poster, report.frames))
    # the middle frame's own time: a seek past a one-frame video's only frame finds
    # nothing to write
    render_file("poster.j2", layout.poster, 1.0, video=layout.timelapse,
                at=f"{((report.frames - 1) // 2) / report.fps:.6f}")


# --- the day page --------------------------------------------------------------------

def _fraction(moment_ms: float, start_ms: int, end_ms: int) -> float:
    return min(max((moment_ms - start_ms) / (end_ms - start_ms), 0.0), 1.0) * 100


def _mark(mark: Mark, window: tuple[int, int], zone: ZoneInfo) -> dict[str, Any]:
    left = _fraction(mark.first_ms, *window)
    when = dt.datetime.fromtimestamp(mark.first_ms / 1000, zone)
    return {"left": round(left, 3),
            "width": round(max(_fraction(mark.last_ms, *window) - left, 0.08), 3),
            "state": mark.state, "seek": None if mark.seek is None else round(mark.seek, 3),
            "seek_end": None if mark.seek_end is None else round(mark.seek_end, 3),
            "title": f"{when:%H:%M:%S} {mark.label}"
                     + (f": {mark.reason}" if mark.reason else "")}


def keogram_slices(marks: list[Mark], window: tuple[int, int], video_secs: float,
                   fps: float) -> list[dict[str, float]]:
    """Where the keogram's parts go on the 24 h axis, for a video that follows the
    clock: each run of footage shown without a break (a gap in the day, such as dark
    hours left out, starts a new one) is the keogram's columns of that stretch of
    video, placed over that stretch of the day. `left`/`width`: the slice on the
    axis; `image_left`/`image_width`: the whole keogram inside it (percent)."""
    shown = sorted((m for m in marks if m.state == "ok" and m.seek is not None),
                   key=lambda m: m.first_ms)
    if not shown or video_secs <= 0:
        return []
    starts = [m.first_ms for m in shown]
    steps = sorted(b - a for a, b in pairwise(starts) if b > a)
    spacing = steps[len(steps) // 2] if steps else 60_000  # a frame's share of the day
    pieces = []  # [clock start, clock end, video start, video end]
    for mark in shown:
        video_end = mark.seek_end if mark.seek_end is not None else mark.seek + 1 / fps
        clock_end = mark.last_ms if mark.seek_end is not None else mark.first_ms + spacing
        if pieces and mark.first_ms - pieces[-1][1] <= spacing / 2 \
                and abs(mark.seek - pieces[-1][3]) <= 1.5 / fps:
            pieces[-1][1], pieces[-1][3] = clock_end, video_end
        else:
            pieces.append([mark.first_ms, clock_end, mark.seek, video_end])
    slices = []
    for clock_start, clock_end, video_start, video_end in pieces:
        left = _fraction(clock_start, *window)
        width = _fraction(clock_end, *window) - left
        shown_secs = min(video_end, video_secs) - video_start
        if width <= 0 or shown_secs <= 0:
            continue
        slices.append({"left": round(left, 3), "width": round(width, 3),
                       "image_left": round(-100 * video_start / shown_secs, 3),
                       "image_width": round(100 * video_secs / shown_secs, 3)})
    return slices


def filter_words(chosen: dict[str, Any] | None) -> str | None:
    """The day's event filter as a sentence ("person, vehicle only; scores of 60 or
    more"), None when every event counts."""
    if not isinstance(chosen, dict):
        return None
    kinds = chosen.get("smart_types") or chosen.get("labels") or []
    score = chosen.get("min_score") or 0
    words = []
    if kinds:
        words.append(f"{', '.join(map(str, kinds))} only")
    if score:
        words.append(f"detections scoring {score} or more")
    return "; ".join(words) or None


def safe_link(url: Any, base: str | None) -> str | None:
    """`url` as a link a page may carry: an absolute http(s) URL, or a relative one
    resolved against `base` (the server that gave it); None for anything else
    (`javascript:`, `data:`, control characters), which the page shows as text."""
    if not isinstance(url, str) or not url.strip() or any(
            ord(char) < 32 or ord(char) == 127 for char in url):
        return None
    url = url.strip()
    if not urlsplit(url).scheme and base:
        url = urljoin(base.rstrip("/") + "/", url)
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def write_report(build: DayBuild) -> None:
    layout = build.layout
    day = DayRecord.read(layout.day_json)
    zone_name = build.zone()
    zone = ZoneInfo(zone_name)
    start = dt.datetime.combine(build.date, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(build.date + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    window = (int(start.timestamp() * 1000), int(end.timestamp() * 1000))
    report = VerifyReport.read(layout.verify_json)
    bases = {sink.name: sink.link_base for sink in build.sinks}
    receipts = []
    for path in sorted((layout.root / "publish").glob("*.json")):
        receipt = read_json(path, None)
        if isinstance(receipt, dict):  # what a server answered: linked only if http(s)
            url = receipt.get("url")
            receipts.append({"sink": str(receipt.get("sink", path.stem)),
                             "kind": str(receipt.get("kind", "")),
                             "time": str(receipt.get("time", "")),
                             "url": str(url) if url is not None else None,
                             "link": safe_link(url, bases.get(receipt.get("sink")))})
    source = SOURCES[build.settings.source]
    # the source's marks of the day (its clips, archives or frames), each placed on the
    # 24 h: where the footage is, what failed, and where the video shows it
    raw_marks = source.marks(build, day)
    marks = [_mark(mark, window, zone) for mark in raw_marks]
    failures = [mark["title"] for mark in marks if mark["state"] == "failed"]
    summary = day.summary
    figures = [(name, value) for name, value in (
        ("items", f"{summary.used if summary else 0} of {summary.items if summary else 0} "
                  f"{summary.kind if summary else 'items'} used"),
        ("footage", f"{day.total_duration_secs:.0f} s"
         if day.total_duration_secs else None),
        ("speed", f"{day.speed_factor:g}x" if day.speed_factor else None),
        ("output", f"{report.frames} frames, {report.duration_secs:.2f} s at "
                   f"{report.fps:g} fps" if report and report.frames else None),
        ("verified", ("yes" if report.ok else "NO: " + ", ".join(
            report.failed_checks())) if report else "not yet"),
        ("low resolution", "yes (older than the console's full-resolution footage)"
         if day.low_resolution else None),
        ("events", filter_words(day.filter) or ("every event" if day.filter else None)),
        ("skipped frames", day.skipped_frames or None),
        ("time zone", zone_name)) if value is not None]
    video = layout.timelapse if layout.timelapse.is_file() else None
    on_clock = source.continuous(build.settings) and report is not None and report.frames
    slices = keogram_slices(raw_marks, window, report.frames / report.fps,
                            report.fps) if on_clock else []
    write_page(layout.report, "report_day.html.j2", camera=build.settings.name,
               date=build.date.isoformat(), video=video and video.name,
               poster=layout.poster.name if layout.poster.is_file() else None,
               keogram=layout.keogram.name if layout.keogram.is_file() else None,
               marks=marks, hours=list(range(0, 25, 3)), figures=figures,
               failures=failures, receipts=receipts, slices=slices,
               demo=build.simulated,
               gallery="../../index.html")
    log.debug("day page: %s", layout.report)


def report_inputs(build: DayBuild) -> list[Path]:
    layout = build.layout
    # not keogram.png or poster.jpg: made from these, in the run before the page
    # nor camera.json: the console's newest recording time in it changes every scan
    candidates = [layout.day_json, layout.verify_json,
                  *SOURCES[build.settings.source].records(layout), layout.timelapse,
                  *sorted((layout.root / "publish").glob("*.json"))]
    return [path for path in candidates if path.is_file()]


# --- the gallery ---------------------------------------------------------------------

def is_date(name: str) -> bool:
    """A day's folder is named by its date; anything else there is not one."""
    try:
        return dt.date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def gallery_day(out: Path, camera: str, date: str) -> dict[str, Any]:
    """One day's entry: its state (with why), its page and its poster."""
    root = out / camera / date
    state = day_state(root, camera, dt.date.fromisoformat(date))
    return {"date": date, "day": date[8:],
            "state": "pruned" if state.pruned and state.state == "built" else state.state,
            "detail": state.detail,
            "page": f"{camera}/{date}/report.html" if (root / "report.html").is_file()
            else None,
            "poster": f"{camera}/{date}/poster.jpg" if (root / "poster.jpg").is_file()
            else None}


def camera_rollups(out: Path, camera: str) -> list[dict[str, str]]:
    """The camera's rollup videos (weeks, months, same-time), newest first."""
    folder = out / camera / "rollups"
    found = []
    for rollup in sorted(folder.iterdir(), reverse=True) if folder.is_dir() else []:
        video = rollup / f"{camera}_{rollup.name}.mp4"
        if video.is_file():
            found.append({"label": rollup.name, "video": f"{camera}/rollups/{rollup.name}/"
                                                          f"{video.name}"})
    return found


def write_gallery(out: Path, cameras: list[str]) -> Path:
    """index.html at the output root: each camera's latest day at the top, then one
    section per camera with its rollups and its days, newest first, a month to a
    block (the current month open, older ones folded: a year of days for many
    cameras stays one light page, whose pictures load only when shown)."""
    sections = []
    for camera in cameras:
        folder = out / camera
        dates = sorted((p.name for p in folder.iterdir() if p.is_dir()
                        and is_date(p.name)), reverse=True) if folder.is_dir() else []
        months: dict[str, list[dict[str, Any]]] = {}
        for date in dates:
            months.setdefault(date[:7], []).append(gallery_day(out, camera, date))
        days = [day for month in months.values() for day in month]
        sections.append({
            "camera": camera, "latest": days[0] if days else None,
            "built": sum(day["state"] in ("built", "pruned", "empty") for day in days),
            "failed": sum(day["state"] == "failed" for day in days),
            "months": [{"month": month, "days": entries}
                       for month, entries in months.items()],
            "rollups": camera_rollups(out, camera)})
    path = out / "index.html"
    out.mkdir(parents=True, exist_ok=True)
    write_page(path, "report_gallery.html.j2", sections=sections,
               made=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"))
    return path
