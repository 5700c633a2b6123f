"""Sessions a batch hands to its shard processes, "<key>" -> state (a source's
`handover`): through an inherited pipe whose descriptor is in $TLBUILD_SESSION_FD,
so a token never touches the disk, a command line or the environment. The batch
writes (batch.py); the shard reads once at start (cli.py) and a source asks for
its key (`handed_over`)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

log = logging.getLogger("tlbuild.batch")
SESSION_FD = "TLBUILD_SESSION_FD"
_handed: dict[str, dict[str, Any]] = {}


def receive_handover() -> None:
    """In a shard: read what the batch handed over (nothing when run on its own)."""
    fd = os.environ.pop(SESSION_FD, "")
    if fd.isdigit():
        try:
            with os.fdopen(int(fd), "rb") as pipe:
                _handed.update(json.load(pipe))
        except (OSError, ValueError):
            log.debug("nothing usable handed over by the batch; logging in here")


def handed_over(key: str) -> dict[str, Any] | None:
    return _handed.get(key)
