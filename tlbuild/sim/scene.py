"""What the simulated cameras film: a still scene in the light of the time of day,
with sensor noise, something moving during events, and the camera's clock burned
in, as real cameras do, so a demo timelapse shows the day passing.

Each frame also carries its time for machines: a strip along the bottom edge whose
32 cells are the bits of the frame's UTC time in whole seconds (most significant
first, white = 1). `read_strip` reads it back from a decoded frame, so tests can
check that a frame of a timelapse shows the footage it should.

The frames are made with real-time timestamps (frame n at its capture time, in
seconds after the first), lit and labelled from them, then retimed to the stream's
own rate: the same chain serves an event clip (real time = stream time) and a
timelapse archive (a frame every minute, played at 10 fps).
"""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
from zoneinfo import ZoneInfo

from ..ffmpeg import default_font, ffmpeg_exe
from ..overlay import clock_filters

STRIP_BITS = 32
SKY, GROUND, WALL, ROOF, WINDOW, LIT = ("0x7fa7cf", "0x4f5f3a", "0x9a8f7f", "0x6a3a30",
                                        "0x303844", "0xffd27a")


def strip_height(height: int) -> int:
    return max(4, height // 24)


@functools.lru_cache(maxsize=1)
def footage_ffmpeg() -> str:
    """The ffmpeg that makes simulated footage: the one imageio-ffmpeg ships, so the
    footage is the same whichever ffmpeg tlbuild itself is given (and a static build
    starts in a fifth of a distribution build's time: many clips are made); else
    tlbuild's own."""
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return ffmpeg_exe()


def footage_command(*args: str) -> list[str]:
    """An ffmpeg command line that makes simulated footage, quiet and with one
    filter thread: the scene's forty-odd filters on small frames cost a third more
    CPU spread over threads than on one."""
    return [footage_ffmpeg(), "-hide_banner", "-v", "error", "-nostdin",
            "-filter_threads", "1", *args]


@functools.lru_cache(maxsize=8)
def has_drawtext(ffmpeg: str) -> bool:
    """Builds without libfreetype have no drawtext: their scenes have no clock text
    (the strip is drawn with drawbox, which every build has)."""
    listing = subprocess.run([ffmpeg, "-hide_banner", "-filters"], capture_output=True,
                             text=True).stdout
    return " drawtext " in listing


def scene_filters(width: int, height: int, fps: float, first: dt.datetime, zone: str,
                  real_secs: str = "N/FR", span_secs: float = 86400.0,
                  mover: bool = False) -> str:
    """The filter chain after a `color` source of the stream's size and rate.
    `real_secs`: each frame's capture time in seconds after `first`, an expression in
    N (default: the stream's own time); `span_secs`: how long the frames span."""
    tz = ZoneInfo(zone)
    local = first.astimezone(tz)
    local_secs = local.hour * 3600 + local.minute * 60 + local.second \
        + local.microsecond / 1e6
    epoch = first.timestamp()
    w, h = width, height
    ground_y = int(h * 0.62)
    # daylight from 0 (night) to 1 (noon): dawn around 6, dusk around 18
    light = f"clip(0.5+1.3*sin(2*PI*(mod(({local_secs:.3f}+t)/3600\\,24)-6)/24)\\,0\\,1)"
    scene = [
        "settb=AVTB", f"setpts=({real_secs})/TB",
        f"drawbox=x=0:y={ground_y}:w={w}:h={h - ground_y}:c={GROUND}:t=fill",
        f"drawbox=x={int(w * 0.55)}:y={int(h * 0.3)}:w={int(w * 0.28)}:"
        f"h={ground_y - int(h * 0.3)}:c={WALL}:t=fill",
        f"drawbox=x={int(w * 0.53)}:y={int(h * 0.24)}:w={int(w * 0.32)}:"
        f"h={max(2, int(h * 0.07))}:c={ROOF}:t=fill",
        *[f"drawbox=x={int(w * x)}:y={int(h * 0.38)}:w={max(2, int(w * 0.05))}:"
          f"h={max(2, int(h * 0.08))}:c={WINDOW}:t=fill" for x in (0.6, 0.72)],
        f"eq=brightness=-0.42*(1-{light}):contrast=0.5+0.5*{light}:"
        f"saturation=0.3+0.7*{light}:eval=frame",
        # lit windows after dark
        *[f"drawbox=x={int(w * x)}:y={int(h * 0.38)}:w={max(2, int(w * 0.05))}:"
          f"h={max(2, int(h * 0.08))}:c={LIT}:t=fill:enable='lt({light}\\,0.25)'"
          for x in (0.6, 0.72)],
    ]
    camera = ["noise=alls=8:allf=t+u"]
    if has_drawtext(footage_ffmpeg()):
        camera += clock_filters(first, span_secs, zone, default_font(), size=h // 12,
                                position="x=4:y=4")
    band = strip_height(h)
    cell = w // STRIP_BITS
    camera.append(f"drawbox=x=0:y={h - band}:w={w}:h={band}:c=black:t=fill")
    for bit in range(STRIP_BITS):
        power = STRIP_BITS - 1 - bit
        camera.append(f"drawbox=x={bit * cell}:y={h - band}:w={cell}:h={band}:c=white:"
                      f"t=fill:enable='mod(floor(({epoch:.3f}+t)/{2 ** power})\\,2)'")
    camera += [f"setpts=N/({fps}*TB)", "format=yuv420p"]
    if not mover:
        return ",".join(scene + camera)
    # something crossing the yard while the event lasts (an overlay: drawbox reads its
    # position once)
    size = max(4, h // 8)
    return (f"color=c=0xb03028:s={size * 2}x{size}:r={fps}[mover];"
            f"[in]{','.join(scene)}[lit];[lit][mover]overlay=x='mod(t*{w / 6:.2f}\\,"
            f"{w + 2 * size})-{2 * size}':y={ground_y + size // 2}:eval=frame:shortest=1,"
            + ",".join(camera))


def read_strip(gray: bytes, width: int, height: int) -> dt.datetime:
    """The UTC time a frame carries in its strip (`gray`: the frame as 8-bit luma,
    row by row)."""
    band = strip_height(height)
    cell = width // STRIP_BITS
    value = 0
    for bit in range(STRIP_BITS):
        x0, x1 = bit * cell + cell // 4, bit * cell + max(cell // 4 + 1, cell * 3 // 4)
        rows = range(height - band + 1, height - 1)
        samples = [gray[y * width + x] for y in rows for x in range(x0, x1)]
        value = value * 2 + (sum(samples) / len(samples) > 128)
    return dt.datetime.fromtimestamp(value, dt.timezone.utc)
