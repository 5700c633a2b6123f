"""At most N holders of a remote resource at once, across threads and processes.

Every tlbuild process that exports from one UniFi console takes one of the console's
slots first: one lock file per slot in a private runtime folder, held with an OS
lock, so the limit holds across the shards of a batch and a killed process gives
its slot back at once (the kernel drops its locks).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from .http import sleep_interruptibly

POLL_SECONDS = 0.1


def runtime_dir() -> Path:
    """A folder only this user can write: $XDG_RUNTIME_DIR/tlbuild or /tmp/tlbuild-<uid>."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "tlbuild" if base else \
        Path(tempfile.gettempdir()) / f"tlbuild-{os.getuid()}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():
        raise PermissionError(f"{folder} belongs to another user")
    return folder


class HostSlots:
    def __init__(self, key: str, count: int):
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        folder = runtime_dir()
        self.locks = [FileLock(folder / f"slot-{digest}-{n}.lock") for n in range(count)]

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for a free slot (a stop request ends the wait), hold it meanwhile."""
        while True:
            for lock in self.locks:
                try:
                    lock.acquire(blocking=False)
                except Timeout:
                    continue
                try:
                    yield
                finally:
                    lock.release()
                return
            sleep_interruptibly(POLL_SECONDS)
