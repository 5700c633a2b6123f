"""`tlbuild doctor` and `tlbuild cameras`: is everything in place to build, and what
do the configured cameras resolve to? One line per check, `ok` or `FAIL` with the
problem and what to do. Every camera's device is asked once (one login per console);
secrets are loaded to be tried, never printed."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import demo
from .batch import parse_cameras
from .config import Config
from .errors import ExtraMissing, TlbuildError
from .ffmpeg import check_ffmpeg, ffmpeg_exe, require_filter
from .publish import indi_allsky, s3
from .sources import SOURCES, read_config
from .terminal import plural

SINK_CHECKS = {"indi-allsky": indi_allsky.check, "s3": s3.check}
MIN_FREE = 1 << 30  # below this much free disk under `out`, doctor fails


class Checks:
    def __init__(self, quiet: bool = False):
        self.failed, self.quiet = 0, quiet

    def run(self, what: str, check: Callable[[], str]) -> bool:
        """One check: its line, and whether it passed (an error is its message; a
        demo that needs an optional extra is skipped, not a problem of the setup)."""
        try:
            detail = check()
        except ExtraMissing as error:
            if not self.quiet:
                print(f"skip  {what}: {error}", flush=True)
            return True
        except TlbuildError as error:
            self.failed += 1
            print(f"FAIL  {what}: {error}", flush=True)
            return False
        except OSError as error:
            self.failed += 1
            where = f" ({error.filename})" if error.filename else ""
            print(f"FAIL  {what}: {error.strerror or error}{where}", flush=True)
            return False
        if not self.quiet:
            print(f"ok    {what}: {detail}", flush=True)
        return True


def camera_line(config: Config, name: str, shared: dict[str, Any]) -> str:
    """What a config camera resolves to, from its device (a secret is loaded, not
    shown)."""
    settings = config.cameras[name]
    password = None
    source = settings.password
    if source is not None:
        password = source.load(f"camera {name!r}: password from {source.describe()}")
    settings = demo.resolve(settings, password, dt.date.today())
    return SOURCES[settings.source].check(settings, password, shared)


def free_space(out: Path) -> str:
    """`out` exists (made if missing, as a build would), takes a file (written and
    removed) and has room."""
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out, prefix=".tlbuild-doctor-") as probe:
        probe.write(b"probe")
        probe.flush()
    free = shutil.disk_usage(out).free
    if free < MIN_FREE:
        raise OSError(f"only {free / 1e6:.0f} MB free under {out}: builds need room "
                      "(tlbuild prune frees old inputs)")
    return f"{out}: writable{' (made now)' if made else ''}, {free / 1e9:.1f} GB free"


def doctor(config_path: Path | None, out: Path | None, quiet: bool = False,
           names: list[str] | None = None) -> int:
    """Every check, for the cameras `names` (default: all) and the sinks they use."""
    checks = Checks(quiet)
    config: Config | None = None

    def check_config() -> str:
        nonlocal config
        config = read_config(config_path)
        return (f"{config.path}: {plural(len(config.cameras), 'camera')}, "
                f"{plural(len(config.sinks), 'sink')}")

    if not checks.run("config", check_config) or config is None:
        return 1
    checks.run("ffmpeg", lambda: f"{ffmpeg_exe()} ({check_ffmpeg()}, libx264)")
    wanted = sorted(parse_cameras(names or ["all"], config))
    cameras = [config.cameras[name] for name in wanted]
    if any(getattr(camera, "overlay_time", False) for camera in cameras):
        checks.run("ffmpeg drawtext (overlay_time)",
                   lambda: require_filter("drawtext", "overlay_time") or "available")
    checks.run("disk", lambda: free_space(out or config.out))
    shared: dict[str, Any] = {}
    for name in wanted:
        checks.run(f"camera {name}", lambda name=name: camera_line(config, name, shared))
    used = {sink for camera in cameras for sink in camera.publish} if names else \
        set(config.sinks)
    for name in sorted(used):
        checks.run(f"sink {name}", lambda sink=config.sinks[name]: sink_line(sink))
    if not quiet:
        print(plural(checks.failed, "problem") if checks.failed else "all checks passed")
    return 1 if checks.failed else 0


def sink_line(sink: Any) -> str:
    """A sink's credentials work, proved without publishing (see each sink's check;
    the demo's sink is its simulator, started here)."""
    return SINK_CHECKS[sink.kind](demo.resolve_sink(sink))


def cameras(config_path: Path | None, names: list[str] | None) -> int:
    """The config's cameras, each with what its device says it is."""
    config = read_config(config_path)
    checks, shared = Checks(), {}
    for name in parse_cameras(names or ["all"], config):
        source = config.cameras[name].source
        checks.run(f"{name} ({source})", lambda name=name: camera_line(config, name,
                                                                        shared))
    return 1 if checks.failed else 0
