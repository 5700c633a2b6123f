"""`tlbuild status`: per camera-day, built, failed (with the latest reason) or missing,
from the day's records: the latest run (metadata/run.json), the summary in day.json,
the verify report and the video itself; the same for every source."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .layout import DayLayout
from .records import DaySummary, RunRecord, VerifyReport, verified_video
from .terminal import plural

BUILT, FAILED, MISSING = "built", "failed", "missing"
EMPTY = "empty"  # built, and the camera's selection kept nothing: no video on purpose
DONE = (BUILT, EMPTY)


@dataclass(frozen=True)
class DayState:
    camera: str
    date: str
    state: str                      # built, empty, failed or missing
    detail: str
    video: str | None = None        # the timelapse, when there is one
    duration_secs: float | None = None
    size: int | None = None
    pruned: bool = False            # the downloaded inputs were pruned
    last_run: dict[str, Any] | None = None

    def line(self) -> str:
        video = f"  {self.video}" if self.video else ""
        if self.video and self.duration_secs is not None and self.size is not None:
            video += f" ({self.duration_secs:.1f} s, {self.size / 1e6:.1f} MB)"
        return f"{self.camera:<16} {self.date}  {self.state:<7} {self.detail}{video}"


def day_state(root: Path, camera: str, date: dt.date) -> DayState:
    layout = DayLayout.create(root, camera, date)
    run = RunRecord.read(layout.run_json)
    summary = DaySummary.read(layout.day_json)
    report = VerifyReport.read(layout.verify_json)
    pruned = layout.pruned_json.exists()
    base = {"camera": camera, "date": date.isoformat(), "pruned": pruned,
            "last_run": asdict(run) if run else None}
    verified, why_not = verified_video(layout.verify_json, layout.timelapse)
    latest = (f"{run.outcome}: {run.reason or 'see the log'} ({run.command} at {run.time})"
              if run and run.exit_code not in (0, 1) else None)
    if latest and not verified:  # the latest run did not build it
        return DayState(state=FAILED, detail=latest, **base)
    if latest and run and run.exit_code != 130:  # not interrupted: the video is older
        return DayState(state=FAILED, detail=latest, video=str(layout.timelapse),
                        duration_secs=verified.duration_secs,
                        size=layout.timelapse.stat().st_size, **base)
    if report and report.ok and why_not and layout.timelapse.is_file():
        # checked once, but the file on disk is not the one checked
        return DayState(state=FAILED, detail=why_not, video=str(layout.timelapse), **base)
    if verified:
        detail = plural(summary.used, summary.kind[:-1]) if summary else "built"
        if summary and summary.failed:
            detail += f"; {summary.failed} failed: {summary.reason}"
        if pruned:
            detail += " (inputs pruned)"
        if latest:  # a later run was stopped: the video verified before is still it
            detail += f"; the latest run: {latest}"
        return DayState(state=BUILT, detail=detail, video=str(layout.timelapse),
                        duration_secs=report.duration_secs,
                        size=layout.timelapse.stat().st_size, **base)
    if summary and summary.frames == 0 and not summary.failed and summary.skipped:
        return DayState(state=EMPTY, detail=f"the camera's selection left out all "
                        f"{plural(summary.skipped, summary.kind[:-1])} "
                        f"({summary.skipped_why}): no video",
                        **base)
    if summary and summary.frames == 0 and not summary.failed:
        return DayState(state=BUILT, detail="no footage on this day (nothing to render)",
                        **base)
    if report and not report.ok:
        return DayState(state=FAILED, detail="verification failed: "
                        f"{', '.join(report.failed_checks())}", **base)
    if summary and summary.failed:
        return DayState(state=FAILED, detail=f"{plural(summary.failed, summary.kind[:-1])} "
                        "failed: "
                        f"{summary.reason}", **base)
    return DayState(state=MISSING, detail="not built yet" if not root.exists()
                    else "incomplete", **base)


def show(states: list[DayState], as_json: bool, quiet: bool) -> int:
    """Print the states (or only the days not built, quiet); 0 when all are built."""
    if as_json:
        print(json.dumps([asdict(state) for state in states], indent=2))
    else:
        for state in states:
            if not (quiet and state.state in DONE):
                print(state.line())
    return 0 if all(state.state in DONE for state in states) else 1
