"""Which places an alert belongs to, from its own up to the town: who is told, and who next.

A device sits in a grid or micro-grid; above it are the enclosing grids, the
village and the town. An alert about a device starts at the device's grid; one
about a whole village (a link down) or an edge agent starts at the village; a
camera zone's (``cam-1:road``) at the camera's grid. Only places whose team has
channels count as steps: escalation skips a place nobody can be told at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from villagewatch.config.teams import Team
from villagewatch.config.village import Village

__all__ = ["Place", "Router"]


@dataclass(frozen=True, slots=True)
class Place:
    """A place with its team: ``grid:<village>/<grid>``, ``village:<id>`` or ``town:<id>``."""

    id: str
    name: str
    team: Team | None

    @property
    def channels(self) -> list[str]:
        """The channels that reach the place's team."""
        return list(self.team.channels) if self.team is not None else []


class Router:
    """Places of every village of a deployment."""

    def __init__(self, villages: Sequence[Village], towns: Mapping[str, Team]) -> None:
        self._chains: dict[tuple[str, str], list[Place]] = {}
        self._village_chain: dict[str, list[Place]] = {}
        for v in villages:
            town = Place(f"town:{v.town}", v.town_name or v.town, towns.get(v.town))
            village = Place(f"village:{v.id}", v.name, v.team)
            top = [village, town]
            self._village_chain[v.id] = top
            grids = {g.id: g for g in v.grids}
            for device in v.devices:
                chain: list[Place] = []
                node = grids.get(device.grid)
                while node is not None:
                    chain.append(Place(f"grid:{v.id}/{node.id}", node.name, node.team))
                    node = grids.get(node.parent) if node.parent else None
                self._chains[(v.id, device.id)] = chain + top

    def chain(self, village: str, subject: str) -> list[Place]:
        """Every place of an alert about ``subject``, nearest first."""
        device = subject.split(":", 1)[0]
        found = self._chains.get((village, device))
        if found is not None:
            return found
        return self._village_chain.get(village, [Place(f"village:{village}", village, None)])

    def steps(self, village: str, subject: str) -> list[Place]:
        """The places that can be told (their team has channels): escalation's ladder."""
        return [p for p in self.chain(village, subject) if p.channels]

    def home(self, village: str, subject: str) -> str:
        """The alert's own place (where it is counted in reports)."""
        return self.chain(village, subject)[0].id
