"""A camera's zones as versions, and the desired config that carries them to its edge agent.

Two files among the versions change together when a maintainer applies a camera's zones:

- ``camera:<village>/<device>``: the camera's zones and privacy masks (YAML, normalised
  coordinates: 0-1 of the picture), the file the console draws;
- ``agent:<village>/<agent>``: the ``config`` object of the desired config the centre
  publishes retained on ``vw/v1/<village>/<agent>/config`` (JSON); its version number is the
  ``version`` of that message, the number the agent reports back on ``…/config/reported``.

The agent's desired config is the whole desired state of the agent (docs/edge.md), so it
is built on the previous one — inside the transaction that records it, so two applies at
once, even from two processes, each build on the other's: applying one camera keeps what
the others of the same agent were given. It is published (and acknowledged by the broker)
in that transaction too, so a broker that does not take it leaves both files as they were,
and the retained message is always the newest version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from villagewatch.contract import Channel, StrictModel, topic_for
from villagewatch.contract.control import DesiredConfig
from villagewatch.edge.vision.config import Mask, Zone, outside_the_picture
from villagewatch.errors import VillagewatchError
from villagewatch.versions.store import VersionStore, VersionSummary, checked_note

__all__ = [
    "AppliedZones",
    "CameraZones",
    "ZonesUnreadable",
    "agent_file",
    "apply_zones",
    "camera_file",
    "current_zones",
    "zones_of_text",
]

Publish = Callable[[str, bytes], None]
"""Publish a retained message at QoS 1 and return once the broker took it (raises if not)."""

_ONE_AT_A_TIME = threading.Lock()


class ZonesUnreadable(VillagewatchError):
    """A stored zones version that no longer reads as zones (an old text, a hand edit)."""


class CameraZones(StrictModel):
    """A camera's zones and privacy masks, in normalised coordinates (0-1 of the picture)."""

    zones: list[Zone] = Field(default_factory=list, description="The zones watched.")
    masks: list[Mask] = Field(
        default_factory=list, description="Privacy masks: blacked out before anything looks."
    )

    @model_validator(mode="after")
    def _in_the_picture(self) -> CameraZones:
        problem = outside_the_picture(self.zones, self.masks)
        if problem:  # said as it is, without pydantic's "Value error, "
            raise PydanticCustomError("zones", problem)
        return self

    def text(self) -> str:
        """The zones as the YAML text a version keeps."""
        return yaml.safe_dump(
            self.model_dump(mode="json"),
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=None,
        )


def camera_file(village: str, device: str) -> str:
    """How a camera's zones are named among the versions (``camera:<village>/<device>``)."""
    return f"camera:{village}/{device}"


def agent_file(village: str, agent: str) -> str:
    """How an agent's desired config is named among the versions (``agent:<village>/<agent>``)."""
    return f"agent:{village}/{agent}"


def zones_of_text(text: str) -> CameraZones:
    """The zones a version's text holds; :class:`ZonesUnreadable` says why not."""
    try:
        return CameraZones.model_validate(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ZonesUnreadable(f"the stored zones do not read as zones: {exc}") from None


def current_zones(
    versions: VersionStore, village: str, device: str
) -> tuple[CameraZones, VersionSummary | None]:
    """The camera's zones of its newest version and that version (none yet: no zones, None)."""
    newest = versions.versions(camera_file(village, device))
    if not newest:
        return CameraZones(), None
    found = versions.version(camera_file(village, device), newest[0].n)
    return zones_of_text(found.text), newest[0]


@dataclass(frozen=True, slots=True)
class AppliedZones:
    """The camera's new zones version and the agent's desired config version that carries
    them (the number the agent reports back)."""

    zones: VersionSummary
    desired: VersionSummary


def apply_zones(
    versions: VersionStore,
    zones: CameraZones,
    *,
    village: str,
    agent: str,
    device: str,
    who: str,
    note: str,
    at_ms: int,
    publish: Publish,
    rollback_of: int | None = None,
) -> AppliedZones:
    """Record ``zones`` as the camera's next version and publish the agent's desired config
    with them (built on its previous one), recorded as the agent's next version. If
    ``publish`` raises, nothing is recorded and the error goes to the caller; a missing note
    raises :class:`~villagewatch.versions.store.VersionRefused` first. Blocking."""
    kept = checked_note(note)
    topic = topic_for(village, agent, Channel.CONFIG)
    dumped = zones.model_dump(mode="json")
    message: list[bytes] = []

    def desired_text(previous: str | None, n: int) -> str:
        # built on the agent's last desired config, inside the transaction that records it
        config: dict[str, Any] = orjson.loads(previous) if previous else {}
        devices = config.setdefault("devices", {})
        devices[device] = {**devices.get(device, {}), **dumped}
        message.append(DesiredConfig(v=1, version=n, config=config).model_dump_json().encode())
        return (
            orjson.dumps(config, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
        )

    # one at a time in this process, so the camera's versions come in the order they were sent
    with _ONE_AT_A_TIME:
        desired = versions.record(
            agent_file(village, agent), desired_text, who=who, note=kept, at_ms=at_ms,
            then=lambda: publish(topic, message[-1]),
        )  # fmt: skip
        camera = versions.record(
            camera_file(village, device), zones.text(), who=who, note=kept, at_ms=at_ms,
            rollback_of=rollback_of,
        )  # fmt: skip
    return AppliedZones(camera, desired)
