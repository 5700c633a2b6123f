"""A camera system from another package, registered through the `tlbuild.sources`
entry points, builds a day with no file of tlbuild changed: a real distribution's
metadata on the path of a real `tlbuild` process."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from conftest import DATE

from tlbuild.ffmpeg import ffmpeg_exe
from tlbuild.probe import probe

PLUGINS = Path(__file__).parent / "plugins"


def installed_plugin(site: Path) -> None:
    """What `pip install` leaves for a package that registers a camera system."""
    info = site / "tiny_folder-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-folder\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[tlbuild.sources]\ntiny-folder = tiny_folder:SOURCE\n")


def test_a_camera_system_from_another_package(tmp_path):
    site = tmp_path / "site"
    installed_plugin(site)
    folder = tmp_path / "images"
    folder.mkdir()
    first = dt.datetime.fromisoformat(f"{DATE}T10:00:00+00:00")
    for n in range(6):
        moment = int((first + dt.timedelta(minutes=n)).timestamp())
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size=160x90:rate=1:duration={n + 1}", "-frames:v", "1",
                        "-update", "1", str(folder / f"{moment}.jpg")], check=True)
    (folder / "notes.txt").write_text("not an image")
    config = tmp_path / "tlbuild.toml"
    config.write_text(f'out = "{tmp_path / "out"}"\n[cameras.shed]\n'
                      f'source = "tiny-folder"\npath = "{folder}"\nfps = 6\n'
                      'preset = "ultrafast"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "tlbuild.cli", "--config", str(config),
                          "--camera", "shed", "run", "--date", DATE], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    video = tmp_path / "out" / "shed" / DATE / "timelapse" / f"shed_{DATE}_timelapse.mp4"
    assert probe(video).frames == 6
    status = subprocess.run([sys.executable, "-m", "tlbuild.cli", "status", "--config",
                             str(config)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert status.returncode == 0 and "built" in status.stdout
    # without the package, the config's system is unknown, and said so
    plain = subprocess.run([sys.executable, "-m", "tlbuild.cli", "--config", str(config),
                            "--camera", "shed", "run", "--date", DATE],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "unknown source 'tiny-folder'" in plain.stderr
