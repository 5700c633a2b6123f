"""Which frames of a day a frame source keeps: local hours, weekdays, daylight (the
sun's elevation, from astral) and a brightness floor. A frame left out is recorded
in the frame index with the reason, not dropped silently."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from .config import ConfigError, Table

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TWILIGHT = -6.0  # civil twilight: the sun this far below the horizon still lights a scene
DARK = 40  # default floor of a frame's mean brightness (0-255) with skip_dark


@dataclass(frozen=True)
class Selection:
    hours: tuple[tuple[int, int], ...] = ()   # local [from, to) in minutes of the day
    weekdays: tuple[int, ...] = ()            # 0 = Monday; empty: every day
    daylight_only: bool = False
    latitude: float | None = None
    longitude: float | None = None
    skip_dark: bool = False
    dark_threshold: int = DARK

    def as_dict(self) -> dict[str, Any]:
        return {"hours": [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
                          for a, b in self.hours] or None,
                "weekdays": [WEEKDAYS[d] for d in self.weekdays] or None,
                "daylight_only": self.daylight_only, "latitude": self.latitude,
                "longitude": self.longitude, "skip_dark": self.skip_dark,
                "dark_threshold": self.dark_threshold if self.skip_dark else None}

    def left_out(self, timestamp: float, zone: str) -> str | None:
        """Why the frame taken at `timestamp` (unix seconds) is not wanted, or None."""
        local = dt.datetime.fromtimestamp(timestamp, ZoneInfo(zone))
        if self.weekdays and local.weekday() not in self.weekdays:
            return f"not a chosen weekday ({WEEKDAYS[local.weekday()]})"
        minute = local.hour * 60 + local.minute
        if self.hours and not any(a <= minute < b for a, b in self.hours):
            return f"outside the chosen hours ({local:%H:%M})"
        if self.daylight_only:
            height = sun_elevation(timestamp, self.latitude, self.longitude)
            if height < TWILIGHT:
                return f"dark: the sun is {-height:.0f} degrees below the horizon"
        return None


def sun_elevation(timestamp: float, latitude: float | None,
                  longitude: float | None) -> float:
    from astral import Observer
    from astral.sun import elevation
    when = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return elevation(Observer(latitude=latitude or 0.0, longitude=longitude or 0.0), when)


def parse_hours(value: Any, where: str) -> tuple[tuple[int, int], ...]:
    """"07:00-19:00", or a list of such windows; "22:00-06:00" wraps midnight."""
    windows = [value] if isinstance(value, str) else value
    if not isinstance(windows, list):
        raise ConfigError(f"{where}: hours must be \"HH:MM-HH:MM\" or a list of them")
    spans: list[tuple[int, int]] = []
    for window in windows:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*",
                             window if isinstance(window, str) else "")
        if not match:
            raise ConfigError(f"{where}: hours window {window!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = map(int, match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ConfigError(f"{where}: hours window {window!r} is not a time of day")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ConfigError(f"{where}: hours window {window!r} is empty")
        spans += [(start, end)] if start < end else [(start, 1440), (0, end)]
    return tuple(sorted(spans))


def parse_selection(table: Table) -> Selection:
    where = table.where
    weekdays = []
    for day in table.get("weekdays", list, []):
        if not isinstance(day, str) or day[:3].casefold() not in WEEKDAYS:
            raise ConfigError(f"{where}: unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
        weekdays.append(WEEKDAYS.index(day[:3].casefold()))
    daylight = table.get("daylight_only", bool, False)
    latitude = table.get("latitude", (int, float))
    longitude = table.get("longitude", (int, float))
    if daylight and (latitude is None or longitude is None):
        raise ConfigError(f"{where}: daylight_only needs the camera's latitude and "
                          "longitude (decimal degrees)")
    if latitude is not None and not -90 <= latitude <= 90 \
            or longitude is not None and not -180 <= longitude <= 180:
        raise ConfigError(f"{where}: latitude must be within -90..90 and longitude "
                          "within -180..180")
    threshold = table.get("dark_threshold", int, DARK)
    if not 0 <= threshold <= 255:
        raise ConfigError(f"{where}: dark_threshold is a mean brightness, 0-255")
    hours = table.get("hours", (str, list))
    return Selection(hours=parse_hours(hours, where) if hours else (),
                     weekdays=tuple(sorted(set(weekdays))), daylight_only=daylight,
                     latitude=latitude, longitude=longitude,
                     skip_dark=table.get("skip_dark", bool, False),
                     dark_threshold=threshold)
