"""A camera system from outside the package, for the test of the `tlbuild.sources`
entry points: the JPEGs of a folder, each named by its capture time in epoch
seconds (`1705312800.jpg`). It uses only tlbuild's public pieces (the contract, the
settings base, the task factory and the frame pipeline), as a plugin would."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tlbuild import frames
from tlbuild.config import RenderSettings, Table, render_settings
from tlbuild.probe import jpeg_size
from tlbuild.settings import CameraSettings
from tlbuild.source import Source
from tlbuild.taskdef import task


@dataclass(frozen=True, kw_only=True)
class FolderCamera(CameraSettings):
    path: Path
    source: str = "tiny-folder"


def parse(name: str, table: Table, base: Path) -> FolderCamera:
    camera = FolderCamera(name=name, path=base / table.get("path", str, required=True),
                          timezone=table.get("timezone", str, "UTC"),
                          render=render_settings(table, RenderSettings(target=None)))
    table.get("source", str)
    table.reject_unknown()
    return camera


def images(build: Any) -> list[Path]:
    return sorted(build.settings.path.glob("*.jpg"))


def copy(build: Any, image: Path) -> None:
    target = build.layout.frame_dir / image.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image, target)


def frame_list(build: Any) -> list[dict[str, Any]]:
    listed = []
    for image in sorted(build.layout.frame_dir.glob("*.jpg")):
        width, height = jpeg_size(image.read_bytes()) or (0, 0)
        listed.append({"key": image.stem, "status": frames.GOOD,
                       "timestamp": float(image.stem), "width": width, "height": height,
                       "file": image.relative_to(build.layout.root).as_posix()})
    return listed


def tasks(build: Any) -> dict[str, Any]:
    def task_fetch():
        """Copy each image of the folder (again when it changes)."""
        for image in images(build):
            yield task(build, "fetch", copy, image, subtask=image.stem, file_dep=[image],
                       targets=[build.layout.frame_dir / image.name])

    return {"task_fetch": task_fetch,
            **frames.tasks(build, lambda: frame_list(build),
                           lambda: sorted(build.layout.frame_dir.glob("*.jpg")))}


SOURCE = Source(name="tiny-folder", parse=parse, tasks=tasks,
                order=("fetch", "manifest", "speed", "render", "verify"),
                failures=lambda build: (0, len(images(build)), None),
                verify=frames.verify,
                check=lambda settings, password, shared: f"{settings.path}",
                kind="frames", items="images", marks=frames.marks,
                records=frames.records, continuous=lambda settings: True)
