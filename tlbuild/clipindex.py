"""manifests/clip_index.json: one entry per clip, with its download status.

Worker threads update statuses concurrently; every update rewrites the file
atomically under a lock, so the file on disk is always a complete JSON array.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .files import read_json, write_json_if_changed

PENDING, IN_PROGRESS, COMPLETE, FAILED = "pending", "in_progress", "complete", "failed"


def clip_key(entry: dict[str, Any]) -> str:
    return entry["file_path"]


def sort_key(entry: dict[str, Any]) -> tuple[int, int, str]:
    return (entry["start_ms"], entry["end_ms"], entry["event_id"])


class ClipIndex:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> list[dict[str, Any]]:
        entries = read_json(self.path, [])
        return entries if isinstance(entries, list) else []

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
