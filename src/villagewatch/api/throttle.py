"""Password guessing, slowed down without locking the real user out; password work kept apart.

Every login attempt is counted when it arrives, before its password is checked
(a check takes tens of milliseconds: counting after it let 30 parallel guesses
through), against two things:

- its **address**: at most ``failures_per_source`` failed logins within
  ``window_s`` and :data:`SOURCE_AT_ONCE` attempts at a time; beyond either the
  attempt is refused at once (429 with Retry-After);
- its **name**: the first :data:`FREE_FAILURES` failures cost nothing (typos);
  each one after doubles the wait before the name's next check, up to
  ``delay_max_s``. Attempts take turns one delay apart — counting those still
  waiting as failures — so parallel guesses from many addresses cannot all go
  at the end of one wait, while the right password from anywhere is checked
  after ``delay_max_s`` at most: slowed, not locked out (five wrong guesses
  used to block the duty operator for five minutes).

What the throttle remembers is bounded (:data:`TRACKED` addresses and names);
when full, the entry used longest ago goes — never everything at once, which
would let a flood of made-up names wipe the counts of the name being guessed.

Passwords are hashed and checked on a :class:`PasswordPool` of their own, with
a bounded queue: a login flood then waits there (or is turned away) instead of
taking the threads every other request reads the stores with.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from villagewatch.errors import VillagewatchError

__all__ = [
    "FREE_FAILURES",
    "SOURCE_AT_ONCE",
    "TRACKED",
    "LoginAttempt",
    "LoginRefused",
    "LoginThrottle",
    "Name",
    "PasswordPool",
    "PoolFull",
    "Source",
    "check_source",
    "name_finished",
    "source_finished",
    "take_turn",
]

P = ParamSpec("P")
T = TypeVar("T")

FREE_FAILURES = 3
"""Failures of a name that add no wait (typos)."""
SOURCE_AT_ONCE = 4
"""Login attempts one address may have under way at once."""
NAME_WAITING = 16
"""Attempts one name may have waiting for their turn; more are refused."""
TRACKED = 10_000
"""Addresses, and names, the throttle remembers."""


class LoginRefused(VillagewatchError):
    """An attempt turned away before its check; try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PoolFull(VillagewatchError):
    """Every password worker is busy and the queue is full."""


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """An admitted attempt: check its password after ``wait_s``, then :meth:`finish` it."""

    source: str
    name: str
    wait_s: float


@dataclass
class Source:
    """What is known of one address: its failures (times) and attempts under way."""

    failures: deque[float] = field(default_factory=deque)
    under_way: int = 0


@dataclass
class Name:
    """What is known of one name: its failures (times), attempts waiting, its next turn."""

    failures: deque[float] = field(default_factory=deque)
    waiting: int = 0
    next_at: float = 0.0


class LoginThrottle:
    """Counts and spaces login attempts per address and per name (see the module); one per
    API process, called from its event loop."""

    def __init__(
        self,
        *,
        failures_per_source: int = 20,
        window_s: float = 300,
        delay_max_s: float = 30,
        tracked: int = TRACKED,
    ) -> None:
        self._per_source = failures_per_source
        self._window_s = window_s
        self._delay_max_s = delay_max_s
        self._tracked = tracked
        self._sources: OrderedDict[str, Source] = OrderedDict()
        self._names: OrderedDict[str, Name] = OrderedDict()

    def admit(self, source: str, name: str, now: float) -> LoginAttempt:
        """Count an attempt from ``source`` for ``name`` at ``now`` (monotonic seconds);
        :class:`LoginRefused` when the address may not try now."""
        src = self._get(self._sources, source, Source)
        check_source(src, now, failures_per_source=self._per_source, window_s=self._window_s)
        person = self._get(self._names, name, Name)
        wait_s = take_turn(
            person, name, now, delay_max_s=self._delay_max_s, window_s=self._window_s
        )
        src.under_way += 1
        return LoginAttempt(source, name, wait_s)

    def finish(self, attempt: LoginAttempt, now: float, *, succeeded: bool | None) -> None:
        """The attempt's check is over: ``succeeded`` True (the right password), False (a
        wrong one), None (not checked: the server could not)."""
        src = self._sources.get(attempt.source)
        if src is not None:
            source_finished(src, now, succeeded)
        person = self._names.get(attempt.name)
        if person is not None:
            name_finished(person, now, succeeded)

    def tracked(self) -> tuple[int, int]:
        """How many addresses and names are remembered."""
        return len(self._sources), len(self._names)

    def _get(self, table: OrderedDict[str, T], key: str, new: Callable[[], T]) -> T:
        found = table.get(key)
        if found is None:
            while len(table) >= self._tracked:
                table.popitem(last=False)  # the one used longest ago
            found = table[key] = new()
        else:
            table.move_to_end(key)
        return found


def check_source(src: Source, now: float, *, failures_per_source: int, window_s: float) -> None:
    """:class:`LoginRefused` when the address has too many attempts under way or too many
    failures within ``window_s`` (its failures older than that are forgotten)."""
    forget_old(src.failures, now, window_s)
    if src.under_way >= SOURCE_AT_ONCE:
        raise LoginRefused("too many logins at once from your address; wait a moment", 1)
    if len(src.failures) + src.under_way >= failures_per_source:
        oldest = src.failures[0] if src.failures else now
        raise LoginRefused(
            "too many failed logins from your address; try again later",
            max(1.0, oldest + window_s - now),
        )


def take_turn(person: Name, name: str, now: float, *, delay_max_s: float, window_s: float) -> float:
    """The name's next turn, in seconds from ``now``, and the one after it set; raises
    :class:`LoginRefused` when too many attempts of the name are waiting."""
    forget_old(person.failures, now, window_s)
    if person.waiting >= NAME_WAITING:
        raise LoginRefused(f"too many logins for {name!r} at once; wait a moment", 1)
    # counted as failing until checked, and so are those still waiting: parallel guesses
    # each add their delay before the next turn
    delay = _delay(len(person.failures) + person.waiting + 1, delay_max_s)
    turn = min(max(now, person.next_at), now + delay_max_s)
    person.next_at = turn + delay
    person.waiting += 1
    return turn - now


def source_finished(src: Source, now: float, succeeded: bool | None) -> None:
    """An attempt of the address is over (see :meth:`LoginThrottle.finish`)."""
    src.under_way = max(0, src.under_way - 1)
    if succeeded is False:
        src.failures.append(now)


def name_finished(person: Name, now: float, succeeded: bool | None) -> None:
    """An attempt of the name is over: a failure counts, the right password clears them."""
    person.waiting = max(0, person.waiting - 1)
    if succeeded is False:
        person.failures.append(now)
    elif succeeded:
        person.failures.clear()
        person.next_at = now


def forget_old(failures: deque[float], now: float, window_s: float) -> None:
    """Drop the failures older than the window."""
    while failures and failures[0] <= now - window_s:
        failures.popleft()


def _delay(failures: int, delay_max_s: float) -> float:
    if failures < FREE_FAILURES:
        return 0.0
    return float(min(delay_max_s, 2 ** (failures - FREE_FAILURES)))


class PasswordPool:
    """A few threads for password hashing and checking, with a bounded queue (see the
    module); ``run`` is called from the event loop."""

    def __init__(self, *, workers: int = 2, waiting: int = 8) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="passwords")
        self._slots = workers + waiting
        self._taken = 0

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a password thread; :class:`PoolFull` when every
        thread is busy and the queue is full."""
        if self._taken >= self._slots:
            raise PoolFull("the server is busy checking passwords; try again in a moment")
        self._taken += 1
        try:
            call = functools.partial(fn, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            self._taken -= 1

    def close(self) -> None:
        """Stop the threads (checks still queued are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
