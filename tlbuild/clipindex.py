"""manifests/clip_index.json: one entry per clip, with its download status.

Worker threads update statuses concurrently; the run keeps the index in memory and
every change rewrites the file atomically under a lock, so the file on disk is
always a complete JSON array.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .files import dump_json, read_json, write_bytes_if_changed

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
    """The index of one run: read from disk once, then kept in memory and written
    once per change (atomically, under its lock; unchanged contents are not written
    again), so the downloads of a busy day do not read and rewrite the whole file
    for every clip."""

    def __init__(self, path: Path, owns: Callable[[str], bool] = lambda path: True):
        self.path = path
        self.owns = owns  # whether an entry's file belongs to this camera-day
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] | None = None
        self._written: bytes | None = None  # what the file holds, as this run wrote it

    def _load(self) -> list[dict[str, Any]]:
        """The entries on disk; any that are malformed or name a file outside this
        camera-day's clip folder are left out, with a warning."""
        if self._entries is None:
            entries = read_json(self.path, [])
            if not isinstance(entries, list):
                entries = []
            good = [e for e in entries if well_formed(e) and self.owns(e["file_path"])]
            if len(good) != len(entries):
                log.warning("%s: left out %d entries that are not clips of this "
                            "camera-day", self.path, len(entries) - len(good))
            self._entries = good
        return self._entries

    def _save(self) -> bool:
        data = dump_json(self._entries)
        if data == self._written:
            return False
        changed = write_bytes_if_changed(self.path, data)
        self._written = data  # only once it is on disk: a failed write is tried again
        return changed

    def read(self) -> list[dict[str, Any]]:
        """The entries (copies: changes go through `write` and `update`)."""
        with self._lock:
            return [dict(entry) for entry in self._load()]

    def write(self, entries: list[dict[str, Any]]) -> bool:
        with self._lock:
            self._entries = sorted((dict(entry) for entry in entries), key=sort_key)
            return self._save()

    def update(self, key: str, **fields: Any) -> None:
        with self._lock:
            for entry in self._load():
                if clip_key(entry) == key:
                    entry.update(fields)
                    for name in [name for name, value in fields.items() if value is None]:
                        entry.pop(name, None)
            self._save()
