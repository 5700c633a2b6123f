"""Running a doit graph from tlbuild, with doit's sqlite state saved safely: doit
writes its state once, at the end, and a full disk there would end in a traceback
from inside doit. Here it is one line, the run fails, and the work done stays (the
next run checks those tasks again)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from doit.cmd_base import ModuleTaskLoader
from doit.dependency import SqliteDB
from doit.doit_cmd import DoitMain

log = logging.getLogger("tlbuild")
BACKEND = "tlbuild-sqlite3"


class DoitState(SqliteDB):
    desc = "doit's sqlite3 state; a failure to save it is reported in one line"
    failed = False

    def dump(self) -> None:
        try:
            super().dump()
        except sqlite3.Error as error:
            DoitState.failed = True
            log.error("cannot save the build state in %s: %s (nothing built is lost: "
                      "the next run checks those tasks again)", self.name, error)
            try:
                self._conn.close()
            except sqlite3.Error:
                pass


def run_doit(names: dict[str, Any], args: list[str]) -> int:
    """doit's exit code for `args` on the task creators `names`."""
    names = {**names, "DOIT_CONFIG": {**names.get("DOIT_CONFIG", {}), "backend": BACKEND}}
    DoitState.failed = False
    main = DoitMain(ModuleTaskLoader(names),
                    extra_config={"BACKEND": {BACKEND: f"{__name__}:DoitState"}})
    result = main.run(args)
    return result or (3 if DoitState.failed else 0)
