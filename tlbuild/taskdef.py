"""The one task factory every source and sink makes its doit tasks with.

Every task is made by `task`, so a source's task list reads like a Makefile (what
it makes, from what, reading which settings) and everything they share is said
once: the action runs under the task's name with clean failures, exactly the
settings it reads go to `config_changed` together with the ffmpeg version, a JSON
target that no longer parses makes the task run again, and `doit clean` removes the
targets (Cleanup).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from .build import DayBuild
from .ffmpeg import ffmpeg_version
from .files import file_stamp, json_intact


def task(build: DayBuild, name: str, action: Callable[..., Any], *args: Any,
         subtask: str | None = None, reads: dict[str, Any] | None = None,
         file_dep: Iterable[Path | str] = (), targets: Iterable[Path | str] = (),
         task_dep: Iterable[str] = (), uptodate: Iterable[Any] = (),
         clean: bool | Iterable[Path] = True, stamped: bool = False) -> dict[str, Any]:
    """One doit task as data. `reads`: exactly the settings the action reads (with
    the ffmpeg version: a new ffmpeg makes its output again); `uptodate`: more
    checks of the task's own; `clean`: whether `doit clean` removes the targets, or
    the files it removes with them; `stamped`: the task runs again when a target is
    not the file it wrote (doit saves its state when a run ends: a run killed
    after the write leaves a target newer than the state that says it is current)."""
    targets = [Path(path) for path in targets]
    checks = list(uptodate)
    if stamped:
        action = _stamping(action, targets)
        checks.append(lambda task, values: values.get("made") == _stamps(targets))
    if reads is not None:
        checks.insert(0, config_changed({**reads, "ffmpeg": ffmpeg_version()}))
    made_json = [path for path in targets if path.suffix == ".json"]
    if made_json:
        checks.append(json_intact(*made_json))
    if clean is not False:
        clean = [Cleanup(build.layout.root, () if clean is True else clean)]
    made = {"actions": [build.action(f"{name}:{subtask}" if subtask else name, action,
                                     *args)],
            "file_dep": [str(path) for path in file_dep],
            "targets": [str(path) for path in targets], "task_dep": list(task_dep),
            "uptodate": checks, "clean": clean or [], "verbosity": 2}
    if subtask is not None:
        made["name"] = doit_name(subtask)
    return made


def doit_name(text: str) -> str:
    """A subtask name doit takes from an untrusted name (an event id, an S3 key): doit
    refuses `=` (it reads `name=value` as a variable), and white space or control
    characters would not survive a command line. Such a name keeps its safe part and
    gains a short hash of the original, so two names never meet."""
    if text and "=" not in text and text.isprintable() and not any(
            char.isspace() for char in text) and not text.startswith("-"):
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    kept = re.sub(r"[^\w.:@+-]+", "_", text).strip("-")[:80]
    return f"{kept}-{digest}"


def _stamps(paths: list[Path]) -> dict[str, str | None]:
    return {path.name: file_stamp(path) for path in paths}


def _stamping(action: Callable[..., Any], targets: list[Path]) -> Callable[..., Any]:
    """`action`, with the stamps of the targets it wrote added to its saved values."""
    def run(*args: Any) -> Any:
        result = action(*args)
        if result is None or isinstance(result, dict):
            return {**(result or {}), "made": _stamps(targets)}
        return result
    return run


class Cleanup:
    """A task's whole `clean`, as one action: its targets, the files named beside them
    (sidecars, folders), then the folders that leaves empty up to the camera-day's
    folder, so `doit clean` leaves no empty tree behind. `doit clean` prints each
    action as `Python: ` + str(action)[1:]: hence `__str__`."""

    def __init__(self, root: Path, also: Iterable[Path] = ()):
        self.root, self.also = root, list(also)

    def __str__(self) -> str:
        return "<remove what the task made"

    def __call__(self, targets: list[str], dryrun: bool = False) -> None:
        paths = [*map(Path, targets), *self.also]
        for path in paths:
            if not (path.exists() or path.is_symlink()):
                continue
            print(f"  removing {path}")
            if dryrun:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for folder in sorted({path.parent for path in paths}, reverse=True):
            while (not dryrun and folder != self.root and self.root in folder.parents
                   and folder.is_dir() and not any(folder.iterdir())):
                folder.rmdir()
                folder = folder.parent
