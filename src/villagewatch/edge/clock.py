"""Whether the agent may trust its wall clock, and stamps that are right once it can.

A village box often has no battery-backed clock: after a power cut it starts at
1970, or at whatever time it last saved. Until the clock is **trusted** — the
time source reports sync (``sync_file`` exists, as systemd-timesyncd's
``/run/systemd/timesync/synchronized`` does, or ``require_sync: false``) *and*
the time is plausible (2020 … 2100) — a measurement keeps only its monotonic
stamp. Once trusted, the wall time of any monotonic stamp of this boot is known
(wall now minus how long ago), so those measurements leave with corrected times,
marked ``unsynced`` (the clock was not trusted when they were made).

A driver may say when a measurement was made (a camera's capture time): that time is kept
when it is plausible and not ahead of this clock (:meth:`EdgeClock.stamp`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["EdgeClock"]

log = logging.getLogger(__name__)

_EARLIEST_MS = 1_577_836_800_000  # 2020-01-01
_LATEST_MS = 4_102_444_800_000  # 2100-01-01
_YEAR_MS = 366 * 86_400_000  # the oldest age the contract carries
_AHEAD_MS = 300_000  # how far ahead a driver's own time may be: the centre's max_clock_ahead_s


class EdgeClock:
    """Stamps and corrections for one boot of the agent."""

    def __init__(
        self,
        *,
        sync_file: Path | None = None,
        require_sync: bool = True,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        mono_ms: Callable[[], int] = lambda: time.monotonic_ns() // 1_000_000,
    ) -> None:
        self._sync_file = sync_file
        self._require_sync = require_sync
        self._wall_ms, self.mono_ms = wall_ms, mono_ms
        self._checked_at: int | None = None
        self._trusted = False
        self._told_at = -math.inf

    def trusted(self) -> bool:
        """Synchronised and plausible now (the sync file is checked at most once a second)."""
        mono = self.mono_ms()
        if self._checked_at is None or mono - self._checked_at >= 1000:
            self._checked_at = mono
            synced = not self._require_sync or (
                self._sync_file is not None and self._sync_file.exists()
            )
            self._trusted = synced and _EARLIEST_MS <= self._wall_ms() < _LATEST_MS
        return self._trusted

    def problem(self) -> str | None:
        """Why the clock is not trusted, in a sentence for the log and the status; None when
        it is."""
        if self.trusted():
            return None
        if self._require_sync and self._sync_file is None:
            return (
                "clock.require_sync is true but no clock.sync_file is set: the clock is never "
                "trusted. Alarms leave without it, stamped by the centre; readings wait"
            )
        if self._require_sync and (self._sync_file is None or not self._sync_file.exists()):
            return (
                f"No time source has synchronised the clock: {self._sync_file} does not exist "
                "(is systemd-timesyncd running? On a box with a real-time clock set "
                "clock.require_sync: false). Alarms leave without it, stamped by the centre; "
                "readings wait until the clock is trusted"
            )
        return (
            f"The clock says {time.strftime('%Y-%m-%d %H:%M', time.gmtime(self._wall_ms() / 1000))}"
            " UTC, before 2020 or after 2100. Alarms leave without it, stamped by the centre; "
            "readings wait until the clock is trusted"
        )

    def stamp(self, at: float | None = None) -> tuple[int | None, int]:
        """(wall ms if trusted else None, monotonic ms) for a measurement made now, or at
        ``at`` (epoch seconds) when its driver knows (a camera frame's capture time): that
        time, and a monotonic stamp as far back (so that its age, and whether it is backlog,
        are right). An ``at`` that cannot be believed — before 2020, or more than 5 min ahead
        of this clock (what the centre allows a device) — is told and stamped as now. While
        the clock is not trusted only the age counts (an age this clock cannot tell: now)."""
        wall, mono, trusted = self._wall_ms(), self.mono_ms(), self.trusted()
        if at is not None and math.isfinite(at):
            at_ms = round(at * 1000)
            age = wall - at_ms
            if trusted and at_ms >= _EARLIEST_MS and age >= -_AHEAD_MS:
                return at_ms, mono - max(0, age)
            if not trusted:  # only its age counts, by this clock, which runs if not set
                return None, mono - age if 0 <= age <= _YEAR_MS else mono
        if at is not None and mono - self._told_at >= 60_000:
            self._told_at = mono
            log.warning(
                "A measurement says it was made at %s UTC, before 2020 or ahead of this box's "
                "clock: stamped with this box's time instead (is the device's clock set?)",
                _utc(at),
            )
        return (wall if trusted else None), mono

    def wall_at(self, mono_ms: int) -> int:
        """The wall time of a monotonic stamp of this boot by the wall clock as it is now —
        right once :meth:`trusted`, which the caller checks (checking here again could fall on
        the other side of a change)."""
        return self._wall_ms() - (self.mono_ms() - mono_ms)


def _utc(t: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return str(t)
