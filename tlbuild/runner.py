"""A camera-day's run from the `tlbuild` command: its doit graph (graph.namespace)
run for the command's tasks under the day's lock, with the day's log, the exit code
and its reason (exit codes in cli.EXIT_CODES), recorded in metadata/run.json for
`status`; a pruned day's rebuild settled (pruned.RebuildGuard)."""

from __future__ import annotations

import logging

from .build import DayBuild
from .doitrun import run_doit
from .errors import NothingBuilt, UsageError
from .graph import namespace
from .pruned import RebuildGuard
from .records import RunRecord
from .sources import SOURCES
from .taskdef import doit_name
from .terminal import plural

log = logging.getLogger("tlbuild")

COMMAND_TASKS = {
    "scan": ["scan"],
    "fetch": ["fetch"],
    "render": ["render", "verify", "keogram", "report"],
    "run": [],  # the source's own default tasks
    "publish": ["publish"],
}


def run_day(build: DayBuild, command: str, sink: str | None = None) -> int:
    """Run `command`'s tasks of the camera-day (`sink`: publish to that one only);
    the exit code."""
    names = namespace(build)  # the day's lock, before anything is written
    try:
        guard = RebuildGuard(build) if build.rebuild and \
            build.layout.pruned_json.exists() else None
        handler = build.start_log()
        try:
            tasks = COMMAND_TASKS[command]
            if command == "publish" and sink:
                tasks = [f"publish:{doit_name(sink)}"]
            result = run_doit(names, ["run", *tasks])
            code, reason = exit_code(build, result, command)
            if guard is not None:
                code, reason = guard.settle(code, reason)
        except KeyboardInterrupt:
            if guard is not None:
                guard.settle(130, None)
            record_run(build, command, 130, "interrupted (Ctrl-C or SIGTERM)")
            raise
        finally:
            logging.getLogger("tlbuild").removeHandler(handler)
            handler.close()
        record_run(build, command, code, reason)
        return code
    finally:
        build.unlock()


def record_run(build: DayBuild, command: str, code: int, reason: str | None) -> None:
    """metadata/run.json: how this run ended, for `tlbuild status`."""
    try:
        RunRecord.of(command, code, reason).write(build.layout.run_json)
    except OSError:
        pass  # a full disk: the error itself is what the user sees


def verify_only(build: DayBuild) -> int:
    """`tlbuild verify`: the day's checks on the video as it is now."""
    if not build.layout.day_json.exists():
        raise UsageError(f"{build.layout.root}: nothing built for this day yet")
    result = SOURCES[build.settings.source].verify(build)
    if not (result or {}).get("output"):
        print(f"tlbuild: {build.settings.name} {build.date}: no footage, no video to "
              "verify")
    return 0


def exit_code(build: DayBuild, doit_result: int, command: str) -> tuple[int, str | None]:
    """The run's exit code, and why it is not 0."""
    if build.outcome.fatal is not None:
        return build.outcome.fatal.exit_code, str(build.outcome.fatal)
    if doit_result != 0:
        return 5, "a task failed; see the log"
    source = SOURCES[build.settings.source]
    failed, items, reason = source.failures(build)
    if not failed or command not in ("fetch", "run"):
        return 0, None
    if failed == items:
        error = NothingBuilt(f"every {source.items[:-1]} of {build.settings.name} "
                             f"{build.date} failed (first: {reason}); no timelapse was "
                             "built: rerun the same command to retry them")
        log.error("%s", error)
        return error.exit_code, str(error)
    log.warning("%d of %d %s failed; rerun the same command to retry them", failed,
                items, source.items)
    return 1, f"{failed} of {plural(items, source.items[:-1])} failed: {reason}"
