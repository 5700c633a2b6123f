"""FixedIT Data Agent frames in S3: moto's real server on 127.0.0.1, real boto3, real
ffmpeg. Both object formats, bad frames, pagination, incremental reruns, access
denied and hostile keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from pathlib import Path

import boto3
import pytest
import requests

from tlbuild.cli import main
from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.probe import probe

DEVICE = "ACCC8E000001"
BUCKET = "timelapse-frames"
DATE = "2024-01-15"


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> dict[str, list[bytes]]:
    """Small real JPEGs: several 160x90 ones and one of another size."""
    folder = tmp_path_factory.mktemp("jpegs")
    for size in ("160x90", "200x120"):
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate=5", "-frames:v", "6",
                        str(folder / f"{size}_%02d.jpg")], check=True)
    return {size: [p.read_bytes() for p in sorted(folder.glob(f"{size}_*.jpg"))]
            for size in ("160x90", "200x120")}


class Bucket:
    def __init__(self, url: str, name: str):
        self.name = name
        self.client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        self.client.create_bucket(Bucket=name)

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def put_in_store(self, key: str, body: bytes) -> None:
        """Put straight into the store of the moto server (it runs in this process):
        a thousand objects are set up in a fraction of the time of as many HTTP puts.
        What tlbuild reads still comes over HTTP, through boto3."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(self.name, key, body)

    def frame(self, when: dt.datetime, image: bytes, old: bool, device: str = DEVICE,
              key_date: str | None = None, in_store: bool = False) -> str:
        stamp = int(when.timestamp())
        utc = when.astimezone(dt.timezone.utc)
        stem = f"{device}/{key_date or utc.date().isoformat()}/timelapse-{utc:%H-%M-%S}"
        put = self.put_in_store if in_store else self.put
        if old:
            text = base64.b64encode(image).decode()
            put(stem + ".json", json.dumps({
                "fields": {"image_base64": text, "length": len(text)},
                "tags": {"host": "axis-cam"}, "name": "timelapse_image",
                "timestamp": stamp}).encode())
        else:
            put(stem + ".jpg", image)
            put(stem + ".json", json.dumps({"timestamp": stamp,
                                                 "tags": {"site": "north"}}).encode())
        return stem


@pytest.fixture
def bucket(moto_url, request) -> Bucket:
    name = f"{BUCKET}-{abs(hash(request.node.name)) % 10**8}"
    return Bucket(moto_url, name)


def config_for(write_config, moto_url: str, bucket: Bucket, folder: Path | None = None,
               **keys) -> Path:
    return write_config({"site": {"source": "s3-frames", "bucket": bucket.name,
                                  "device": DEVICE, "region": "us-east-1",
                                  "endpoint_url": moto_url, "fps": 10,
                                  "preset": "ultrafast", "workers": 6, **keys}},
                        folder=folder)


def build(config: Path, *args: str, command: str = "run") -> int:
    return main(["--config", str(config), "--camera", "site", command, "--date", DATE,
                 *args])


def day_root(tmp_path: Path) -> Path:
    return tmp_path / "out" / "site" / DATE


def utc(hour: int, minute: int = 0, second: int = 0, day: int = 15) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, second, tzinfo=dt.timezone.utc)


def test_mixed_formats_bad_frames_and_sizes(write_config, moto_url, bucket, jpegs, tmp_path,
                                            ffmpeg_build):
    small, large = jpegs["160x90"], jpegs["200x120"]
    for n in range(12):  # old and new formats mixed within one day
        bucket.frame(utc(8, n * 5), small[n % len(small)], old=n % 2 == 0)
    bucket.frame(utc(9, 30), large[0], old=False)  # another size: scaled, not dropped
    prefix = f"{DEVICE}/{DATE}/timelapse"
    bucket.put(f"{prefix}-10-00-00.json", b"{not json")                       # invalid JSON
    bucket.put(f"{prefix}-10-01-00.json", json.dumps(
        {"fields": {"image_base64": "@@not base64@@"}, "timestamp": 1705312860}).encode())
    bucket.put(f"{prefix}-10-02-00.jpg", b"<html>not a jpeg</html>")         # not a JPEG
    bucket.put(f"{prefix}-10-02-00.json", json.dumps({"timestamp": 1705312920}).encode())
    bucket.put(f"{prefix}-10-03-00.jpg", small[0])                            # no .json
    bucket.put(f"{prefix}-10-04-00.json", json.dumps({"timestamp": 1705313040}).encode())
    bucket.put(f"{prefix}-10-05-00.jpg", b"")                                 # zero bytes
    bucket.put(f"{prefix}-10-05-00.json", json.dumps({"timestamp": 1705313100}).encode())
    bucket.put(f"{prefix}-10-06-00.jpg", small[0])                            # NaN time
    bucket.put(f"{prefix}-10-06-00.json", b'{"timestamp": NaN}')

    assert build(config_for(write_config, moto_url, bucket)) == 0
    root = day_root(tmp_path)
    index = json.loads((root / "manifests" / "frame_index.json").read_text())
    reasons = sorted(e["reason"] for e in index if e["status"] == "bad")
    assert len(reasons) == 7
    for expected in ("invalid JSON", "bad base64", "not a JPEG", "a .jpg without",
                     "a .json without", "zero-byte", "no numeric timestamp"):
        assert any(expected in reason for reason in reasons), expected
    good = [e for e in index if e["status"] == "ok"]
    assert len(good) == 13
    assert [e["timestamp"] for e in good] == sorted(e["timestamp"] for e in good)
    day = json.loads((root / "metadata" / "day.json").read_text())
    assert day["frame_count"] == 13 and day["bad_frames"] == 7
    assert (day["width"], day["height"]) == (160, 90)
    assert day["first_time"].startswith("2024-01-15T08:00")
    video = probe(root / "timelapse" / f"site_{DATE}_timelapse.mp4")
    assert video.frames == 13 and (video.width, video.height) == (160, 90)
    assert abs(video.duration - 1.3) < 0.1


@pytest.mark.slow
def test_pagination_rerun_and_one_new_frame(write_config, moto_url, bucket, jpegs, tmp_path):
    small = jpegs["160x90"]
    for n in range(1050):  # more than 1000 objects: several pages
        bucket.frame(utc(0) + dt.timedelta(seconds=60 * n), small[n % 6], old=True,
                     in_store=True)
    config = config_for(write_config, moto_url, bucket)
    assert build(config, "--fps", "30") == 0
    root = day_root(tmp_path)
    images = {p: p.stat().st_ino for p in (root / "frames").rglob("*.jpg")}
    assert len(images) == 1050
    output = root / "timelapse" / f"site_{DATE}_timelapse.mp4"
    stamp = output.stat().st_mtime_ns

    assert build(config, "--fps", "30") == 0  # a rerun downloads and renders nothing
    assert {p: p.stat().st_ino for p in (root / "frames").rglob("*.jpg")} == images
    assert output.stat().st_mtime_ns == stamp

    bucket.frame(utc(23, 30), small[1], old=False)  # one frame arrives later
    assert build(config, "--fps", "30") == 0
    after = {p: p.stat().st_ino for p in (root / "frames").rglob("*.jpg")}
    assert len(after) == 1051
    assert all(after[p] == inode for p, inode in images.items())  # only the new one
    assert output.stat().st_mtime_ns != stamp
    assert probe(output).frames == 1051


def test_local_day_spanning_two_key_dates(write_config, moto_url, bucket, jpegs, tmp_path):
    """The frames of both key dates the local day touches are judged by their JSON;
    the neighbouring days' images are never fetched (half of what the two key dates
    hold), and a change of time zone fetches the ones that became the day's."""
    small = jpegs["160x90"]
    zone = dt.timezone(dt.timedelta(hours=-5))  # New York in January
    inside = [dt.datetime(2024, 1, 15, 0, 30, tzinfo=zone),    # key date 2024-01-15
              dt.datetime(2024, 1, 15, 22, 0, tzinfo=zone)]    # key date 2024-01-16 (UTC)
    outside = [dt.datetime(2024, 1, 14, 23, 0, tzinfo=zone),   # key date 2024-01-15
               dt.datetime(2024, 1, 16, 0, 10, tzinfo=zone)]   # key date 2024-01-16
    for n, when in enumerate(inside + outside):
        bucket.frame(when, small[0], old=n == 3)  # the old format too: nothing written
    config = config_for(write_config, moto_url, bucket, timezone="America/New_York")
    assert build(config) == 0
    root = day_root(tmp_path)
    index = json.loads((root / "manifests/frame_index.json").read_text())
    assert [e["timestamp"] for e in index] == [w.timestamp() for w in inside]
    assert index[0]["local_time"] == "2024-01-15T00:30:00-05:00"
    images = sorted(path.stem.rsplit("-", 1)[0]  # the frame's name, less its key's hash
                    for path in (root / "frames").rglob("*.jpg"))
    assert images == sorted(f"timelapse-{w.astimezone(dt.timezone.utc):%H-%M-%S}"
                            for w in inside)

    # the same camera in UTC: 2024-01-14 23:00 New York is 04:00 UTC on the 15th
    config = config_for(write_config, moto_url, bucket, timezone="UTC")
    assert build(config) == 0
    index = json.loads((root / "manifests/frame_index.json").read_text())
    assert [e["timestamp"] for e in index] == [outside[0].timestamp(),
                                               inside[0].timestamp()]
    assert all(entry["status"] == "ok" for entry in index)


def test_overlay_time_renders_with_every_ffmpeg(write_config, moto_url, bucket, jpegs, tmp_path,
                                               ffmpeg_build, capsys):
    from tlbuild.ffmpeg import ffmpeg_filters
    for n in range(5):
        bucket.frame(utc(12, n), jpegs["160x90"][n], old=False)
    plain_cfg = config_for(write_config, moto_url, bucket, tmp_path / "plain")
    overlay_cfg = config_for(write_config, moto_url, bucket, tmp_path / "overlay",
                             overlay_time=True)
    if "drawtext" not in ffmpeg_filters():  # a build without freetype: refused clearly
        assert build(overlay_cfg) == 2
        assert "needs ffmpeg's drawtext filter" in capsys.readouterr().err
        pytest.skip(f"{ffmpeg_build} has no drawtext filter")
    assert build(plain_cfg) == 0 and build(overlay_cfg) == 0
    plain = day_root(tmp_path / "plain") / "timelapse" / f"site_{DATE}_timelapse.mp4"
    overlay = day_root(tmp_path / "overlay") / "timelapse" / f"site_{DATE}_timelapse.mp4"
    assert probe(overlay).frames == 5
    assert plain.read_bytes() != overlay.read_bytes()


def test_access_denied_gives_a_clear_message_and_exit_3(write_config, moto_url, bucket, jpegs,
                                                        tmp_path, monkeypatch, capsys):
    bucket.frame(utc(12), jpegs["160x90"][0], old=False)
    iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1")
    iam.create_user(UserName="viewer-without-rights")
    key = iam.create_access_key(UserName="viewer-without-rights")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    requests.post(f"{moto_url}/moto-api/reset-auth", data=b"0").raise_for_status()
    try:
        assert build(config_for(write_config, moto_url, bucket)) == 3
    finally:
        requests.post(f"{moto_url}/moto-api/reset-auth", data=b"inf").raise_for_status()
    err = capsys.readouterr().err
    assert "denied" in err and "Traceback" not in err
    assert key["SecretAccessKey"] not in err


def test_odd_keys_never_write_outside_the_output_root(write_config, moto_url, bucket, jpegs,
                                                      tmp_path):
    image = jpegs["160x90"][0]
    for n, stem in enumerate(["..", "../../../../escape", "we ird:na*me?", "a/../../b",
                              "..%2f..%2fx", "timelapse-\u00e9t\u00e9", "key=value 100%#x",
                              "\U0001F600" * 90]):  # 360 bytes: over the name limit
        body = json.dumps({"timestamp": int(utc(12, n).timestamp()),
                           "fields": {"image_base64": base64.b64encode(image).decode()}})
        bucket.put(f"{DEVICE}/{DATE}/{stem}.json", body.encode())
    assert build(config_for(write_config, moto_url, bucket)) == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(tmp_path / "out" in p.parents or p.name == "tlbuild.toml" for p in written)
    assert not (tmp_path.parent / "escape.json").exists()
    assert len(list(day_root(tmp_path).joinpath("frames").rglob("*.jpg"))) == 8
    assert all(len(p.name.encode()) <= 255 for p in tmp_path.rglob("*"))


def test_a_damaged_frame_is_fetched_again(write_config, moto_url, bucket, jpegs, tmp_path):
    for n in range(4):
        bucket.frame(utc(9, n), jpegs["160x90"][n], old=False)
    cfg = config_for(write_config, moto_url, bucket)
    assert build(cfg) == 0
    victim = sorted(day_root(tmp_path).joinpath("frames").rglob("*.jpg"))[1]
    victim.write_bytes(victim.read_bytes()[:100])
    (day_root(tmp_path) / "manifests" / "frame_index.json").write_text('[{"trunc')
    assert build(cfg) == 0
    assert victim.read_bytes() == jpegs["160x90"][1]
    assert probe(day_root(tmp_path) / "timelapse" / f"site_{DATE}_timelapse.mp4").frames == 4


def test_hours_weekdays_and_deflicker_choose_from_s3_frames(write_config, moto_url, bucket,
                                                           jpegs, tmp_path):
    for n in range(12):  # 08:00 to 08:55 UTC
        bucket.frame(utc(8, n * 5), jpegs["160x90"][n % 6], old=n % 2 == 0)
    cfg = config_for(write_config, moto_url, bucket, hours="08:00-08:30",
                     weekdays=["mon", "tue"], deflicker=True)
    assert build(cfg) == 0
    index = json.loads((day_root(tmp_path) / "manifests/frame_index.json").read_text())
    skipped = [e for e in index if e["status"] == "skipped"]
    assert len(skipped) == 6 and all("outside the chosen hours" in e["reason"]
                                     for e in skipped)
    video = day_root(tmp_path) / "timelapse" / f"site_{DATE}_timelapse.mp4"
    assert probe(video).frames == 6
    # the times left out were judged by their JSON: their images were never fetched
    assert len(list((day_root(tmp_path) / "frames").rglob("*.jpg"))) == 6
    wider = config_for(write_config, moto_url, bucket, hours="08:00-09:00",
                       weekdays=["mon", "tue"], deflicker=True)
    assert build(wider) == 0  # fetches the six that are chosen now
    index = json.loads((day_root(tmp_path) / "manifests/frame_index.json").read_text())
    assert [e["status"] for e in index] == ["ok"] * 12
    assert probe(video).frames == 12
    weekend = config_for(write_config, moto_url, bucket, folder=tmp_path / "weekend",
                         weekdays=["sat"])  # 2024-01-15 was a Monday
    assert build(weekend) == 0
    index = json.loads((tmp_path / "weekend/out/site" / DATE /
                        "manifests/frame_index.json").read_text())
    assert {e["status"] for e in index} == {"skipped"}
    assert all(e["reason"] == "not a chosen weekday (mon)" for e in index)
    assert not list((tmp_path / "weekend").rglob("*.jpg"))


def test_list_devices_and_dates(moto_url, bucket, jpegs, capsys):
    bucket.frame(utc(12), jpegs["160x90"][0], old=False)
    bucket.frame(utc(12, day=16), jpegs["160x90"][0], old=True)
    bucket.frame(utc(12), jpegs["160x90"][0], old=True, device="ACCC8E000002")
    common = ["--bucket", bucket.name, "--endpoint-url", moto_url, "--region", "us-east-1"]
    assert main(["s3", "devices", *common]) == 0
    assert capsys.readouterr().out.split() == ["ACCC8E000001", "ACCC8E000002"]
    assert main(["s3", "dates", "--device", DEVICE, *common]) == 0
    assert capsys.readouterr().out.split() == ["2024-01-15", "2024-01-16"]
    assert main(["s3", "devices", "--bucket", "no-such-bucket-here", "--endpoint-url",
                 moto_url, "--region", "us-east-1"]) == 4


def damaged_jpegs(image: bytes) -> dict[str, bytes]:
    """A real JPEG damaged as storage and transfers damage them."""
    scan = image.index(b"\xff\xda")
    data = scan + 2 + int.from_bytes(image[scan + 2:scan + 4], "big")
    garbage = bytearray(image)
    for offset in range(data + 40, len(image) - 2, 3):
        garbage[offset] = (garbage[offset] * 7 + 13) % 255  # never makes a marker
    sof = image.index(b"\xff\xc0")
    huge = bytearray(image)
    huge[sof + 5:sof + 9] = (16000).to_bytes(2, "big") * 2  # claims 16000x16000
    return {"cut": image[: len(image) // 2] + b"\xff\xd9", "garbage": bytes(garbage),
            "huge": bytes(huge)}


def test_damaged_stills_are_left_out_and_fetched_again(write_config, moto_url, bucket, jpegs,
                                                       tmp_path, capsys):
    good = jpegs["160x90"]
    for n in range(5):
        bucket.frame(utc(9, n), good[n], old=False)
    for n, image in enumerate(damaged_jpegs(good[0]).values()):
        bucket.frame(utc(10, n), image, old=n % 2 == 0)
    cfg = config_for(write_config, moto_url, bucket)
    assert build(cfg) == 0
    root = day_root(tmp_path)
    index = json.loads((root / "manifests" / "frame_index.json").read_text())
    bad = {e["local_time"][11:16]: e["reason"] for e in index if e["status"] == "bad"}
    assert sorted(bad) == ["10:00", "10:01", "10:02"]
    assert "does not decode" in bad["10:00"] and "does not decode" in bad["10:01"]
    assert "16000x16000" in bad["10:02"]
    video = root / "timelapse" / f"site_{DATE}_timelapse.mp4"
    assert probe(video).frames == 5  # exactly the good ones
    assert "do not decode" in capsys.readouterr().err
    # a still zeroed on disk keeps its size: its hash finds it, and it is fetched again
    victim = sorted(root.joinpath("frames").rglob("*.jpg"))[2]
    victim.write_bytes(b"\0" * victim.stat().st_size)
    assert build(cfg) == 0
    assert victim.read_bytes() in good and probe(video).frames == 5
    # the damaged ones were asked again, and are still left out
    index = json.loads((root / "manifests" / "frame_index.json").read_text())
    assert sum(e["status"] == "bad" for e in index) == 3


def test_a_day_with_one_frame_is_a_valid_day(write_config, moto_url, bucket, jpegs,
                                              tmp_path):
    bucket.frame(utc(9, 0), jpegs["160x90"][0], old=False)
    cfg = config_for(write_config, moto_url, bucket)
    assert build(cfg) == 0
    root = day_root(tmp_path)
    assert probe(root / "timelapse" / f"site_{DATE}_timelapse.mp4").frames == 1
    assert (root / "poster.jpg").stat().st_size > 0 and (root / "keogram.png").is_file()
    assert "1 of 1 frames used" in (root / "report.html").read_text()
    assert build(cfg) == 0  # and it stays built


def test_a_selection_that_keeps_nothing_says_so(write_config, moto_url, bucket, jpegs,
                                                tmp_path, capsys):
    for n in range(4):
        bucket.frame(utc(9, n), jpegs["160x90"][n], old=False)
    cfg = config_for(write_config, moto_url, bucket, weekdays=["sat"])  # a Monday
    assert build(cfg) == 0
    assert "selection left out all 4 frames (not a chosen weekday: 4)" in \
        capsys.readouterr().err
    assert main(["status", "--config", str(cfg), "--from", DATE]) == 0
    line = capsys.readouterr().out
    assert " empty " in line and "not a chosen weekday: 4" in line
