"""A simulated S3 bucket of FixedIT Data Agent frames: moto's S3 server on 127.0.0.1
(the optional `demo` extra), holding a camera's frames of a day in the layout
camera-apis.md section 3 describes: `<DEVICE>/<UTC date>/timelapse-HH-MM-SS.jpg`
with a `.json` of `{"timestamp": <unix seconds>, "tags": ...}` (the new format).

Each frame is the simulated camera's scene at its capture time with the camera's
clock burned in (sim/scene.py). Run it by hand to point tlbuild at it:
`python -m tlbuild.sim.s3 --date 2024-01-15`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import ExtraMissing
from .scene import SKY, footage_command, scene_filters

DEMO_KEYS = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"}


class SimulatedS3:
    """moto's real S3 server, on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise ExtraMissing("the simulated S3 store needs moto: install tlbuild with "
                               f"its demo extra ({shlex.quote(sys.executable)} -m pip "
                               "install -e '.[demo]')") from None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> SimulatedS3:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        host, port = self.server.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self) -> Any:
        import boto3
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="demo", aws_secret_access_key="demo")

    def put_day(self, bucket: str, device: str, date: dt.date, zone: str,
                every_secs: int = 600, size: tuple[int, int] = (320, 180)) -> int:
        """The frames of one local day, one every `every_secs`; returns their count."""
        tz = ZoneInfo(zone)
        first = dt.datetime.combine(date, dt.time(), tzinfo=tz).astimezone(dt.timezone.utc)
        last = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        count = int((last - first).total_seconds() // every_secs)
        client = self.client()
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        with tempfile.TemporaryDirectory(prefix="tlbuild-sim-s3-") as folder:
            for index, jpeg in enumerate(frames(Path(folder), first, count, every_secs,
                                                zone, size)):
                when = first + dt.timedelta(seconds=index * every_secs)
                stem = f"{device}/{when:%Y-%m-%d}/timelapse-{when:%H-%M-%S}"
                client.put_object(Bucket=bucket, Key=stem + ".jpg", Body=jpeg.read_bytes(),
                                  ContentType="image/jpeg")
                client.put_object(Bucket=bucket, Key=stem + ".json", Body=json.dumps(
                    {"timestamp": int(when.timestamp()),
                     "tags": {"device": device, "site": "demo"}}).encode())
        return count


def frames(folder: Path, first: dt.datetime, count: int, every_secs: int, zone: str,
           size: tuple[int, int]) -> list[Path]:
    """`count` JPEGs of the scene, one every `every_secs` from `first`."""
    width, height = size
    chain = scene_filters(width, height, 1, first, zone, real_secs=f"N*{every_secs}",
                          span_secs=count * every_secs)
    subprocess.run(footage_command(
        "-f", "lavfi", "-i", f"color=c={SKY}:s={width}x{height}:r=1", "-vf", chain,
        "-frames:v", str(count), "-q:v", "3", str(folder / "%05d.jpg")), check=True)
    return sorted(folder.glob("*.jpg"))


_demo: SimulatedS3 | None = None
_demo_days: set[tuple[str, str, dt.date]] = set()
_demo_lock = threading.Lock()


def demo(settings: Any, password: Any, date: dt.date) -> Any:
    """The demo camera (endpoint_url = "simulator"): its bucket with the day's
    frames, in a store started once in this process; returns the settings pointed at
    it. Demo credentials when the environment has none (the store takes any)."""
    global _demo
    with _demo_lock:
        if _demo is None:
            _demo = SimulatedS3().start()
        day = (settings.bucket, settings.device, date)
        if day not in _demo_days:
            _demo.put_day(settings.bucket, settings.device, date, settings.timezone)
            _demo_days.add(day)
    if not os.environ.get("AWS_ACCESS_KEY_ID") and not settings.profile:
        os.environ.update(DEMO_KEYS)
    return replace(settings, endpoint_url=_demo.url, region=settings.region or "us-east-1",
                   tls_insecure=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="A simulated S3 bucket of FixedIT "
                                     "Data Agent frames (moto's S3 server).")
    parser.add_argument("--date", action="append", type=dt.date.fromisoformat,
                        help="a local day to fill with frames (repeatable; default today)")
    parser.add_argument("--bucket", default="timelapse-demo")
    parser.add_argument("--device", default="ACCC8E000001")
    parser.add_argument("--timezone", default="Europe/Stockholm")
    parser.add_argument("--every", type=int, default=600, help="seconds between frames")
    args = parser.parse_args()
    store = SimulatedS3().start()
    for date in args.date or [dt.date.today()]:
        count = store.put_day(args.bucket, args.device, date, args.timezone, args.every)
        print(f"{date}: {count} frames", flush=True)
    print(f"simulated S3 (FixedIT frames) at {store.url}, bucket {args.bucket}\n"
          "point tlbuild at it with a camera in the config:\n"
          f'  [cameras.s3-sim]\n  source = "s3-frames"\n  bucket = "{args.bucket}"\n'
          f'  device = "{args.device}"\n  endpoint_url = "{store.url}"\n'
          f'  timezone = "{args.timezone}"\n'
          "and any credentials (the store takes any): AWS_ACCESS_KEY_ID=demo "
          "AWS_SECRET_ACCESS_KEY=demo\nCtrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        store.stop()


if __name__ == "__main__":
    main()
