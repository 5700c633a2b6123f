"""What a media file holds: video facts, a full decode, keyframe spacing, JPEG sizes.

Read through ffmpeg itself (templates probe.j2, decode.j2): pip's
imageio-ffmpeg has no ffprobe.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MediaError
from .ffmpeg import concat_quote, render_argv
from .pictures import Pictures
from .runtime import run_captured


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float
    codec: str
    frames: int
    keyframes: int = 0

    @property
    def keyframe_secs(self) -> float:
        """Seconds between keyframes, on average (the whole length without any)."""
        return round(self.duration / self.keyframes, 3) if self.keyframes else self.duration


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #0:\d+[^:]*: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+) fps")
_FRAME = re.compile(r"^frame=(\d+)", re.M)
_PACKET = re.compile(r"^0,.*?(?:, F=0x([0-9A-Fa-f]+))?$", re.M)


def _run(template: str, path: Path, timeout: float, **values: Any
         ) -> subprocess.CompletedProcess:
    try:
        return run_captured(render_argv(template, path=path, **values), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MediaError(f"{path.name}: reading it timed out") from None


def probe(path: Path) -> VideoInfo:
    """Read every packet of the first video stream; any corruption is an error.

    Packets are counted from `-f framecrc` (a line each): `-progress` reports no
    frame count for a stream copy on some builds (7.0). A line marks a packet that
    is not a keyframe with its flags (`F=0x0`), so the same run counts keyframes
    without decoding any. Raises MediaError for anything that is not a complete,
    readable video.
    """
    result = _run("probe.j2", path, 600)
    packets = _PACKET.findall(result.stdout)
    info = _facts(result.stderr, frames=len(packets), keyframes=sum(
        1 for flags in packets if not flags or int(flags, 16) & 1))
    if result.returncode != 0 or info is None:
        reason = _last_error_line(result.stderr) or "not a readable video"
        raise MediaError(f"{path.name}: invalid video ({reason})")
    return info


def _facts(stderr: str, frames: int, keyframes: int = 0) -> VideoInfo | None:
    """The first video stream's facts from ffmpeg's description of its input."""
    duration, video = _DURATION.search(stderr), _VIDEO.search(stderr)
    if not duration or not video:
        return None
    hours, minutes, seconds = duration.groups()
    fps = _FPS.search(stderr[video.start():])
    return VideoInfo(
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        width=int(video.group(2)), height=int(video.group(3)),
        fps=float(fps.group(1)) if fps else 0.0, codec=video.group(1),
        frames=frames, keyframes=keyframes)


@dataclass(frozen=True)
class Decoded:
    frames: int
    errors: list[str]
    info: VideoInfo | None = None  # the container's facts; `frames` those decoded


_LEVEL = re.compile(r"\[(info|error|fatal|panic)\] ")


def decode(path: Path, pictures: Pictures | None = None) -> Decoded:
    """Decode every frame of the first video stream: the frames that really play,
    every error ffmpeg reports on the way (a damaged file has some), and the input's
    facts, so that a check needs no probe beside it. Each stderr line carries its
    level: the errors are the lines above a warning. With `pictures`, the same
    decode writes them."""
    result = _run("decode.j2", path, 3600, pictures=pictures)
    frames = _FRAME.findall(result.stdout)
    count = int(frames[-1]) if frames else 0
    errors = [_LEVEL.sub("", line, count=1).strip() for line in result.stderr.splitlines()
              if (level := _LEVEL.search(line)) and level.group(1) != "info"]
    if result.returncode != 0 and not errors:
        errors = [f"ffmpeg exit {result.returncode}"]
    return Decoded(count, errors, _facts(result.stderr, count))


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines()
             if line.strip() and not line.startswith((" ", "Input", "Output", "Stream"))]
    return lines[-1][:200] if lines else ""


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF header, or None if it is not a JPEG."""
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff":
        return None
    offset = 2
    while offset + 9 < len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            offset += 2
            continue
        length = int.from_bytes(data[offset + 2:offset + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[offset + 5:offset + 7], "big")
            width = int.from_bytes(data[offset + 7:offset + 9], "big")
            return (width, height) if width and height else None
        offset += 2 + length
    return None




def undecodable(images: list[Path], listing: Path) -> dict[Path, str]:
    """The images among `images` that do not decode whole, each with ffmpeg's first
    complaint. One ffmpeg run decodes them all; only a run that finds a problem is
    split in halves, down to the images at fault. `listing` is a scratch file."""
    bad: dict[Path, str] = {}

    def check(group: list[Path]) -> None:
        problem = _decode_problem(group, listing)
        if problem is None:
            return
        if len(group) == 1:
            bad[group[0]] = problem
            return
        middle = len(group) // 2
        check(group[:middle])
        check(group[middle:])

    if images:
        check(images)
    return bad


def _over_images(template: str, images: list[Path], listing: Path
                 ) -> subprocess.CompletedProcess:
    """Run `template` on `images` as one ffconcat list (one frame each) written to
    the scratch file `listing`; raises TimeoutExpired."""
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("ffconcat version 1.0\n" + "".join(
        f"file {concat_quote(image)}\nduration 1\n" for image in images))
    try:
        return run_captured(render_argv(template, frames=listing),
                            timeout=60 + len(images))
    finally:
        listing.unlink(missing_ok=True)


def _decode_problem(images: list[Path], listing: Path) -> str | None:
    try:
        result = _over_images("decode_images.j2", images, listing)
    except subprocess.TimeoutExpired:
        return "decoding it timed out"
    errors = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    frames = _FRAME.findall(result.stdout)
    decoded = int(frames[-1]) if frames else 0
    if errors:
        return re.sub(r"^\[[^]]*@ 0x[0-9a-f]+\] ", "", errors[0])[:160]
    if result.returncode != 0 or decoded != len(images):
        return f"{decoded} of {len(images)} decoded"
    return None


_YAVG = re.compile(r"lavfi\.signalstats\.YAVG=([\d.]+)")


def mean_brightness(images: list[Path], listing: Path) -> list[float]:
    """Each image's mean brightness (luma, 0-255), in one ffmpeg run; `listing` is a
    scratch file for the ffconcat list."""
    try:
        result = _over_images("brightness.j2", images, listing)
    except subprocess.TimeoutExpired:
        raise MediaError("measuring the frames' brightness timed out") from None
    values = [float(value) for value in _YAVG.findall(result.stdout)]
    if result.returncode or len(values) != len(images):
        raise MediaError(f"measuring the frames' brightness failed: "
                         f"{_last_error_line(result.stderr) or 'not one value per frame'}")
    return values
