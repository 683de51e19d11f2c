"""Requests per client address for the pages anyone may open (no login to slow them down).

A token bucket per address: ``burst`` requests at once, then one every ``1 / rate_per_s``
seconds. A refused request learns when its next one would be let through (429 with
Retry-After). What the limiter remembers is bounded (:data:`TRACKED` addresses; the one
seen longest ago makes room), so a flood from made-up addresses costs memory it gives back.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from villagewatch.errors import VillagewatchError

__all__ = ["TRACKED", "ClientRate", "RateLimited"]

TRACKED = 10_000
"""Addresses the limiter remembers."""


class RateLimited(VillagewatchError):
    """Too many requests from one address; try again after ``retry_after_s`` (whole seconds)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many requests; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ClientRate:
    """A token bucket per client address (see the module)."""

    def __init__(self, *, rate_per_s: float, burst: int, tracked: int = TRACKED) -> None:
        if rate_per_s <= 0 or burst < 1 or tracked < 1:
            raise ValueError("rate_per_s, burst and tracked must be positive")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tracked = tracked
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """address → (tokens, when counted), oldest first."""

    def admit(self, source: str, now: float) -> None:
        """Count one request from ``source`` at ``now`` (monotonic seconds); raise
        :class:`RateLimited` when its bucket is empty."""
        tokens, then = self._buckets.pop(source, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - then) * self._rate)
        if tokens < 1:
            self._keep(source, tokens, now)
            raise RateLimited(max(1, math.ceil((1 - tokens) / self._rate)))
        self._keep(source, tokens - 1, now)

    def _keep(self, source: str, tokens: float, now: float) -> None:
        self._buckets[source] = (tokens, now)
        while len(self._buckets) > self._tracked:
            self._buckets.popitem(last=False)

    @property
    def tracked(self) -> int:
        """Addresses remembered now."""
        return len(self._buckets)
