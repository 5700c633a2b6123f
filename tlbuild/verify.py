"""One verify for every source: the timelapse against what its render plan
promised, before it replaces the day's video (`checked_render`) and as the verify
task (`verify_output`, metadata/verify.json)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .build import DayBuild
from .errors import MediaError
from .files import file_stamp, partial_path
from .pictures import Pictures
from .probe import decode
from .records import VerifyReport
from .taskdef import task
from .terminal import plural

log = logging.getLogger("tlbuild")
DURATION_FLOOR = 10.0  # the output lasts its length within 10 s, as a floor


def verify_output(build: DayBuild, frames: int, fps: float, checks: dict[str, bool],
                  floor_secs: float | None = None,
                  size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Check the timelapse against what the render plan promised: it decodes without
    error, has exactly `frames` frames and lasts frames/fps within one frame (plus
    the source's own `checks`; `floor_secs`: a +-10 s length check, a floor that stays;
    `size`: the frame size). Writes metadata/verify.json; a failure says what is
    wrong and how to rebuild."""
    output = build.layout.timelapse
    wanted = frames / fps
    measured = decoded = info = None
    if output.is_file() and output.stat().st_size > 0:
        # a render of this run decoded its video before swapping it in: not twice
        decoded = build.checked.get(file_stamp(output)) or decode(output)
        info = decoded.info  # the decode read the container's facts too
        measured = info.duration if info else None
    checks = {**checks, "output_exists": decoded is not None,
              "decodes": decoded is not None and not decoded.errors,
              "frame_count": decoded is not None and decoded.frames == frames,
              "duration": measured is not None and abs(measured - wanted) <= 1 / fps + 1e-3}
    if floor_secs is not None:
        checks["duration_floor"] = (measured is not None
                                    and abs(measured - floor_secs) <= DURATION_FLOOR)
    if size is not None:
        checks["size"] = info is not None and (info.width, info.height) == tuple(size)
    report = VerifyReport(ok=all(checks.values()), checks=checks, file=output.name,
                          frames=decoded.frames if decoded else None,
                          expected_frames=frames, duration_secs=measured,
                          expected_duration_secs=round(wanted, 3), fps=fps,
                          decode_errors=decoded.errors[:5] if decoded else [],
                          stamp=file_stamp(output))
    report.write(build.layout.verify_json)
    if not report.ok:
        raise MediaError(f"verification of {output.name} failed: "
                         f"{verify_problems(report)}. Rebuild it: tlbuild --camera "
                         f"{build.settings.name} render --date {build.date} --force (or "
                         f"doit render camera={build.settings.name} date={build.date}); "
                         f"details in {build.layout.verify_json}")
    log.info("verified %s: %s, %.2f s", output.name, plural(frames, "frame"), measured)
    return {"output": build.output_stamp()}


def checked_render(build: DayBuild, frames: int, fps: float) -> Callable[[Path], None]:
    """The check a new timelapse passes before it replaces the day's video: every
    frame decodes and there are exactly `frames` of them. A render that fails it
    leaves the video before it in place (a finished video is only ever replaced by a
    verified successor); verify then reuses this decode, and the day page the
    keogram and poster it made on the way."""
    def check(partial: Path) -> None:
        pictures = Pictures(partial_path(build.layout.keogram),
                            partial_path(build.layout.poster), frames)
        decoded, stamp = decode(partial, pictures), file_stamp(partial)
        if decoded.errors or decoded.frames != frames:
            pictures.discard()
            problem = (f"it has {decoded.frames} frames, {frames} expected"
                       if not decoded.errors else f"decode errors ({decoded.errors[0][:120]})")
            kept = ("the video before it is kept" if build.layout.timelapse.exists()
                    else "nothing was written")
            raise MediaError(f"the new render of {build.layout.timelapse.name} failed "
                             f"its check: {problem}; {kept}")
        build.checked[stamp] = decoded
        build.pictures[stamp] = pictures
    return check


def verify_problems(report: VerifyReport) -> str:
    checks, problems = report.checks, []
    if not checks["output_exists"]:
        return "the video is missing or empty"
    if not checks["decodes"]:
        first = re.sub(r"^\[[^]]*@ 0x[0-9a-f]+\] ", "", report.decode_errors[0])
        problems.append(f"ffmpeg reports decode errors (first: {first[:120]})")
    if not checks["frame_count"]:
        problems.append(f"it has {report.frames} frames, {report.expected_frames} "
                        "expected")
    if not checks["duration"]:
        problems.append("its length cannot be read" if report.duration_secs is None else
                        f"it lasts {report.duration_secs:.2f} s, "
                        f"{report.expected_duration_secs:.2f} s expected")
    problems += [f"check {name} failed" for name in report.failed_checks()
                 if name not in ("decodes", "frame_count", "duration", "duration_floor")]
    if not problems and not checks.get("duration_floor", True):
        problems.append("its length is more than 10 s off the footage / speed")
    return "; ".join(problems)


def verify_task(build: DayBuild, check: Callable[[DayBuild], Any],
                file_dep: Iterable[Path]) -> dict[str, Any]:
    """The verify task of every source: after the render, and again whenever the
    video is not the one it checked last."""
    return task(build, "verify", check, file_dep=file_dep,
                targets=[build.layout.verify_json], task_dep=["render"],
                uptodate=[build.output_unchanged])
