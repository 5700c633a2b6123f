"""Atomic file writes, safe names and JSON I/O: the one way tlbuild writes files.

Every finished file appears under its final name in one rename, so an interrupted
run never leaves a half-written file where a finished one is expected.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

PARTIAL_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_partial(partial: Path, final: Path) -> None:
    """fsync a finished `.partial` file and rename it onto its final name."""
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, final)
    _fsync_dir(final.parent)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb", sync_dir: bool = True) -> Iterator[Any]:
    """Write to `<path>.partial`; on success fsync and rename, on failure remove it.

    `sync_dir=False` skips the directory fsync that makes the rename itself durable:
    for files that a rerun simply fetches again if a crash loses the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        with open(partial, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        if sync_dir:
            _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise


def write_bytes_if_changed(path: Path, data: bytes, sync_dir: bool = True) -> bool:
    """Write atomically unless the file already holds exactly `data`.

    Leaving an unchanged file untouched keeps its mtime, so doit sees downstream
    tasks as up to date.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    with atomic_open(path, "wb", sync_dir) as handle:
        handle.write(data)
    return True


def dump_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, fixed indentation, trailing newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def write_json_if_changed(path: Path, obj: Any, sync_dir: bool = True) -> bool:
    return write_bytes_if_changed(path, dump_json(obj), sync_dir)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


_FORBIDDEN = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')


def safe_name(name: str, fallback: str = "unnamed") -> str:
    """A single path component made from an untrusted name (the spec's rule).

    Removes / \\ : * ? " < > | and control characters, collapses runs of
    underscores and trims white space, dots and underscores from the ends, so the
    result can never be '..', absolute, or contain a separator.
    """
    cleaned = _FORBIDDEN.sub("", str(name))
    cleaned = re.sub(r"_+", "_", cleaned)
    cleaned = cleaned.strip("._ \t")
    return cleaned[:120] or fallback


def ensure_inside(root: Path, path: Path) -> Path:
    """Return `path` resolved, refusing anything that would land outside `root`."""
    resolved_root = root.resolve()
    resolved = path.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise ValueError(f"refusing to write outside the output root: {path}")
    return resolved


def remove_stale_partials(directory: Path) -> None:
    """Delete `.partial` leftovers of an interrupted run: never trust their contents."""
    if directory.is_dir():
        for leftover in directory.glob("*" + PARTIAL_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
