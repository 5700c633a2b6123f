"""doit's reporter for tlbuild's graphs: progress to the console, errors said once.

doit's own reporter prints a line per task (a day of 500 clips prints 500) and,
for a failure, the error a second time with its internals (`TaskFailed -
taskid:scan`) or a traceback. Here a failing action has already logged its error
in one line (LoggedFailure), so the reporter adds nothing; anything else that fails
(a bug, a dependency doit cannot find) gets one line on the console and its full
text, traceback included, in run.log. Progress is a display row: tasks done of
total (the total grows as fetch tasks are made after the scan) and megabytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from doit.exceptions import TaskFailed, UnmetDependency
from doit.reporter import ConsoleReporter

from . import terminal
from .stop import stop_requested

log = logging.getLogger("tlbuild")


class LoggedFailure(TaskFailed):
    """A task's failure whose message the console has already shown."""


def progress_reporter(label: str, downloaded: Callable[[], int] = lambda: 0,
                      unit: str = "tasks", results: tuple[tuple[str, Any], ...] = (),
                      counted: bool = True) -> type[ConsoleReporter]:
    """A reporter class for one graph (doit instantiates it itself); `results`:
    (what, path) of the files to name at the end of a run that has them; `counted`:
    whether the run ends with its count of tasks."""

    class ProgressReporter(ConsoleReporter):
        desc = "tlbuild progress"

        def __init__(self, outstream: Any, options: dict[str, Any]):
            super().__init__(outstream, options)
            self.ran = self.up_to_date = self.failed = 0
            self.tasks: dict[str, Any] = {}
            self.started = time.monotonic()
            self._seen, self._total = -1, 0  # the task count, for len(self.tasks)

        def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
            self.tasks = tasks  # doit adds delayed tasks to this same dict
            self._show()

        def _show(self, running: str = "") -> None:
            if len(self.tasks) != self._seen:  # counted again only when tasks were added
                self._seen = len(self.tasks)
                self._total = sum(1 for task in self.tasks.values()
                                  if task.actions and not task.name.startswith("_"))
            total = self._total
            done = self.ran + self.up_to_date + self.failed
            total = max(total, done)
            megabytes = downloaded() / 1e6
            detail = f"{done}/{total} {unit}"
            if megabytes:
                detail += f", {megabytes:.1f} MB"
            if running:  # the step, not the clip: "fetch", "render"
                detail += f"  {running.partition(':')[0]}"
            terminal.show("tasks", label, done, total, detail, day=label)

        def execute_task(self, task: Any) -> None:
            if task.actions:
                log.debug("running %s", task.name)
                self._show(task.name)

        def add_success(self, task: Any) -> None:
            if task.actions:
                self.ran += 1
                self._show()

        def add_failure(self, task: Any, fail: Any) -> None:
            self.failed += 1
            self._show()
            if isinstance(fail, LoggedFailure):
                return
            message = fail.get_msg().strip()
            if isinstance(fail, UnmetDependency):  # the cause was reported already
                log.debug("%s: %s", task.name, message)
                return
            lines = message.splitlines() or [type(fail).__name__]
            last = lines[-1] if "Traceback" in message else lines[0]
            log.error("%s: %s (details in the run's log)", task.name, last)
            log.debug("%s failed:\n%s", task.name, message)

        def skip_uptodate(self, task: Any) -> None:
            if task.actions:
                self.up_to_date += 1
                self._show()

        def skip_ignore(self, task: Any) -> None:
            log.debug("ignored %s", task.name)

        def cleanup_error(self, exception: Any) -> None:
            log.error("doit clean: %s", exception.get_msg().strip().splitlines()[-1])

        def runtime_error(self, msg: str) -> None:
            log.error("%s", msg.strip().splitlines()[0] if msg.strip() else "doit failed")
            log.debug("doit: %s", msg)

        def complete_run(self) -> None:
            terminal.hide("tasks")
            if counted and (self.ran or self.up_to_date or self.failed):
                megabytes = downloaded() / 1e6
                log.info("%s: %d run, %d up to date%s%s, %.1f s", unit, self.ran,
                         self.up_to_date, f", {self.failed} failed" if self.failed else "",
                         f", {megabytes:.1f} MB downloaded" if megabytes else "",
                         time.monotonic() - self.started)
            if not self.failed and not stop_requested.is_set():  # finished, not stopped
                for what, path in results:
                    if path.is_file():
                        log.info("%s: %s", what, path)

    return ProgressReporter
