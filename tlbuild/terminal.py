"""What a run shows on the console; one place decides for every command.

- On a terminal: log lines scroll above one live display (rich) with a row per
  piece of work in flight: a camera-day's tasks done of total and megabytes
  downloaded, the render's progress; a batch has rows for each shard building.
- Elsewhere (cron, systemd, a pipe): plain lines, each with the time and the
  camera-day; long work says how far it got every 30 s.
- In a batch's shard (the batch sets TLBUILD_REPORT=json): log records and rows as
  JSON lines on stdout, which the batch shows in its own display.
- Quiet: warnings and errors only, and no display, anywhere.

After a stop request (Ctrl-C, SIGTERM) the console shows only `interrupted`: what
threads say while they abandon their work (a cut download "is not valid video") is
a consequence of the stop, not news; run.log still has it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from .files import printable
from .stop import stop_requested

REPORT_ENV = "TLBUILD_REPORT"
PLAIN_EVERY = 30.0  # seconds between progress lines when there is no display
CHILD_EVERY = 0.25  # seconds between a shard's row updates to its batch
LEVEL_WORDS = {logging.WARNING: "warning: ", logging.ERROR: "error: ",
               logging.CRITICAL: "error: "}
LEVEL_STYLES = {logging.DEBUG: "dim", logging.WARNING: "yellow", logging.ERROR: "bold red",
                logging.CRITICAL: "bold red"}

log = logging.getLogger("tlbuild")


@dataclass
class _State:
    mode: str = "plain"      # "live", "plain" or "child"
    quiet: bool = False
    day: str = "tlbuild"     # what lines are about when a record does not say
    handler: logging.Handler | None = None
    progress: Any = None     # rich.progress.Progress while the display is up
    rows: dict[str, Any] = field(default_factory=dict)  # key -> rich task id
    last_line: dict[str, float] = field(default_factory=dict)  # plain/child throttles
    pipe: TextIO | None = None  # child mode: the batch reads this
    lock: threading.RLock = field(default_factory=threading.RLock)


_state = _State()


def _format(record: logging.LogRecord, with_time: str) -> str:
    day = getattr(record, "day", None) or _state.day
    when = time.strftime(with_time, time.localtime(record.created))
    word = "" if getattr(record, "final", False) else LEVEL_WORDS.get(record.levelno, "")
    return printable(f"{when} {day}: {word}{record.getMessage()}")


def _shown(record: logging.LogRecord) -> bool:
    """False for what threads say after a stop request (see the module's text)."""
    return (not stop_requested.is_set() or record.levelno < logging.WARNING
            or getattr(record, "final", False))


class _PlainHandler(logging.Handler):
    """Timestamped lines on whatever sys.stderr is now (doit and tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        if _shown(record):
            sys.stderr.write(_format(record, "%Y-%m-%d %H:%M:%S") + "\n")
            sys.stderr.flush()


class _LiveHandler(logging.Handler):
    """Lines printed above the live display."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        # The terminal itself, not sys.stderr: doit swaps that for its own writer
        # while actions run, which is no terminal.
        terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
        self.console = Console(file=terminal, highlight=False)

    def emit(self, record: logging.LogRecord) -> None:
        if _shown(record):
            from rich.text import Text
            self.console.print(Text(_format(record, "%H:%M:%S"),
                                    style=LEVEL_STYLES.get(record.levelno, "")),
                               soft_wrap=True)


class _ChildHandler(logging.Handler):
    """A shard's records for its batch, one JSON object per line."""

    def emit(self, record: logging.LogRecord) -> None:
        if _shown(record):
            _send({"log": record.levelno, "message": record.getMessage()})


def _send(message: dict[str, Any]) -> None:
    with _state.lock:
        if _state.pipe is not None:
            try:
                _state.pipe.write(json.dumps(message) + "\n")
                _state.pipe.flush()
            except (OSError, ValueError):
                _state.pipe = None  # the batch is gone; the shard carries on


def setup(verbose: bool = False, quiet: bool = False) -> None:
    """Choose the console for this process and send tlbuild's log records to it
    (run.log, added per camera-day, keeps everything at debug level)."""
    with _state.lock:
        root = logging.getLogger("tlbuild")
        root.setLevel(logging.DEBUG)
        if os.environ.get(REPORT_ENV) == "json":
            mode = "child"
        elif sys.stderr.isatty() and not quiet and os.environ.get("TERM") != "dumb":
            mode = "live"
        else:
            mode = "plain"
        if _state.handler is not None and (_state.mode != mode):
            root.removeHandler(_state.handler)
            _state.handler = None
        if _state.handler is None:
            _state.handler = {"live": _LiveHandler, "plain": _PlainHandler,
                              "child": _ChildHandler}[mode]()
            root.addHandler(_state.handler)
        if mode == "child" and _state.pipe is None:
            _state.pipe = os.fdopen(os.dup(sys.__stdout__.fileno()), "w", buffering=1)
        _state.mode, _state.quiet = mode, quiet
        _state.handler.setLevel(logging.WARNING if quiet else
                                logging.DEBUG if verbose else logging.INFO)


def set_day(label: str) -> None:
    """The camera-day this process builds: every line names it."""
    _state.day = label


def quiet() -> bool:
    return _state.quiet


def interrupted(how: str = "") -> None:
    """The one line a stopped run prints."""
    stop()
    detail = f" ({how})" if how else ""
    log.error("interrupted%s; finished work is kept, rerun to continue", detail,
              extra={"final": True})


def show(key: str, description: str, completed: float, total: float | None,
         detail: str = "", day: str | None = None) -> None:
    """Create or update one row of the display (a shard sends it to its batch;
    without a display, a line every 30 s)."""
    if _state.quiet or stop_requested.is_set():
        return
    now = time.monotonic()
    if _state.mode == "live":
        with _state.lock:
            progress = _live()
            if key not in _state.rows:
                _state.rows[key] = progress.add_task(description, total=total,
                                                     completed=completed, detail=detail)
            else:
                progress.update(_state.rows[key], description=description,
                                completed=completed, total=total, detail=detail)
        return
    child = _state.mode == "child"
    finished = total is not None and completed >= total
    with _state.lock:  # a shard's first row goes at once; a plain line waits 30 s
        last = _state.last_line.setdefault(key, 0.0 if child else now)
        if now - last < (CHILD_EVERY if child else PLAIN_EVERY) and not (finished and child):
            return
        _state.last_line[key] = now
    if child:
        _send({"row": key, "description": description, "completed": completed,
               "total": total, "detail": detail})
    else:
        log.info("%s: %s", description, detail, extra={"day": day} if day else None)


def hide(key: str) -> None:
    """The work of this row is over."""
    with _state.lock:
        _state.last_line.pop(key, None)
        if _state.mode == "child":
            _send({"row": key, "hide": True})
        task_id = _state.rows.pop(key, None)
        if task_id is not None and _state.progress is not None:
            _state.progress.remove_task(task_id)
            if not _state.rows:
                stop()


def hide_all(prefix: str) -> None:
    for key in [key for key in _state.rows if key.startswith(prefix)]:
        hide(key)


def echo(text: str, stamped: bool = False) -> None:
    """A result line for stdout (a batch's summary); above the display if one is up.
    `stamped`: led by the time, as log lines are (the date too in plain mode)."""
    handler = _state.handler
    live = _state.progress is not None and isinstance(handler, _LiveHandler)
    if stamped:
        text = time.strftime("%H:%M:%S " if live else "%Y-%m-%d %H:%M:%S ") + text
    if live:
        from rich.text import Text
        handler.console.print(Text(printable(text)), soft_wrap=True)
    else:
        print(text, flush=True)


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 day`, `2 days` (`many`: the plural where it is not word + s)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def relay(prefix: str, line: str, visible: bool = True) -> str | None:
    """In a batch: show one line a shard sent (its records under its camera-day,
    its rows under the shard's name; with `visible` False, nothing: a quiet batch says
    each failure in one line of its own). Returns the message of an error record."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if "log" in message:
        level = message["log"] if isinstance(message["log"], int) else logging.INFO
        text = str(message.get("message", ""))
        if visible:
            log.log(level, "%s", text, extra={"day": prefix})
        return text if level >= logging.ERROR else None
    if not visible:
        return None
    if message.get("hide"):
        hide(f"{prefix}/{message.get('row')}")
    elif "row" in message:
        total = message.get("total")
        show(f"{prefix}/{message['row']}", str(message.get("description", "")),
             float(message.get("completed") or 0),
             float(total) if isinstance(total, int | float) else None,
             str(message.get("detail", "")), day=prefix)
    return None


def _live() -> Any:
    """The display, started with its first row."""
    if _state.progress is None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        handler = _state.handler
        console = handler.console if isinstance(handler, _LiveHandler) else None
        _state.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                   TextColumn("{task.fields[detail]}"),
                                   TimeElapsedColumn(), console=console, transient=True,
                                   refresh_per_second=4, redirect_stdout=False,
                                   redirect_stderr=False)
        _state.progress.start()
    return _state.progress


def stop() -> None:
    """Take the display down (the end of a run, a stop, an exit)."""
    with _state.lock:
        progress, _state.progress = _state.progress, None
        _state.rows.clear()
    if progress is not None:
        progress.stop()


atexit.register(stop)


class Meter:
    """Progress of one long step measured in seconds of video (a render)."""

    def __init__(self, label: str, total: float):
        self.label, self.total = label, max(total, 0.001)

    def update(self, seconds: float) -> None:
        seconds = min(seconds, self.total)
        show("render", self.label, seconds, self.total,
             f"{100 * seconds / self.total:3.0f}% of {self.total:.0f} s")

    def close(self) -> None:
        hide("render")
