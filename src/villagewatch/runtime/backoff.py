"""The one retry policy of villagewatch: capped exponential backoff with jitter (tenacity's).

Every place that retries — MQTT reconnects, store writes, a camera reopened, an edge record
the broker refused, a notification a platform did not take — waits what :class:`Backoff`
says: attempt ``n`` (from 0) waits a time drawn from the upper half of
``min(max_s, initial_s * 2**n)``. The jitter keeps a village's worth of clients that lost
the same server from coming back at the same instant; the floor of half keeps a retry from
coming back at once.

The delays come from tenacity's wait strategies rather than its ``Retrying`` loop: our loops
also stop on an event, probe the network, reset after a connection that lasted, or (the
alert outbox) keep the attempt count in a database, so they ask for the delay and wait it
themselves.
"""

from __future__ import annotations

from tenacity import RetryCallState, Retrying, wait_exponential, wait_random_exponential

__all__ = ["Backoff"]

_STATE_OWNER = Retrying()  # tenacity's wait strategies read only a state's attempt number


class Backoff:
    """Capped exponential backoff for one retry loop (or, with :meth:`delay`, for a stored
    attempt count)."""

    def __init__(self, *, initial_s: float, max_s: float) -> None:
        half, half_max = initial_s / 2, max_s / 2
        # half the cap for sure, plus up to half again at random: uniform(cap / 2, cap)
        self._wait = wait_exponential(multiplier=half, max=half_max) + wait_random_exponential(
            multiplier=half, max=half_max
        )
        self.attempt = 0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retrying after failed attempt number ``attempt`` (from 0)."""
        state = RetryCallState(_STATE_OWNER, None, (), {})
        state.attempt_number = attempt + 1
        return float(self._wait(state))

    def next_delay(self) -> float:
        """Seconds to wait before this loop's next attempt."""
        delay = self.delay(self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Back to the initial delay after a success."""
        self.attempt = 0
