"""The camera systems tlbuild builds from: one registry entry each, the one place
that knows them all. Adding a system means its source module (settings parser and
task creators), its client, its simulator and one line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import clips, frames
from ..config import Config, load_config
from . import axis_timelapse2, protect, s3_frames, unifi, unifi_snapshots


@dataclass(frozen=True)
class Source:
    name: str                                  # the config's `source = "..."`
    parse: Callable[..., Any]                  # (name, Table, config folder) -> settings
    tasks: Callable[[Any], dict[str, Any]]     # (build) -> {"task_scan": creator, ...}
    order: tuple[str, ...]                     # default tasks, in order
    failures: Callable[[Any], tuple[int, int, str | None]]  # failed, items, reason
    verify: Callable[[Any], Any]               # (build) -> the day's checks
    check: Callable[..., str]                  # (settings, password, shared) -> a line
    simulator: str                             # module whose demo() serves "simulator"
    items: str                                 # what the day is made of, for messages
    handover: Callable[[Any], dict[str, Any]] | None = None  # a batch's shared login


SOURCES = {source.name: source for source in (
    Source("unifi", unifi.parse, unifi.tasks, unifi.ORDER, unifi.failures, clips.verify,
           protect.check, "tlbuild.sim.unifi", "clips", protect.SESSIONS.handover),
    Source("axis-timelapse2", axis_timelapse2.parse, axis_timelapse2.tasks,
           axis_timelapse2.ORDER, axis_timelapse2.failures, axis_timelapse2.verify,
           axis_timelapse2.check, "tlbuild.sim.axis", "archives"),
    Source("s3-frames", s3_frames.parse, s3_frames.tasks, s3_frames.ORDER,
           s3_frames.failures, frames.verify, s3_frames.check, "tlbuild.sim.s3", "frames"),
    Source("unifi-snapshots", unifi_snapshots.parse, unifi_snapshots.tasks,
           unifi_snapshots.ORDER, unifi_snapshots.failures, frames.verify, protect.check,
           "tlbuild.sim.unifi", "stills", protect.SESSIONS.handover),
)}


def read_config(path: Path | str | None = None) -> Config:
    """The config named by `path`, $TLBUILD_CONFIG or config/tlbuild.toml, its
    cameras parsed by their systems' parsers."""
    return load_config(path, {name: source.parse for name, source in SOURCES.items()})
