"""Odd and hostile input gets one line with what to do and the right exit code, never
a traceback: a program that is not ffmpeg, a read-only or full output folder, absurd
numbers, stray folders, a console with an unknown time zone, Ctrl-C and SIGTERM in the
middle of a run. Real processes, real files, the simulators over real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATE, PASSWORD, REPO, USER, Day, run_cli_subprocess, unifi_camera

from tlbuild.cli import main
from tlbuild.ffmpeg import forget_ffmpeg


def no_traceback(text: str) -> bool:
    return "Traceback" not in text and "Error:" not in text.replace("error:", "")


@pytest.fixture
def small_fs(tmp_path):
    """A tmpfs of `size` (read-only with ro=True) mounted in tmp_path: a full or
    read-only disk for real. Needs root and mount (the CI machine has both)."""
    mounted = []

    def make(size: str = "4m", ro: bool = False, fill_from: Path | None = None) -> Path:
        target = tmp_path / f"fs{len(mounted)}"
        target.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(target)], capture_output=True).returncode:
            pytest.skip("mounting a tmpfs needs root and mount (CI has both)")
        mounted.append(target)
        if fill_from is not None:
            shutil.copytree(fill_from, target / "out")
        if ro:
            subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
        return target

    yield make
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def config_cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_a_program_that_is_not_ffmpeg(nvr, write_config, monkeypatch, capfd):
    config = write_config({"yard": unifi_camera(nvr)})
    monkeypatch.setenv("TLBUILD_FFMPEG", "/bin/true")
    forget_ffmpeg()
    try:
        assert config_cli(config, "--camera", "yard", "run", "--date", DATE) == 2
    finally:
        monkeypatch.delenv("TLBUILD_FFMPEG")
        forget_ffmpeg()
    err = capfd.readouterr().err
    assert "does not answer as ffmpeg does" in err and "TLBUILD_FFMPEG" in err
    assert no_traceback(err) and nvr.count("login") == 0  # refused before any request


def test_absurd_numbers_and_stray_folders(nvr, write_config, tmp_path, capfd):
    config = write_config({"yard": unifi_camera(nvr)})
    assert config_cli(config, "prune", "--keep-days", "1000000") == 2
    assert "--keep-days must be" in capfd.readouterr().err
    assert config_cli(config, "batch", "--from", DATE, "-j", "100000") == 2
    assert "at most 64 shards at once" in capfd.readouterr().err
    assert config_cli(config, "--camera", "yard", "run", "--date", DATE) == 0
    (tmp_path / "out" / "yard" / "2024-99-99").mkdir()  # not a day: left alone
    (tmp_path / "out" / "yard" / "notes").mkdir()
    capfd.readouterr()
    assert config_cli(config, "report") == 0
    assert config_cli(config, "status") == 0
    assert config_cli(config, "batch", "--from", DATE) == 0
    out = capfd.readouterr()
    assert no_traceback(out.out + out.err) and "1 ok, 0 failed" in out.out + out.err


def test_a_console_time_zone_this_machine_does_not_know(make_nvr, write_config, capfd):
    sim = make_nvr(reported_timezone="Mars/Olympus_Mons")
    config = write_config({"yard": unifi_camera(sim)})
    assert config_cli(config, "--camera", "yard", "run", "--date", DATE) == 5
    err = capfd.readouterr().err
    assert "time zone 'Mars/Olympus_Mons' is unknown on this machine" in err
    assert "timezone = " in err and no_traceback(err)
    config = write_config({"yard": unifi_camera(sim, timezone="America/New_York")})
    assert config_cli(config, "--camera", "yard", "run", "--date", DATE) == 0


def test_render_offline_needs_no_password(nvr, write_config, monkeypatch, capfd):
    config = write_config({"yard": unifi_camera(nvr)})
    assert config_cli(config, "--camera", "yard", "run", "--date", DATE) == 0
    monkeypatch.delenv("UPVS_PASSWORD")
    requests = len(nvr.state.log)
    assert config_cli(config, "--camera", "yard", "render", "--date", DATE, "--crf",
                      "30") == 0
    assert len(nvr.state.log) == requests and "UPVS_PASSWORD" not in capfd.readouterr().err


def test_a_read_only_and_a_full_output_folder(nvr, write_config, tmp_path, small_fs, capfd):
    config = write_config({"yard": unifi_camera(nvr)})
    assert config_cli(config, "--camera", "yard", "run", "--date", DATE) == 0
    frozen = small_fs("64m", ro=True, fill_from=tmp_path / "out")
    capfd.readouterr()
    assert config_cli(config, "--out", str(frozen / "out"), "rollup", "--camera", "yard",
                      "--week", "2024-W03") == 5
    err = capfd.readouterr().err
    assert "read-only" in err.lower() and no_traceback(err)
    full = small_fs("300k")
    assert config_cli(config, "--out", str(full / "out"), "--camera", "yard", "run",
                      "--date", DATE) == 5
    err = capfd.readouterr().err
    assert "no space left on device" in err.lower() and str(full / "out") in err
    assert no_traceback(err)


def test_batch_leaves_nothing_in_the_temp_folder(nvr, write_config, tmp_path):
    config = write_config({"yard": unifi_camera(nvr)})
    temp = tmp_path / "tmp"
    temp.mkdir()
    batch = subprocess.run([sys.executable, "-m", "tlbuild.cli", "batch", "--config",
                            str(config), "--from", DATE],
                           env={**os.environ, "TMPDIR": str(temp)}, capture_output=True,
                           text=True, timeout=300)
    assert batch.returncode == 0, batch.stderr
    assert not list(temp.glob("tlbuild-batch-*"))


def stop_when(path_glob: tuple[Path, str], process: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the process group once a file matching the glob appears."""
    folder, pattern = path_glob
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if folder.exists() and list(folder.rglob(pattern)):
            os.killpg(process.pid, sig)
            return
        time.sleep(0.01)
    pytest.fail("the moment to stop never came")


def test_sigterm_mid_render_does_not_claim_a_video(nvr, tmp_path):
    process = run_cli_subprocess(
        ["--host", nvr.url, "--username", USER, "--camera", "Demo Driveway", "--out",
         str(tmp_path / "out"), "run", "--date", DATE, "--fps", "30", "--target", "60",
         "--preset", "veryslow"], start_new_session=True)
    # the video's own partial (not its chapters'): the render is under way
    stop_when((tmp_path / "out" / "timelapse", "*.mp4.[0-9]*.partial"), process,
              signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "video:" not in out + err and "day page:" not in out + err
    assert not Day(tmp_path / "out").timelapse().exists()
    assert no_traceback(err)


def test_ctrl_c_during_the_stills_demo(tmp_path):
    """Ctrl-C reaches the whole process group, the simulator's own ffmpeg included."""
    config = tmp_path / "demo.toml"
    config.write_text(
        f'out = "{tmp_path / "out"}"\n[cameras.stills]\nsource = "unifi-snapshots"\n'
        'host = "simulator"\nusername = "demo"\n'
        f'password_file = "{REPO / "config" / "demo-password.txt"}"\n'
        'camera = "Demo Driveway"\ninterval = 60\nwidth = 160\nheight = 90\n'
        'preset = "ultrafast"\n')
    env = {**os.environ, "TLBUILD_SIM_CACHE": str(tmp_path / "sim-cache"),
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tlbuild.cli", "--config",
                                str(config), "--camera", "stills", "run", "--date", DATE],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    stop_when((tmp_path / "sim-cache", ".stills-*"), process, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert no_traceback(out + err) and len(err.splitlines()) < 10, err
    assert PASSWORD not in out + err
