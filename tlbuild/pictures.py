"""The day's pictures, made from the timelapse's frames: the keogram (the centre
column of every step-th frame, side by side, at most one column per minute of a
day) and the poster (the middle frame)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

COLUMNS = 1440
HEIGHT = 180


@dataclass(frozen=True)
class Pictures:
    keogram: Path
    poster: Path
    frames: int

    @property
    def keogram_filters(self) -> str:
        """The column cut before the RGB conversion (a 2-pixel strip: yuv420p's
        chroma is shared by two columns), so no whole frame is converted."""
        step = max(1, math.ceil(self.frames / COLUMNS))
        columns = math.ceil(self.frames / step)
        return (f"select='not(mod(n\\,{step}))',crop=2:ih:iw/2:0,format=rgb24,"
                f"crop=1:ih:0:0,scale=1:{HEIGHT},tile={columns}x1")

    @property
    def poster_frame(self) -> int:
        return (self.frames - 1) // 2

    def discard(self) -> None:
        self.keogram.unlink(missing_ok=True)
        self.poster.unlink(missing_ok=True)
