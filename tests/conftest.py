"""Shared fixtures: a simulated NVR on 127.0.0.1 and a helper that runs `tlbuild`."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from tlbuild.cli import main
from tlbuild.ffmpeg import ffmpeg_exe, forget_ffmpeg
from tlbuild.probe import probe
from tlbuild.sim.clips import ClipSpec
from tlbuild.sim.scene import read_strip
from tlbuild.sim.unifi import SimulatedNvr

PASSWORD = "Xq7-unique-pa55word-4242"
USER = "protect-api"
CAMERA = "Demo Driveway"
DATE = "2024-01-15"
REPO = Path(__file__).resolve().parents[1]


def ffmpeg_builds() -> list[tuple[str, str]]:
    """Every ffmpeg the tests can use: the one imageio-ffmpeg ships (always), Debian's
    /usr/bin/ffmpeg when installed, and any listed in $TLBUILD_TEST_FFMPEGS (paths
    separated by ':'), each with a short name for test ids (e.g. ffmpeg5.1)."""
    import imageio_ffmpeg
    candidates = [imageio_ffmpeg.get_ffmpeg_exe(), "/usr/bin/ffmpeg",
                  *os.environ.get("TLBUILD_TEST_FFMPEGS", "").split(os.pathsep)]
    found: dict[str, str] = {}
    for path in candidates:
        if not path or not os.path.exists(path) or os.path.realpath(path) in found:
            continue
        line = subprocess.run([path, "-hide_banner", "-version"], capture_output=True,
                              text=True).stdout.split("\n")[0]
        release = re.search(r"version n?(\d+\.\d+)", line)
        found[os.path.realpath(path)] = f"ffmpeg{release.group(1) if release else 'git'}"
    return sorted(found.items(), key=lambda item: item[1])


FFMPEG_BUILDS = ffmpeg_builds()


def pytest_collection_modifyitems(items) -> None:
    """The slow tests first: the workers take them on at the start, and the short
    ones fill in around them (last, one would finish alone)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(params=FFMPEG_BUILDS, ids=[name for _, name in FFMPEG_BUILDS])
def ffmpeg_build(request, monkeypatch) -> str:
    """Run the test with one ffmpeg build (parametrized over every one found)."""
    path, _ = request.param
    monkeypatch.setenv("TLBUILD_FFMPEG", path)
    forget_ffmpeg()
    yield path
    forget_ffmpeg()


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clip-cache")


@pytest.fixture
def make_nvr(clip_cache):
    started = []

    def make(**options) -> SimulatedNvr:
        options.setdefault("clip", ClipSpec(160, 90, 5))
        options.setdefault("events_per_day", 6)
        nvr = SimulatedNvr({USER: PASSWORD}, clip_cache=clip_cache, **options).start()
        started.append(nvr)
        return nvr

    yield make
    for nvr in started:
        nvr.stop()


@pytest.fixture
def nvr(make_nvr) -> SimulatedNvr:
    return make_nvr()


@pytest.fixture(autouse=True)
def env(monkeypatch, clip_cache):
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    monkeypatch.setenv("TLBUILD_SIM_CACHE", str(clip_cache))
    for name in ("UPVS_HOST", "UPVS_USERNAME", "TLBUILD_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def unifi_camera(nvr, camera: str = CAMERA, **keys) -> dict:
    """A config table for a camera of a simulated console, with tiny, fast renders."""
    return {"source": "unifi", "host": nvr.url, "username": USER,
            "password_env": "UPVS_PASSWORD", "camera": camera, "target": 10, "fps": 5,
            "preset": "ultrafast", **keys}


@pytest.fixture
def write_config(tmp_path):
    """Write a config file: `cameras` and `sinks` map names to their tables (dicts),
    `out` is <folder>/out (folder: tmp_path by default), `top` more top-level keys.
    Returns its path."""
    def write(cameras: dict, sinks: dict | None = None, folder: Path | None = None,
              name: str = "tlbuild.toml", **top) -> Path:
        folder = folder or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        document = {"out": str(folder / "out"), **top, "cameras": cameras}
        if sinks:
            document["publish"] = sinks
        path = folder / name
        path.write_text(tomli_w.dumps(document), encoding="utf-8")
        return path
    return write


class Day:
    """The output tree of one camera-day, read back for assertions."""

    def __init__(self, root: Path):
        self.root = root

    def json(self, relative: str):
        return json.loads((self.root / relative).read_text())

    @property
    def index(self) -> list[dict]:
        return self.json("manifests/clip_index.json")

    @property
    def day(self) -> dict:
        return self.json("metadata/day.json")

    def clips(self) -> list[Path]:
        return sorted((self.root / "clips").rglob("clip_*.mp4"))

    def timelapse(self, camera: str = CAMERA, date: str = DATE) -> Path:
        return self.root / "timelapse" / f"{camera}_{date}_timelapse.mp4"


@pytest.fixture
def out(tmp_path) -> Day:
    return Day(tmp_path / "out")


@pytest.fixture
def tlbuild(nvr, out):
    """Run the real CLI in-process in direct mode against the simulated NVR."""

    def run(*args: str, command: str = "run", date: str = DATE, camera: str = CAMERA,
            target_nvr: SimulatedNvr | None = None) -> int:
        base = ["--host", (target_nvr or nvr).url, "--username", USER, "--camera", camera,
                "--out", str(out.root), command, "--date", date]
        if command in ("run", "render"):
            base += ["--fps", "5", "--preset", "ultrafast", "--target", "10"]
        return main(base + list(args))

    return run


def run_cli_subprocess(args: list[str], **kwargs) -> subprocess.Popen:
    """Start `python -m tlbuild.cli` as a real process (for signal tests)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tlbuild.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


@pytest.fixture(scope="session")
def moto_url():
    """moto's real S3 server on 127.0.0.1 (boto3 talks HTTP to it)."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def frame_times(video: Path) -> list[dt.datetime]:
    """The time each frame of `video` carries in its strip."""
    info = probe(video)
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    size = info.width * info.height
    return [read_strip(raw[start:start + size], info.width, info.height)
            for start in range(0, len(raw), size)]
