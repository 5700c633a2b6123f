"""The contract of a camera system: one `Source` entry says everything shared code
needs of it, so shared code never names a system. tlbuild's own are registered in
sources/__init__.py; other packages add theirs through the `tlbuild.sources` entry
point group (an entry point names a `Source`):

    [project.entry-points."tlbuild.sources"]
    folder = "my_package.folder:SOURCE"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["clips", "frames", "archives"]  # what a day is made of (rollups)


@dataclass(frozen=True)
class Mark:
    """One mark on the day page's 24 h timeline: a clip, a frame or an archive."""

    first_ms: float           # where it starts and ends (unix ms)
    last_ms: float
    state: str                # ok, failed or skipped
    label: str                # what it is: "person", "frame", an archive's name
    seek: float | None = None   # where the video shows it (seconds), if it does
    reason: str | None = None   # why it failed or was skipped
    seek_end: float | None = None  # where the video stops showing it (None: one frame)


@dataclass(frozen=True, kw_only=True)
class DirectArgs:
    """A device named on the command line (`--host`) instead of in a config file."""

    host: str
    username: str | None
    password: Any             # a config.SecretSource, or None
    camera: str               # the device's camera id or name ("" to list them)


@dataclass(frozen=True, kw_only=True)
class Source:
    name: str                                  # the config's `source = "..."`
    parse: Callable[..., Any]                  # (name, Table, config folder) -> settings
    tasks: Callable[[Any], dict[str, Any]]     # (build) -> {"task_scan": creator, ...}
    order: tuple[str, ...]                     # default tasks, in order
    failures: Callable[[Any], tuple[int, int, str | None]]  # failed, items, reason
    verify: Callable[[Any], Any]               # (build) -> the day's checks
    check: Callable[..., str]                  # (settings, password, shared) -> a line
    kind: Kind                                 # clips, frames or archives
    items: str                                 # what the day is made of, for messages
    marks: Callable[[Any, Any], list[Mark]]    # (build, DayRecord) -> the day's timeline
    # whether the video follows the clock (stills, recordings, archives: the keogram
    # is drawn on the 24 h axis) or joins events (video time: drawn apart); by settings
    continuous: Callable[[Any], bool]
    records: Callable[[Any], list[Path]]       # (layout) -> the indexes the page reads
    simulator: str | None = None               # module whose demo() serves "simulator"
    handover: Callable[[Any], dict[str, Any]] | None = None  # a batch's shared login
    # `--host` without a config: DirectArgs -> settings (None: config cameras only)
    direct: Callable[[DirectArgs], Any] | None = None
    # `cameras --host`: (settings, password) -> exit code, printing the device's cameras
    device_cameras: Callable[[Any, Any], int] | None = None
    # `tlbuild capture`: (settings, the camera's folder under out) -> records the camera
    # until a stop is requested (for cameras that keep no history of their own)
    capture: Callable[[Any, Path], None] | None = None
