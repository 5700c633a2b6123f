"""Real H.264 MP4 clips with moving content, made with ffmpeg and cached on disk."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..media import ffmpeg_exe

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class ClipSpec:
    width: int = 160
    height: int = 90
    fps: int = 5
    keyframe_secs: int = 2

    def key(self, seconds: int) -> str:
        return f"{self.width}x{self.height}_{self.fps}fps_g{self.keyframe_secs}_{seconds}s"


def default_cache() -> Path:
    return Path(os.environ.get("TLBUILD_SIM_CACHE")
                or Path(tempfile.gettempdir()) / "tlbuild-sim-cache")


def make_clip(spec: ClipSpec, seconds: int, cache: Path | None = None) -> Path:
    """An MP4 of `seconds` of the testsrc2 pattern (moving), made once and reused."""
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{spec.key(seconds)}.mp4"
    with _locks_guard:
        lock = _locks.setdefault(path, threading.Lock())
    with lock:
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=cache, suffix=".mp4")
            os.close(fd)
            try:
                subprocess.run(
                    [ffmpeg_exe(), "-hide_banner", "-v", "error", "-nostdin", "-f",
                     "lavfi", "-i", f"testsrc2=size={spec.width}x{spec.height}:"
                     f"rate={spec.fps}", "-t", str(seconds), "-c:v", "libx264",
                     "-preset", "ultrafast", "-g", str(spec.fps * spec.keyframe_secs),
                     "-pix_fmt", "yuv420p", "-y", tmp], check=True)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return path
