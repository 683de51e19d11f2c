"""The village model: a village, its grids (and micro-grids) and its devices.

One YAML file per village. The place hierarchy is town → village → grid →
micro-grid: a grid with a ``parent`` is a micro-grid of that grid. Devices sit
in a grid (or micro-grid) and have a kind, which decides what they may send.
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from villagewatch.config.publiclots import PublicLot, public_lot_problems
from villagewatch.config.teams import Team
from villagewatch.contract import DeviceKind, Identifier, StrictModel
from villagewatch.detectors.config import MAIN_METRICS, DetectSection, FamilyConfigs

__all__ = [
    "Credential",
    "DeviceSpec",
    "Grid",
    "House",
    "Position",
    "Tenant",
    "Village",
    "check_village",
]


class Grid(StrictModel):
    """A grid (50-300 households) or, with a parent, a micro-grid inside one."""

    id: Identifier = Field(description="Grid id, unique in the village.")
    name: str = Field(description="Name shown to operators, e.g. 第一网格.")
    parent: Identifier | None = Field(
        None, description="Id of the enclosing grid; set for micro-grids."
    )
    team: Team | None = Field(None, description="Who answers for the grid's alerts.")


class Position(StrictModel):
    """Where a device sits on the village plan, as fractions of the plan's width and height."""

    x: float = Field(ge=0, le=1, description="0 = left edge of the plan, 1 = right edge.")
    y: float = Field(ge=0, le=1, description="0 = top edge of the plan, 1 = bottom edge.")


class DeviceSpec(StrictModel):
    """One device the village runs."""

    id: Identifier = Field(description="Device id, as in its MQTT topic; unique in the village.")
    kind: DeviceKind = Field(description="Decides which readings and events it may send.")
    grid: Identifier = Field(description="Grid or micro-grid the device belongs to.")
    name: str = Field("", description="Name shown to operators, e.g. 石桥水位计.")
    position: Position | None = Field(None, description="Position on the village plan.")
    interval_s: float = Field(
        60, gt=0, description="Expected seconds between readings; offline detection uses it."
    )
    agent: Identifier | None = Field(
        None,
        description="The edge agent that publishes for this device (its `edge.yaml` id); the "
        "broker lets only that agent publish the device's topics (`villagewatch broker "
        "credentials`). Unset: nothing may publish for it at a broker with generated ACLs.",
    )


class Credential(StrictModel):
    """A card, code slot or fingerprint that opens a house's lock, with when it is valid."""

    id: Identifier = Field(description="As the lock reports it (credential in lock events).")
    valid_from: AwareDatetime | None = Field(None, description="Valid from (with offset).")
    valid_to: AwareDatetime | None = Field(None, description="Valid until (with offset).")


class Tenant(StrictModel):
    """Someone registered as living in a rental house (personal data: shown only where needed)."""

    id: Identifier = Field(description="Tenant id in the registry.")
    name: str = Field(description="Name (personal data).")
    verified: bool = Field(False, description="Identity checked by the village office.")
    credentials: list[Credential] = Field(default_factory=list, description="What opens the lock.")


class House(StrictModel):
    """A rental house: its smart lock and its current tenants (the rental registry)."""

    id: Identifier = Field(description="House id.")
    name: str = Field("", description="Name or address shown to operators.")
    lock: Identifier = Field(description="Device id of the house's smart lock.")
    tenants: list[Tenant] = Field(default_factory=list, description="Current tenants.")


class Village(StrictModel):
    """A village: its grids and devices."""

    id: Identifier = Field(description="Village id, as in MQTT topics.")
    name: str = Field(description="Name shown to operators, e.g. 东村.")
    town: Identifier = Field(description="Id of the town the village belongs to.")
    town_name: str = Field("", description="Name of the town, e.g. 桥头镇.")
    grids: list[Grid] = Field(min_length=1, description="Grids and micro-grids.")
    devices: list[DeviceSpec] = Field(default_factory=list, description="Devices.")
    houses: list[House] = Field(default_factory=list, description="Rental registry.")
    team: Team | None = Field(
        None, description="Who answers for the village (alerts escalate to it from its grids)."
    )
    detect: DetectSection = Field(
        default_factory=DetectSection, description="Detector settings (docs/detectors.md)."
    )
    public_lots: list[PublicLot] = Field(
        default_factory=list,
        description="Parking lots whose free spaces anyone may see at /public/spaces.",
    )

    def grid_ids(self) -> set[str]:
        """Ids of every grid and micro-grid."""
        return {g.id for g in self.grids}

    def agents(self) -> list[str]:
        """Ids of the edge agents that publish for this village's devices, sorted."""
        return sorted({d.agent for d in self.devices if d.agent is not None})

    def devices_of(self, agent: str) -> list[DeviceSpec]:
        """The devices ``agent`` publishes for (an agent's status may speak only for these)."""
        return [d for d in self.devices if d.agent == agent]


Problem = tuple[tuple[str | int, ...], str]


def check_village(village: Village) -> list[Problem]:
    """Cross-reference checks pydantic cannot express: (location, problem) for each issue."""
    return (
        _grid_problems(village)
        + _device_problems(village)
        + _reference_problems(village)
        + public_lot_problems(village)
    )


def _grid_problems(village: Village) -> list[Problem]:
    problems: list[Problem] = []
    grids: dict[str, int] = {}
    for i, grid in enumerate(village.grids):
        if grid.id in grids:
            problems.append(
                (("grids", i, "id"), f"grid {grid.id!r} is also grids[{grids[grid.id]}]")
            )
        grids.setdefault(grid.id, i)
    parents = {g.id: g.parent for g in village.grids}
    for i, grid in enumerate(village.grids):
        if grid.parent is None:
            continue
        if grid.parent not in grids:
            problems.append((("grids", i, "parent"), f"no grid {grid.parent!r} in this village"))
            continue
        seen: set[str] = {grid.id}
        node: str | None = grid.parent
        while node is not None:
            if node in seen:
                problems.append((("grids", i, "parent"), "parents form a cycle"))
                break
            seen.add(node)
            node = parents.get(node)
    return problems


def _device_problems(village: Village) -> list[Problem]:
    problems: list[Problem] = []
    grids = village.grid_ids()
    devices: dict[str, int] = {}
    for i, device in enumerate(village.devices):
        if device.id in devices:
            other = devices[device.id]
            problems.append(
                (("devices", i, "id"), f"device {device.id!r} is also devices[{other}]")
            )
        devices.setdefault(device.id, i)
        if device.grid not in grids:
            problems.append((("devices", i, "grid"), f"no grid {device.grid!r} in this village"))
    for i, device in enumerate(village.devices):
        if device.agent is not None and device.agent in devices:
            problems.append(
                (
                    ("devices", i, "agent"),
                    (
                        f"agent {device.agent!r} is also a device of this village: an agent's "
                        "status topic is vw/v1/<village>/<agent>/status, so the two would "
                        "share topics; give the agent another id"
                    ),
                )
            )
    return problems


def _reference_problems(village: Village) -> list[Problem]:
    """The detect section and the rental registry name devices that must exist."""
    problems: list[Problem] = []
    kinds = {d.id: d.kind for d in village.devices}
    for device_id, families in village.detect.devices.items():
        where = ("detect", "devices", device_id)
        if device_id not in kinds:
            problems.append((where, f"no device {device_id!r} in this village"))
        elif families.level and kinds[device_id] not in _LEVEL_KINDS:
            problems.append(
                ((*where, "level"), f"{kinds[device_id]} devices report no water level")
            )
        else:
            problems += _unnamed_series(where, kinds[device_id], families)
    for kind, families in village.detect.kinds.items():
        problems += _unnamed_series(("detect", "kinds", kind), kind, families)
    locks: dict[str, int] = {}
    for i, house in enumerate(village.houses):
        if kinds.get(house.lock) != DeviceKind.SMART_LOCK:
            problems.append(
                (("houses", i, "lock"), f"no smart lock {house.lock!r} in this village")
            )
        elif house.lock in locks:
            problems.append((("houses", i, "lock"), f"lock is also houses[{locks[house.lock]}]'s"))
        locks.setdefault(house.lock, i)
    return problems


_LEVEL_KINDS = (DeviceKind.WATER_LEVEL, DeviceKind.CAMERA)


def _unnamed_series(
    where: tuple[str, ...], kind: DeviceKind, families: FamilyConfigs
) -> list[Problem]:
    """An anomaly detector on a kind with no main series must name its metrics (else it would
    watch nothing, silently)."""
    if families.anomaly and families.anomaly.metrics is None and kind not in MAIN_METRICS:
        message = (
            f"{kind} devices have no main series: name the metrics to watch (e.g. battery_pct)"
        )
        return [((*where, "anomaly", "metrics"), message)]
    return []
