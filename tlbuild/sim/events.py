"""Deterministic UniFi Protect events with the real shapes and quirks.

Motion events overlap each other, smart detections lie inside motion events (some
also as a line crossing), audio detections score 0, one event is still ongoing
(`end: null`), one crosses midnight, and other cameras, sensors and console events
add events that a client must filter out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any
from zoneinfo import ZoneInfo


def event_id(*parts: Any) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:24]


def event(eid: str, kind: str, camera: str | None, start: int, end: int | None,
          smart: list[str] | None = None, score: int = 0) -> dict[str, Any]:
    return {"id": eid, "type": kind, "start": start, "end": end, "score": score,
            "smartDetectTypes": smart or [], "smartDetectEvents": [], "camera": camera,
            "partition": None, "user": None, "metadata": {}, "thumbnail": f"e-{eid}",
            "heatmap": f"e-{eid}", "modelKey": "event", "timestamp": None}


def day_events(camera_id: str, other_camera: str, date: dt.date, zone: str,
               count: int, seed: int = 1) -> list[dict[str, Any]]:
    """About `count` motion events (plus smart detections) for one local day; none
    at all when `count` is 0."""
    if count == 0:
        return []
    tz = ZoneInfo(zone)
    day_start = int(dt.datetime.combine(date, dt.time(), tzinfo=tz).timestamp() * 1000)
    day_end = int(dt.datetime.combine(date + dt.timedelta(days=1), dt.time(),
                                      tzinfo=tz).timestamp() * 1000)
    rng = random.Random(f"{seed}:{camera_id}:{date}")
    spacing = (day_end - day_start - 3_600_000) // max(count, 1)
    events, t = [], day_start + rng.randint(60_000, 600_000)
    for number in range(count):
        length = rng.randint(3, 20) * 1000
        eid = event_id(seed, camera_id, date, number)
        events.append(event(eid, "motion", camera_id, t, t + length,
                            score=rng.randint(40, 100)))
        if rng.random() < 0.35 and length > 4000:
            smart = [rng.choice(["person", "vehicle", "animal"])]
            events.append(event(event_id(eid, "smart"), "smartDetectZone", camera_id,
                                t + 1000, t + length - 1000, smart=smart,
                                score=rng.randint(60, 99)))
            if rng.random() < 0.3:  # the same crossing, also as a line detection
                events.append(event(event_id(eid, "line"), "smartDetectLine", camera_id,
                                    t + 1200, t + length - 1500, smart=smart,
                                    score=rng.randint(60, 99)))
        elif rng.random() < 0.1:  # audio detections always score 0
            events.append(event(event_id(eid, "audio"), "smartAudioDetect", camera_id,
                                t + 500, t + min(length, 4000),
                                smart=[rng.choice(["alrmBark", "alrmSpeak"])], score=0))
        if rng.random() < 0.3:
            t += length // 2  # the next event overlaps this one
        else:
            t += length + rng.randint(spacing // 2, spacing * 3 // 2)
        if t > day_end - 120_000:
            break
    events.append(event(event_id(seed, camera_id, date, "ongoing"), "motion", camera_id,
                        day_end - 60_000, None))
    events.append(event(event_id(seed, camera_id, date, "midnight"), "motion", camera_id,
                        day_end - 4_000, day_end + 10_000))
    events.append(event(event_id(seed, camera_id, date, "before"), "motion", camera_id,
                        day_start - 8_000, day_start + 3_000))
    events.append(event(event_id(seed, other_camera, date), "motion", other_camera,
                        day_start + 7_200_000, day_start + 7_210_000))
    events.append(event(event_id(seed, "sensor", date), "sensorMotion", None,
                        day_start + 3_600_000, day_start + 3_600_000))
    events.append(event(event_id(seed, "access", date), "access", None,
                        day_start + 5_400_000, day_start + 5_400_000))
    return events
