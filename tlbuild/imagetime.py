"""When an image of a folder was taken: from its file name (the common forms, or a
`pattern` of strftime codes), else its EXIF `DateTimeOriginal` (with
`OffsetTimeOriginal` where present), else the file's modification time; with the
rule that gave it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from .files import commit_partial, partial_path

NAME, EXIF, MTIME = "name", "exif", "mtime"
EXIF_IFD, DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x8769, 0x9003, 0x9011
EARLIEST, LATEST = 946684800, 4102444800  # 2000 to 2100: a number outside is no time

# 20240115_123000, IMG_20240115_123000, 2024-01-15T12-30-00, 2024-01-15 12.30.00
_LOCAL = re.compile(r"(?<!\d)(\d{4})-?(\d\d)-?(\d\d)[T _-]?(\d\d)[-_.:]?(\d\d)[-_.:]?(\d\d)"
                    r"(?!\d)")
_EPOCH = re.compile(r"(?<!\d)(\d{10})(?:\d{3})?(?!\d)")  # epoch seconds (or ms)


def from_name(stem: str, zone: str, pattern: str | None = None) -> float | None:
    """The epoch seconds a file name says (`pattern`: the camera's own form, with
    strftime codes, matched against the whole name without its extension)."""
    tz = ZoneInfo(zone)
    if pattern:
        try:
            moment = dt.datetime.strptime(stem, pattern)
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()
    found = _LOCAL.search(stem)
    if found:
        try:
            moment = dt.datetime(*map(int, found.groups()), tzinfo=tz)
        except ValueError:
            moment = None
        if moment is not None and EARLIEST <= moment.timestamp() < LATEST:
            return moment.timestamp()
    found = _EPOCH.search(stem)
    if found and EARLIEST <= int(found.group(1)) < LATEST:
        return float(found.group(1))
    return None


def from_exif(path: Path, zone: str) -> float | None:
    """DateTimeOriginal in the camera's zone, or at its own offset when the image
    says it (OffsetTimeOriginal); None without one (or for a file that is no image:
    the render's decode check says what is wrong with it)."""
    from PIL import Image  # here: most commands never read an image's EXIF
    try:
        with Image.open(path) as image:
            tags = image.getexif().get_ifd(EXIF_IFD)
    except (OSError, ValueError, SyntaxError):  # PIL's UnidentifiedImageError is an OSError
        return None
    taken, offset = tags.get(DATE_TIME_ORIGINAL), tags.get(OFFSET_TIME_ORIGINAL)
    if not isinstance(taken, str):
        return None
    try:
        moment = dt.datetime.strptime(taken.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
        if isinstance(offset, str) and re.fullmatch(r"[+-]\d\d:\d\d", offset.strip()):
            moment = dt.datetime.fromisoformat(f"{moment.isoformat()}{offset.strip()}")
        else:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
    except ValueError:
        return None
    return moment.timestamp()


def taken(path: Path, zone: str, pattern: str | None = None) -> tuple[float, str]:
    """(epoch seconds, rule): the name first, then EXIF, then the file's mtime."""
    moment = from_name(path.stem, zone, pattern)
    if moment is not None:
        return moment, NAME
    moment = from_exif(path, zone)
    if moment is not None:
        return moment, EXIF
    return path.stat().st_mtime, MTIME


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image's header, None when it is not a readable one."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, SyntaxError):
        return None


def as_jpeg(source: Path, target: Path) -> tuple[int, int] | None:
    """`source` (a PNG) as a JPEG at `target`, written whole or not at all; its size,
    or None when it does not decode."""
    from PIL import Image
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target)
    try:
        with Image.open(source) as image:
            image.convert("RGB").save(partial, "JPEG", quality=95)
            size = image.size
        commit_partial(partial, target)
        return size
    except (OSError, ValueError, SyntaxError):
        return None
    finally:
        partial.unlink(missing_ok=True)
