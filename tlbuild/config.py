"""Load and validate the TOML config into typed, immutable settings.

Every problem is reported with the file and the key, before any network traffic.
Secrets are never stored in the config: it names an environment variable or a file,
and the value is read into memory only (see `Secret`).
"""

from __future__ import annotations

import os
import re
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .files import printable, safe_name

DEFAULT_CONFIG = Path("config/tlbuild.toml")
SIMULATOR_HOST = "simulator"
SCALE = re.compile(r"(-[12]|[1-9]\d{1,4}):(-[12]|[1-9]\d{1,4})")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                "slow", "slower", "veryslow", "placebo")


class Secret:
    """A password or key held in memory only; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class SecretSource:
    """Where a secret comes from: an environment variable or a file (never the value)."""

    env: str | None = None
    file: Path | None = None
    value: Secret | None = None  # given directly, e.g. on the command line

    def describe(self) -> str:
        if self.value is not None:
            return "the command line"
        if self.env:
            return f"environment variable {self.env}"
        return f"file {self.file}"

    def load(self, where: str) -> Secret:
        if self.value is not None:
            return self.value
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"{where}: environment variable {self.env} is not set "
                                  "or empty")
            return Secret(value)
        if self.file:
            try:
                value = self.file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read secret file {self.file}: "
                                  f"{exc.strerror}") from None
            if not value:
                raise ConfigError(f"{where}: secret file {self.file} is empty")
            return Secret(value)
        raise ConfigError(f"{where}: no secret configured")


@dataclass(frozen=True)
class RenderSettings:
    target: float | None = 600.0  # None: every frame shown for 1/fps (frame sources)
    fps: int = 30
    crf: int = 23
    preset: str = "medium"
    scale: str | None = None      # ffmpeg scale, e.g. "-2:1080"; None keeps the size

    def as_dict(self) -> dict[str, Any]:
        values = {"target": self.target, "fps": self.fps, "crf": self.crf,
                  "preset": self.preset}
        if self.scale:
            values["scale"] = self.scale
        return values


CameraSettings = Any  # each source's own settings class (sources/<system>.py)



@dataclass(frozen=True)
class AllskySink:
    """An indi-allsky server that receives videos over its SyncAPI."""

    name: str
    url: str
    username: str
    apikey: SecretSource
    camera_uuid: str | None = None
    tls_insecure: bool = False
    mode: str = "put"
    night: bool = False
    thumbnail: bool = False
    retries: int = 3
    kind: str = "indi-allsky"
    address: str | None = None  # where "simulator" really listens (the demo's sink)

    @property
    def endpoint(self) -> str:
        return self.address or self.url

    @property
    def link_base(self) -> str:
        """What a relative URL in this sink's answer is relative to."""
        return self.endpoint

    def settings(self) -> dict[str, Any]:
        """What decides whether a video must be sent again (never the key itself)."""
        return {"kind": self.kind, "url": self.url, "username": self.username,
                "camera_uuid": self.camera_uuid, "mode": self.mode, "night": self.night,
                "thumbnail": self.thumbnail}


@dataclass(frozen=True)
class S3Sink:
    """An S3 bucket (or S3-compatible store) that receives videos."""

    name: str
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    tls_insecure: bool = False
    kind: str = "s3"

    @property
    def link_base(self) -> str | None:
        return self.endpoint_url

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, "bucket": self.bucket, "prefix": self.prefix,
                "region": self.region, "endpoint_url": self.endpoint_url}


Sink = AllskySink | S3Sink


@dataclass(frozen=True)
class Config:
    path: Path
    out: Path
    cameras: dict[str, CameraSettings]
    sinks: dict[str, Sink] = field(default_factory=dict)
    prune_after_days: int | None = None  # batches prune verified days older than this

    def camera(self, name: str) -> CameraSettings:
        if name not in self.cameras:
            known = ", ".join(sorted(self.cameras)) or "none"
            raise ConfigError(f"{self.path}: unknown camera {name!r}; cameras in the "
                              f"config: {known}")
        return self.cameras[name]


def validate_render(render: RenderSettings, where: str,
                    own_fps: bool = False) -> RenderSettings:
    """`own_fps`: the source has a frame rate of its own (archives), so fps = 0
    means 'keep it'; elsewhere the output needs a rate."""
    if render.target is not None and not 0 < render.target <= 86400:
        raise ConfigError(f"{where}: target must be between 1 and 86400 seconds")
    if not (0 if own_fps else 1) <= render.fps <= 240:
        raise ConfigError(f"{where}: fps must be between 1 and 240"
                          + (" (or 0: the archive's own)" if own_fps else ""))
    if not 0 <= render.crf <= 51:
        raise ConfigError(f"{where}: crf must be between 0 and 51")
    if render.preset not in X264_PRESETS:
        raise ConfigError(f"{where}: preset must be one of {', '.join(X264_PRESETS)}")
    if render.scale is not None and not SCALE.fullmatch(render.scale):
        raise ConfigError(f"{where}: scale must be WIDTH:HEIGHT, e.g. -2:1080 (-2 keeps "
                          "the aspect ratio with an even size)")
    return render


def validate_timezone(name: str | None, where: str) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r} "
                          "(use an IANA name such as Europe/Berlin)") from None
    return name


def validate_host(host: str, where: str) -> str:
    if host == SIMULATOR_HOST:
        return host
    if not host.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: host must start with https:// (or http://), "
                          f"or be {SIMULATOR_HOST!r} for the built-in simulated NVR")
    return host.rstrip("/")


class Table:
    """Typed access to one TOML table that remembers which keys were read."""

    def __init__(self, data: dict[str, Any], where: str):
        self.data, self.where, self.used = data, where, set()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self.where}: missing required key '{key}'")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            value = None  # True is an int in Python; not here
        if not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(f"{self.where}: key '{key}' must be {names}")
        return value

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.where}: unknown key '{unknown[0]}'")


def secret_source(table: Table, base: Path, prefix: str) -> SecretSource:
    env = table.get(f"{prefix}_env", str)
    file = table.get(f"{prefix}_file", str)
    if bool(env) == bool(file):
        raise ConfigError(f"{table.where}: set exactly one of '{prefix}_env' or "
                          f"'{prefix}_file'")
    if file:
        path = Path(file).expanduser()
        return SecretSource(file=path if path.is_absolute() else base / path)
    return SecretSource(env=env)


def render_settings(table: Table, defaults: RenderSettings = RenderSettings(),
            own_fps: bool = False) -> RenderSettings:
    target = table.get("target", (int, float), defaults.target)
    return validate_render(RenderSettings(
        target=None if target is None else float(target),
        fps=table.get("fps", int, defaults.fps),
        crf=table.get("crf", int, defaults.crf),
        preset=table.get("preset", str, defaults.preset),
        scale=table.get("scale", str, defaults.scale),
    ), table.where, own_fps)


def overlay_settings(table: Table) -> tuple[bool, str | None]:
    """`overlay_time` (burn in each frame's local time) and its `overlay_font`."""
    font = table.get("overlay_font", str)
    if font and any(char in font for char in ":'\\,;[]"):
        raise ConfigError(f"{table.where}: overlay_font path must not contain "
                          ": ' \\ , ; [ ]")
    return table.get("overlay_time", bool, False), font


def positive(value: int, key: str, where: str, low: int = 1, high: int = 64) -> int:
    if not low <= value <= high:
        raise ConfigError(f"{where}: {key} must be between {low} and {high}")
    return value


def sink_names(table: Table, key: str) -> tuple[str, ...]:
    names = table.get(key, list, [])
    if not all(isinstance(name, str) for name in names):
        raise ConfigError(f"{table.where}: '{key}' must be a list of sink names")
    return tuple(names)


def _allsky_sink(name: str, table: Table, base: Path) -> AllskySink:
    where = table.where
    url = table.get("url", str, required=True).rstrip("/")
    if url != SIMULATOR_HOST and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: url must start with https:// (or http://) and "
                          f"include /indi-allsky, or be {SIMULATOR_HOST!r} for the "
                          "built-in simulated server")
    mode = table.get("mode", str, "put")
    if mode not in ("put", "post"):
        raise ConfigError(f"{where}: mode must be 'put' or 'post'")
    camera_uuid = table.get("camera_uuid", str)
    if camera_uuid:
        try:
            uuid.UUID(camera_uuid)
        except ValueError:
            raise ConfigError(f"{where}: camera_uuid is not a UUID") from None
    sink = AllskySink(
        name=name, url=url, username=table.get("username", str, required=True),
        apikey=secret_source(table, base, "apikey"), camera_uuid=camera_uuid,
        tls_insecure=table.get("tls_insecure", bool, False), mode=mode,
        night=table.get("night", bool, False),
        thumbnail=table.get("thumbnail", bool, False),
        retries=positive(table.get("retries", int, 3), "retries", where, high=20))
    table.get("kind", str)
    table.reject_unknown()
    return sink


def _s3_sink(name: str, table: Table, base: Path) -> S3Sink:
    endpoint = table.get("endpoint_url", str)
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"{table.where}: endpoint_url must start with https:// or "
                          "http://")
    sink = S3Sink(name=name, bucket=table.get("bucket", str, required=True),
                  prefix=table.get("prefix", str, "").strip("/"),
                  region=table.get("region", str), endpoint_url=endpoint,
                  profile=table.get("profile", str),
                  tls_insecure=table.get("tls_insecure", bool, False))
    table.get("kind", str)
    table.reject_unknown()
    return sink


SINKS = {"indi-allsky": _allsky_sink, "s3": _s3_sink}


RESERVED_NAMES = {"index.html"}  # tlbuild's own files beside the camera folders


def validate_name(name: str, where: str) -> str:
    """A config camera or sink name becomes a folder and file names: it must be one
    already (no separator, no control character, not '.' or '..', at most 100
    bytes), so it can never lead outside `out`."""
    if name.casefold() in RESERVED_NAMES:
        raise ConfigError(f"{where}: the name {name!r} is tlbuild's own: the output "
                          "root holds the gallery, index.html; choose another name")
    if (safe_name(name, "") != name or len(name.encode()) > 100
            or name in ("all",)):
        raise ConfigError(f"{where}: the name {printable(name)!r} cannot name a folder: "
                          "use letters, digits, spaces, '-', '_' and '.' (no '/', '\\', "
                          "':' or control characters, not 'all', at most 100 bytes)")
    return name


def _load_tables(data: dict[str, Any], section: str, kinds: dict[str, Any],
                 kind_key: str, path: Path, base: Path) -> dict[str, Any]:
    loaded = {}
    for name, raw in data.items():
        where = f"{path} [{section}.{printable(name)}]"
        validate_name(name, where)
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table")
        table = Table(raw, where)
        kind = table.get(kind_key, str, required=True)
        if kind not in kinds:
            raise ConfigError(f"{where}: unknown {kind_key} {kind!r}; known: "
                              f"{', '.join(sorted(kinds))}")
        loaded[name] = kinds[kind](name, table, base)
    return loaded


Parser = Callable[[str, "Table", Path], Any]  # (name, table, config folder) -> settings


def load_config(path: Path | str | None, parsers: dict[str, Parser]) -> Config:
    """Read the config named by `path`, $TLBUILD_CONFIG, or config/tlbuild.toml;
    `parsers`: each camera system's settings parser by its `source` name (the
    registry's, sources.read_config: this module knows no camera system)."""
    path = Path(path or os.environ.get("TLBUILD_CONFIG") or DEFAULT_CONFIG)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (set config=PATH or "
                          "TLBUILD_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (TOML files are UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None

    top = Table(data, str(path))
    base = path.resolve().parent
    out = Path(top.get("out", str, "out")).expanduser()
    prune_after = top.get("prune_after_days", int)
    if prune_after is not None and prune_after < 0:
        raise ConfigError(f"{path}: prune_after_days must be 0 or more")
    cameras_data = top.get("cameras", dict, {})
    sinks_data = top.get("publish", dict, {})
    top.reject_unknown()
    cameras = _load_tables(cameras_data, "cameras", parsers, "source", path, base)
    sinks = _load_tables(sinks_data, "publish", SINKS, "kind", path, base)
    for name, camera in cameras.items():
        for sink in camera.publish:
            if sink not in sinks:
                raise ConfigError(f"{path} [cameras.{name}]: publish names unknown sink "
                                  f"{sink!r}; sinks: {', '.join(sorted(sinks)) or 'none'}")
    # A relative `out` counts from the working directory, as Make and doit do.
    return Config(path=path, out=out.absolute(), cameras=cameras, sinks=sinks,
                  prune_after_days=prune_after)


def with_overrides(camera: Any, **overrides: Any) -> Any:
    """The camera with the non-None command-line overrides applied: render keys go
    into `render`; the rest go to the settings class's `overridden` (which checks
    them as its parser would)."""
    render_keys = {"target", "fps", "crf", "preset", "scale"}
    render = {k: v for k, v in overrides.items() if k in render_keys and v is not None}
    rest = {k: v for k, v in overrides.items() if k not in render_keys and v is not None}
    if render:
        camera = replace(camera, render=validate_render(
            replace(camera.render, **render), "command line",
            getattr(camera, "OWN_FPS", False)))
    return camera.overridden(**rest) if rest else camera
