"""Real H.264 MP4 clips, made with ffmpeg and cached on disk: by default the camera's
scene at the clip's time of day with its clock burned in (sim/scene.py)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .scene import SKY, footage_command, scene_filters

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)  # a scene's time when none is given
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class ClipSpec:
    width: int = 160
    height: int = 90
    fps: int = 5
    keyframe_secs: int = 2
    # "scene": what the camera films at the clip's time, with its clock (needs the
    # clip's start); "camera": a still scene, sensor noise, one mover; "testsrc"
    pattern: str = "scene"
    preset: str = "ultrafast"  # "veryfast" and up use CABAC, as cameras' streams do

    def key(self, seconds: int, start: dt.datetime | None = None, zone: str = "UTC") -> str:
        key = (f"{self.pattern}_{self.width}x{self.height}_{self.fps}fps_"
               f"g{self.keyframe_secs}_{self.preset}_{seconds}s")
        if self.pattern == "scene":
            key += f"_{int((start or EPOCH).timestamp() * 1000)}_{zone.replace('/', '-')}"
        return key

    def source(self) -> str:
        size = f"{self.width}x{self.height}"
        if self.pattern == "scene":
            return f"color=c={SKY}:s={size}:r={self.fps}"
        if self.pattern == "camera":
            return (f"color=c=0x5a6470:s={size}:r={self.fps},"
                    f"drawgrid=w=iw/8:h=ih/6:t=2:c=0x3a4048,noise=alls=10:allf=t+u,"
                    f"drawbox=x='mod(t*{self.width // 12},iw-ih/6)':y=ih/2:w=ih/6:"
                    f"h=ih/6:c=0xc03030:t=fill")
        return f"testsrc2=size={size}:rate={self.fps}"


def default_cache() -> Path:
    return Path(os.environ.get("TLBUILD_SIM_CACHE")
                or Path(tempfile.gettempdir()) / "tlbuild-sim-cache")


def make_clip(spec: ClipSpec, seconds: int, cache: Path | None = None,
              start: dt.datetime | None = None, zone: str = "UTC") -> Path:
    """An MP4 of `seconds` of the test pattern from `start` (a scene's time of day
    and clock, in the camera's time `zone`), made once and reused."""
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{spec.key(seconds, start, zone)}.mp4"
    scene = ["-vf", scene_filters(spec.width, spec.height, spec.fps, start or EPOCH, zone,
                                  span_secs=seconds, mover=True)] \
        if spec.pattern == "scene" else []
    with _locks_guard:
        lock = _locks.setdefault(path, threading.Lock())
    with lock:
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=cache, suffix=".mp4")
            os.close(fd)
            try:
                subprocess.run(footage_command(
                    "-f", "lavfi", "-i", spec.source(), *scene, "-t", str(seconds),
                    "-c:v", "libx264", "-preset", spec.preset,
                    "-g", str(spec.fps * spec.keyframe_secs), "-pix_fmt", "yuv420p",
                    "-y", tmp), check=True)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return path


STILL_STEP = 10  # seconds between the recorded frames that stills are taken from
STILL_BLOCK = 60  # frames made by one ffmpeg run for a camera asked often
_last_asked: dict[tuple[int, int, str], int] = {}  # the frame each picture size was asked


def recorded_still(width: int, height: int, moment_ms: int, zone: str,
                   cache: Path | None = None) -> bytes:
    """The JPEG of the recording's frame nearest `moment_ms`: the scene at that time
    with its clock. A frame asked within ten minutes of the one before it comes from
    a block of ten minutes' frames (one ffmpeg run, 60 frames); a camera asked less
    often gets the one frame (a 60-frame run costs two and a half times as much, and
    an hourly camera uses one of them). Cached, and served from the cache first."""
    cache = cache or default_cache()
    frame_ms = round(moment_ms / 1000 / STILL_STEP) * STILL_STEP * 1000
    block_ms = frame_ms - frame_ms % (STILL_BLOCK * STILL_STEP * 1000)
    name = f"stills_{width}x{height}_{STILL_STEP}s_{STILL_BLOCK}_{block_ms}_" \
        f"{zone.replace('/', '-')}"
    block, single = cache / name, cache / f"{name}_{frame_ms}"
    index = (frame_ms - block_ms) // 1000 // STILL_STEP
    with _locks_guard:
        previous = _last_asked.get((width, height, zone))
        _last_asked[(width, height, zone)] = frame_ms
        lock = _locks.setdefault(block, threading.Lock())
    with lock:  # one maker per block: a frame asked twice at once is made once
        for folder, number in ((single, 0), (block, index)):
            if folder.exists():
                return (folder / f"{number:04d}.jpg").read_bytes()
        span_ms = STILL_BLOCK * STILL_STEP * 1000
        if previous is not None and abs(frame_ms - previous) >= span_ms:
            _make_stills(single, width, height, frame_ms, 1, zone)
            return (single / "0000.jpg").read_bytes()
        _make_stills(block, width, height, block_ms, STILL_BLOCK, zone)
        return (block / f"{index:04d}.jpg").read_bytes()


def _make_stills(folder: Path, width: int, height: int, first_ms: int, frames: int,
                 zone: str) -> None:
    """`frames` recorded frames from `first_ms`, STILL_STEP apart, as 0000.jpg, ..."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".stills-"))
    first = dt.datetime.fromtimestamp(first_ms / 1000, dt.timezone.utc)
    chain = scene_filters(width, height, 1, first, zone, real_secs=f"N*{STILL_STEP}",
                          span_secs=frames * STILL_STEP)
    try:
        subprocess.run(footage_command(
            "-f", "lavfi", "-i", f"color=c={SKY}:s={width}x{height}:r=1", "-vf", chain,
            "-frames:v", str(frames), "-q:v", "5", "-start_number", "0",
            str(work / "%04d.jpg")), check=True)
        try:
            os.replace(work, folder)
        except OSError:  # another process sharing the cache made it first: use that
            if not folder.is_dir():
                raise
    finally:
        if work.exists():
            for leftover in work.iterdir():
                leftover.unlink()
            work.rmdir()
