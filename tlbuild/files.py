"""Atomic file writes, safe names and JSON I/O: the one way tlbuild writes files.

Every finished file appears under its final name in one rename, so an interrupted
run never leaves a half-written file where a finished one is expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("tlbuild")

PARTIAL_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    """Where `path` is written before its rename: unique to this process and this
    write, so a dead run's ffmpeg can never write into a later run's file."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(3)}"
                          f"{PARTIAL_SUFFIX}")


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
def open_named(path: Path, mode: str = "wb") -> Iterator[Any]:
    """open(), with the file's name on a failed write (a full disk's ENOSPC from
    write() carries none)."""
    try:
        with open(path, mode) as handle:
            yield handle
    except OSError as error:
        if error.filename or error.errno is None:  # named, or not the disk's (network)
            raise
        raise OSError(error.errno, error.strerror, str(path)) from None


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
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        if isinstance(error, OSError) and error.errno is not None and not error.filename:
            # a full disk in write() names no file
            raise OSError(error.errno, error.strerror, str(path)) from None
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


def file_stamp(path: Path) -> str | None:
    """Size and modification time: what a task records of a file it wrote, to see
    later that the file was changed or damaged since (None: it is missing)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def dump_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, fixed indentation, trailing newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def write_json_if_changed(path: Path, obj: Any, sync_dir: bool = True) -> bool:
    return write_bytes_if_changed(path, dump_json(obj), sync_dir)


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file, or `default` when it is missing or damaged (truncated, not JSON):
    a damaged file is treated as missing, and the task that makes it makes it again
    (see `json_intact`)."""
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default
    except (ValueError, UnicodeDecodeError):
        log.warning("%s is damaged (not readable JSON): treated as missing, it is "
                    "made again", path)
        return default


def json_intact(*paths: Path) -> Callable[..., bool]:
    """A doit `uptodate` check: False when one of these JSON targets exists but no
    longer parses, so the task makes it again."""
    def intact(task: Any = None, values: Any = None) -> bool:
        for path in paths:
            try:
                with open(path, "rb") as handle:
                    json.load(handle)
            except FileNotFoundError:
                continue  # doit itself runs a task whose target is missing
            except (ValueError, UnicodeDecodeError):
                return False
        return True
    return intact


_FORBIDDEN = re.compile(r'[/\\:*?"<>|]')
NAME_BYTES = 120  # per name: room for prefixes and suffixes within 255-byte file names


def safe_name(name: str, fallback: str = "unnamed", limit: int = NAME_BYTES) -> str:
    """A single path component made from an untrusted name.

    Removes / \\ : * ? " < > | and every control or format character (NUL and
    newlines included), collapses runs of underscores and trims white space, dots
    and underscores from the ends: the result is never '..', absolute, or holds a
    separator. It is at most `limit` bytes of UTF-8, cut between characters; a name
    that had to be changed or cut ends in '-' and a short hash of the original, so
    two different names never meet.
    """
    text = str(name)
    cleaned = "".join(char for char in _FORBIDDEN.sub("", text)
                      if not unicodedata.category(char).startswith("C"))
    cleaned = re.sub(r"_+", "_", cleaned).strip("._ \t")
    if cleaned and cleaned == text and len(text.encode()) <= limit:
        return cleaned
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    kept = cleaned.encode()[:limit - len(digest) - 1].decode("utf-8", "ignore")
    return f"{kept.rstrip('._ ')}-{digest}" if kept.strip("._ ") else f"{fallback}-{digest}"


def printable(text: str) -> str:
    """Text for one log line: control characters (a newline in a camera's archive
    name, an escape sequence) shown as escapes instead of acting."""
    return "".join(char if char.isprintable() or char == " "
                   else char.encode("unicode_escape").decode() for char in text)


def remove_leftovers(root: Path) -> int:
    """Delete what interrupted runs left in a camera-day: `.partial` files and
    first-pass work folders, never trusted. Called only by the run that holds the
    day's lock, so no live run is writing them."""
    removed = 0
    for leftover in root.rglob("*" + PARTIAL_SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            removed += 1
    for work in [*root.glob("intermediates/.first-pass*"),
                 *root.glob("intermediates/.keyframes*")]:
        shutil.rmtree(work, ignore_errors=True)
        removed += 1
    return removed
