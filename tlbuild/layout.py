"""Where each file of one camera-day lives (the output tree)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .files import safe_name


@dataclass(frozen=True)
class DayLayout:
    root: Path   # `<out>/<camera>/<date>/`: this camera-day's folder
    label: str   # sanitized camera name used in file names
    date: dt.date

    @classmethod
    def create(cls, root: Path, camera: str, date: dt.date) -> DayLayout:
        return cls(root=root.absolute(), label=safe_name(camera, "camera"), date=date)

    @property
    def day(self) -> str:
        return self.date.isoformat()

    @property
    def camera_json(self) -> Path:
        return self.root / "metadata" / "camera.json"

    @property
    def day_json(self) -> Path:
        return self.root / "metadata" / "day.json"

    @property
    def verify_json(self) -> Path:
        return self.root / "metadata" / "verify.json"

    @property
    def run_json(self) -> Path:
        """How the latest run ended."""
        return self.root / "metadata" / "run.json"

    @property
    def pruned_json(self) -> Path:
        """Present when the day's downloaded inputs were pruned (the video stays)."""
        return self.root / "metadata" / "pruned.json"

    @cached_property  # asked for every clip of the day
    def clip_dir(self) -> Path:
        return self.root / "clips" / self.label / self.day

    @property
    def clip_index(self) -> Path:
        return self.root / "manifests" / "clip_index.json"

    @property
    def concat(self) -> Path:
        return self.root / "manifests" / "concat.txt"

    @property
    def frame_dir(self) -> Path:
        return self.root / "frames"

    @property
    def object_list(self) -> Path:
        return self.root / "manifests" / "object_list.json"

    @property
    def frame_index(self) -> Path:
        return self.root / "manifests" / "frame_index.json"

    @property
    def frames_list(self) -> Path:
        return self.root / "manifests" / "frames.txt"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def keogram(self) -> Path:
        return self.root / "keogram.png"

    @property
    def poster(self) -> Path:
        return self.root / "poster.jpg"

    @property
    def snapshot_plan(self) -> Path:
        return self.root / "manifests" / "snapshot_plan.json"

    @property
    def brightness(self) -> Path:
        """Each frame's measured mean brightness (for skip_dark), kept between runs."""
        return self.root / "manifests" / "brightness.json"

    @property
    def decoded(self) -> Path:
        """The frames that decoded whole, by file stamp, kept between runs."""
        return self.root / "manifests" / "decoded.json"

    @cached_property
    def intermediate_dir(self) -> Path:
        return self.root / "intermediates"

    @property
    def intermediates_list(self) -> Path:
        return self.root / "manifests" / "intermediates.txt"

    @property
    def archive_index(self) -> Path:
        return self.root / "manifests" / "archive_index.json"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archives"

    @property
    def segment_dir(self) -> Path:
        return self.root / "segments"

    @property
    def segments_list(self) -> Path:
        return self.root / "manifests" / "segments.txt"

    @property
    def timelapse(self) -> Path:
        return self.root / "timelapse" / f"{self.label}_{self.day}_timelapse.mp4"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "run.log"

    @property
    def lock_file(self) -> Path:
        """Held (an OS lock) by the one run that builds this camera-day."""
        return self.root / ".tlbuild-day.lock"

    @property
    def owner_file(self) -> Path:
        """Which camera-day this folder holds."""
        return self.root / ".tlbuild-day.json"

    @property
    def dep_file(self) -> Path:
        # One doit state file per camera-day: parallel shards never share one.
        return self.root / ".tlbuild-doit.sqlite3"

    @property
    def clip_folder(self) -> str:
        """The clip folder relative to the root, as index entries name it."""
        return f"clips/{self.label}/{self.day}"

    def owns_clip(self, relative: Any) -> bool:
        """Whether an index entry names a plain file of this camera-day's clip folder
        (a string test: no file system call, no way out through `..`)."""
        if not isinstance(relative, str):
            return False
        folder, _, name = relative.rpartition("/")
        return (folder == self.clip_folder and name not in ("", ".", "..")
                and not any(char in name for char in "\\\x00"))

    def clip_path(self, relative: str) -> Path:
        """The absolute path of a clip named in the index, refusing any escape."""
        if not self.owns_clip(relative):
            raise ValueError(f"clip path {relative!r} is outside {self.clip_dir}")
        return self.clip_dir / relative.rpartition("/")[2]
