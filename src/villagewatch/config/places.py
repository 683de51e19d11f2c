"""The places of a deployment as one tree: town → village → grid → micro-grid.

Alert routing walks it upwards (who is told, and who next); the console scopes users
by it (a user sees what lies in or under their places). Both take it from here, so a
place means the same to both. Ids: ``town:<id>``, ``village:<id>``,
``grid:<village>/<grid>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from villagewatch.config.teams import Team
from villagewatch.config.village import Village

__all__ = ["Place", "PlaceTree", "grid_place", "town_place", "village_of_place", "village_place"]


def town_place(town: str) -> str:
    """The id of a town's place."""
    return f"town:{town}"


def village_place(village: str) -> str:
    """The id of a village's place."""
    return f"village:{village}"


def grid_place(village: str, grid: str) -> str:
    """The id of a grid's place (grid ids are unique within their village)."""
    return f"grid:{village}/{grid}"


def village_of_place(place: str) -> str | None:
    """The village a village or grid place lies in; None for a town or anything else."""
    kind, _, rest = place.partition(":")
    if kind not in ("village", "grid") or not rest:
        return None
    return rest.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Place:
    """One place of the tree, with its team (None: nobody is named for it)."""

    id: str
    kind: Literal["town", "village", "grid"]
    name: str
    parent: str | None
    team: Team | None

    @property
    def channels(self) -> list[str]:
        """The channels that reach the place's team."""
        return list(self.team.channels) if self.team is not None else []


class PlaceTree:
    """Every place of a deployment's villages (config has checked that grid parents exist
    and form no cycle)."""

    def __init__(self, villages: Sequence[Village], towns: Mapping[str, Team]) -> None:
        self.nodes: dict[str, Place] = {}
        self._device_place: dict[tuple[str, str], str] = {}
        for v in villages:
            town = town_place(v.town)
            self.nodes.setdefault(
                town, Place(town, "town", v.town_name or v.town, None, towns.get(v.town))
            )
            village = village_place(v.id)
            self.nodes[village] = Place(village, "village", v.name, town, v.team)
            for g in v.grids:
                gid = grid_place(v.id, g.id)
                parent = grid_place(v.id, g.parent) if g.parent else village
                self.nodes[gid] = Place(gid, "grid", g.name, parent, g.team)
            for d in v.devices:
                self._device_place[(v.id, d.id)] = grid_place(v.id, d.grid)
        self._chains = {pid: self._walk_up(pid) for pid in self.nodes}
        children: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.parent is not None:
                children.setdefault(node.parent, []).append(node.id)
        self._below: dict[str, frozenset[str]] = {}
        for pid in self.nodes:
            found, todo = set(), [pid]
            while todo:
                p = todo.pop()
                found.add(p)
                todo += children.get(p, [])
            self._below[pid] = frozenset(found)

    def _walk_up(self, place: str) -> list[Place]:
        out = []
        node = self.nodes.get(place)
        while node is not None:
            out.append(node)
            node = self.nodes.get(node.parent) if node.parent else None
        return out

    def device_place(self, village: str, device: str) -> str:
        """The grid a device sits in (the village for one not configured)."""
        return self._device_place.get((village, device), village_place(village))

    def chain(self, place: str) -> list[Place]:
        """The place and every place above it, nearest first; empty for an unknown place."""
        return self._chains.get(place, [])

    def below(self, place: str) -> frozenset[str]:
        """Ids of the place and of every place under it; empty for an unknown place."""
        return self._below.get(place, frozenset())
