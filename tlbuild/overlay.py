"""A burned-in clock: drawtext filters that show each frame's local wall-clock time.

The frames' timestamps must be real seconds after a known moment `first` (an event
clip as it is; archive frames retimed to their capture times first). drawtext adds
a fixed offset to a frame's timestamp, so each UTC offset the footage spans (two on
the day clocks change) gets its own filter, enabled for its part of the footage.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CLOCK_FORMAT = "%Y-%m-%d %H\\\\\\:%M\\\\\\:%S"  # drawtext's escaping of ':' in strftime
# a 24th of the picture's height, but never below 16 px: readable on a small video
CLOCK_SIZE = "max(16\\,h/24)"


def offset_spans(first: dt.datetime, span_secs: float, zone: str
                 ) -> list[tuple[float, float, float]]:
    """[(from_secs, to_secs, utc_offset_secs)] covering [0, span_secs] after `first`."""
    tz = ZoneInfo(zone)

    def offset(secs: float) -> float:
        moment = first + dt.timedelta(seconds=secs)
        return moment.astimezone(tz).utcoffset().total_seconds()

    def split(start: float, end: float) -> list[tuple[float, float, float]]:
        if offset(start) == offset(end) and end - start <= 86400 * 7:
            return [(start, end, offset(start))]
        if end - start <= 1:  # the change lies within this second
            return [(start, end, offset(start))]
        middle = (start + end) / 2
        return merge(split(start, middle) + split(middle, end))

    return split(0.0, max(span_secs, 0.0))


def merge(spans: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    merged: list[tuple[float, float, float]] = []
    for start, end, offset in spans:
        if merged and merged[-1][2] == offset:
            merged[-1] = (merged[-1][0], end, offset)
        else:
            merged.append((start, end, offset))
    return merged


def clock_filters(first: dt.datetime, span_secs: float, zone: str, font: str | None,
                  size: int | str = CLOCK_SIZE, position: str = "x=8:y=h-th-8") -> list[str]:
    """The drawtext filters of the clock (white on a translucent box)."""
    spans = offset_spans(first, span_secs, zone)
    filters = []
    for index, (start, end, offset) in enumerate(spans):
        base = first.timestamp() + offset
        text = f"%{{pts\\:gmtime\\:{base:.3f}\\:{CLOCK_FORMAT}}}"
        enable = ""
        if len(spans) > 1:  # the last span is open-ended: frames after `span_secs`
            upper = f"*lt(t\\,{end:.3f})" if index < len(spans) - 1 else ""
            enable = f":enable='gte(t\\,{start:.3f}){upper}'"
        filters.append(f"drawtext={f'fontfile={font}:' if font else ''}text='{text}':"
                       f"fontsize={size}:fontcolor=white:box=1:boxcolor=black@0.5:"
                       f"boxborderw=3:{position}{enable}")
    if filters and len(spans) > 1:  # the first span also covers frames before `first`
        filters[0] = filters[0].replace(f"gte(t\\,{spans[0][0]:.3f})*", "")
    return filters
