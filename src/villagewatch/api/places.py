"""The places of a deployment as a tree (town → village → grid → micro-grid), for scoping.

A user is given places; they see what lies in or under them: a town's user
sees its villages, a grid leader their grid and its micro-grids. An alert or a
device belongs to its own place (a grid, or the village for village-wide
alerts), so "may this user see it" is "is its own place under one of theirs".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from villagewatch.config.teams import Team
from villagewatch.config.village import Village

__all__ = ["ALL", "PlaceNode", "Places"]

ALL = "*"
"""The place of users who see everything."""


@dataclass(frozen=True, slots=True)
class PlaceNode:
    """One place: ``town:<id>``, ``village:<id>`` or ``grid:<village>/<grid>``."""

    id: str
    kind: str
    name: str
    parent: str | None
    team: Team | None


class Places:
    """Every place of a deployment's villages."""

    def __init__(self, villages: Sequence[Village], towns: dict[str, Team]) -> None:
        self.nodes: dict[str, PlaceNode] = {}
        self._device_place: dict[tuple[str, str], str] = {}
        for v in villages:
            town = f"town:{v.town}"
            self.nodes.setdefault(
                town, PlaceNode(town, "town", v.town_name or v.town, None, towns.get(v.town))
            )
            village = f"village:{v.id}"
            self.nodes[village] = PlaceNode(village, "village", v.name, town, v.team)
            for g in v.grids:
                gid = f"grid:{v.id}/{g.id}"
                parent = f"grid:{v.id}/{g.parent}" if g.parent else village
                self.nodes[gid] = PlaceNode(gid, "grid", g.name, parent, g.team)
            for d in v.devices:
                self._device_place[(v.id, d.id)] = f"grid:{v.id}/{d.grid}"
        self._under: dict[str, frozenset[str]] = {}
        children: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.parent is not None:
                children.setdefault(node.parent, []).append(node.id)
        for pid in self.nodes:
            found, todo = set(), [pid]
            while todo:
                p = todo.pop()
                found.add(p)
                todo += children.get(p, [])
            self._under[pid] = frozenset(found)

    def known(self, place: str) -> bool:
        """Whether ``place`` names a place (or is ``*``)."""
        return place == ALL or place in self.nodes

    def under(self, places: Iterable[str]) -> frozenset[str] | None:
        """Every place in or under ``places``; None when one of them is ``*`` (no limit)."""
        out: set[str] = set()
        for p in places:
            if p == ALL:
                return None
            out |= self._under.get(p, frozenset())
        return frozenset(out)

    def device_place(self, village: str, device: str) -> str:
        """The grid a device sits in (the village for one not configured)."""
        return self._device_place.get((village, device), f"village:{village}")

    def chain(self, place: str) -> list[str]:
        """The place and every place above it, nearest first."""
        out = []
        node = self.nodes.get(place)
        while node is not None:
            out.append(node.id)
            node = self.nodes.get(node.parent) if node.parent else None
        return out

    def villages_of(self, scope: frozenset[str] | None) -> set[str]:
        """Ids of the villages of which the scope sees at least a part."""
        return {
            p.split(":", 1)[1].split("/", 1)[0]
            for p in (self.nodes if scope is None else scope)
            if p.startswith(("village:", "grid:"))
        }
