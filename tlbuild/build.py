"""The context of one camera-day build: settings, paths, the shared client, the log."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .config import SIMULATOR_HOST, CameraSettings, Secret
from .errors import Busy, TlbuildError, UsageError, storage_error
from .files import file_stamp, read_json, remove_leftovers, write_json_if_changed
from .layout import DayLayout
from .progress import LoggedFailure
from .runtime import LineFormatter, running_action

log = logging.getLogger("tlbuild")
LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s: %(message)s"


@dataclass
class Outcome:
    """What the run learned that decides the exit code."""

    fatal: TlbuildError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_fatal(self, error: TlbuildError) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = error


class DayBuild:
    """Everything the tasks of one (camera, date) share. Loads the secret up front, so
    a missing secret is reported before any network traffic."""

    def __init__(self, settings: CameraSettings, date: dt.date, root: Path,
                 offline: bool = False, sinks: dict[str, Any] | None = None):
        self.settings = settings
        # a demo camera (its device is tlbuild's simulator), known before demo.start
        # points the settings at the simulator's address
        self.simulated = settings.device_address == SIMULATOR_HOST
        self.date = date
        self.layout = DayLayout.create(root, settings.name, date)
        self.offline = offline
        self.sinks = [(sinks or {})[name] for name in settings.publish]
        source = settings.password
        # offline (render, publish, verify): no request to the camera, no secret asked
        self.password: Secret | None = source.load(
            f"camera {settings.name!r}: password from {source.describe()}") \
            if source and not offline else None
        self.outcome = Outcome()
        self.force = False  # render --force: render again even if up to date
        self.rebuild = False  # run --rebuild: the full graph of a pruned day
        self.checked: dict[str, Any] = {}  # file stamp -> decode of a fresh render
        self.pictures: dict[str, Any] = {}  # file stamp -> pictures made by that decode
        self.downloaded = 0  # bytes, for progress (updated without a lock: a display)
        self._shared: dict[str, Any] = {}
        self._shared_lock = threading.RLock()  # a shared object may be made from another
        self._lock: FileLock | None = None

    def shared(self, name: str, make: Callable[[], Any]) -> Any:
        """One object of this run shared by the worker threads (a logged-in client,
        the clip index), made on first use."""
        with self._shared_lock:
            if name not in self._shared:
                self._shared[name] = make()
            return self._shared[name]

    def hand(self, name: str, value: Any) -> None:
        """Hand `value` to the tasks after this one in this run (see `shared`)."""
        with self._shared_lock:
            self._shared[name] = value

    @property
    def pruned(self) -> bool:
        """The inputs were pruned and this run does not rebuild them: the video is
        checked and published as it is."""
        return self.layout.pruned_json.exists() and not self.rebuild

    def zone(self) -> str:
        """The camera-day's local zone, one rule everywhere: the camera's `timezone`,
        else the one its scan found on the device (metadata/camera.json), else UTC."""
        if self.settings.timezone:
            return self.settings.timezone
        record = read_json(self.layout.camera_json, {})
        day = record.get("day") if isinstance(record, dict) else None
        return (day.get("timezone") if isinstance(day, dict) else None) or "UTC"

    @property
    def label(self) -> str:
        """How lines and the display name this camera-day."""
        return f"{self.settings.name} {self.date.isoformat()}"

    def owner(self) -> dict[str, str]:
        return {"camera": self.settings.name, "date": self.date.isoformat()}

    def check_owner(self) -> None:
        """Refuse a folder that already holds another camera-day (their clips and
        state would mix)."""
        found = read_json(self.layout.owner_file, None)
        if isinstance(found, dict) and found.get("date") and (
                str(found.get("camera", "")).casefold(), found["date"]) != (
                self.settings.name.casefold(), self.date.isoformat()):
            raise UsageError(f"{self.layout.root} already holds camera "
                             f"{found.get('camera')!r} on {found['date']}: give each "
                             "camera-day its own --out (by default out/<camera>/<date>)")

    def lock(self) -> None:
        """Own the camera-day for this run: an OS lock on a file in its folder, which
        the kernel releases however this process ends. A second run of the same day
        stops at once (exit 7) and changes nothing. Holding the lock, leftovers of
        interrupted runs are removed: no live run can be writing them."""
        lock = FileLock(self.layout.lock_file)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            raise Busy(f"another run is building {self.settings.name} {self.date} "
                       f"({self.layout.root}): this one stops without changing "
                       "anything; run it again when that one has finished") from None
        self._lock = lock
        removed = remove_leftovers(self.layout.root)
        if removed:
            log.info("removed %d leftover(s) of an interrupted run", removed)

    def check_state(self) -> None:
        """doit's state file must open: a damaged one (a crash of the disk, not of
        tlbuild: sqlite survives those) is moved aside, and this run checks every
        task again instead of stopping on a database error every time."""
        state = self.layout.dep_file
        if not state.exists():
            return
        try:
            with contextlib.closing(sqlite3.connect(state)) as db:
                healthy = db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except sqlite3.DatabaseError:
            healthy = False
        if not healthy:
            aside = state.with_name(f"{state.name}.damaged-{int(time.time())}")
            state.replace(aside)
            log.warning("doit's state file %s was damaged: moved to %s; this run "
                        "checks every task again", state, aside.name)

    def unlock(self) -> None:
        for scratch in self.pictures.values():  # a stop came before the day page
            scratch.discard()
        self.pictures.clear()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def claim(self) -> None:
        """Mark the folder as this camera-day's, once a scan found the camera."""
        write_json_if_changed(self.layout.owner_file, self.owner())

    def fail(self, error: TlbuildError) -> LoggedFailure:
        """Record a run-stopping error; doit reports it as a failure without traceback."""
        self.outcome.record_fatal(error)
        log.error("%s", error)
        return LoggedFailure(str(error))

    def action(self, task: str, function: Callable[..., Any], *args: Any
               ) -> tuple[Callable[..., Any], list[Any]]:
        """A doit action that logs under the task's name and turns errors into clean
        doit failures (no traceback, no secret) that decide the exit code."""
        def run() -> Any:
            threading.current_thread().name = task
            try:
                with running_action():
                    return function(self, *args)
            except TlbuildError as error:
                return self.fail(error)
            except OSError as error:
                return self.fail(storage_error(error))
        return (run, [])

    def output_stamp(self) -> str | None:
        """Size and mtime of the timelapse: what verify last checked."""
        return file_stamp(self.layout.timelapse)

    def output_unchanged(self, task: Any, values: dict[str, Any]) -> bool:
        """doit uptodate for verify: the output is the one it verified last time."""
        return values.get("output", "") == self.output_stamp()

    def output_as_rendered(self, task: Any, values: dict[str, Any]) -> bool:
        """doit uptodate for render: the output is still what the render wrote. A
        video changed, truncated or replaced since is rendered again."""
        stamp = self.output_stamp()
        if self.force:
            return False
        if values.get("rendered") == stamp:
            return True
        if stamp is not None and values.get("rendered"):
            log.warning("%s changed since it was rendered (damaged or replaced?): "
                        "rendering it again", self.layout.timelapse.name)
        return False

    def count_bytes(self, size: int) -> None:
        self.downloaded += size

    def start_log(self) -> logging.Handler:
        """Append this build's log lines to logs/run.log."""
        self.layout.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.layout.log_file, encoding="utf-8")
        handler.setFormatter(LineFormatter(LOG_FORMAT))
        logging.getLogger("tlbuild").addHandler(handler)
        return handler
