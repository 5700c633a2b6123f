"""manifests/clip_index.json: one entry per clip, with its download status.

Worker threads update statuses concurrently; every update rewrites the file
atomically under a lock, so the file on disk is always a complete JSON array.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .files import read_json, write_json_if_changed

log = logging.getLogger("tlbuild")

PENDING, IN_PROGRESS, COMPLETE, FAILED = "pending", "in_progress", "complete", "failed"


def clip_key(entry: dict[str, Any]) -> str:
    return entry["file_path"]


def sort_key(entry: dict[str, Any]) -> tuple[int, int, str]:
    return (entry["start_ms"], entry["end_ms"], entry["event_id"])


def well_formed(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("file_path"), str)
            and isinstance(entry.get("start_ms"), int)
            and isinstance(entry.get("end_ms"), int)
            and isinstance(entry.get("event_id"), str))


class ClipIndex:
    def __init__(self, path: Path, owns: Callable[[str], bool] = lambda path: True):
        self.path = path
        self.owns = owns  # whether an entry's file belongs to this camera-day
        self._lock = threading.Lock()

    def read(self) -> list[dict[str, Any]]:
        """The entries; any that are malformed or name a file outside this
        camera-day's clip folder are left out, with a warning."""
        entries = read_json(self.path, [])
        if not isinstance(entries, list):
            return []
        good = [e for e in entries if well_formed(e) and self.owns(e["file_path"])]
        if len(good) != len(entries):
            log.warning("%s: left out %d entries that are not clips of this camera-day",
                        self.path, len(entries) - len(good))
        return good

    def write(self, entries: list[dict[str, Any]]) -> bool:
        with self._lock:
            return write_json_if_changed(self.path, sorted(entries, key=sort_key))

    def update(self, key: str, **fields: Any) -> None:
        with self._lock:
            entries = self.read()
            for entry in entries:
                if clip_key(entry) == key:
                    entry.update(fields)
                    for name in [name for name, value in fields.items() if value is None]:
                        entry.pop(name, None)
            write_json_if_changed(self.path, entries)
