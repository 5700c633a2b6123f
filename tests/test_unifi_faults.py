"""Every fault the NVR can throw, through real HTTP to the simulated console."""

from __future__ import annotations

import pytest
from conftest import CAMERA, PASSWORD, USER

from tlbuild.probe import probe
from tlbuild.sim.unifi import Camera


@pytest.mark.parametrize("kind,options", [
    ("status", {"status": 429, "retry_after": "0"}),
    ("status", {"status": 503, "retry_after": "0"}),
    ("status", {"status": 500}),
    ("html", {}),
    ("truncate", {}),
    ("cut", {}),
])
def test_export_faults_are_retried(nvr, tlbuild, out, kind, options):
    nvr.fault("export", kind, times=1, **options)
    assert tlbuild("--workers", "1") == 0
    assert all(e["status"] == "complete" for e in out.index)
    for clip in out.clips():
        probe(clip)  # every clip under its final name is whole, valid video
    assert not list(out.root.rglob("*.partial"))
    assert nvr.count("export") == len(out.index) + 1


def test_export_failing_every_attempt_marks_the_clip_failed(nvr, tlbuild, out):
    nvr.fault("export", "status", times=3, status=502, retry_after="0")
    assert tlbuild("--workers", "1", "--retries", "3") == 1  # built, one clip failed
    failed = [e for e in out.index if e["status"] == "failed"]
    assert len(failed) == 1 and "502" in failed[0]["error"]
    assert out.timelapse().exists()
    assert tlbuild() == 0  # the rerun retries only the failed clip
    assert all(e["status"] == "complete" for e in out.index)


def test_404_fails_one_clip_and_the_run_goes_on(nvr, tlbuild, out):
    nvr.fault("export", "status", times=1, status=404)
    assert tlbuild("--workers", "1") == 1
    statuses = sorted(e["status"] for e in out.index)
    assert statuses.count("failed") == 1 and statuses.count("complete") == len(out.index) - 1
    assert nvr.count("export", 404) == 1  # a 404 is not retried
    assert out.day["failed_clips"] == 1 and out.json("metadata/verify.json")["ok"]


def test_slow_answers_still_complete(nvr, tlbuild, out):
    nvr.fault("export", "slow", times=2, delay=1.0)
    assert tlbuild() == 0
    assert len(out.clips()) == len(out.index)


def test_dropped_session_logs_in_again_once(nvr, tlbuild, out):
    nvr.fault("export", "drop_session", times=1)
    assert tlbuild("--workers", "1") == 0
    assert nvr.count("login") == 2
    assert all(e["status"] == "complete" for e in out.index)


def test_bootstrap_5xx_then_success(nvr, tlbuild, out):
    nvr.fault("bootstrap", "status", times=1, status=500, retry_after="0")
    assert tlbuild(command="scan") == 0


def test_nvr_unreachable_exits_5(tlbuild, out, capsys):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from tlbuild.cli import main
    code = main(["--host", f"http://127.0.0.1:{port}", "--username", USER, "--camera",
                 CAMERA, "--out", str(out.root), "scan", "--date", "2024-01-15"])
    assert code == 5
    assert "connection failed" in capsys.readouterr().err


def test_wrong_password_exits_3(nvr, tlbuild, monkeypatch, capsys):
    monkeypatch.setenv("UPVS_PASSWORD", "wrong")
    assert tlbuild() == 3
    assert "authentication failed" in capsys.readouterr().err
    assert nvr.count("login") == 1  # never retried in a loop


def test_login_rate_limit_exits_3_without_retry(nvr, tlbuild, capsys):
    nvr.fault("login", "status", times=5, status=429)
    assert tlbuild() == 3
    assert "login limit was reached" in capsys.readouterr().err
    assert nvr.count("login") == 1


def test_unknown_camera_lists_the_cameras(nvr, tlbuild, capsys):
    assert tlbuild(camera="Front Door") == 4
    err = capsys.readouterr().err
    assert "not found" in err and "Demo Driveway" in err and "Back Yard" in err
    assert nvr.count("export") == 0


def test_ambiguous_camera_name(make_nvr, tlbuild, capsys):
    twins = make_nvr(cameras=[Camera("aaaaaaaaaaaaaaaaaaaaaaaa", "Gate"),
                              Camera("bbbbbbbbbbbbbbbbbbbbbbbb", "gate")])
    assert tlbuild(camera="GATE", target_nvr=twins) == 4
    err = capsys.readouterr().err
    assert "ambiguous" in err and "aaaaaaaaaaaaaaaaaaaaaaaa" in err
    assert tlbuild(command="scan", camera="bbbbbbbbbbbbbbbbbbbbbbbb", target_nvr=twins) == 0


@pytest.mark.parametrize("date", ["2024-02-30", "2024-1-5", "tomorrow"])
def test_impossible_date_is_a_usage_error_before_any_request(nvr, tlbuild, date, capsys):
    assert tlbuild(date=date) == 2
    assert "invalid date" in capsys.readouterr().err
    assert nvr.state.log == []


def test_tls_certificate_rejected_unless_insecure(make_nvr, tlbuild, out, capsys):
    secure = make_nvr(tls=True)
    assert tlbuild(command="scan", target_nvr=secure) == 5
    assert "TLS certificate" in capsys.readouterr().err
    assert tlbuild("--tls-insecure", command="scan", target_nvr=secure) == 0
    assert "TLS verification is OFF" in capsys.readouterr().err


def test_password_never_written_or_printed(nvr, tlbuild, out, capfd, monkeypatch):
    nvr.fault("export", "drop_session", times=1)
    nvr.fault("export", "status", times=1, status=500)
    assert tlbuild("--verbose") == 0
    monkeypatch.setenv("UPVS_PASSWORD", "wrong")
    assert tlbuild() == 3
    captured = capfd.readouterr()
    assert PASSWORD not in captured.out + captured.err
    files = [p for p in out.root.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite3") for p in files)
    for path in files:
        assert PASSWORD.encode() not in path.read_bytes(), path


def test_403_during_fetch_stops_the_run_with_exit_3(nvr, tlbuild, out, capsys):
    nvr.fault("export", "status", times=1, status=403)
    assert tlbuild("--workers", "1") == 3
    assert "denied access" in capsys.readouterr().err
    assert not out.timelapse().exists()
    assert tlbuild() == 0  # the rerun continues


def test_full_disk_fails_cleanly_and_the_rerun_continues(nvr, out):
    import resource
    import signal

    from conftest import run_cli_subprocess

    def small_disk():  # writes past 40 kB fail with EFBIG, like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    args = ["--host", nvr.url, "--username", USER, "--camera", CAMERA, "--out",
            str(out.root), "run", "--date", "2024-01-15", "--workers", "1", "--fps", "5",
            "--preset", "ultrafast", "--target", "10"]
    process = run_cli_subprocess(args, preexec_fn=small_disk)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 5, err
    assert "cannot write" in err and "Traceback" not in err
    assert not list(out.root.rglob("*.partial"))
    for clip in out.clips():
        probe(clip)
    again = run_cli_subprocess(args)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert len(out.clips()) == len(out.index)
