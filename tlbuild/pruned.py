"""What a pruned camera-day allows (`tlbuild prune` deleted its downloaded inputs;
its video is the only copy of the day): checking and publishing the video as it
is. Anything that needs the inputs back, a new render setting or `render --force`,
is refused with the way to get them (`run --rebuild`), and a rebuild that finds
nothing on the device keeps the old video and its records."""

from __future__ import annotations

import logging
from pathlib import Path

from .build import DayBuild
from .errors import UsageError
from .files import read_json, write_bytes_if_changed
from .records import DaySummary, verified_video
from .report import write_report

log = logging.getLogger("tlbuild")


def rebuild_hint(build: DayBuild) -> str:
    return (f"inputs pruned: `run --rebuild` re-downloads them (tlbuild --camera "
            f"{build.settings.name} run --date {build.date} --rebuild)")


def refuse_changes(build: DayBuild) -> None:
    """A pruned day renders nothing: say so instead of silently keeping the old
    video when the command asks for another one (exit 2)."""
    if build.force:
        raise UsageError(f"{build.label}: {rebuild_hint(build)}; without them --force "
                         "cannot render the video again, so it stays as it is")
    recorded = (read_json(build.layout.pruned_json, {}) or {}).get("render")
    wanted = build.settings.render_choices()
    if isinstance(recorded, dict) and recorded != wanted:
        changed = ", ".join(f"{key} {recorded.get(key)} -> {value}"
                            for key, value in wanted.items() if recorded.get(key) != value)
        raise UsageError(f"{build.label}: {rebuild_hint(build)}; without them the "
                         f"video cannot be rendered with new settings ({changed}): drop "
                         "them to keep it as it is")


class RebuildGuard:
    """`run --rebuild` of a pruned day: the day's records as they were, put back if
    the rebuild does not end in a verified video with footage (the device may no
    longer have it): a good video is never replaced by nothing."""

    SAVED = ("day_json", "verify_json")

    def __init__(self, build: DayBuild):
        self.build = build
        self.saved: dict[Path, bytes] = {}
        for name in self.SAVED:
            path = getattr(build.layout, name)
            if path.is_file():
                self.saved[path] = path.read_bytes()

    def settle(self, code: int, reason: str | None) -> tuple[int, str | None]:
        """After the run: the pruned mark goes when the day is rebuilt; otherwise
        the old records come back and the run says why (exit 1 at least)."""
        layout = self.build.layout
        summary = DaySummary.read(layout.day_json)
        report, _ = verified_video(layout.verify_json, layout.timelapse)
        if code in (0, 1) and summary is not None and summary.frames and report:
            layout.pruned_json.unlink(missing_ok=True)
            return code, reason
        changed = [write_bytes_if_changed(path, data) for path, data in self.saved.items()]
        if any(changed) and layout.report.exists():
            write_report(self.build)  # the page of the day as it is again
        if code in (0, 1):
            reason = (f"the rebuild found no {summary.kind if summary else 'footage'} "
                      "of this day on the device (past its retention?): the pruned day's "
                      "video and records are kept as they were")
            log.error("%s", reason)
            code = 1
        return code, reason
