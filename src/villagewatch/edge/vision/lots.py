"""Parking lots of a camera: its `space` zones grouped, each lot's free and occupied count.

A camera that watches more than one car park (the clinic's and the market's, say) names
them in its file's ``lots:``; it then sends one reading per lot (``lot``, ``free_spaces``,
``occupied_spaces``) beside the count of all its spaces, which it sends as before. A
village marks lots public by camera and lot id (``public_lots:`` of the village file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from villagewatch.contract import Identifier, StrictModel

__all__ = ["Lot", "lot_problems", "lot_telemetry"]


class Lot(StrictModel):
    """A parking lot: some of the camera's `space` zones, counted together."""

    id: Identifier = Field(description="Lot id, sent as `lot` with its counts.")
    name: str = Field("", max_length=100, description="A name for people (logs, snapshots).")
    spaces: list[Identifier] = Field(
        min_length=1, max_length=10_000, description="Ids of the `space` zones of this lot."
    )


def lot_problems(lots: Sequence[Lot], space_ids: Sequence[str]) -> list[str]:
    """What is wrong with ``lots`` given the camera's `space` zone ids: a lot id twice, a
    space that is no `space` zone, a space in two lots. Empty when nothing is."""
    problems: list[str] = []
    ids = [lot.id for lot in lots]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        problems.append(f"lot ids must be unique: {', '.join(dup)}")
    spaces = set(space_ids)
    owner: dict[str, str] = {}
    for lot in lots:
        for space in lot.spaces:
            if space not in spaces:
                problems.append(f"lot {lot.id}: {space!r} is not a zone of kind space")
            elif space in owner and owner[space] != lot.id:
                problems.append(f"lot {lot.id}: space {space!r} is also in lot {owner[space]}")
            owner.setdefault(space, lot.id)
    return problems


def lot_telemetry(lots: Sequence[Lot], occupied: Mapping[str, bool]) -> list[dict[str, Any]]:
    """One reading per lot from the occupied-or-free of each space; a lot none of whose
    spaces was classified sends nothing (no figure is better than a made-up one)."""
    out: list[dict[str, Any]] = []
    for lot in lots:
        seen = [occupied[s] for s in lot.spaces if s in occupied]
        if seen:
            taken = sum(seen)
            out.append({"lot": lot.id, "free_spaces": len(seen) - taken, "occupied_spaces": taken})
    return out
