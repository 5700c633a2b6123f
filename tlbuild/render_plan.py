"""How to render a day of clips cheaply, and re-render it cheaper still.

The plain single pass decodes every frame of every clip on every render. But at a
speed factor S and output rate F, each output frame stands for S/F seconds of
footage: most source frames can never appear. So each clip is decoded once into an
intermediate that keeps every d-th frame (d the largest step of the ladder 4, 6, 8,
12, 16, 24, ... not above the source frames per output frame: at most 1.5 kept
frames per output frame, and a d that changes only when the speed changes by a
third or more, as a day grows), and renders read the intermediates. When an output
frame spans at least one keyframe interval, only keyframes are decoded at all, and
only one in `step` of them (the same ladder over keyframes per output frame: 2 at
150x with a 2 s GOP, where every keyframe decoded 2.5 per frame shown). At low
speeds (d < 4) intermediates would cost more than they save, and the plain
direct pass is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DIRECT, INTERMEDIATE, KEYFRAME = "direct", "intermediate", "keyframe"
MIN_STEP = 4
PAD_SECS = 5  # clones of the last frame, at most this long, to reach the frame count


@dataclass(frozen=True)
class RenderPlan:
    mode: str
    step: int = 1

    @property
    def uses_intermediates(self) -> bool:
        return self.mode != DIRECT

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RenderPlan:
        return cls(**data) if data else cls(DIRECT)


def plan_render(speed: float, out_fps: float, clips: list[dict[str, Any]],
                overlay: bool = False) -> RenderPlan:
    """The cheapest plan that gives the same output as the plain single-pass command. `overlay`:
    each clip's frames get its time burned in, so every plan makes intermediates of
    decoded frames (their clip is known there; keyframes copied cannot be drawn on)."""
    if not clips:
        return RenderPlan(DIRECT)
    footage_per_frame = max(speed, 1) / out_fps  # seconds of footage per output frame
    gops = [c.get("keyframe_secs") for c in clips]
    if all(gops) and footage_per_frame >= max(gops) and speed > 1 and not overlay:
        return RenderPlan(KEYFRAME, ladder_step(footage_per_frame / max(gops)))
    source_fps = max((c.get("fps") or 0) for c in clips) or out_fps
    frames_per_output = footage_per_frame * source_fps
    step = ladder_step(frames_per_output)
    if overlay:
        return RenderPlan(INTERMEDIATE, step)
    return RenderPlan(INTERMEDIATE, step) if step >= MIN_STEP and speed > 1 \
        else RenderPlan(DIRECT)


def ladder_step(frames_per_output: float) -> int:
    """The largest of 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (powers of two and 1.5 times
    them) not above `frames_per_output`. Powers of two alone kept up to twice the
    frames a render uses (1.5x at 12x and 30 fps: 8 for 12); this ladder keeps at
    most 1.5x, and exactly 1x at 12x."""
    if frames_per_output < 2:
        return 1
    power = 2 ** math.floor(math.log2(frames_per_output))
    return power * 3 // 2 if power * 3 // 2 <= frames_per_output else power


def output_frames(footage_secs: float, speed: float, fps: float) -> int:
    """How many frames every render of the day has: the output's length (footage /
    speed) in frames at `fps`, rounded. tlbuild's own rule, so that the count is the
    same with every ffmpeg: the plain `-r` conversion gives a few frames more or less
    depending on the build (measured: 602 with 5.1, 607 with 9.0 for 600)."""
    return max(1, round(footage_secs / speed * fps))


def output_size(clips: list[dict[str, Any]]) -> tuple[int, int] | None:
    """Where clips differ in size (a console sends footage older than its full
    resolution retention at 640x360), the largest; None where they all agree."""
    sizes = {(c["width"], c["height"]) for c in clips if c.get("width") and c.get("height")}
    if len(sizes) < 2:
        return None
    return max(sizes, key=lambda size: (size[0] * size[1], size))


def size_filter(scale: str | None, size: list[int] | tuple[int, int] | None) -> str | None:
    """The filter that gives the output its size: the configured `scale`, else a fit
    into the day's largest size (letterboxed, so no clip is distorted), else none."""
    if scale:
        return f"scale={scale}"
    if size:
        width, height = size
        return (f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
                f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1")
    return None
