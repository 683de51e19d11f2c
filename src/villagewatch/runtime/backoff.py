"""Capped exponential backoff with jitter, for every retry loop in villagewatch."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Capped exponential backoff; each delay is drawn from the upper half of its cap.

    The jitter keeps a village's worth of clients that lost the same server from
    coming back at the same instant.
    """

    def __init__(self, *, initial_s: float, max_s: float) -> None:
        self._initial = initial_s
        self._max = max_s
        self.attempt = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt."""
        cap = min(self._max, self._initial * 2**self.attempt)
        self.attempt += 1
        return random.uniform(cap / 2, cap)  # noqa: S311 - jitter, not cryptography

    def reset(self) -> None:
        """Back to the initial delay after a success."""
        self.attempt = 0
