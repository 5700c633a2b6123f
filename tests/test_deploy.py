"""The files under deploy/ and the Dockerfile, checked as their tools would: systemd's
own verifier, a YAML parser, and every tlbuild command they hold run through the
installed `tlbuild` script (dry runs, against a stand-in config)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from tlbuild.cli import build_parser
from tlbuild.sources import read_config

DEPLOY = REPO / "deploy"
VENV_TLBUILD = "/opt/tlbuild/.venv/bin/tlbuild"
REAL_CONFIG = "/etc/tlbuild/tlbuild.toml"
INSTALLED = Path(sys.executable).parent / "tlbuild"  # the script pip installed


def tlbuild_commands(text: str) -> list[list[str]]:
    """The argv after `tlbuild` of every command line in a shell-like text."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#") or "tlbuild " not in line:
            continue
        words = shlex.split(line)
        for index, word in enumerate(words):
            if word == "tlbuild" or word.endswith("bin/tlbuild"):
                rest = words[index + 1:]
                ends = [rest.index(stop) for stop in (">>", "&&", "|") if stop in rest]
                commands.append(rest[:min(ends)] if ends else rest)
                break
    return commands


def stand_in_config(tmp_path: Path, text: str | None = None) -> Path:
    """A config with the cameras the examples name, writing under tmp_path."""
    path = tmp_path / "tlbuild.toml"
    path.write_text(text or (
        f'out = "{tmp_path / "out"}"\n'
        '[cameras.driveway]\nsource = "unifi"\nhost = "https://192.168.1.1"\n'
        'username = "protect-api"\npassword_env = "UPVS_PASSWORD"\ncamera = "Driveway"\n'),
        encoding="utf-8")
    return path


def dry_run(argv: list[str], config: Path, env: dict[str, str] | None = None) -> str:
    """Run a batch or prune command as written, with the stand-in config and
    --dry-run, through the installed script; its printed shards or days."""
    argv = [str(config) if word in (REAL_CONFIG, "/config/tlbuild.toml") else word
            for word in argv]
    result = subprocess.run([str(INSTALLED), *argv, "--dry-run"], capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin", **(env or {})},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_installed_script_runs():
    assert INSTALLED.exists(), "pip install -e . puts tlbuild next to the interpreter"
    result = subprocess.run([str(INSTALLED), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("tlbuild ")


def test_systemd_units_have_no_inline_comments_and_call_the_venv():
    for unit in ("tlbuild.service", "tlbuild.timer", "tlbuild-capture.service"):
        for line in (DEPLOY / unit).read_text().splitlines():
            if "=" in line and not line.startswith(("#", ";")):
                # systemd has no inline comments: "# ..." would join the value
                assert not re.search(r"\s[#;]", line), f"{unit}: {line}"
    service = (DEPLOY / "tlbuild.service").read_text()
    assert f"ExecStart={VENV_TLBUILD} " in service
    assert "Unit=" not in (DEPLOY / "tlbuild.timer").read_text()  # the same name pairs
    capture = (DEPLOY / "tlbuild-capture.service").read_text()
    assert f"ExecStart={VENV_TLBUILD} " in capture and " capture" in capture
    assert "Restart=on-failure" in capture and "EnvironmentFile=-" in capture


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="systemd-analyze (Debian's systemd package) verifies units")
def test_systemd_analyze_verifies_the_units(tmp_path):
    units = []
    for unit in ("tlbuild.service", "tlbuild.timer", "tlbuild-capture.service"):
        # the venv's script is this interpreter's: systemd checks that it exists
        text = (DEPLOY / unit).read_text().replace(VENV_TLBUILD, str(INSTALLED))
        (tmp_path / unit).write_text(text)
        units.append(str(tmp_path / unit))
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert "tlbuild" not in result.stderr, result.stderr  # no warning about our units


def test_systemd_and_cron_commands_parse_and_dry_run(tmp_path):
    config = stand_in_config(tmp_path)
    service = tlbuild_commands((DEPLOY / "tlbuild.service").read_text())
    cron_text = (DEPLOY / "tlbuild.cron").read_text()
    cron = tlbuild_commands(cron_text)
    assert len(service) == 1 and len(cron) == 3
    assert ">" not in cron_text and "MAILTO=" in cron_text  # failures reach the mail
    for line in cron_text.splitlines():
        if line and not line.startswith("#") and not re.match(r"[A-Z]+=", line):
            fields = line.split(None, 5)
            assert len(fields) == 6 and "/tlbuild " in fields[5]
            assert f"{fields[5].split('&&')[1].split()[0]}".endswith(".venv/bin/tlbuild")
    parser = build_parser()
    for argv in service + cron:
        parser.parse_args(argv)  # every flag exists
    yesterday = dry_run(service[0], config)
    assert re.fullmatch(r"driveway \d{4}-\d{2}-\d{2}\n", yesterday)
    for argv in cron:
        if argv[argv.index("--config") + 2] in ("batch", "prune"):
            dry_run(argv, config)


def test_install_script_sets_up_a_temporary_root_and_keeps_what_the_operator_edited(
        tmp_path):
    root = tmp_path / "root"
    env = {"PATH": "/usr/bin:/bin", "ROOT": str(root), "SKIP_VENV": "1"}
    first = subprocess.run(["sh", str(DEPLOY / "install.sh")], env=env, text=True,
                           capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    config = root / "etc/tlbuild/tlbuild.toml"
    assert read_config(config).out == Path("/srv/timelapse")  # a config that parses
    secrets = root / "etc/tlbuild/env"
    assert secrets.stat().st_mode & 0o777 == 0o640  # the service's group only
    for folder in ("srv/timelapse", "var/log/tlbuild"):  # the group writes there too
        assert (root / folder).stat().st_mode & 0o7777 == 0o2775, folder
    assert (root / "opt/tlbuild/tlbuild").is_dir()
    assert (root / "opt/tlbuild/pyproject.toml").is_file()
    assert not list((root / "opt/tlbuild").rglob("__pycache__"))
    for unit in ("tlbuild.service", "tlbuild.timer", "tlbuild-capture.service"):
        assert (root / "etc/systemd/system" / unit).read_text() == \
            (DEPLOY / unit).read_text()
    assert "EnvironmentFile=-/etc/tlbuild/env" in (DEPLOY / "tlbuild.service").read_text()
    config.write_text(config.read_text().replace("/srv/timelapse", "/srv/videos"))
    secrets.write_text("UPVS_PASSWORD=kept\n")
    again = subprocess.run(["sh", str(DEPLOY / "install.sh")], env=env, text=True,
                           capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "/srv/videos" in config.read_text() and secrets.read_text() == \
        "UPVS_PASSWORD=kept\n"  # the operator's files stay
    assert (root / "srv/videos").is_dir()  # the edited out is made
    assert "wrote" not in again.stdout
    assert [p for p in tmp_path.iterdir()] == [root]  # nothing written outside ROOT


def test_slurm_array_builds_each_shard_once(tmp_path):
    text = (DEPLOY / "tlbuild.slurm").read_text()
    subprocess.run(["bash", "-n", str(DEPLOY / "tlbuild.slurm")], check=True)
    low, high = map(int, re.search(r"#SBATCH --array=(\d+)-(\d+)", text).groups())
    (argv,) = tlbuild_commands(text)
    assert int(argv[argv.index("--shards") + 1]) == high - low + 1
    config = stand_in_config(tmp_path)
    parts = [dry_run(argv, config, {"SLURM_ARRAY_TASK_ID": str(task),
                                    "SLURM_ARRAY_TASK_MIN": str(low)}).split("\n")
             for task in range(low, high + 1)]
    shards = [line for part in parts for line in part if line]
    assert len(shards) == len(set(shards)) == 31  # January, one camera


def dockerfile_tag() -> str:
    return re.search(r"docker build -t (\S+) \.", (REPO / "Dockerfile").read_text()).group(1)


def test_kubernetes_job_uses_the_dockerfile_image_and_a_valid_config(tmp_path):
    claim, config_map, job = yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())
    assert config_map["kind"] == "ConfigMap" and job["kind"] == "Job"
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert claim["kind"] == "PersistentVolumeClaim"  # the claim the Job mounts is defined
    assert volumes["out"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # pods on several nodes
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] == dockerfile_tag()
    argv = container["command"]
    assert argv[0] == "tlbuild" and int(argv[argv.index("--shards") + 1]) == \
        spec["completions"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert argv[argv.index("--config") + 1] == f"{mounts['config']}/tlbuild.toml"
    toml = config_map["data"]["tlbuild.toml"]
    assert tomllib.loads(toml)["out"] == mounts["out"]
    config = stand_in_config(tmp_path, toml.replace(mounts["out"], str(tmp_path / "out")))
    assert set(read_config(config).cameras) == {"driveway"}
    shards = [dry_run(argv[1:], config, {"JOB_COMPLETION_INDEX": str(index)})
              for index in range(spec["completions"])]
    assert sum(len(part.split()) // 2 for part in shards) == 31
    runs_as = spec["template"]["spec"]["securityContext"]["runAsUser"]
    assert f"--uid {runs_as} " in (REPO / "Dockerfile").read_text()


def test_dockerfile_installs_ffmpeg_and_runs_the_demo():
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^FROM python:(\d+)\.(\d+)-slim", text, re.M)
    required = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "requires-python"]
    assert base and tuple(map(int, base.groups())) >= tuple(
        map(int, required.lstrip(">=").split(".")))
    assert re.search(r"apt-get install .*\bffmpeg\b", text)
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for name in source.split():
            assert (REPO / name).exists(), name
    command = yaml.safe_load(re.search(r"^CMD (.+)$", text, re.M).group(1))
    assert command[0] == "tlbuild"
    build_parser().parse_args(command[1:])
    camera = command[command.index("--camera") + 1]
    assert camera in read_config(REPO / "config/tlbuild.toml").cameras
    assert "out" in (REPO / ".dockerignore").read_text().split()


def docker_daemon() -> bool:
    return bool(shutil.which("docker")) and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not docker_daemon(), reason="building the image needs a Docker daemon")
def test_the_image_builds_and_renders_the_demo(tmp_path):
    tag = "tlbuild-test:latest"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(REPO)], check=True,
                   timeout=1200)
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    subprocess.run(["docker", "run", "--rm", "-v", f"{out}:/opt/tlbuild/out", tag],
                   check=True, timeout=600)
    assert (out / "demo/2024-01-15/timelapse/demo_2024-01-15_timelapse.mp4").exists()
