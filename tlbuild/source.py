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
from typing import Any, Literal

Kind = Literal["clips", "frames", "archives"]  # what a day is made of (rollups)


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
    simulator: str | None = None               # module whose demo() serves "simulator"
    handover: Callable[[Any], dict[str, Any]] | None = None  # a batch's shared login
