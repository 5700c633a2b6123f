"""What dodo.py runs: turn `camera=`, `date=`, `config=`, `offline=` into tasks.

One camera and one date build that camera-day; several cameras (`a,b` or `all`) or
dates (`FIRST..LAST`, `d1,d2`) build a batch of shards, each in its own process."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

from . import demo, terminal
from .batch import Batch, all_shards, parse_cameras, parse_dates
from .build import DayBuild
from .days import parse_date
from .errors import TlbuildError, UsageError, storage_error
from .graph import namespace
from .rollup import Rollup, parse_at, parse_period
from .runtime import install_signal_handlers, setup_console_logging
from .sources import read_config

log = logging.getLogger("tlbuild")

# doit commands that only inspect: without camera= and date= they list nothing.
INSPECTING = {"list", "info", "help", "clean", "forget", "ignore", "dumpdb", "strace",
              "reset-dep", "tabcompletion", "auto"}
READ_ONLY = {"list", "info", "help", "dumpdb", "strace", "tabcompletion"}  # no lock


def _doit_command(argv: list[str]) -> str:
    # Option values (e.g. -f dodo.py) make "first positional" unreliable: look for
    # the first known command word instead.
    for arg in argv[1:]:
        if arg == "run" or arg in INSPECTING:
            return arg
    return "run"


# doit options that take a value: the word after them is not a task name.
VALUE_OPTIONS = {"-f", "--file", "-d", "--dir", "--db-file", "--backend", "--dep-file",
                 "-n", "--process", "-P", "--parallel-type", "-r", "--reporter", "-o",
                 "--output-file", "-v", "--verbosity", "--failure-verbosity",
                 "--check_file_uptodate", "--codec-cls", "--template", "-p", "--status",
                 "--sort"}


def check_task_names(argv: list[str], names: dict[str, Any]) -> None:
    """doit's own answer to a mistyped task is several lines about its command line;
    say it in one, with the tasks there are."""
    tasks = sorted(name[5:] for name in names if name.startswith("task_"))
    words = argv[1:]
    for before, word in zip(["", *words], words, strict=False):
        if (word.startswith("-") or "=" in word or before in VALUE_OPTIONS
                or word == "run" or word in INSPECTING or "/" in word or "." in word):
            continue  # an option, a variable, a command or a file target
        group, _, subtask = word.partition(":")
        if group not in tasks:
            raise UsageError(f"unknown task {word!r}; this camera-day's tasks: "
                             f"{', '.join(tasks)}")
        if subtask and subtask not in _subtasks(names[f"task_{group}"]):
            raise UsageError(f"{group} has no task {word!r}: `doit list --all "
                             "camera=.. date=..` lists them")


def _subtasks(creator: Any) -> set[str]:
    """The names of a task group's subtasks (`doit info` fails on an unknown one
    with a traceback)."""
    made = creator()
    return {task.get("name") for task in made} if isinstance(made, Iterator) else set()


def _rollup_namespace(config: Any, camera: str | None, get_var: Any) -> dict[str, Any]:
    """`doit camera=X week=2026-W10` or `month=2026-03` [at=12:00]: a rollup."""
    if not camera or camera == "all" or "," in camera:
        raise UsageError("a rollup is of one camera: doit camera=NAME week=YYYY-Www "
                         "(or month=YYYY-MM)")
    label, dates = parse_period(get_var("week"), get_var("month"))
    rollup = Rollup(config, camera, label, dates, parse_at(get_var("at")))
    terminal.set_day(f"{rollup.name} {label}")
    names = rollup.namespace()
    install_signal_handlers()
    return names


def namespace_from_vars(get_var: Any, argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv if argv is None else argv
    setup_console_logging(quiet=get_var("quiet", "") not in ("", "0", "false"))
    try:
        config = read_config(get_var("config"))
        camera, date = get_var("camera"), get_var("date")
        if get_var("week") or get_var("month"):
            return _rollup_namespace(config, camera, get_var)
        if not camera or not date:
            cameras = ", ".join(sorted(config.cameras)) or "none"
            command = _doit_command(argv)
            if command in ("help", "tabcompletion"):  # doit's own help, no graph
                return {}
            verb = "" if command == "run" else f"{command} [TASK] "
            raise UsageError(f"usage: doit {verb}camera=NAME date=YYYY-MM-DD "
                             f"[config=PATH]; cameras in {config.path}: {cameras}")
        if camera == "all" or "," in camera or ".." in date or "," in date:
            shards = all_shards(parse_cameras(camera, config), parse_dates(date))
            install_signal_handlers()
            return Batch(shards, config).namespace()
        settings = config.camera(camera)
        day = parse_date(date)
        build = DayBuild(settings, day, config.out / settings.name / day.isoformat(),
                         offline=get_var("offline", "") not in ("", "0", "false"),
                         sinks=config.sinks)
        command = _doit_command(argv)
        if command not in READ_ONLY and not build.offline:
            demo.start(build)  # a "simulator" camera: its device, in this process
        names = namespace(build, lock=command not in READ_ONLY)
        check_task_names(argv, names)
        install_signal_handlers()
        build.start_log()
    except OSError as error:
        error = storage_error(error)
        log.error("%s", error)
        raise SystemExit(error.exit_code) from None
    except TlbuildError as error:
        log.error("%s", error)
        raise SystemExit(error.exit_code) from None
    return names
