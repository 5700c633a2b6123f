"""A keogram's shape: the centre column of every step-th frame of the timelapse,
side by side, at most one column per minute of a day."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

COLUMNS = 1440
HEIGHT = 180


@dataclass(frozen=True)
class Keogram:
    output: Path
    frames: int

    @property
    def step(self) -> int:
        return max(1, math.ceil(self.frames / COLUMNS))

    @property
    def filters(self) -> str:
        """The column cut before the RGB conversion (a 2-pixel strip: yuv420p's
        chroma is shared by two columns), so no whole frame is converted."""
        columns = math.ceil(self.frames / self.step)
        return (f"select='not(mod(n\\,{self.step}))',crop=2:ih:iw/2:0,format=rgb24,"
                f"crop=1:ih:0:0,scale=1:{HEIGHT},tile={columns}x1")
