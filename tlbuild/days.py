"""Calendar days: the dates tlbuild builds and the local day as epoch milliseconds."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from .errors import UsageError
from .files import printable

FIRST_DATE, LAST_DATE = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
RELATIVE_DAYS = {"today": 0, "yesterday": 1}


def parse_date(text: str | None) -> dt.date:
    """A calendar date written YYYY-MM-DD, or `today`/`yesterday` (this machine's
    local date: what cron and systemd timers need), in the supported range;
    impossible dates are usage errors."""
    if not text:
        raise UsageError("a date is required: date=YYYY-MM-DD")
    if text in RELATIVE_DAYS:
        return dt.date.today() - dt.timedelta(days=RELATIVE_DAYS[text])
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise UsageError(f"invalid date {printable(text)!r}: expected YYYY-MM-DD, today or "
                         "yesterday")
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"invalid date {text!r}: no such day") from None
    if not FIRST_DATE <= date <= LAST_DATE:
        raise UsageError(f"invalid date {text}: tlbuild builds days from {FIRST_DATE} "
                         f"to {LAST_DATE}")
    return date


def day_window(date: dt.date, zone: str) -> tuple[int, int]:
    """Local midnight to the next local midnight as epoch ms (23 or 25 h around DST)."""
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(date, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def local_time(epoch_ms: int | None, zone: str) -> str:
    """An instant as the local 'YYYY-MM-DD HH:MM' of a time zone, for messages."""
    if epoch_ms is None:
        return "unknown"
    return f"{dt.datetime.fromtimestamp(epoch_ms / 1000, ZoneInfo(zone)):%Y-%m-%d %H:%M}"


def utc_dates(date: dt.date, zone: str) -> list[str]:
    """Every UTC date the local day touches, with the local date itself: where
    storage keyed by date may have put the day's items."""
    start, end = day_window(date, zone)
    utc = dt.timezone.utc
    return sorted({date.isoformat(),
                   dt.datetime.fromtimestamp(start / 1000, utc).date().isoformat(),
                   dt.datetime.fromtimestamp((end - 1) / 1000, utc).date().isoformat()})
