"""The one small interface every store implements, and the values it trades in.

A store's ``write`` is idempotent: writing a reading or event that is already
stored (same dedupe key) leaves one copy. It raises
:class:`~villagewatch.errors.StoreUnavailable` when the caller should retry the
whole batch later; points the store refuses on their own merits come back in
``WriteResult.rejected`` (and are kept as dead letters by the store itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from villagewatch.contract import DeadLetter, Event, Reading

__all__ = ["Batch", "Bucket", "History", "LastValue", "Store", "WriteResult"]


@dataclass(frozen=True, slots=True)
class Batch:
    """What one write carries."""

    readings: Sequence[Reading] = ()
    events: Sequence[Event] = ()
    dead_letters: Sequence[DeadLetter] = ()

    def __len__(self) -> int:
        return len(self.readings) + len(self.events) + len(self.dead_letters)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did."""

    readings: int = 0
    """Readings now stored (newly, or already there)."""
    events: int = 0
    """Events now stored (newly, or already there)."""
    duplicates: int = 0
    """Readings and events the store recognised as already stored, where it can tell."""
    rejected: tuple[DeadLetter, ...] = field(default_factory=tuple)
    """Items the store refused; already kept as dead letters."""


@dataclass(frozen=True, slots=True)
class LastValue:
    """The newest value of one metric of one device (of one of its parking lots, for a
    camera's space counts per lot)."""

    village: str
    device: str
    metric: str
    time_ns: int
    value: float
    lot: str = ""
    """The parking lot of a camera's ``free_spaces`` / ``occupied_spaces``; empty otherwise."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time bucket of a downsampled series: ``[start_ns, start_ns + width)``."""

    start_ns: int
    mean: float
    min: float
    max: float
    count: int


@dataclass(frozen=True, slots=True)
class History:
    """The readings and events stored in a time range, each list in stored-time order (ties by
    village, device, seq), for replaying them through detectors."""

    readings: list[Reading]
    events: list[Event]

    def __len__(self) -> int:
        return len(self.readings) + len(self.events)


class Store(Protocol):
    """Readings, events and dead letters: written in batches, queried for the console."""

    async def write(self, batch: Batch) -> WriteResult:
        """Store a batch durably and idempotently; raise StoreUnavailable to have it retried."""
        ...

    async def last_values(
        self, *, village: str | None = None, device: str | None = None
    ) -> list[LastValue]:
        """Newest value of every metric of every device (optionally of one village / device)."""
        ...

    async def downsample(
        self, *, village: str, device: str, metric: str, since_ns: int, until_ns: int, buckets: int
    ) -> list[Bucket]:
        """Mean/min/max of a metric in ``buckets`` slices of [since, until); empty ones left out."""
        ...

    async def history(
        self,
        *,
        since_ns: int,
        until_ns: int,
        village: str | None = None,
        device: str | None = None,
    ) -> History:
        """Every reading and event stored in [since, until) (optionally of one village /
        device), as the records ingest wrote. A store that does not keep an item's boot id
        (InfluxDB keeps it for rescued items only) gives one that stands for it: the same for
        every item of one boot."""
        ...

    async def dead_letters(
        self, *, limit: int = 100, before_ns: int | None = None
    ) -> list[DeadLetter]:
        """The newest dead letters (received before ``before_ns``, for the next page), newest
        first."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


def bucket_width_ns(since_ns: int, until_ns: int, buckets: int) -> int:
    """Width of one bucket so that ``buckets`` of them cover [since, until); at least 1 ms."""
    if until_ns <= since_ns:
        raise ValueError("until must be after since")
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    span = until_ns - since_ns
    return max(-(-span // buckets), 1_000_000)
