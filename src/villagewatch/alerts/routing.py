"""Which places an alert belongs to, from its own up to the town: who is told, and who next.

A device sits in a grid or micro-grid; above it are the enclosing grids, the
village and the town (the deployment's :class:`~villagewatch.config.places.PlaceTree`).
An alert about a device starts at the device's grid; one about a whole village (a link
down) or an edge agent starts at the village; a camera zone's (``cam-1:road``) at the
camera's grid. Only places whose team has channels count as steps: escalation skips a
place nobody can be told at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from villagewatch.config.places import Place, PlaceTree, village_place
from villagewatch.config.teams import Team
from villagewatch.config.village import Village

__all__ = ["Router"]


class Router:
    """Places of every village of a deployment, as alerts climb them."""

    def __init__(self, villages: Sequence[Village], towns: Mapping[str, Team]) -> None:
        self._tree = PlaceTree(villages, towns)
        self.village_names = {v.id: v.name for v in villages}
        """Village id → the name operators know it by (messages name villages by it)."""

    def chain(self, village: str, subject: str) -> list[Place]:
        """Every place of an alert about ``subject``, nearest first."""
        device = subject.split(":", 1)[0]
        found = self._tree.chain(self._tree.device_place(village, device))
        return found or [Place(village_place(village), "village", village, None, None)]

    def steps(self, village: str, subject: str) -> list[Place]:
        """The places that can be told (their team has channels): escalation's ladder."""
        return [p for p in self.chain(village, subject) if p.channels]

    def home(self, village: str, subject: str) -> str:
        """The alert's own place (where it is counted in reports)."""
        return self.chain(village, subject)[0].id
