"""The free spaces of the lots villages mark public, as anyone may read them.

Only what ``public_lots:`` of the village files names goes out: the lot's id, its names and
note, free and total spaces and how old the count is — no camera id, no other reading.
A count older than the lot's ``stale_after_s`` (the camera is silent) goes out as
``stale`` without its numbers, so no page shows an old figure as today's.

The answer is computed at most once every :data:`FRESH_S` seconds, by one request while
the others wait for it, so a crowd of phones reads the store once, not once each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from villagewatch.config import Deployment
from villagewatch.config.publiclots import PublicLot, Wording
from villagewatch.errors import StoreError, StoreUnavailable
from villagewatch.store import Store

__all__ = ["FRESH_S", "PublicLotOut", "PublicSpaces", "PublicSpacesOut"]

FRESH_S = 10.0
"""How long one answer is served before the store is read again."""

_OUT = ConfigDict(frozen=True, extra="forbid")


class PublicLotOut(BaseModel):
    """One public lot as residents see it."""

    model_config = _OUT

    village: str = Field(description="The village's id.")
    id: str = Field(description="The lot's id.")
    name: Wording = Field(description="The lot's name, zh and en.")
    note: Wording | None = Field(description="A line about the lot, zh and en.")
    state: Literal["current", "stale", "unknown"] = Field(
        description="`current`: the count is recent; `stale`: the camera has not sent one "
        "for longer than the lot allows (no numbers then); `unknown`: no count yet."
    )
    free: int | None = Field(description="Free spaces (only when current).")
    total: int | None = Field(description="Spaces the camera watches (only when current).")
    updated: datetime | None = Field(description="When the newest count was made.")
    age_s: int | None = Field(description="Its age in seconds when this answer was made.")
    stale_after_s: float = Field(description="The age beyond which a count is stale.")


class PublicSpacesOut(BaseModel):
    """Every public lot's free spaces."""

    model_config = _OUT

    generated: datetime = Field(description="When this answer was made (the server's clock).")
    lots: list[PublicLotOut]


class PublicSpaces:
    """The public answer, cached for :data:`FRESH_S` (see the module)."""

    def __init__(
        self,
        *,
        fresh_s: float = FRESH_S,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._fresh_s = fresh_s
        self._clock = clock
        self._wall_ns = wall_ns
        self._lock = asyncio.Lock()
        self._answer: PublicSpacesOut | str | None = None
        """The answer, or why the store could not give it."""
        self._at = -float("inf")
        self.reads = 0
        """Times the store was read (for tests and the bench)."""

    async def answer(self, deployment: Deployment, store: Store) -> PublicSpacesOut:
        """The current answer; raises :class:`StoreUnavailable` (the failure cached as long
        as an answer) when the store cannot be read."""
        if self._clock() - self._at >= self._fresh_s:
            async with self._lock:
                if self._clock() - self._at >= self._fresh_s:  # not refreshed while we waited
                    try:
                        self._answer = await _compute(deployment, store, self._wall_ns())
                    except StoreError as exc:
                        self._answer = str(exc)  # a crowd during an outage must not queue on it
                    self.reads += 1
                    self._at = self._clock()
        if isinstance(self._answer, str):
            raise StoreUnavailable(self._answer)
        assert self._answer is not None
        return self._answer


async def _compute(deployment: Deployment, store: Store, now_ns: int) -> PublicSpacesOut:
    lots: list[PublicLotOut] = []
    for village in deployment.villages:
        counts: dict[tuple[str, str, str], tuple[int, float]] = {}
        for camera in sorted({lot.camera for lot in village.public_lots}):
            for lv in await store.last_values(village=village.id, device=camera):
                if lv.lot:
                    counts[(camera, lv.lot, lv.metric)] = (lv.time_ns, lv.value)
        for lot in village.public_lots:
            free = counts.get((lot.camera, lot.id, "free_spaces"))
            taken = counts.get((lot.camera, lot.id, "occupied_spaces"))
            lots.append(_lot_out(village.id, lot, free, taken, now_ns))
    return PublicSpacesOut(generated=_at(now_ns), lots=lots)


def _lot_out(
    village: str,
    lot: PublicLot,
    free: tuple[int, float] | None,
    taken: tuple[int, float] | None,
    now_ns: int,
) -> PublicLotOut:
    state: Literal["current", "stale", "unknown"] = "unknown"
    made_ns = age_s = None
    if free is not None and taken is not None:
        made_ns = min(free[0], taken[0])  # both come in one reading; the older decides anyway
        age_s = max(0, (now_ns - made_ns) // 1_000_000_000)  # a count from ahead is not negative
        state = "stale" if age_s > lot.stale_after_s else "current"
    current = state == "current" and free is not None and taken is not None
    return PublicLotOut(
        village=village,
        id=lot.id,
        name=lot.name,
        note=lot.note,
        state=state,
        free=int(free[1]) if current and free else None,
        total=int(free[1] + taken[1]) if current and free and taken else None,
        updated=_at(made_ns) if made_ns is not None else None,
        age_s=age_s,
        stale_after_s=lot.stale_after_s,
    )


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)
