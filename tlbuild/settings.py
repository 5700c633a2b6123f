"""What every camera's settings hold, whatever its system: the base class of each
source's own settings dataclass (sources/<system>.py), so shared code reads these
fields directly and a source adds only its own."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Self

from .config import RenderSettings, SecretSource
from .selection import Selection


@dataclass(frozen=True, kw_only=True)
class CameraSettings:
    name: str                            # the config table's name
    source: str = ""                     # the camera system (the registry's key)
    render: RenderSettings = field(default_factory=RenderSettings)
    timezone: str | None = None          # the local day's zone (None: the device's)
    overlay_time: bool = False           # burn in each frame's local time
    overlay_font: str | None = None
    deflicker: bool = False              # frame sources: even out brightness jumps
    selection: Selection = field(default_factory=Selection)  # frame sources' choices
    publish: tuple[str, ...] = ()        # sink names
    workers: int = 2                     # requests in flight to the device
    password: SecretSource | None = None  # the device's secret, if it has one

    @property
    def device_address(self) -> str | None:
        """Where the device is reached ("simulator" for a demo camera)."""
        return None

    def overridden(self, **values: Any) -> Self:
        """These settings with command-line values (unknown keys ignored)."""
        return replace(self, **{k: v for k, v in values.items() if hasattr(self, k)})

    def render_choices(self) -> dict[str, Any]:
        """The settings that shape the video (what a pruned day was rendered with:
        changing one needs the inputs back)."""
        return {**self.render.as_dict(), "overlay_time": self.overlay_time,
                "deflicker": self.deflicker}
