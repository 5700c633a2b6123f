"""The camera systems tlbuild builds from: one registry entry each (the contract is
source.Source), the one place that knows them all. A system is its source module
(settings and task creators), its client, its simulator and one entry here; a
system from another package registers through the `tlbuild.sources` entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path

from .. import clips, frames, imagefolder, stills
from ..config import Config, load_config
from ..source import Source
from . import (
    axis_timelapse2,
    folder,
    frigate,
    frigate_base,
    frigate_snapshots,
    protect,
    s3_frames,
    snapshot,
    unifi,
    unifi_snapshots,
)

log = logging.getLogger("tlbuild")
BUILT_IN = (
    Source(name="unifi", parse=unifi.parse, tasks=unifi.tasks, order=unifi.ORDER,
           failures=clips.failures, verify=clips.verify, check=protect.check,
           kind="clips", items="clips", marks=clips.marks, records=clips.records,
           continuous=lambda settings: False,
           simulator="tlbuild.sim.unifi", handover=protect.SESSIONS.handover,
           direct=unifi.direct, device_cameras=protect.device_cameras),
    Source(name="axis-timelapse2", parse=axis_timelapse2.parse,
           tasks=axis_timelapse2.tasks, order=axis_timelapse2.ORDER,
           failures=axis_timelapse2.failures, verify=axis_timelapse2.verify,
           check=axis_timelapse2.check, kind="archives", items="archives",
           marks=axis_timelapse2.marks, records=axis_timelapse2.records,
           continuous=lambda settings: True,
           simulator="tlbuild.sim.axis"),
    Source(name="s3-frames", parse=s3_frames.parse, tasks=s3_frames.tasks,
           order=s3_frames.ORDER, failures=s3_frames.failures, verify=frames.verify,
           check=s3_frames.check, kind="frames", items="frames", marks=frames.marks,
           records=frames.records, continuous=lambda settings: True,
           simulator="tlbuild.sim.s3"),
    Source(name="unifi-snapshots", parse=unifi_snapshots.parse,
           tasks=unifi_snapshots.tasks, order=stills.ORDER,
           failures=stills.failures, verify=frames.verify, check=protect.check,
           kind="frames", items="stills", marks=frames.marks, records=frames.records,
           continuous=lambda settings: True,
           simulator="tlbuild.sim.unifi", handover=protect.SESSIONS.handover),
    Source(name="frigate", parse=frigate.parse, tasks=frigate.tasks, order=frigate.ORDER,
           failures=clips.failures, verify=clips.verify, check=frigate_base.check,
           kind="clips", items="clips", marks=frigate.marks, records=clips.records,
           continuous=lambda settings: settings.clips == "recordings",
           simulator="tlbuild.sim.frigate", handover=frigate_base.SESSIONS.handover,
           direct=frigate.direct, device_cameras=frigate_base.device_cameras),
    Source(name="frigate-snapshots", parse=frigate_snapshots.parse,
           tasks=frigate_snapshots.tasks, order=stills.ORDER, failures=stills.failures,
           verify=frames.verify, check=frigate_base.check, kind="frames", items="stills",
           marks=frames.marks, records=frames.records, continuous=lambda settings: True,
           simulator="tlbuild.sim.frigate", handover=frigate_base.SESSIONS.handover),
    Source(name="folder", parse=folder.parse, tasks=folder.tasks, order=imagefolder.ORDER,
           failures=imagefolder.failures, verify=frames.verify, check=folder.check,
           kind="frames", items="images", marks=frames.marks, records=frames.records,
           continuous=lambda settings: True),
    Source(name="snapshot", parse=snapshot.parse, tasks=snapshot.tasks,
           order=imagefolder.ORDER, failures=imagefolder.failures, verify=frames.verify,
           check=snapshot.check, kind="frames", items="stills", marks=frames.marks,
           records=frames.records, continuous=lambda settings: True,
           simulator="tlbuild.sim.snapshot", capture=snapshot.capture),
)


def discover() -> dict[str, Source]:
    """The built-in systems, then those other packages register; one that cannot be
    loaded, is not a Source or takes a name already taken is left out, said once."""
    found = {source.name: source for source in BUILT_IN}
    for point in entry_points(group="tlbuild.sources"):
        try:
            source = point.load()
        except Exception as error:  # a broken plugin must not stop every build
            log.warning("camera system %r (%s) could not be loaded: %s", point.name,
                        point.value, error)
            continue
        if not isinstance(source, Source):
            log.warning("camera system %r (%s) is not a tlbuild.source.Source: left out",
                        point.name, point.value)
        elif source.name in found:
            log.warning("camera system %r (%s): the name is taken: left out",
                        source.name, point.value)
        else:
            found[source.name] = source
    return found


SOURCES = discover()


def read_config(path: Path | str | None = None) -> Config:
    """The config named by `path`, $TLBUILD_CONFIG or config/tlbuild.toml, its
    cameras parsed by their systems' parsers."""
    return load_config(path, {name: source.parse for name, source in SOURCES.items()})
