"""Rollups: one video of a week or a month of a camera, made from its verified daily
timelapses, as doit targets that depend on those day videos (a day rebuilt later
re-makes only the rollups that hold it).

    rollup_list   rollups/<period>/days.json, concat.txt  (the verified days, in order)
    rollup        rollups/<period>/<camera>_<period>.mp4  (stream-copied when every day
                  has the same encoding, re-encoded otherwise; checked frame by frame)

With `at` (e.g. 12:00): one frame per day, each day's frame nearest that local time,
from the frames a frame source keeps (rollups/<period>-at-HHMM/): months of a
construction site at one glance.
"""

from __future__ import annotations

import calendar
import collections
import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from doit.tools import config_changed

from .config import Config
from .days import FIRST_DATE, LAST_DATE
from .errors import MediaError, TlbuildError, UsageError
from .ffmpeg import concat_quote, default_font, ffmpeg_version, render_file
from .files import read_json, write_bytes_if_changed, write_json_if_changed
from .frames import GOOD
from .layout import DayLayout
from .probe import decode, probe
from .progress import LoggedFailure, progress_reporter
from .records import DayRecord, VerifyReport, verified_video
from .sources import SOURCES
from .terminal import plural

log = logging.getLogger("tlbuild")


def parse_period(week: str | None, month: str | None) -> tuple[str, list[dt.date]]:
    """("2026-W10", its 7 dates) for an ISO week, ("2026-03", its dates) for a month."""
    if bool(week) == bool(month):
        raise UsageError("a rollup needs one period: week=YYYY-Www or month=YYYY-MM")
    try:
        if week:
            match = re.fullmatch(r"(\d{4})-W(\d{2})", week)
            if not match:
                raise ValueError
            year, number = map(int, match.groups())
            first = dt.date.fromisocalendar(year, number, 1)
            dates = [first + dt.timedelta(days=n) for n in range(7)]
            label = f"{year}-W{number:02d}"
        else:
            match = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
            if not match:
                raise ValueError
            year, number = map(int, match.groups())
            days = calendar.monthrange(year, number)[1]
            dates = [dt.date(year, number, day) for day in range(1, days + 1)]
            label = f"{year}-{number:02d}"
    except ValueError:
        raise UsageError(f"invalid period {week or month!r}: expected a week as "
                         "YYYY-Www (ISO week, e.g. 2026-W10) or a month as YYYY-MM"
                         ) from None
    if dates[0] < FIRST_DATE or dates[-1] > LAST_DATE:
        raise UsageError(f"invalid period {label}: tlbuild builds days from "
                         f"{FIRST_DATE} to {LAST_DATE}")
    return label, dates


def parse_at(text: str | None) -> dt.time | None:
    if not text:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise UsageError(f"invalid time {text!r}: expected HH:MM, e.g. 12:00")
    return dt.time(int(match.group(1)), int(match.group(2)))


class Rollup:
    """One rollup of one camera: where its days and its files are."""

    def __init__(self, config: Config, camera: str, label: str, dates: list[dt.date],
                 at: dt.time | None = None, fps: float | None = None):
        self.settings = config.camera(camera)
        self.name, self.label, self.dates, self.at = self.settings.name, label, dates, at
        self.camera_root = config.out / self.name
        folder = label + (f"-at-{at:%H%M}" if at else "")
        self.root = self.camera_root / "rollups" / folder
        self.video = self.root / f"{self.name}_{folder}.mp4"
        self.days_json = self.root / "days.json"
        self.record = self.root / "rollup.json"  # how it was made, its frame count
        self.listing = self.root / ("frames.txt" if at else "concat.txt")
        self.fps = fps or (10.0 if at else None)
        self.warned: set[dt.date] = set()  # days left out, said once
        if at and SOURCES[self.settings.source].kind != "frames":
            frame_sources = ", ".join(name for name, source in SOURCES.items()
                                      if source.kind == "frames")
            raise UsageError(f"camera {self.name!r} ({self.settings.source}) keeps no "
                             "frames: a same-time rollup (at=HH:MM) needs a frame source "
                             f"({frame_sources})")

    def day(self, date: dt.date) -> DayLayout:
        return DayLayout.create(self.camera_root / date.isoformat(), self.name, date)

    def built_days(self) -> list[dt.date]:
        """The period's days whose timelapse is the very file that passed
        verification (a video damaged since is left out, with a warning)."""
        built = []
        for date in self.dates:
            layout = self.day(date)
            report, why_not = verified_video(layout.verify_json, layout.timelapse)
            if report is not None:
                built.append(date)
            elif VerifyReport.read(layout.verify_json) is not None \
                    and date not in self.warned:
                self.warned.add(date)
                log.warning("%s %s left out: %s", self.name, date, why_not)
        return built

    def inputs(self) -> list[Path]:
        """What the rollup is made from: the day videos, or the days' frame indexes."""
        days = [self.day(date) for date in self.built_days()]
        if self.at:
            return [layout.frame_index for layout in days if layout.frame_index.is_file()]
        return [path for layout in days for path in (layout.timelapse, layout.verify_json)]

    # --- actions ---------------------------------------------------------------------

    def write_list(self) -> None:
        days = self.built_days()
        if not days:
            raise MediaError(f"no verified day of {self.name} in {self.label}: build the "
                             "days first (tlbuild batch --camera "
                             f"{self.name} --from {self.dates[0]} --to {self.dates[-1]})")
        if self.at:
            return self._write_frames(days)
        entries = []
        for date in days:
            layout = self.day(date)
            report = VerifyReport.read(layout.verify_json)
            entries.append({"date": date.isoformat(), "file": str(layout.timelapse),
                            "frames": report.frames, "fps": report.fps})
        write_json_if_changed(self.days_json, {"period": self.label, "days": entries})
        write_bytes_if_changed(self.listing, ("ffconcat version 1.0\n" + "".join(
            f"file {concat_quote(entry['file'])}\n" for entry in entries)).encode())
        log.info("%d of %s built", len(entries), plural(len(self.dates), "day"))

    def _write_frames(self, days: list[dt.date]) -> None:
        """Each day's good frame nearest `at` in the camera's local time."""
        chosen = []
        for date in days:
            layout = self.day(date)
            day = DayRecord.read(layout.day_json)
            zone = ZoneInfo(day.timezone or self.settings.timezone or "UTC")
            wanted = dt.datetime.combine(date, self.at, tzinfo=zone).timestamp()
            good = [entry for entry in read_json(layout.frame_index, []) or []
                    if entry.get("status") == GOOD and entry.get("timestamp") is not None
                    and (layout.root / entry["file"]).is_file()]
            if not good:
                log.warning("%s has no frames kept (pruned?): left out", date)
                continue
            best = min(good, key=lambda entry: abs(entry["timestamp"] - wanted))
            chosen.append({"date": date.isoformat(), "file": str(layout.root / best["file"]),
                           "timestamp": best["timestamp"], "width": best.get("width"),
                           "height": best.get("height"),
                           "local_time": dt.datetime.fromtimestamp(best["timestamp"], zone)
                           .strftime("%Y-%m-%d %H:%M:%S")})
        if not chosen:
            raise MediaError(f"no frames of {self.name} in {self.label} to roll up")
        write_json_if_changed(self.days_json, {"period": self.label,
                                               "at": f"{self.at:%H:%M}", "days": chosen})
        write_bytes_if_changed(self.listing, ("ffconcat version 1.0\n" + "".join(
            f"file {concat_quote(entry['file'])}\n"
            f"file_packet_metadata 'tlbuild_time={entry['local_time']}'\n"
            f"duration {1 / self.fps:.6f}\n" for entry in chosen)).encode())
        log.info("a frame at %s from each of %s", f"{self.at:%H:%M}",
                 plural(len(chosen), "day"))

    def render(self) -> None:
        days = read_json(self.days_json, {}).get("days", [])
        if self.at:
            sizes = collections.Counter((d["width"], d["height"]) for d in days)
            width, height = max(sizes.items(), key=lambda item: (item[1], item[0]))[0]
            render_file("render_frames.j2", self.video, len(days) / self.fps,
                        frames=self.listing, width=width + width % 2,
                        height=height + height % 2, fps=f"{self.fps:g}",
                        frame_count=len(days), crf=self.settings.render.crf,
                        preset=self.settings.render.preset,
                        overlay=self.settings.overlay_time,
                        font=self.settings.overlay_font or default_font())
            return self.check(len(days), "frames")  # one frame a day
        total = sum(day["frames"] for day in days)
        infos = [probe(Path(day["file"])) for day in days]
        shapes = {(i.codec, i.width, i.height, round(i.fps, 3)) for i in infos}
        headers = {avc_config(Path(day["file"])) for day in days}
        if len(shapes) == 1 and len(headers) == 1 and None not in headers:
            log.info("joining %s without re-encoding", plural(len(days), "day"))
            render_file("rollup_copy.j2", self.video, total / infos[0].fps,
                        concat=self.listing)
            method = "copy"
        else:
            fps = collections.Counter(round(i.fps, 3) for i in infos).most_common(1)[0][0]
            size = collections.Counter((i.width, i.height) for i in infos).most_common(1)
            (width, height), _ = size[0]
            log.info("re-encoding %s (their encodings differ)", plural(len(days), "day"))
            render_file("rollup_encode.j2", self.video, total / fps, concat=self.listing,
                        width=width, height=height, fps=f"{fps:g}", frame_count=total,
                        crf=self.settings.render.crf, preset=self.settings.render.preset)
            method = "encode"
        self.check(total, method)

    def check(self, frames: int, method: str) -> None:
        """Decode the rollup: every frame there, none damaged; then record it."""
        decoded = decode(self.video)
        if decoded.errors or decoded.frames != frames:
            self.video.unlink(missing_ok=True)
            first_error = f"; {decoded.errors[0]}" if decoded.errors else ""
            raise MediaError(f"{self.video.name}: {decoded.frames} frames decoded, "
                             f"{frames} expected{first_error}")
        write_json_if_changed(self.record, {"file": self.video.name, "method": method,
                                            "frames": frames})
        log.info("made %s: %s (%s)", self.video, plural(frames, "frame"),
                 {"copy": "stream copy", "encode": "re-encoded"}.get(method, "a frame a day"))

    # --- doit ------------------------------------------------------------------------

    def namespace(self) -> dict[str, Any]:
        inputs = self.inputs()
        reads = {"period": self.label, "at": f"{self.at}" if self.at else None,
                 "fps": self.fps, "crf": self.settings.render.crf,
                 "preset": self.settings.render.preset, "ffmpeg": ffmpeg_version(),
                 "overlay": self.settings.overlay_time}

        def task_rollup_list() -> dict[str, Any]:
            """List the period's verified days (their videos, or frames with at=)."""
            return {"actions": [guarded(self.write_list)], "file_dep": [str(p) for p in inputs],
                    "targets": [str(self.days_json), str(self.listing)],
                    "uptodate": [config_changed({**reads, "inputs": [str(p) for p in
                                                                      inputs]})],
                    "clean": True, "verbosity": 2}

        def task_rollup() -> dict[str, Any]:
            """Join the days into one video (stream copy when their encodings match)."""
            return {"actions": [guarded(self.render)],
                    "file_dep": [str(self.days_json), str(self.listing),
                                 *(str(p) for p in inputs)],
                    "targets": [str(self.video), str(self.record)],
                    "uptodate": [config_changed(reads)],
                    "clean": True, "verbosity": 2}

        self.root.mkdir(parents=True, exist_ok=True)
        return {"task_rollup_list": task_rollup_list, "task_rollup": task_rollup,
                "DOIT_CONFIG": {"backend": "sqlite3",
                                "dep_file": str(self.root / ".tlbuild-doit.sqlite3"),
                                "default_tasks": ["rollup_list", "rollup"],
                                "verbosity": 2,
                                "reporter": progress_reporter(f"{self.name} {self.label}")}}


def guarded(action: Any) -> Any:
    """A doit action whose error is said once, in one line (no doit internals)."""
    def run() -> LoggedFailure | None:
        try:
            action()
        except TlbuildError as error:
            log.error("%s", error)
            return LoggedFailure(str(error))
        return None
    return run


def avc_config(path: Path) -> bytes | None:
    """The H.264 decoder configuration (the `avcC` box: SPS and PPS) of an MP4 whose
    header comes first (faststart): days with equal ones can be joined by stream
    copy; a different PPS (another crf, preset or encoder) cannot."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    at = head.find(b"avcC")
    if at < 4:
        return None
    size = int.from_bytes(head[at - 4:at], "big")
    return head[at - 4:at - 4 + size] if 8 < size <= len(head) - at + 4 else None
