"""Publishing finished timelapses: the simulated indi-allsky SyncAPI server and moto's
S3 server, both over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pytest

from tlbuild.cli import main
from tlbuild.probe import probe
from tlbuild.sim.allsky import SimulatedAllsky

from conftest import USER

APIKEY = "k3y-0f-the-sync-user-9c1d7f"
DATE = "2024-01-15"


@pytest.fixture
def allsky():
    with SimulatedAllsky({"syncuser": APIKEY}) as server:
        yield server


def config(tmp_path: Path, nvr, sinks: str, publish: str, monkeypatch) -> Path:
    monkeypatch.setenv("ALLSKY_KEY", APIKEY)
    path = tmp_path / "publish.toml"
    path.write_text(f"""
out = "{tmp_path / 'out'}"
[cameras.yard]
source = "unifi"
host = "{nvr.url}"
username = "{USER}"
password_env = "UPVS_PASSWORD"
camera = "Demo Driveway"
target = 5
fps = 5
preset = "ultrafast"
publish = {publish}
{sinks}
""")
    return path


def allsky_sink(server, **extra) -> str:
    options = "".join(f"{key} = {json.dumps(value)}\n" for key, value in extra.items())
    return f"""
[publish.allsky]
kind = "indi-allsky"
url = "{server.url}"
username = "syncuser"
apikey_env = "ALLSKY_KEY"
{options}"""


def run(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), "--camera", "yard", "run", "--date", DATE, *args])


def receipt(tmp_path: Path, sink: str = "allsky") -> dict:
    return json.loads((tmp_path / "out/yard" / DATE / "publish" / f"{sink}.json")
                      .read_text())


def video_path(tmp_path: Path) -> Path:
    return tmp_path / "out/yard" / DATE / "timelapse" / f"yard_{DATE}_timelapse.mp4"


def test_publish_registers_the_camera_then_sends_the_video(nvr, allsky, tmp_path,
                                                           monkeypatch):
    cfg = config(tmp_path, nvr, allsky_sink(allsky), '["allsky"]', monkeypatch)
    assert run(cfg) == 0
    assert allsky.state.count("camera", 200) == 1
    [video] = allsky.videos()
    local = video_path(tmp_path).read_bytes()
    assert video["sha256"] == hashlib.sha256(local).hexdigest()
    meta, info = video["metadata"], probe(video_path(tmp_path))
    assert meta["type"] == 3 and meta["success"] is True and meta["night"] is False
    assert meta["dayDate"] == "20240115" and meta["file_size"] == len(local)
    assert meta["utc_offset"] == -5 * 3600  # the NVR's zone, New York in January
    assert (meta["frames"], meta["width"], meta["height"]) == (info.frames, 160, 90)
    assert meta["framerate"] == 5 and isinstance(meta["createDate"], int)
    assert meta["camera_uuid"] in allsky.state.cameras
    made = receipt(tmp_path)
    assert made["remote_id"] == video["id"] and made["url"] == video["url"]
    assert made["size"] == len(local) and made["sha256"] == video["sha256"]

    assert run(cfg) == 0  # a plain rerun sends nothing
    assert allsky.state.count("video") == 1
    assert run(cfg, "--crf", "35") == 0  # a changed video is sent again (PUT overwrites)
    assert allsky.state.count("video", 200) == 2 and len(allsky.videos()) == 1
    assert allsky.videos()[0]["sha256"] == hashlib.sha256(
        video_path(tmp_path).read_bytes()).hexdigest()


def test_publish_command_runs_only_that_step(nvr, allsky, tmp_path, monkeypatch):
    cfg = config(tmp_path, nvr, allsky_sink(allsky), '["allsky"]', monkeypatch)
    assert run(cfg) == 0
    (tmp_path / "out/yard" / DATE / "publish" / "allsky.json").unlink()
    before = len(nvr.state.log)
    assert main(["--config", str(cfg), "--camera", "yard", "publish", "--date", DATE,
                 "--sink", "allsky"]) == 0
    assert len(nvr.state.log) == before  # no camera traffic
    assert receipt(tmp_path)["remote_id"] and allsky.state.count("video", 200) == 2
    assert main(["--config", str(cfg), "--camera", "yard", "publish", "--date", DATE,
                 "--sink", "other"]) == 2


def test_thumbnail_is_sent_first_and_linked(nvr, allsky, tmp_path, monkeypatch):
    cfg = config(tmp_path, nvr, allsky_sink(allsky, thumbnail=True), '["allsky"]',
                 monkeypatch)
    assert run(cfg) == 0
    thumbs = [a for k, a in allsky.state.assets.items() if k[0] == "thumbnail"]
    assert len(thumbs) == 1 and thumbs[0]["name"] == "thumbnail.jpg"
    assert allsky.videos()[0]["metadata"]["thumbnail_uuid"] == \
        thumbs[0]["metadata"]["uuid"]


def test_wrong_key_fails_with_exit_3(nvr, allsky, tmp_path, monkeypatch, capsys):
    cfg = config(tmp_path, nvr, allsky_sink(allsky), '["allsky"]', monkeypatch)
    monkeypatch.setenv("ALLSKY_KEY", "not-the-key")
    assert run(cfg) == 3
    err = capsys.readouterr().err
    assert "authentication failed" in err and "clock" in err
    assert allsky.videos() == []


def test_clock_skewed_past_the_window_fails(nvr, tmp_path, monkeypatch, capsys):
    with SimulatedAllsky({"syncuser": APIKEY}, clock_offset=-1800) as skewed:
        cfg = config(tmp_path, nvr, allsky_sink(skewed), '["allsky"]', monkeypatch)
        assert run(cfg) == 3
    assert "clock" in capsys.readouterr().err
    with SimulatedAllsky({"syncuser": APIKEY}, clock_offset=700) as near:
        cfg = config(tmp_path, nvr, allsky_sink(near), '["allsky"]', monkeypatch)
        assert run(cfg) == 0  # a client 2-3 buckets behind the server is accepted


def test_unregistered_camera_is_reported(nvr, allsky, tmp_path, monkeypatch, capsys):
    cfg = config(tmp_path, nvr, allsky_sink(allsky), '["allsky"]', monkeypatch)
    original = allsky.state.cameras
    allsky.state.cameras = type("Forgetful", (dict,), {
        "setdefault": lambda self, key, value: value})()  # the server loses cameras
    assert run(cfg) == 5
    assert "camera not found" in capsys.readouterr().err
    allsky.state.cameras = original


def test_file_exists_in_post_mode(nvr, allsky, tmp_path, monkeypatch, capsys):
    cfg = config(tmp_path, nvr, allsky_sink(allsky, mode="post"), '["allsky"]',
                 monkeypatch)
    assert run(cfg) == 0
    first = receipt(tmp_path)
    # state lost (e.g. a new machine): the server's copy has the same size
    (tmp_path / "out/yard" / DATE / ".tlbuild-doit.sqlite3").unlink()
    assert run(cfg) == 0
    assert allsky.state.count("video", 400) == 1 and receipt(tmp_path)["size"] == \
        first["size"]
    assert run(cfg, "--crf", "40") == 5  # a different video: POST does not overwrite
    assert "mode = \"put\"" in capsys.readouterr().err


def test_413_from_the_proxy(nvr, tmp_path, monkeypatch, capsys):
    with SimulatedAllsky({"syncuser": APIKEY}, max_body=4000) as small:
        cfg = config(tmp_path, nvr, allsky_sink(small), '["allsky"]', monkeypatch)
        assert run(cfg) == 5
    assert "too large" in capsys.readouterr().err


def test_s3_sink_uploads_once_with_content_type(nvr, moto_url, tmp_path, monkeypatch):
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    client.create_bucket(Bucket="published-videos")
    sinks = f"""
[publish.archive]
kind = "s3"
bucket = "published-videos"
prefix = "timelapses"
endpoint_url = "{moto_url}"
region = "us-east-1"
"""
    cfg = config(tmp_path, nvr, sinks, '["archive"]', monkeypatch)
    assert run(cfg) == 0
    key = f"timelapses/yard/{DATE}/yard_{DATE}_timelapse.mp4"
    head = client.head_object(Bucket="published-videos", Key=key)
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == video_path(tmp_path).stat().st_size
    made = receipt(tmp_path, "archive")
    assert made["url"] == f"s3://published-videos/{key}" and made["skipped"] is False
    modified = head["LastModified"]
    (tmp_path / "out/yard" / DATE / "publish" / "archive.json").unlink()
    assert run(cfg) == 0  # same size and checksum there: not uploaded again
    assert receipt(tmp_path, "archive")["skipped"] is True
    assert client.head_object(Bucket="published-videos", Key=key)["LastModified"] == \
        modified


def test_no_secret_in_receipts_logs_state_or_output(nvr, allsky, tmp_path, monkeypatch,
                                                    capfd):
    cfg = config(tmp_path, nvr, allsky_sink(allsky, thumbnail=True), '["allsky"]',
                 monkeypatch)
    assert run(cfg, "--verbose") == 0
    monkeypatch.setenv("ALLSKY_KEY", "wrong")
    assert run(cfg, "--crf", "30") == 3
    captured = capfd.readouterr()
    assert APIKEY not in captured.out + captured.err
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert APIKEY.encode() not in path.read_bytes(), path
