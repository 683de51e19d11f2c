"""What a command centre's wall shows at a glance: the open alerts in brief, today's figures
and the trend of alarms, for the places a person sees.

The store computes it in SQL (:class:`AlertOverview`); the caller chooses the buckets, since
days and hours are the deployment's local ones (a summer-time day has 23 or 25 hours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AlertOverview", "OpenBrief", "Overview", "TodayFigures", "TrendBucket"]


@dataclass(frozen=True, slots=True)
class OpenBrief:
    """An open alert, as much as a tile needs to count it."""

    id: int
    village: str
    place: str
    kind: str
    severity: str
    state: str
    updated_ms: int


@dataclass(frozen=True, slots=True)
class TodayFigures:
    """Alarms that fired in the day so far: how many, how many someone acknowledged or
    resolved, and the median time from firing to acknowledgement (None: none acknowledged)."""

    fired: int
    acknowledged: int
    resolved: int
    ack_median_s: float | None
    fired_by_village: dict[str, int]


@dataclass(frozen=True, slots=True)
class TrendBucket:
    """Alarms that fired in [start_ms, end_ms), by severity."""

    start_ms: int
    end_ms: int
    by_severity: dict[str, int]


@dataclass(frozen=True, slots=True)
class Overview:
    """The wall's figures."""

    open: list[OpenBrief]
    today: TodayFigures
    hourly: list[TrendBucket]
    daily: list[TrendBucket]


class AlertOverview(Protocol):
    """The figures of a command centre's wall."""

    def overview(
        self,
        *,
        places: Sequence[str] | None,
        day: tuple[int, int],
        hour_edges: Sequence[int],
        day_edges: Sequence[int],
    ) -> Overview:
        """Open alerts of ``places`` (None: everywhere; empty: nowhere), the figures of alarms
        that fired in ``day`` (start ms, now ms), and alarms counted between consecutive
        ``hour_edges`` and ``day_edges`` (ascending epoch ms), in one consistent read."""
        ...
