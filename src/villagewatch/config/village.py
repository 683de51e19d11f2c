"""The village model: a village, its grids (and micro-grids) and its devices.

One YAML file per village. The place hierarchy is town → village → grid →
micro-grid: a grid with a ``parent`` is a micro-grid of that grid. Devices sit
in a grid (or micro-grid) and have a kind, which decides what they may send.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from villagewatch.contract import DeviceKind, Identifier

__all__ = ["DeviceSpec", "Grid", "Position", "Village", "check_village"]

_STRICT = ConfigDict(frozen=True, extra="forbid")


class Grid(BaseModel):
    """A grid (50-300 households) or, with a parent, a micro-grid inside one."""

    model_config = _STRICT

    id: Identifier = Field(description="Grid id, unique in the village.")
    name: str = Field(description="Name shown to operators, e.g. 第一网格.")
    parent: Identifier | None = Field(
        None, description="Id of the enclosing grid; set for micro-grids."
    )


class Position(BaseModel):
    """Where a device sits on the village plan, as fractions of the plan's width and height."""

    model_config = _STRICT

    x: float = Field(ge=0, le=1, description="0 = left edge of the plan, 1 = right edge.")
    y: float = Field(ge=0, le=1, description="0 = top edge of the plan, 1 = bottom edge.")


class DeviceSpec(BaseModel):
    """One device the village runs."""

    model_config = _STRICT

    id: Identifier = Field(description="Device id, as in its MQTT topic; unique in the village.")
    kind: DeviceKind = Field(description="Decides which readings and events it may send.")
    grid: Identifier = Field(description="Grid or micro-grid the device belongs to.")
    name: str = Field("", description="Name shown to operators, e.g. 石桥水位计.")
    position: Position | None = Field(None, description="Position on the village plan.")
    interval_s: float = Field(
        60, gt=0, description="Expected seconds between readings; offline detection uses it."
    )


class Village(BaseModel):
    """A village: its grids and devices."""

    model_config = _STRICT

    id: Identifier = Field(description="Village id, as in MQTT topics.")
    name: str = Field(description="Name shown to operators, e.g. 东村.")
    town: Identifier = Field(description="Id of the town the village belongs to.")
    town_name: str = Field("", description="Name of the town, e.g. 桥头镇.")
    grids: list[Grid] = Field(min_length=1, description="Grids and micro-grids.")
    devices: list[DeviceSpec] = Field(default_factory=list, description="Devices.")

    def grid_ids(self) -> set[str]:
        """Ids of every grid and micro-grid."""
        return {g.id for g in self.grids}


def check_village(village: Village) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-reference checks pydantic cannot express: (location, problem) for each issue."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
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
    devices: dict[str, int] = {}
    for i, device in enumerate(village.devices):
        if device.id in devices:
            problems.append(
                (
                    ("devices", i, "id"),
                    f"device {device.id!r} is also devices[{devices[device.id]}]",
                )
            )
        devices.setdefault(device.id, i)
        if device.grid not in grids:
            problems.append((("devices", i, "grid"), f"no grid {device.grid!r} in this village"))
    return problems
