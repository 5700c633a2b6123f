"""Any folder of images as a source (`source = "folder"`): the images under `path`
by the time each was taken, through the image-folder pipeline (imagefolder.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..build import DayBuild
from ..config import ConfigError, RenderSettings, Table
from ..errors import UsageError
from ..imagefolder import frame_keys, images, local_zone, scan_folder, tasks_for
from ..settings import CameraSettings
from ..terminal import plural


@dataclass(frozen=True, kw_only=True)
class FolderCamera(CameraSettings):
    """A folder of images, by the time each was taken."""

    path: Path
    pattern: str | None = None    # the file names' own form, strftime codes
    interval: int | None = None   # keep at most one image per this many seconds
    render: RenderSettings = field(default_factory=lambda: RenderSettings(target=None))
    source: str = "folder"

    @property
    def device_address(self) -> str | None:
        return str(self.path)


def parse(name: str, table: Table, base: Path) -> FolderCamera:
    where = table.where
    path = base / Path(table.get("path", str, required=True)).expanduser()
    pattern = table.get("pattern", str)
    if pattern is not None and "%" not in pattern:
        raise ConfigError(f"{where}: pattern uses strftime codes, e.g. "
                          "\"cam-%Y%m%d-%H%M%S\"")
    camera = FolderCamera(name=name, path=path, pattern=pattern, **frame_keys(table, base))
    table.get("source", str)
    table.reject_unknown()
    return camera


def tasks(build: DayBuild) -> dict[str, Any]:
    settings = build.settings
    return tasks_for(build, lambda build: scan_folder(build, settings.path,
                                                      settings.pattern,
                                                      settings.interval))


def check(settings: FolderCamera, password: Any, shared: dict[str, Any]) -> str:
    """What `doctor` and `cameras` say: the folder is there, and how many images."""
    if not settings.path.is_dir():
        raise UsageError(f"no folder {settings.path}")
    count = sum(1 for _ in images(settings.path))
    return f"{settings.path}: {plural(count, 'image')}, time zone {local_zone(settings)}"
