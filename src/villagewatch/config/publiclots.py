"""Parking lots a village shows to everyone: ``public_lots:`` of the village file.

Each names a lot of one of the village's cameras (the ``lots:`` of its camera file, whose
counts it sends with ``lot``) and how residents should read it; the API's public page and
JSON (``/public/spaces``) show these lots' free spaces and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from villagewatch.contract import DeviceKind, Identifier, StrictModel

if TYPE_CHECKING:
    from villagewatch.config.village import Problem, Village

__all__ = ["PublicLot", "Wording", "public_lot_problems"]


class Wording(StrictModel):
    """A short text in Chinese and in English, for residents."""

    zh: str = Field(min_length=1, max_length=80, description="中文, e.g. 卫生院停车场.")
    en: str = Field(min_length=1, max_length=80, description="English, e.g. Clinic car park.")


class PublicLot(StrictModel):
    """A parking lot whose free spaces anyone may see, without a login."""

    id: Identifier = Field(description="The lot's id in its camera file (`lots:`); unique here.")
    camera: Identifier = Field(description="The camera device that counts the lot.")
    name: Wording = Field(description="The lot's name on the public page.")
    note: Wording | None = Field(
        None, description="A line under the name, e.g. around the clinic, open 7:00-19:00."
    )
    stale_after_s: float = Field(
        600,
        ge=60,
        le=86_400,
        description="A count older than this is not shown as current (the camera is silent); "
        "set it to a few times the camera's `parking.interval_s`.",
    )


def public_lot_problems(village: Village) -> list[Problem]:
    """Each public lot names a camera of the village, and no lot id is public twice."""
    problems: list[Problem] = []
    kinds = {d.id: d.kind for d in village.devices}
    seen: dict[str, int] = {}
    for i, lot in enumerate(village.public_lots):
        if lot.id in seen:
            problems.append(
                (("public_lots", i, "id"), f"lot {lot.id!r} is also public_lots[{seen[lot.id]}]")
            )
        seen.setdefault(lot.id, i)
        kind = kinds.get(lot.camera)
        if kind is None:
            problems.append((("public_lots", i, "camera"), f"no device {lot.camera!r} here"))
        elif kind is not DeviceKind.CAMERA:
            problems.append(
                (("public_lots", i, "camera"), f"{lot.camera!r} is a {kind}, not a camera")
            )
    return problems
