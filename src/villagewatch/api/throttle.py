"""Password guessing, slowed down."""

from __future__ import annotations

from collections import deque

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Slows password guessing: after ``limit`` failed logins for one name within
    ``window_s``, that name may not log in until the window has passed (per API process)."""

    def __init__(self, limit: int = 5, window_s: float = 300) -> None:
        self._limit, self._window_s = limit, window_s
        self._failures: dict[str, deque[float]] = {}

    def wait_s(self, name: str, now: float) -> float:
        """Seconds until ``name`` may try again (0: now)."""
        failures = self._failures.get(name)
        if failures is None:
            return 0
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()
        if not failures:
            del self._failures[name]
            return 0
        return failures[0] + self._window_s - now if len(failures) >= self._limit else 0

    def failed(self, name: str, now: float) -> None:
        """A wrong password for ``name``."""
        if len(self._failures) > 100_000:  # a flood of made-up names must not fill memory
            self._failures.clear()
        self._failures.setdefault(name, deque()).append(now)

    def succeeded(self, name: str) -> None:
        """The right password: start counting afresh."""
        self._failures.pop(name, None)
