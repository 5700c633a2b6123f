"""What dodo.py runs: turn `camera=`, `date=`, `config=`, `offline=` into tasks.

One camera and one date build that camera-day; several cameras (`a,b` or `all`) or
dates (`FIRST..LAST`, `d1,d2`) build a batch of shards, each in its own process."""

from __future__ import annotations

import sys
from typing import Any

from .build import DayBuild
from .config import load_config
from .days import parse_date
from .errors import TlbuildError, UsageError, storage_error
from .runtime import install_signal_handlers, setup_console_logging

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


def namespace_from_vars(get_var: Any, argv: list[str] | None = None) -> dict[str, Any]:
    from . import demo
    from .graph import namespace
    argv = sys.argv if argv is None else argv
    setup_console_logging()
    try:
        config = load_config(get_var("config"))
        camera, date = get_var("camera"), get_var("date")
        if not camera or not date:
            cameras = ", ".join(sorted(config.cameras)) or "none"
            command = _doit_command(argv)
            if command in ("list", "help", "tabcompletion"):
                print("tlbuild: give camera=NAME date=YYYY-MM-DD to see a camera-day's "
                      f"tasks; cameras: {cameras}", file=sys.stderr)
                return {}
            verb = "" if command == "run" else f"{command} [TASK] "
            raise UsageError(f"usage: doit {verb}camera=NAME date=YYYY-MM-DD "
                             f"[config=PATH]; cameras in {config.path}: {cameras}")
        if camera == "all" or "," in camera or ".." in date or "," in date:
            from .batch import Batch, all_shards, parse_cameras, parse_dates
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
        install_signal_handlers()
        build.start_log()
    except OSError as error:
        error = storage_error(error)
        print(f"tlbuild: error: {error}", file=sys.stderr)
        raise SystemExit(error.exit_code) from None
    except TlbuildError as error:
        print(f"tlbuild: error: {error}", file=sys.stderr)
        raise SystemExit(error.exit_code) from None
    return names
