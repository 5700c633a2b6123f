"""Progress for doit runs: a bar on a terminal, plain lines elsewhere (cron, logs).

On a terminal: one tqdm bar of tasks done of total (the total grows as fetch tasks
are created after the scan) with megabytes downloaded. Elsewhere: doit's usual line
per executed task, with the up-to-date ones counted instead of listed (a day of 500
clips would print 500 of them). Quiet: failures and the final count only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from doit.reporter import ConsoleReporter


def progress_reporter(label: str, downloaded: Callable[[], int], quiet: bool = False
                      ) -> type[ConsoleReporter]:
    """A reporter class for one build (doit instantiates it itself)."""

    class ProgressReporter(ConsoleReporter):
        desc = "tlbuild progress"

        def __init__(self, outstream: Any, options: dict[str, Any]):
            super().__init__(outstream, options)
            self.up_to_date = self.done = 0
            self.tasks: dict[str, Any] = {}
            self.bar = None
            if sys.stderr.isatty() and not quiet:
                from tqdm import tqdm
                self.bar = tqdm(total=1, desc=label, unit="task", leave=True,
                                dynamic_ncols=True)

        def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
            self.tasks = tasks  # doit adds delayed tasks to this same dict

        def _total(self) -> int:
            return sum(1 for task in self.tasks.values()
                       if task.actions and not task.name.startswith("_"))

        def _step(self) -> None:
            self.done += 1
            if self.bar is not None:
                self.bar.total = max(self._total(), self.done)
                self.bar.set_postfix_str(f"{downloaded() / 1e6:.1f} MB")
                self.bar.update(1)

        def execute_task(self, task: Any) -> None:
            if self.bar is None and not quiet and task.actions:
                super().execute_task(task)

        def add_success(self, task: Any) -> None:
            super().add_success(task)
            if task.actions:
                self._step()

        def add_failure(self, task: Any, fail: Any) -> None:
            super().add_failure(task, fail)
            self._step()

        def skip_uptodate(self, task: Any) -> None:
            if task.actions:
                self.up_to_date += 1
                self._step()

        def complete_run(self) -> None:
            if self.bar is not None:
                self.bar.close()
            if self.up_to_date and not quiet:
                self.write(f"-- {self.up_to_date} task(s) up to date\n")
            super().complete_run()

    return ProgressReporter
