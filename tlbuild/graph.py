"""The doit side of a camera-day: the one task factory, the namespace, one verify.

Every task of every source and sink is made by `task`, so a source's task list
reads like a Makefile (what it makes, from what, reading which settings) and
everything they share is said once: the action runs under the task's name with
clean failures, exactly the settings it reads go to `config_changed` together with
the ffmpeg version, a JSON target that no longer parses makes the task run again,
and `doit clean` removes the targets.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from doit import create_after
from doit.tools import config_changed

from . import __version__, console
from .build import DayBuild
from .errors import MediaError, storage_error
from .ffmpeg import check_ffmpeg, ffmpeg_version, require_filter
from .files import file_stamp, json_intact
from .probe import decode, probe
from .records import VerifyReport
from .reporter import progress_reporter

log = logging.getLogger("tlbuild")
DURATION_FLOOR = 10.0  # the spec's check: the output lasts its length within 10 s


def task(build: DayBuild, name: str, action: Callable[..., Any], *args: Any,
         subtask: str | None = None, reads: dict[str, Any] | None = None,
         file_dep: Iterable[Path | str] = (), targets: Iterable[Path | str] = (),
         task_dep: Iterable[str] = (), uptodate: Iterable[Any] = (),
         clean: bool | Iterable[Path] = True, stamped: bool = False) -> dict[str, Any]:
    """One doit task as data. `reads`: exactly the settings the action reads (with
    the ffmpeg version: a new ffmpeg makes its output again); `uptodate`: more
    checks of the task's own; `clean`: whether `doit clean` removes the targets, or
    the files it removes with them; `stamped`: the task runs again when a target is
    not the file it wrote (doit saves its state when a run ends: a run killed
    after the write leaves a target newer than the state that says it is current)."""
    targets = [Path(path) for path in targets]
    checks = list(uptodate)
    if stamped:
        action = _stamping(action, targets)
        checks.append(lambda task, values: values.get("made") == _stamps(targets))
    if reads is not None:
        checks.insert(0, config_changed({**reads, "ffmpeg": ffmpeg_version()}))
    made_json = [path for path in targets if path.suffix == ".json"]
    if made_json:
        checks.append(json_intact(*made_json))
    if clean is not False:
        clean = [Cleanup(build.layout.root, () if clean is True else clean)]
    made = {"actions": [build.action(f"{name}:{subtask}" if subtask else name, action,
                                     *args)],
            "file_dep": [str(path) for path in file_dep],
            "targets": [str(path) for path in targets], "task_dep": list(task_dep),
            "uptodate": checks, "clean": clean or [], "verbosity": 2}
    if subtask is not None:
        made["name"] = doit_name(subtask)
    return made


def doit_name(text: str) -> str:
    """A subtask name doit takes from an untrusted name (an event id, an S3 key): doit
    refuses `=` (it reads `name=value` as a variable), and white space or control
    characters would not survive a command line. Such a name keeps its safe part and
    gains a short hash of the original, so two names never meet."""
    if text and "=" not in text and text.isprintable() and not any(
            char.isspace() for char in text) and not text.startswith("-"):
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    kept = re.sub(r"[^\w.:@+-]+", "_", text).strip("-")[:80]
    return f"{kept}-{digest}"


def _stamps(paths: list[Path]) -> dict[str, str | None]:
    return {path.name: file_stamp(path) for path in paths}


def _stamping(action: Callable[..., Any], targets: list[Path]) -> Callable[..., Any]:
    """`action`, with the stamps of the targets it wrote added to its saved values."""
    def run(*args: Any) -> Any:
        result = action(*args)
        if result is None or isinstance(result, dict):
            return {**(result or {}), "made": _stamps(targets)}
        return result
    return run


class Cleanup:
    """A task's whole `clean`, as one action: its targets, the files named beside them
    (sidecars, folders), then the folders that leaves empty up to the camera-day's
    folder, so `doit clean` leaves no empty tree behind. `doit clean` prints each
    action as `Python: ` + str(action)[1:]: hence `__str__`."""

    def __init__(self, root: Path, also: Iterable[Path] = ()):
        self.root, self.also = root, list(also)

    def __str__(self) -> str:
        return "<remove what the task made"

    def __call__(self, targets: list[str], dryrun: bool = False) -> None:
        paths = [*map(Path, targets), *self.also]
        for path in paths:
            if not (path.exists() or path.is_symlink()):
                continue
            print(f"  removing {path}")
            if dryrun:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for folder in sorted({path.parent for path in paths}, reverse=True):
            while (not dryrun and folder != self.root and self.root in folder.parents
                   and folder.is_dir() and not any(folder.iterdir())):
                folder.rmdir()
                folder = folder.parent


class KeptWhenPruned:
    """`doit clean` of a pruned day: the video, its records and receipts stay (its
    inputs are gone, so nothing could build it again); say so and how to go on."""

    def __init__(self, build: DayBuild):
        self.build = build

    def __str__(self) -> str:
        return "<keep the video of a pruned day"

    def __call__(self, targets: list[str], dryrun: bool = False) -> None:
        build = self.build
        print(f"  keeping {build.layout.timelapse} with its verify record and publish "
              "receipts: this day's inputs were pruned, so it could not be built again; "
              f"`tlbuild --camera {build.settings.name} run --date {build.date} "
              "--rebuild` re-downloads them, or delete the day's folder by hand")


# --- one verify for every source -------------------------------------------------

def verify_output(build: DayBuild, frames: int, fps: float, checks: dict[str, bool],
                  floor_secs: float | None = None,
                  size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Check the timelapse against what the render plan promised: it decodes without
    error, has exactly `frames` frames and lasts frames/fps within one frame (plus
    the source's own `checks`; `floor_secs`: the spec's +-10 s, a floor that stays;
    `size`: the frame size). Writes metadata/verify.json; a failure says what is
    wrong and how to rebuild."""
    output = build.layout.timelapse
    wanted = frames / fps
    measured = decoded = info = None
    if output.is_file() and output.stat().st_size > 0:
        # a render of this run decoded its video before swapping it in: not twice
        decoded = build.checked.get(file_stamp(output)) or decode(output)
        try:
            info = probe(output)
            measured = info.duration
        except MediaError:
            pass
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
    log.info("verified %s: %d frames, %.2f s", output.name, frames, measured)
    return {"output": build.output_stamp()}


def checked_render(build: DayBuild, frames: int, fps: float) -> Callable[[Path], None]:
    """The check a new timelapse passes before it replaces the day's video: every
    frame decodes and there are exactly `frames` of them. A render that fails it
    leaves the video before it in place (a finished video is only ever replaced by a
    verified successor); verify then reuses this decode."""
    def check(partial: Path) -> None:
        decoded = decode(partial)
        if decoded.errors or decoded.frames != frames:
            problem = (f"it has {decoded.frames} frames, {frames} expected"
                       if not decoded.errors else f"decode errors ({decoded.errors[0][:120]})")
            kept = ("the video before it is kept" if build.layout.timelapse.exists()
                    else "nothing was written")
            raise MediaError(f"the new render of {build.layout.timelapse.name} failed "
                             f"its check: {problem}; {kept}")
        build.checked[file_stamp(partial)] = decoded
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


# --- the namespace ---------------------------------------------------------------

def namespace(build: DayBuild, lock: bool = True) -> dict[str, Any]:
    """Task creators and DOIT_CONFIG for one camera-day, for dodo.py and the CLI:
    the source's tasks (from the registry), then the publish tasks. `lock`: this run
    changes the camera-day (not `doit list` or `info`), so it takes its lock first."""
    from .pruned import refuse_changes
    from .publish import tasks as publish
    from .sources import SOURCES
    console.set_day(build.label)
    check_ffmpeg()  # an unusable ffmpeg is refused before any request
    if getattr(build.settings, "overlay_time", False):
        require_filter("drawtext", "overlay_time")
    if build.pruned:
        refuse_changes(build)
    try:
        build.layout.root.mkdir(parents=True, exist_ok=True)
        build.check_owner()
        if lock:
            build.lock()
            build.check_state()
    except OSError as error:  # a read-only or full disk: one line, no traceback
        raise storage_error(error) from None
    source = SOURCES[build.settings.source]
    if build.pruned:  # the inputs are gone; the video stays built
        names = {**pruned_tasks(build, source.verify), **publish.tasks(build, build.sinks)}
        order = ["render", "verify", "publish"]
    else:
        names = {**source.tasks(build), **publish.tasks(build, build.sinks)}
        order = [*source.order, "publish"]
    names.update(report_tasks(build))
    order += ["keogram", "report"]
    names["DOIT_CONFIG"] = {
        "backend": "sqlite3",
        "dep_file": str(build.layout.dep_file),
        "num_process": build.settings.workers,
        "par_type": "thread",
        "default_tasks": [name for name in order if f"task_{name}" in names],
        "verbosity": 2,
        "reporter": progress_reporter(build.label, lambda: build.downloaded,
                                      results=(("video", build.layout.timelapse),
                                               ("day page", build.layout.report))),
    }
    return names


def report_tasks(build: DayBuild) -> dict[str, Any]:
    """The day's pictures and page (report.py), after verify."""
    from . import report
    layout = build.layout

    @create_after(executed="verify")
    def task_keogram() -> dict[str, Any]:
        """Make keogram.png and poster.jpg from the verified timelapse."""
        inputs = [path for path in (layout.timelapse, layout.verify_json) if path.is_file()]
        return task(build, "keogram", report.make_pictures, task_dep=["verify"],
                    reads={"columns": report.KEOGRAM_COLUMNS,
                           "height": report.KEOGRAM_HEIGHT},
                    file_dep=inputs, targets=[layout.keogram, layout.poster])

    @create_after(executed="keogram")
    def task_report() -> dict[str, Any]:
        """Write report.html: the video, the day's timeline, figures and failures."""
        return task(build, "report", report.write_report, task_dep=["keogram"],
                    reads={"version": __version__}, file_dep=report.report_inputs(build),
                    targets=[layout.report])

    return {"task_keogram": task_keogram, "task_report": task_report}


def pruned_tasks(build: DayBuild, check: Callable[[DayBuild], Any]) -> dict[str, Any]:
    """A pruned camera-day (tlbuild prune): nothing to download or render, the video
    is checked and published as it is."""
    layout = build.layout

    def keep(build: DayBuild) -> None:
        """Nothing to render: the video stays as it is, or is gone for good."""
        if not layout.timelapse.is_file():
            raise MediaError(f"{layout.timelapse.name} of this pruned day is gone and "
                             "its inputs were pruned: rebuild the day with `tlbuild "
                             f"--camera {build.settings.name} run --date {build.date} "
                             "--rebuild`")

    def task_render() -> dict[str, Any]:
        """The video of a pruned day: kept as it is."""
        made = task(build, "render", keep, targets=[layout.timelapse], uptodate=[True],
                    clean=False)
        made["clean"] = [KeptWhenPruned(build)]
        return made

    def task_verify() -> dict[str, Any]:
        """Check the video as it is."""
        made = verify_task(build, check, file_dep=[layout.day_json])
        made["clean"] = []  # the record of the one video there is
        return made

    return {"task_render": task_render, "task_verify": task_verify}
