"""Running a doit graph from tlbuild, with doit's sqlite state saved safely: doit
writes its state once, at the end, and a full disk there would end in a traceback
from inside doit. Here it is one line, the run fails, and the work done stays (the
next run checks those tasks again)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from doit.cmd_base import ModuleTaskLoader
from doit.dependency import SqliteDB
from doit.doit_cmd import DoitMain

from .errors import StorageError

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


def check_state_file(path: str | None) -> None:
    """doit's state must open for writing, else doit stops with its own traceback:
    a read-only or full `out` is said in one line before anything runs."""
    if not path:
        return
    state = Path(path)
    if state.is_file():  # a write probe would cost a commit on every no-op rerun
        if not (os.access(state, os.W_OK) and os.access(state.parent, os.W_OK)):
            raise StorageError(f"cannot write the build state {path}: the output "
                               "folder is read-only")
        return
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE IF NOT EXISTS tlbuild_probe (x)")
            db.execute("DROP TABLE tlbuild_probe")
            db.commit()
    except (sqlite3.Error, OSError) as error:
        raise StorageError(f"cannot write the build state {path}: "
                           f"{getattr(error, 'strerror', None) or error} (is the output "
                           "folder writable, with free space?)") from None


def run_doit(names: dict[str, Any], args: list[str]) -> int:
    """doit's exit code for `args` on the task creators `names`."""
    names = {**names, "DOIT_CONFIG": {**names.get("DOIT_CONFIG", {}), "backend": BACKEND}}
    check_state_file(names["DOIT_CONFIG"].get("dep_file"))
    DoitState.failed = False
    main = DoitMain(ModuleTaskLoader(names),
                    extra_config={"BACKEND": {BACKEND: f"{__name__}:DoitState"}})
    result = main.run(args)
    return result or (3 if DoitState.failed else 0)
