"""Wall-clock time that never steps, for the central services' timers.

A server's clock can be stepped — by hand, by a time daemon after a bad boot, by
a VM migration. Measured on the wall clock, a step of +6 h makes every device
look silent at once, and stepping back hides a device that really died for as
long as the step; escalation and pending timers fire or stall the same way.

:class:`SteadyClock` reads the wall clock once, at start, and from then on adds
monotonic time: silence, escalation and receive stamps follow real elapsed time,
whatever the wall clock does. How far the wall clock has moved away from it is
:meth:`SteadyClock.skew_ms`; services log it and export it, so a stepped server
clock is seen, and a restart takes the wall clock again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["SteadyClock"]

log = logging.getLogger(__name__)

_WARN_SKEW_MS = 5_000


class SteadyClock:
    """Epoch time anchored to the wall clock at start, advanced by the monotonic clock."""

    def __init__(
        self,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
        mono_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._wall_ns, self._mono_ns = wall_ns, mono_ns
        self._anchor_wall = wall_ns()
        self._anchor_mono = mono_ns()
        self._warned = False

    def now_ns(self) -> int:
        """Nanoseconds since the epoch, without the wall clock's steps."""
        return self._anchor_wall + (self._mono_ns() - self._anchor_mono)

    def now_ms(self) -> int:
        """Milliseconds since the epoch, without the wall clock's steps."""
        return self.now_ns() // 1_000_000

    def skew_ms(self) -> int:
        """How far the wall clock is ahead (+) or behind (-) this clock now."""
        return (self._wall_ns() - self.now_ns()) // 1_000_000

    def check(self) -> int:
        """:meth:`skew_ms`, with one warning in the log when it first passes 5 s."""
        skew = self.skew_ms()
        if abs(skew) >= _WARN_SKEW_MS and not self._warned:
            self._warned = True
            log.warning(
                "The system clock moved %+.0f s against the time this service started with; "
                "silence and timers go by the elapsed time, not the system clock. "
                "Restart the service once the clock is right.",
                skew / 1000,
            )
        elif abs(skew) < _WARN_SKEW_MS:
            self._warned = False
        return skew
