"""Running tlbuild every day: status, prune, doctor, cameras and the usage errors an
operator meets, through the real CLI against the simulated console."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from conftest import CAMERA, DATE, PASSWORD, REPO, USER, Day, unifi_camera

from tlbuild.cli import main


def status(config, *args: str) -> int:
    return main(["status", "--config", str(config), *args])


def test_status_reports_the_latest_state_with_exit_codes_and_json(make_nvr, write_config,
                                                                  tmp_path, capsys):
    sim = make_nvr(events_per_day=4)
    config = write_config({"yard": unifi_camera(sim)})
    run = ["--config", str(config), "--camera", "yard", "run", "--date", DATE]
    assert main(run) == 0
    capsys.readouterr()
    assert status(config, "--from", DATE) == 0
    line = capsys.readouterr().out
    assert "built" in line and "yard_2024-01-15_timelapse.mp4" in line and " MB)" in line
    # a later failing run: status shows that run's reason, and exits 1
    sim.fault("bootstrap", "status", times=10, status=500)
    assert main(run + ["--retries", "1"]) == 5
    capsys.readouterr()
    assert status(config, "--from", DATE) == 1
    line = capsys.readouterr().out
    assert "bootstrap" in line  # the latest reason, not an older one
    assert "yard_2024-01-15_timelapse.mp4" in line  # and the video made before
    # an interrupted later run leaves the day built: its video is the one verified
    record = json.loads((config.parent / "out/yard" / DATE / "metadata/run.json").read_text())
    (config.parent / "out/yard" / DATE / "metadata/run.json").write_text(json.dumps(
        {**record, "exit_code": 130, "outcome": "interrupted", "reason": "Ctrl-C"}))
    assert main(["status", "--config", str(config), "--from", DATE, "--json"]) == 0
    [day] = json.loads(capsys.readouterr().out)
    assert day["state"] == "built" and day["video"].endswith("_timelapse.mp4")
    assert "interrupted" in day["detail"]
    sim.state.faults.clear()
    assert main(run) == 0
    capsys.readouterr()
    assert main(["--camera", "yard", "status", "--config", str(config), "--from", DATE,
                 "--to", "2024-01-16", "--json"]) == 1  # the 16th is missing
    days = json.loads(capsys.readouterr().out)
    assert [(d["date"], d["state"]) for d in days] == [(DATE, "built"),
                                                        ("2024-01-16", "missing")]
    assert days[0]["video"].endswith(".mp4") and days[0]["duration_secs"] > 0
    assert days[0]["last_run"]["exit_code"] == 0 and days[0]["size"] > 0
    assert status(config, "--from", DATE, "--to", "2024-01-16", "--quiet") == 1
    assert capsys.readouterr().out.strip().startswith("yard             2024-01-16")


def test_prune_keeps_the_video_and_a_rerun_does_nothing(nvr, write_config, capsys):
    config = write_config({"yard": unifi_camera(nvr)})
    run = ["--config", str(config), "--camera", "yard", "run", "--date", DATE]
    assert main(run) == 0
    day = Day(config.parent / "out" / "yard" / DATE)
    video = day.timelapse("yard")
    before = video.stat().st_mtime_ns
    assert main(["prune", "--config", str(config), "--keep-days", "30", "--dry-run"]) == 0
    assert "would prune 1 camera-day" in capsys.readouterr().out and day.clips()
    assert main(["prune", "--config", str(config), "--keep-days", "30"]) == 0
    assert "pruned 1 camera-day" in capsys.readouterr().out
    assert not day.clips() and not (day.root / "intermediates").exists()
    assert (day.root / "manifests" / "clip_index.json").exists() and video.exists()
    exports = nvr.count("export")
    requests = len(nvr.state.log)
    assert main(run) == 0
    assert len(nvr.state.log) == requests  # not even a scan: nothing to download
    assert video.stat().st_mtime_ns == before  # nothing rendered
    assert status(config, "--from", DATE) == 0
    assert "(inputs pruned)" in capsys.readouterr().out
    assert main(run + ["--rebuild"]) == 0  # on purpose: everything again
    assert nvr.count("export") > exports and day.clips()


def test_batches_prune_after_days(nvr, write_config, tmp_path, capsys):
    today = dt.date.today()
    old, recent = (today - dt.timedelta(days=40)).isoformat(), today.isoformat()
    config = write_config({"yard": unifi_camera(nvr)}, prune_after_days=30)
    assert main(["batch", "--config", str(config), "--from", old]) == 0
    assert "pruned 1 camera-day" in capsys.readouterr().out
    assert not Day(tmp_path / "out" / "yard" / old).clips()
    assert main(["--config", str(config), "--camera", "yard", "run", "--date",
                 recent]) in (0, 1)
    assert main(["batch", "--config", str(config), "--from", recent]) in (0, 1)
    assert "pruned" not in capsys.readouterr().out  # recent days keep their inputs


def test_doctor_finds_what_is_wrong_and_never_prints_a_secret(nvr, write_config,
                                                              monkeypatch, capfd):
    config = write_config({"yard": unifi_camera(nvr)})
    assert main(["doctor", "--config", str(config)]) == 0
    out = capfd.readouterr().out
    for check in ("ok    config", "ok    ffmpeg", "ok    disk", "ok    camera yard"):
        assert check in out
    assert "Demo Driveway" in out and "all checks passed" in out
    monkeypatch.setenv("UPVS_PASSWORD", "wrong-" + PASSWORD)
    assert main(["doctor", "--config", str(config)]) == 1
    out = capfd.readouterr()
    assert "FAIL  camera yard: authentication failed" in out.out
    assert PASSWORD not in out.out + out.err
    monkeypatch.delenv("UPVS_PASSWORD")
    assert main(["doctor", "--config", str(config)]) == 1
    assert "UPVS_PASSWORD is not set" in capfd.readouterr().out
    assert nvr.count("login") == 2  # one login per console and check run
    monkeypatch.setenv("UPVS_PASSWORD", PASSWORD)
    config = write_config({"yard": unifi_camera(nvr), "gate": unifi_camera(nvr, "Gate")})
    assert main(["doctor", "--config", str(config)]) == 1  # Gate is not on the console
    assert "FAIL  camera gate" in capfd.readouterr().out
    assert main(["doctor", "--config", str(config), "--camera", "yard"]) == 0
    out = capfd.readouterr().out
    assert "ok    camera yard" in out and "gate" not in out


def test_cameras_of_a_console_and_of_the_config(nvr, write_config, capsys):
    assert main(["--host", nvr.url, "--username", USER, "cameras"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "'Demo Driveway'" in lines[0] and "1920x1080" in lines[0]
    assert "footage from" in lines[0]
    config = write_config({"yard": unifi_camera(nvr), "gate": unifi_camera(nvr, "Gate")})
    assert main(["cameras", "--config", str(config)]) == 1  # Gate is not on the console
    out = capsys.readouterr().out
    assert "ok    yard (unifi): 'Demo Driveway'" in out and "FAIL  gate (unifi)" in out
    assert nvr.count("login") == 2  # one per command: both cameras share the console
    # --host picks the system with --source (unifi by default); one without a direct
    # mode says which have one
    assert main(["--host", nvr.url, "--username", USER, "--source", "unifi",
                 "cameras"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["--host", nvr.url, "--source", "s3-frames", "cameras"]) == 2
    err = capsys.readouterr().err
    assert "--host works with" in err and "unifi" in err.split("--host works with")[1]


def test_usage_errors_operators_meet(nvr, write_config, capfd):
    config = write_config({"yard": unifi_camera(nvr)})
    assert main(["batch", "--config", str(config), "--from", DATE, "--shards", "8"]) == 2
    assert "not which one" in capfd.readouterr().err
    assert main(["--config", str(config), "--camera", "yard", "publish", "--date",
                 DATE]) == 2
    assert "publishes nowhere" in capfd.readouterr().err
    info = subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"),
                           "info", "render", f"config={config}"], capture_output=True,
                          text=True, timeout=60)
    assert info.returncode == 2 and "Traceback" not in info.stderr
    assert "doit info [TASK] camera=NAME date=YYYY-MM-DD" in info.stderr


def test_a_day_where_nothing_was_built_is_reported(nvr, write_config, capsys):
    config = write_config({"yard": unifi_camera(nvr, camera=CAMERA)})
    assert status(config, "--from", DATE) == 1
    assert "missing" in capsys.readouterr().out
