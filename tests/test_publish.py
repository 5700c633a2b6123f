"""Publishing finished timelapses: the simulated indi-allsky SyncAPI server and moto's
S3 server, both over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pytest
from conftest import unifi_camera

from tlbuild.cli import main
from tlbuild.probe import probe
from tlbuild.sim.allsky import SimulatedAllsky

APIKEY = "k3y-0f-the-sync-user-9c1d7f"
DATE = "2024-01-15"


@pytest.fixture
def allsky():
    with SimulatedAllsky({"syncuser": APIKEY}) as server:
        yield server


def config(write_config, nvr, sinks: dict, monkeypatch) -> Path:
    """Camera `yard` of the simulated console, publishing to every sink of `sinks`."""
    monkeypatch.setenv("ALLSKY_KEY", APIKEY)
    return write_config({"yard": unifi_camera(nvr, target=5, publish=list(sinks))}, sinks)


def allsky_sink(server, **extra) -> dict:
    return {"allsky": {"kind": "indi-allsky", "url": server.url, "username": "syncuser",
                       "apikey_env": "ALLSKY_KEY", **extra}}


def run(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), "--camera", "yard", "run", "--date", DATE, *args])


def receipt(tmp_path: Path, sink: str = "allsky") -> dict:
    return json.loads((tmp_path / "out/yard" / DATE / "publish" / f"{sink}.json")
                      .read_text())


def video_path(tmp_path: Path) -> Path:
    return tmp_path / "out/yard" / DATE / "timelapse" / f"yard_{DATE}_timelapse.mp4"


def test_publish_registers_the_camera_then_sends_the_video(write_config, nvr, allsky, tmp_path,
                                                           monkeypatch):
    cfg = config(write_config, nvr, allsky_sink(allsky), monkeypatch)
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


def test_publish_command_runs_only_that_step(write_config, nvr, allsky, tmp_path, monkeypatch):
    cfg = config(write_config, nvr, allsky_sink(allsky), monkeypatch)
    assert run(cfg) == 0
    (tmp_path / "out/yard" / DATE / "publish" / "allsky.json").unlink()
    before = len(nvr.state.log)
    assert main(["--config", str(cfg), "--camera", "yard", "publish", "--date", DATE,
                 "--sink", "allsky"]) == 0
    assert len(nvr.state.log) == before  # no camera traffic
    assert receipt(tmp_path)["remote_id"] and allsky.state.count("video", 200) == 2
    assert main(["--config", str(cfg), "--camera", "yard", "publish", "--date", DATE,
                 "--sink", "other"]) == 2


def test_thumbnail_is_sent_first_and_linked(write_config, nvr, allsky, tmp_path, monkeypatch):
    cfg = config(write_config, nvr, allsky_sink(allsky, thumbnail=True), monkeypatch)
    assert run(cfg) == 0
    thumbs = [a for k, a in allsky.state.assets.items() if k[0] == "thumbnail"]
    assert len(thumbs) == 1 and thumbs[0]["name"] == "thumbnail.jpg"
    assert allsky.videos()[0]["metadata"]["thumbnail_uuid"] == \
        thumbs[0]["metadata"]["uuid"]


def test_wrong_key_fails_with_exit_3(write_config, nvr, allsky, tmp_path, monkeypatch, capsys):
    cfg = config(write_config, nvr, allsky_sink(allsky), monkeypatch)
    monkeypatch.setenv("ALLSKY_KEY", "not-the-key")
    assert run(cfg) == 3
    err = capsys.readouterr().err
    assert "authentication failed" in err and "clock" in err
    assert allsky.videos() == []


def test_clock_skewed_past_the_window_fails(write_config, nvr, tmp_path, monkeypatch, capsys):
    with SimulatedAllsky({"syncuser": APIKEY}, clock_offset=-1800) as skewed:
        cfg = config(write_config, nvr, allsky_sink(skewed), monkeypatch)
        assert run(cfg) == 3
    assert "clock" in capsys.readouterr().err
    with SimulatedAllsky({"syncuser": APIKEY}, clock_offset=700) as near:
        cfg = config(write_config, nvr, allsky_sink(near), monkeypatch)
        assert run(cfg) == 0  # a client 2-3 buckets behind the server is accepted


def test_unregistered_camera_is_reported(write_config, nvr, allsky, tmp_path, monkeypatch,
                                         capsys):
    cfg = config(write_config, nvr, allsky_sink(allsky), monkeypatch)
    original = allsky.state.cameras
    allsky.state.cameras = type("Forgetful", (dict,), {
        "setdefault": lambda self, key, value: value})()  # the server loses cameras
    assert run(cfg) == 5
    assert "camera not found" in capsys.readouterr().err
    allsky.state.cameras = original


def test_file_exists_in_post_mode(write_config, nvr, allsky, tmp_path, monkeypatch, capsys):
    cfg = config(write_config, nvr, allsky_sink(allsky, mode="post"), monkeypatch)
    assert run(cfg) == 0
    first = receipt(tmp_path)
    # state lost (e.g. a new machine): the server's copy has the same size
    (tmp_path / "out/yard" / DATE / ".tlbuild-doit.sqlite3").unlink()
    assert run(cfg) == 0
    assert allsky.state.count("video", 400) == 1 and receipt(tmp_path)["size"] == \
        first["size"]
    assert run(cfg, "--crf", "40") == 5  # a different video: POST does not overwrite
    assert "mode = \"put\"" in capsys.readouterr().err


def test_413_from_the_proxy(write_config, nvr, tmp_path, monkeypatch, capsys):
    with SimulatedAllsky({"syncuser": APIKEY}, max_body=4000) as small:
        cfg = config(write_config, nvr, allsky_sink(small), monkeypatch)
        assert run(cfg) == 5
    assert "too large" in capsys.readouterr().err


def test_s3_sink_uploads_once_with_content_type(write_config, nvr, moto_url, tmp_path,
                                                monkeypatch):
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    client.create_bucket(Bucket="published-videos")
    sinks = {"archive": {"kind": "s3", "bucket": "published-videos", "prefix": "timelapses",
                         "endpoint_url": moto_url, "region": "us-east-1"}}
    cfg = config(write_config, nvr, sinks, monkeypatch)
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


def test_no_secret_in_receipts_logs_state_or_output(write_config, nvr, allsky, tmp_path,
                                                    monkeypatch, capfd):
    cfg = config(write_config, nvr, allsky_sink(allsky, thumbnail=True), monkeypatch)
    assert run(cfg, "--verbose") == 0
    monkeypatch.setenv("ALLSKY_KEY", "wrong")
    assert run(cfg, "--crf", "30") == 3
    captured = capfd.readouterr()
    assert APIKEY not in captured.out + captured.err
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert APIKEY.encode() not in path.read_bytes(), path


def test_the_day_page_links_only_http_urls_from_a_sink(write_config, nvr, allsky, tmp_path,
                                                       monkeypatch):
    cfg = config(write_config, nvr, allsky_sink(allsky), monkeypatch)
    assert run(cfg) == 0
    page = (tmp_path / "out/yard" / DATE / "report.html").read_text()
    # the server's relative URL, resolved against the sink: it opens from the page
    assert f'href="{allsky.url}/images/video/' in page
    allsky.state.answer_url = "javascript:alert(document.domain)//"
    assert run(cfg, "--crf", "30") == 0  # a new video, published again
    page = (tmp_path / "out/yard" / DATE / "report.html").read_text()
    assert receipt(tmp_path)["url"].startswith("javascript:")
    assert 'href="javascript' not in page.lower()
    assert "javascript:alert(document.domain)//" in page  # shown as text


def test_doctor_proves_each_sinks_credentials_without_publishing(
        write_config, nvr, allsky, moto_url, tmp_path, monkeypatch, capfd):
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").create_bucket(
        Bucket="videos")
    sinks = {**allsky_sink(allsky), "bucket": {
        "kind": "s3", "bucket": "videos", "prefix": "daily", "endpoint_url": moto_url,
        "region": "us-east-1"}}
    cfg = config(write_config, nvr, sinks, monkeypatch)
    assert main(["doctor", "--config", str(cfg)]) == 0
    out = capfd.readouterr().out
    assert "ok    sink allsky" in out and "API key accepted" in out
    assert "ok    sink bucket: s3://videos/daily: writable" in out
    assert allsky.state.count("video", 400) == 1 and not allsky.videos()  # nothing sent
    assert allsky.state.cameras == {}
    listed = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1") \
        .list_objects_v2(Bucket="videos")
    assert listed.get("KeyCount", 0) == 0  # the probe object is gone again
    monkeypatch.setenv("ALLSKY_KEY", "wrong-" + APIKEY)  # a wrong key fails, unprinted
    assert main(["doctor", "--config", str(cfg)]) == 1
    out, err = capfd.readouterr()
    assert "FAIL  sink allsky: " in out and "authentication failed" in out
    assert APIKEY not in out + err
    sinks["bucket"]["bucket"] = "no-such-bucket"  # so does a bucket that is not there
    cfg = config(write_config, nvr, sinks, monkeypatch)
    assert main(["doctor", "--config", str(cfg)]) == 1
    assert "FAIL  sink bucket" in capfd.readouterr().out


def test_doctor_writes_a_file_in_out_and_fails_where_it_cannot(write_config, nvr, tmp_path,
                                                                capfd):
    cfg = write_config({"yard": unifi_camera(nvr)})
    fresh = tmp_path / "fresh" / "out"
    assert main(["doctor", "--config", str(cfg), "--out", str(fresh)]) == 0
    assert "ok    disk: " in capfd.readouterr().out and fresh.is_dir()
    assert list(fresh.iterdir()) == []  # the probe file is removed
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert main(["doctor", "--config", str(cfg), "--out", str(blocked / "out")]) == 1
    assert "FAIL  disk: Not a directory" in capfd.readouterr().out
