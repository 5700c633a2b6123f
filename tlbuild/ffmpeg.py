"""Finding, checking and running ffmpeg; every command it runs is a template.

Only ffmpeg is required: pip's `imageio-ffmpeg` ships one when none is on PATH, and
probing goes through ffmpeg itself (that package has no ffprobe). Supported: ffmpeg
5.1 or newer with libx264 (5.1 brought `-fps_mode`, which every render uses so that
no build's own frame-rate conversion decides the frame count). Each command is a
Jinja template in `templates/` rendered to an argv list (one argument per line),
never a shell string.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from .errors import MediaError, StorageError, UsageError
from .files import atomic_open, commit_partial, partial_path
from .runtime import release, spawn
from .stop import stop_requested
from .terminal import Meter

log = logging.getLogger("tlbuild.ffmpeg")


@functools.cache
def ffmpeg_exe() -> str:
    """$TLBUILD_FFMPEG, else ffmpeg on PATH, else the one shipped by imageio-ffmpeg."""
    chosen = os.environ.get("TLBUILD_FFMPEG") or shutil.which("ffmpeg")
    if chosen:
        return chosen
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise MediaError("ffmpeg not found: install it, or `pip install imageio-ffmpeg`, "
                         "or set TLBUILD_FFMPEG") from None


def forget_ffmpeg() -> None:
    """Find ffmpeg afresh (after TLBUILD_FFMPEG or PATH changed)."""
    for cached in (ffmpeg_exe, ffmpeg_facts, check_ffmpeg):
        cached.cache_clear()


MIN_VERSION = (5, 1)
_RELEASE = re.compile(r"ffmpeg version n?(\d+)\.(\d+)")


class UnsupportedFfmpeg(UsageError):
    """The ffmpeg found cannot make tlbuild's videos (found before any request)."""


def _run_ffmpeg_info(what: str) -> str:
    try:
        result = subprocess.run(render_argv("ffmpeg_info.j2", what=what),
                                capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UnsupportedFfmpeg(f"cannot run ffmpeg ({ffmpeg_exe()}): {exc}; choose "
                                "another with TLBUILD_FFMPEG=/path/to/ffmpeg") from None
    return result.stdout


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "tlbuild" / "ffmpeg.json"


@functools.cache
def ffmpeg_facts() -> dict[str, Any]:
    """What tlbuild needs to know of the ffmpeg in use: its version line, whether it
    has libx264, its filters. Asking ffmpeg costs about 0.1 s, so the answer is kept
    in ~/.cache/tlbuild per binary (path, size, mtime: an upgrade asks again)."""
    exe = ffmpeg_exe()
    try:
        stat = os.stat(exe)
        key = f"{os.path.realpath(exe)}:{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        key = None
    cache = _cache_file()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if key and isinstance(known.get(key), dict):
        return known[key]
    first = (_run_ffmpeg_info("version").splitlines() or [""])[0]
    if not first.startswith("ffmpeg version"):
        raise UnsupportedFfmpeg(f"{exe} does not answer as ffmpeg does (`-version` said "
                                f"{first[:60]!r}): point TLBUILD_FFMPEG at an ffmpeg 5.1 "
                                "or newer with libx264, or unset it")
    facts = {
        "version": first.split(" Copyright")[0].strip(),
        "libx264": bool(re.search(r"^\s*V\S*\s+libx264\s", _run_ffmpeg_info("encoders"),
                                  re.M)),
        "filters": sorted(set(re.findall(r"^\s*[TSC.|]+\s+(\w+)\s",
                                         _run_ffmpeg_info("filters"), re.M))),
    }
    if key:
        try:
            kept = dict(list(known.items())[-7:])  # a few builds, not every one ever
            with atomic_open(cache, "w") as handle:
                json.dump({**kept, key: facts}, handle)
        except OSError:
            pass  # no cache then: ask again next time
    return facts


def ffmpeg_version() -> str:
    """First line of `ffmpeg -version`: part of every render's up-to-date check."""
    return ffmpeg_facts()["version"]


def ffmpeg_filters() -> frozenset[str]:
    return frozenset(ffmpeg_facts()["filters"])


@functools.cache
def check_ffmpeg() -> str:
    """Refuse an ffmpeg older than 5.1 or without libx264, naming the one found and
    how to choose another. Returns its version line."""
    version = ffmpeg_version()
    release = _RELEASE.match(version)
    problems = []
    if release and tuple(map(int, release.groups())) < MIN_VERSION:
        problems.append(f"version {release.group(1)}.{release.group(2)} is older than "
                        f"{MIN_VERSION[0]}.{MIN_VERSION[1]}")
    if not ffmpeg_facts()["libx264"]:
        problems.append("it has no libx264 encoder")
    if problems:
        raise UnsupportedFfmpeg(
            f"unsupported ffmpeg {ffmpeg_exe()} ({version}): {' and '.join(problems)}. "
            "tlbuild needs ffmpeg 5.1 or newer with libx264: install one (e.g. Debian "
            "12's ffmpeg), or point TLBUILD_FFMPEG at one; `pip install imageio-ffmpeg` "
            "ships a suitable build, used when no ffmpeg is on PATH")
    return version


def require_filter(name: str, setting: str) -> None:
    """Refuse up front a setting that needs a filter this ffmpeg was built without."""
    if name not in ffmpeg_filters():
        raise UnsupportedFfmpeg(f"{setting} needs ffmpeg's {name} filter, which "
                                f"{ffmpeg_exe()} ({ffmpeg_version()}) was built "
                                f"without: point TLBUILD_FFMPEG at another ffmpeg "
                                f"(Debian's has it) or turn {setting} off")


# --- command templates -------------------------------------------------------------

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("tlbuild", "templates"),
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


def render_argv(template: str, **values: Any) -> list[str]:
    """Render an ffmpeg command template: one argument per non-empty line.

    The result is an argv list for subprocess, never a shell string.
    """
    for key, value in values.items():
        if "\n" in str(value) or "\r" in str(value):
            raise MediaError(f"template value {key!r} contains a line break")
    text = _templates.get_template(template).render(ffmpeg=ffmpeg_exe(), **values)
    return [line.strip() for line in text.splitlines() if line.strip()]


def concat_quote(path: Path | str) -> str:
    """A path for ffmpeg's concat lists, quoted: a single quote becomes '\\''."""
    return "'" + str(path).replace("'", "'\\''") + "'"


def concat_paths(listing: str) -> list[str]:
    """The paths of a concat list's `file` lines (concat_quote's inverse: the
    concat demuxer quotes as a POSIX shell does)."""
    return [shlex.split(line[5:])[0] for line in listing.split("\n")
            if line.startswith("file ")]


def numbered(folder: Path, pattern: str) -> str:
    """An output pattern such as `%06d.mkv` in `folder`: a `%` in the folder's own
    path (a camera named `100%`) is doubled, so ffmpeg reads it as itself."""
    return str(folder).replace("%", "%%") + os.sep + pattern


def speed_text(speed: float) -> str:
    return f"{speed:.6f}".rstrip("0").rstrip(".")


# --- running ffmpeg ----------------------------------------------------------------

STORAGE_ERRORS = ("No space left on device", "Read-only file system", "Permission denied",
                  "Disk quota exceeded", "File too large")


def run_ffmpeg(argv: list[str], expected_secs: float, label: str) -> None:
    """Run ffmpeg, report progress from `-progress`, raise MediaError on failure
    (StorageError when it could not write: a full disk is said plainly).

    stderr goes to a temporary file (no pipe to deadlock on) and its tail becomes
    the error message. ffmpeg dies with tlbuild (runtime.spawn); on a stop request it
    is ended before this returns.
    """
    command = argv[:1] + ["-nostdin", "-progress", "pipe:1", "-nostats"] + argv[1:]
    with tempfile.TemporaryFile(mode="w+") as errfile:
        process = spawn(command, stdout=subprocess.PIPE, stderr=errfile, text=True)
        meter = Meter(label, expected_secs)
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if stop_requested.is_set():
                    raise KeyboardInterrupt
                key, _, value = line.strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    meter.update(int(value) / 1e6)
            returncode = process.wait()
            if stop_requested.is_set():
                raise KeyboardInterrupt
            if returncode == 0:
                meter.update(expected_secs)  # done: ffmpeg's last report may fall short
        except BaseException:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
        finally:
            release(process)
            meter.close()
        if returncode != 0:
            errfile.seek(0)
            text = errfile.read()
            for problem in STORAGE_ERRORS:
                if problem in text:
                    raise StorageError(f"{label}: cannot write the output: "
                                       f"{problem.lower()}")
            tail = text[-2000:].strip().splitlines()[-5:]
            raise MediaError(f"ffmpeg failed ({label}, exit {returncode}): "
                             + " | ".join(tail))


def default_font() -> str | None:
    """A TrueType font for burned-in text; None lets ffmpeg ask fontconfig."""
    for candidate in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                      "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                      "/usr/share/fonts/TTF/DejaVuSans.ttf",
                      "/Library/Fonts/Arial.ttf", "C:/Windows/Fonts/arial.ttf"):
        if os.path.exists(candidate):
            return candidate
    return None


Chapter = tuple[float, str]  # (start in output seconds, title)


def render_file(template: str, output: Path, expected_secs: float, *,
                chapters: list[Chapter] | None = None,
                check: Callable[[Path], None] | None = None, **values: Any) -> None:
    """Render a command template into `output`, atomically: ffmpeg writes
    `<output>.partial`, which is renamed only when ffmpeg succeeded. `chapters` go
    into the MP4 in the same run (the template's second input, an ffmetadata file:
    no remux of the finished video afterwards). `check` inspects the finished
    partial before the rename and raises if it is not good: the file it would
    replace stays as it was."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(output)
    metadata = None
    try:
        if chapters:
            metadata = partial_path(output.with_name(output.name + ".chapters"))
            metadata.write_text(chapter_metadata(chapters, expected_secs), encoding="utf-8")
        run_ffmpeg(render_argv(template, output=partial, chapters=metadata, **values),
                   expected_secs, f"render {output.name}")
        if metadata is not None:  # read by ffmpeg only: gone before the video is placed
            metadata.unlink(missing_ok=True)
        if not partial.is_file() or partial.stat().st_size == 0:
            raise MediaError(f"ffmpeg wrote nothing for {output.name} (it found no frame "
                             "to write)")
        if check is not None:
            check(partial)
        if stop_requested.is_set():  # a stopping run records no task as done: it must
            raise KeyboardInterrupt  # not leave a new video the next run cannot know
        commit_partial(partial, output)
    finally:
        partial.unlink(missing_ok=True)
        if metadata is not None:
            metadata.unlink(missing_ok=True)


def chapter_metadata(chapters: list[Chapter], duration: float) -> str:
    """An ffmetadata document of `chapters` (each ends where the next starts)."""
    def escape(text: str) -> str:
        return re.sub(r"([=;#\\\n])", r"\\\1", text)
    starts = [max(0, round(start * 1000)) for start, _ in chapters]
    ends = [*starts[1:], max(round(duration * 1000), starts[-1] + 1)]
    return ";FFMETADATA1\n" + "".join(
        f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={start}\nEND={max(end, start + 1)}\n"
        f"title={escape(title)}\n"
        for start, end, (_, title) in zip(starts, ends, chapters, strict=True))
