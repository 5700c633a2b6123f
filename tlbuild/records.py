"""What the tasks of a camera-day hand each other and what `status`, exit codes and
publishing read, in one shape for every source: the entries of the clip, frame and
archive indexes, the summary in day.json, the verify report, the publish receipt.
Each source's day.json keeps its own fields beside the summary (the
`total_clips`, `speed_factor`, ... for clips)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict

from .errors import TlbuildError
from .files import file_stamp, read_json, write_json_if_changed
from .probe import probe


class ClipEntry(TypedDict, total=False):
    """One clip of manifests/clip_index.json: the fields every clip has, then tlbuild's."""

    event_id: str
    start_ms: int
    end_ms: int
    duration_ms: int
    event_type: str
    smart_types: list[str]
    score: int | None
    status: str               # pending, in_progress, complete, failed
    file_path: str            # relative to the camera-day's folder
    event_ids: list[str]      # every event merged into the clip
    part: list[int]           # [k, n]: part k of n of a clip longer than an hour
    error: str                # why it failed
    low_resolution: bool      # older than the console's full-resolution footage
    expected_secs: float      # what the device recorded in the clip's range
    size: int                 # measured once downloaded:
    video_secs: float
    fps: float
    keyframe_secs: float
    width: int
    height: int


class FrameEntry(TypedDict, total=False):
    """One frame of manifests/frame_index.json (a frame source gives them so)."""

    key: str
    status: str               # ok or bad
    timestamp: float | None   # unix seconds: the capture time
    file: str | None          # the JPEG, relative to the camera-day's folder
    reason: str               # why it is bad
    width: int
    height: int
    local_time: str
    filed: str                # the date the source filed a frame without a time under


class ArchiveEntry(TypedDict, total=False):
    """One archive of manifests/archive_index.json (Axis timelapse apps)."""

    filename: str             # as the camera names it: untrusted
    local_name: str           # the safe name on disk
    profile_id: str
    size: int | None
    frames: int
    fps: float
    first_ms: int
    last_ms: int
    container: str            # avi or mp4
    path: str
    query: dict[str, str]
    cut: list[int]            # [first, last] frame indexes inside the day
    in_day: bool
    remote_size: int | None


def _read(kind: type, data: Any) -> Any:
    """A record from its JSON form (unknown keys ignored), or None if it is not one."""
    if not isinstance(data, dict):
        return None
    names = {f.name for f in fields(kind)}
    try:
        return kind(**{k: v for k, v in data.items() if k in names})
    except TypeError:  # a required field missing: not this record
        return None


@dataclass(frozen=True)
class DaySummary:
    """day.json's `summary`: what any reader needs of a camera-day."""

    kind: str             # what the day is made of: clips, frames, archives
    items: int            # the items listed for the day
    used: int             # the items in the video
    failed: int           # the items that failed (a rerun retries them)
    frames: int           # frames of the video (0: nothing to render)
    fps: float
    duration_secs: float
    reason: str | None = None  # why the first failed item failed
    skipped: int = 0           # the items the camera's selection left out
    skipped_why: str | None = None  # why, in words, with counts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, day_json: Path) -> DaySummary | None:
        return DayRecord.read(day_json).summary


@dataclass(frozen=True)
class DayRecord:
    """metadata/day.json, as every reader sees it: read here only (`read`), each
    field None where the day's pipeline does not write it. The clip pipeline writes
    the speed fields, the frame and archive pipelines the frame fields; sources add
    their own details, which a reader finds in `details`."""

    camera_name: str | None = None
    date: str | None = None
    timezone: str | None = None
    summary: DaySummary | None = None
    render: dict[str, Any] | None = None     # the settings the video was rendered with
    tool_version: str | None = None
    ffmpeg_version: str | None = None
    # frames and archives: one video frame per kept frame
    frame_count: int | None = None
    fps: float | None = None
    duration_secs: float | None = None
    width: int | None = None
    height: int | None = None
    first_time: str | None = None
    last_time: str | None = None
    bad_frames: int | None = None
    skipped_frames: int | None = None
    app: str | None = None                   # archives: the Axis app
    archives: list[str] | None = None
    # clips: the footage sped up to the target length
    camera_id: str | None = None
    total_clips: int | None = None
    valid_clips: int | None = None
    failed_clips: int | None = None
    total_events: int | None = None
    total_duration_secs: float | None = None
    speed_factor: float | None = None
    target_secs: float | None = None
    output_frames: int | None = None
    output_duration_secs: float | None = None
    output_size: list[int] | None = None
    render_plan: dict[str, Any] | None = None
    overlay_time: bool | None = None
    low_resolution: bool | None = None
    filter: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)  # a source's own fields

    @classmethod
    def read(cls, path: Path) -> DayRecord:
        """The record (empty when the day has none yet, or it does not parse)."""
        data = read_json(path, None)
        if not isinstance(data, dict):
            return cls()
        names = {f.name for f in fields(cls)} - {"summary", "details"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   summary=_read(DaySummary, data.get("summary")),
                   details={k: v for k, v in data.items()
                            if k not in names and k != "summary"})


@dataclass(frozen=True)
class VerifyReport:
    """metadata/verify.json: the checks of the video against the render plan."""

    ok: bool
    checks: dict[str, bool]
    file: str
    frames: int | None
    expected_frames: int
    duration_secs: float | None
    expected_duration_secs: float
    fps: float
    decode_errors: list[str] = field(default_factory=list)
    stamp: str | None = None  # size:mtime of the file checked (files.file_stamp)

    def write(self, path: Path) -> None:
        write_json_if_changed(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> VerifyReport | None:
        return _read(cls, read_json(path, None))

    def describes(self, video: Path) -> bool:
        """The video on disk is the one this report checked: same size and mtime
        (a report without a stamp, from an older tlbuild: same packet count)."""
        if self.stamp is not None:
            return self.stamp == file_stamp(video)
        if not video.is_file() or self.frames is None:
            return False
        try:
            return probe(video).frames == self.frames
        except TlbuildError:
            return False

    def failed_checks(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


def verified_video(verify_json: Path, video: Path) -> tuple[VerifyReport | None, str | None]:
    """The verify report of `video` if that video is verified good as it is on disk
    now, else None and why not (no verify record, failed checks, changed since)."""
    report = VerifyReport.read(verify_json)
    if not video.is_file():
        return None, "the video is missing"
    if report is None:
        return None, "the video was never verified"
    if not report.ok:
        return None, f"its verification failed ({', '.join(report.failed_checks())})"
    if not report.describes(video):
        return None, ("the video changed since it was verified (damaged or replaced?): "
                      "`tlbuild verify` checks it again")
    return report, None


@dataclass(frozen=True)
class Receipt:
    """publish/<sink>.json: what was sent where."""

    sink: str
    kind: str
    camera: str
    date: str
    file: str
    size: int
    sha256: str
    time: str
    remote_id: Any = None
    url: str | None = None
    camera_uuid: str | None = None
    skipped: bool = False

    def write(self, path: Path) -> None:
        write_json_if_changed(path, {k: v for k, v in asdict(self).items()
                                     if v is not None})

    @classmethod
    def read(cls, path: Path) -> Receipt | None:
        return _read(cls, read_json(path, None))


OUTCOMES = {0: "done", 1: "partial", 6: "nothing built", 130: "interrupted"}


@dataclass(frozen=True)
class RunRecord:
    """metadata/run.json: how the latest run of a camera-day ended (what `status`
    shows, rather than an older error in the log)."""

    time: str
    command: str
    exit_code: int
    outcome: str            # done, partial, nothing built, interrupted, failed
    reason: str | None = None

    @classmethod
    def of(cls, command: str, exit_code: int, reason: str | None) -> RunRecord:
        return cls(time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   command=command, exit_code=exit_code,
                   outcome=OUTCOMES.get(exit_code, "failed"), reason=reason)

    def write(self, path: Path) -> None:
        write_json_if_changed(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> RunRecord | None:
        return _read(cls, read_json(path, None))
