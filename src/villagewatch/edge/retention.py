"""The outbox's size and age policy: what goes when the outbox grows past its budget, its disk
runs short of free space, or records wait too long.

Past ``budget_bytes``, or with less than ``reserve_bytes`` free on its disk, the oldest
evidence segments go first, then the oldest telemetry; alarms are never dropped (the
reserve is theirs). Telemetry and evidence older than ``max_age_s`` go too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from villagewatch.edge.lanes import Lane, LaneState, remove_first

__all__ = ["Retention"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retention:
    """The limits an outbox keeps to; :meth:`enforce` applies them to its lanes."""

    budget_bytes: int
    max_age_s: float
    reserve_bytes: int

    def enforce(
        self,
        lanes: Mapping[Lane, LaneState],
        *,
        now: float,
        free_bytes: Callable[[], int | None],
    ) -> dict[Lane, int]:
        """Drop by age, then by size and free space (evidence before telemetry; never alarms);
        returns how many pending records were dropped, per lane."""
        dropped = dict.fromkeys(Lane, 0)
        for lane in (Lane.EVIDENCE, Lane.TELEMETRY):
            st = lanes[lane]
            while st.segments and st.segments[0].touched < now - self.max_age_s:
                dropped[lane] += drop_oldest(st)
        aged = dict(dropped)

        def short_of_space() -> bool:
            free = free_bytes()
            return free is not None and free < self.reserve_bytes

        def size_bytes() -> int:
            return sum(s.size for st in lanes.values() for s in st.segments)

        short = False
        for lane in (Lane.EVIDENCE, Lane.TELEMETRY):
            st = lanes[lane]
            while st.segments and (size_bytes() > self.budget_bytes or short_of_space()):
                short = short or short_of_space()
                dropped[lane] += drop_oldest(st)
        why = f"to stay within {self.budget_bytes / 1e6:.1f} MB"
        if short:
            why += f" and keep {self.reserve_bytes / 1e6:.1f} MB of the disk free"
        for lane, n in dropped.items():
            if n:
                log.warning(
                    "Outbox: dropped the %d oldest waiting %s records (%d older than %.0f h, "
                    "the rest %s); %s",
                    n, lane.name.lower(), aged[lane], self.max_age_s / 3600, why,
                    "events are never dropped",
                )  # fmt: skip
        return dropped


def drop_oldest(st: LaneState) -> int:
    """Delete the lane's oldest segment, pending records and all; returns how many were
    pending."""
    seg = st.segments[0]
    if len(st.segments) == 1 and st.fd is not None:
        os.close(st.fd)  # its unwritten records go with it; the next append starts anew
        st.fd = None
        st.unsynced.clear()
        st.unsynced_records = 0
    lost = seg.pending
    for table in (st.inflight, st.held, st.backoff):
        for recno in [r for r in table if seg.first <= r <= seg.last]:
            del table[recno]
    remove_first(st)
    return lost
