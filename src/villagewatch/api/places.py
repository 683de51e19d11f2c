"""Scoping by place: a user is given places and sees what lies in or under them.

A town's user sees its villages, a grid leader their grid and its micro-grids. An
alert or a device belongs to its own place (a grid, or the village for village-wide
alerts), so "may this user see it" is "is its own place under one of theirs". The
places themselves are the deployment's :class:`~villagewatch.config.places.PlaceTree`.
"""

from __future__ import annotations

from collections.abc import Iterable

from villagewatch.config.places import PlaceTree, village_of_place

__all__ = ["ALL", "Places"]

ALL = "*"
"""The place of users who see everything."""


class Places(PlaceTree):
    """The place tree with the console's scope questions."""

    def known(self, place: str) -> bool:
        """Whether ``place`` names a place (or is ``*``)."""
        return place == ALL or place in self.nodes

    def under(self, places: Iterable[str]) -> frozenset[str] | None:
        """Every place in or under ``places``; None when one of them is ``*`` (no limit)."""
        out: set[str] = set()
        for p in places:
            if p == ALL:
                return None
            out |= self.below(p)
        return frozenset(out)

    def villages_of(self, scope: frozenset[str] | None) -> set[str]:
        """Ids of the villages of which the scope sees at least a part."""
        found = (village_of_place(p) for p in (self.nodes if scope is None else scope))
        return {v for v in found if v is not None}
