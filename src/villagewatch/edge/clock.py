"""Whether the agent may trust its wall clock, and stamps that are right once it can.

A village box often has no battery-backed clock: after a power cut it starts at
1970, or at whatever time it last saved. Until the clock is **trusted** — the
time source reports sync (``sync_file`` exists, as systemd-timesyncd's
``/run/systemd/timesync/synchronized`` does, or ``require_sync: false``) *and*
the time is plausible (2020 … 2100) — a measurement keeps only its monotonic
stamp. Once trusted, the wall time of any monotonic stamp of this boot is known
(wall now minus how long ago), so those measurements leave with corrected times,
marked ``unsynced`` (the clock was not trusted when they were made).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["EdgeClock"]

_EARLIEST_MS = 1_577_836_800_000  # 2020-01-01
_LATEST_MS = 4_102_444_800_000  # 2100-01-01


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

    def stamp(self) -> tuple[int | None, int]:
        """(wall ms if trusted else None, monotonic ms) for a measurement made now."""
        return (self._wall_ms() if self.trusted() else None), self.mono_ms()

    def wall_at(self, mono_ms: int) -> int:
        """The wall time of a monotonic stamp of this boot by the wall clock as it is now —
        right once :meth:`trusted`, which the caller checks (checking here again could fall on
        the other side of a change)."""
        return self._wall_ms() - (self.mono_ms() - mono_ms)
