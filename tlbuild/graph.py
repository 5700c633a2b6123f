"""The doit namespace of a camera-day: the source's tasks (from the registry), the
publish tasks, the day page; a pruned day's own small graph; DOIT_CONFIG."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from doit import create_after

from . import __version__, pictures, report, terminal
from .build import DayBuild
from .errors import MediaError, storage_error
from .ffmpeg import check_ffmpeg, require_filter
from .progress import progress_reporter
from .pruned import refuse_changes
from .publish import tasks as publish
from .sources import SOURCES
from .taskdef import task
from .verify import verify_task


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



def namespace(build: DayBuild, lock: bool = True) -> dict[str, Any]:
    """Task creators and DOIT_CONFIG for one camera-day, for dodo.py and the CLI:
    the source's tasks (from the registry), then the publish tasks. `lock`: this run
    changes the camera-day (not `doit list` or `info`), so it takes its lock first."""
    terminal.set_day(build.label)
    check_ffmpeg()  # an unusable ffmpeg is refused before any request
    if build.settings.overlay_time:
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
    layout = build.layout

    @create_after(executed="verify")
    def task_keogram() -> dict[str, Any]:
        """Make keogram.png and poster.jpg from the verified timelapse."""
        inputs = [path for path in (layout.timelapse, layout.verify_json) if path.is_file()]
        return task(build, "keogram", report.make_pictures, task_dep=["verify"],
                    reads={"columns": pictures.COLUMNS, "height": pictures.HEIGHT},
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
