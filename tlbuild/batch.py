"""Batches: every (camera, date) shard of a range, each built by its own process.

A shard is one camera-day: it has its own doit state file and log, so shards never
touch each other's state, one failing shard does not stop the others, and a shard
can run anywhere, e.g. as one element of a SLURM job array or a Kubernetes Indexed
Job. The batch itself is a small doit graph: one task per shard, then a summary.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import terminal
from .config import Config
from .days import parse_date
from .errors import TlbuildError, UsageError
from .handover import SESSION_FD
from .progress import LoggedFailure, progress_reporter
from .prune import prune
from .report import write_gallery
from .runtime import release, spawn
from .sources import SOURCES

log = logging.getLogger("tlbuild.batch")
MAX_DAYS = 3700  # ten years: a typo in a range should not start a month-long batch


@dataclass(frozen=True, order=True)
class Shard:
    camera: str
    date: dt.date

    def __str__(self) -> str:
        return f"{self.camera} {self.date.isoformat()}"


def parse_cameras(spec: str | list[str], config: Config) -> list[str]:
    """`all`, or camera names separated by commas (or given as a list)."""
    names = spec if isinstance(spec, list) else [spec]
    wanted = [name.strip() for item in names for name in item.split(",") if name.strip()]
    if not wanted:
        raise UsageError("no camera given")
    if "all" in wanted:
        return sorted(config.cameras)
    for name in wanted:
        config.camera(name)  # unknown names are usage errors, before any work
    return sorted(set(wanted))


def parse_dates(spec: str) -> list[dt.date]:
    """`YYYY-MM-DD`, a range `FIRST..LAST` (inclusive), or dates separated by commas."""
    dates: set[dt.date] = set()
    for part in spec.split(","):
        first, sep, last = part.strip().partition("..")
        start = parse_date(first)
        end = parse_date(last) if sep else start
        if end < start:
            raise UsageError(f"date range {part!r} ends before it starts")
        if (end - start).days > MAX_DAYS:
            raise UsageError(f"date range {part!r} is longer than {MAX_DAYS} days")
        dates.update(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return sorted(dates)


def all_shards(cameras: list[str], dates: list[dt.date]) -> list[Shard]:
    return sorted(Shard(camera, date) for camera in cameras for date in dates)


def select_shards(shards: list[Shard], index: int, count: int) -> list[Shard]:
    """Shard `index` of `count`: a deterministic partition of the sorted shard list."""
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"shard {index}/{count}: need 0 <= K < N")
    return shards[index::count]


def shard_position(explicit: str | None, count: int | None,
                   environ: dict[str, str] | None = None) -> tuple[int, int] | None:
    """Which part of the batch this process builds: `--shard K/N`, or K from
    SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN) or JOB_COMPLETION_INDEX with N
    from `--shards` or SLURM_ARRAY_TASK_COUNT. None: the whole batch."""
    env = os.environ if environ is None else environ
    try:
        if explicit:
            index, _, total = explicit.partition("/")
            return int(index), int(total)
        if "SLURM_ARRAY_TASK_ID" in env:
            index = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", 0))
            total = count or int(env.get("SLURM_ARRAY_TASK_COUNT", 0))
        elif "JOB_COMPLETION_INDEX" in env:
            index, total = int(env["JOB_COMPLETION_INDEX"]), count or 0
        elif count:
            raise UsageError(f"--shards {count} says how many parts, not which one to "
                             "build: run it as an array job (SLURM_ARRAY_TASK_ID or "
                             "JOB_COMPLETION_INDEX set), or use --shard K/N")
        else:
            return None
    except ValueError:
        raise UsageError("shard must be K/N with whole numbers, e.g. --shard 0/4") from None
    if not total:
        raise UsageError("the number of shards is unknown: pass --shards N")
    return index, total


@dataclass
class ShardResult:
    code: int
    seconds: float
    message: str = ""


def shard_command(shard: Shard, config: Config, out: Path | None,
                  extra: list[str], quiet: bool = True) -> list[str]:
    command = [sys.executable, "-m", "tlbuild.cli", "--config", str(config.path),
               "--camera", shard.camera, *(["--quiet"] if quiet else [])]
    if out is not None:
        command += ["--out", str(out)]
    return command + ["run", "--date", shard.date.isoformat(), *extra]


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [""])[-1].removeprefix("tlbuild: ")[:300]


class Batch:
    """Runs shards through doit (`-n N -P thread` builds N shards at once)."""

    def __init__(self, shards: list[Shard], config: Config, out: Path | None = None,
                 jobs: int = 1, quiet: bool = False, extra: list[str] | None = None):
        self.shards, self.config, self.out = shards, config, out
        self.jobs, self.quiet, self.extra = jobs, quiet, extra or []
        self.results: dict[Shard, ShardResult] = {}
        self.state_dir = tempfile.mkdtemp(prefix="tlbuild-batch-")
        # the batch's own doit state is of no use to a later run: gone at exit
        atexit.register(shutil.rmtree, self.state_dir, True)

    def run_shard(self, shard: Shard) -> None:
        started = time.monotonic()
        settings = self.config.camera(shard.camera)
        share = SOURCES[settings.source].handover
        try:
            handover = share(settings) if share else {}
        except TlbuildError as error:  # the console refused the batch's one login
            return self._report(shard, ShardResult(error.exit_code, 0.0, str(error)))
        read_end = None
        env = {**os.environ, terminal.REPORT_ENV: "json"}  # its lines and rows come here
        if handover:  # through a pipe the shard inherits: never on disk or argv
            read_end, write_end = os.pipe()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(json.dumps(handover).encode())
            env[SESSION_FD] = str(read_end)
        command = shard_command(shard, self.config, self.out, self.extra, terminal.quiet())
        with tempfile.TemporaryFile("w+") as stderr:  # a crash's traceback, if any
            try:
                process = spawn(command, death_signal=signal.SIGTERM,
                                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
                                pass_fds=() if read_end is None else (read_end,))
            finally:
                if read_end is not None:
                    os.close(read_end)
            last_error = ""
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    error = terminal.relay(str(shard), line, visible=not self.quiet)
                    last_error = error or last_error
                process.wait()
            finally:
                release(process)
                terminal.hide_all(f"{shard}/")
            stderr.seek(0)
            code = process.returncode
            message = "" if code == 0 else last_error or _last_error(stderr.read())
        self._report(shard, ShardResult(code, time.monotonic() - started, message))

    def _report(self, shard: Shard, result: ShardResult) -> None:
        code = result.code
        self.results[shard] = result
        word = {0: "ok", 1: "partial", 130: "interrupted"}.get(code, "FAILED")
        detail = f" (exit {code}: {result.message})" if code else ""
        if code or not self.quiet:
            terminal.echo(f"{word:<11} {shard} in {result.seconds:.1f} s{detail}",
                          stamped=True)

    def summary(self) -> LoggedFailure | None:
        failed = {shard: r for shard, r in self.results.items() if r.code != 0}
        if not self.quiet:  # quiet: each failed shard's own line says it all
            terminal.echo(f"batch: {terminal.plural(len(self.shards), 'shard')}: "
                          f"{len(self.shards) - len(failed)} ok, {len(failed)} failed",
                          stamped=True)
            for shard, result in sorted(failed.items()):
                terminal.echo(f"  {shard}: exit {result.code}: {result.message}")
        gallery = write_gallery(self.out or self.config.out, sorted(self.config.cameras))
        log.info("gallery: %s", gallery)
        if failed:
            return LoggedFailure(f"{terminal.plural(len(failed), 'shard')} failed")
        return None

    def prune(self) -> None:
        cameras = sorted({shard.camera for shard in self.shards})
        days = [(shard_root(self.config, self.out, Shard(camera, date)), camera, date)
                for camera in cameras for date in known_dates(self.config, self.out, camera)]
        done, _ = prune(days, self.config.prune_after_days,
                        choices={camera: self.config.camera(camera).render_choices()
                                 for camera in cameras})
        if done and not self.quiet:
            terminal.echo(f"pruned {terminal.plural(len(done), 'camera-day')} older than "
                         f"{self.config.prune_after_days} days: "
                         f"{sum(p.bytes for p in done) / 1e6:.1f} MB", stamped=True)

    def namespace(self) -> dict[str, Any]:
        def task_shard():
            """Build each (camera, date) shard in its own process."""
            for shard in self.shards:
                yield {"name": f"{shard.camera}:{shard.date.isoformat()}",
                       "actions": [(self.run_shard, [shard])], "uptodate": [False],
                       "verbosity": 2}

        def task_summary():
            """Print what succeeded and what failed; fail if any shard failed."""
            return {"actions": [self.summary], "task_dep": ["shard"],
                    "uptodate": [False], "verbosity": 2}

        def task_prune():
            """prune_after_days: delete the inputs of this batch's old verified days."""
            return {"actions": [self.prune], "task_dep": ["summary"],
                    "uptodate": [False], "verbosity": 2}

        names = {"task_shard": task_shard, "task_summary": task_summary}
        if self.config.prune_after_days is not None:
            names["task_prune"] = task_prune
        return {**names,
                "DOIT_CONFIG": {
                    # the batch keeps no state of its own: each shard has its own
                    "backend": "sqlite3",
                    "dep_file": os.path.join(self.state_dir, "batch.sqlite3"),
                    "num_process": self.jobs, "par_type": "thread",
                    "default_tasks": [name[5:] for name in names], "verbosity": 2,
                    # the summary says what happened: no count of these tasks
                    "reporter": progress_reporter("batch", counted=False)}}


# --- status --------------------------------------------------------------------------

def shard_root(config: Config, out: Path | None, shard: Shard) -> Path:
    return (out or config.out) / shard.camera / shard.date.isoformat()


def known_dates(config: Config, out: Path | None, camera: str) -> list[dt.date]:
    folder = (out or config.out) / camera
    dates = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            dates.append(parse_date(child.name))
        except UsageError:
            continue
    return dates
