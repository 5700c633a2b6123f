"""doit's console reporter, minus one line per up-to-date task: a day of 500 clips
would print 500 of them. They are counted and summed up at the end instead."""

from __future__ import annotations

from typing import Any

from doit.reporter import ConsoleReporter


class TlbuildReporter(ConsoleReporter):
    desc = "tlbuild: executed tasks, a count of the up-to-date ones"

    def __init__(self, outstream: Any, options: dict[str, Any]):
        super().__init__(outstream, options)
        self.up_to_date = 0

    def skip_uptodate(self, task: Any) -> None:
        if not task.name.startswith("_"):
            self.up_to_date += 1

    def complete_run(self) -> None:
        if self.up_to_date:
            self.write(f"-- {self.up_to_date} task(s) up to date\n")
        super().complete_run()
