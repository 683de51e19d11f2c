"""Recurring maintenance windows: a silence in force on some days of the week (or every day)
from a local time for a while, in a named time zone — what one is, how it is read from what a
person types, and when its windows fall.

How local time is read, the days the clocks change (the same rule for every zone):

* A window starts at its wall-clock time on each of its days. A start inside the hour that
  is skipped when clocks go forward falls as late as the jump: 02:30 on the night Berlin goes
  from 02:00 to 03:00 starts at 03:30. A start inside the hour that happens twice when clocks
  go back is the first of the two (still summer time).
* A window lasts exactly its duration in elapsed time: on the night clocks change, a window
  that spans the change ends an hour later (spring) or earlier (autumn) by the wall clock.
* ``until`` is the last day (local) a window may start; that window runs its full length.

A zone without summer time (Asia/Shanghai) has none of this: every day is 24 hours.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from villagewatch.config.fields import known_zone
from villagewatch.errors import VillagewatchError

__all__ = ["DAY_NAMES", "Recurrence", "RecurrenceInvalid", "parse_clock", "parse_days"]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
"""Day ``i`` of the week (0: Monday, as :meth:`datetime.date.weekday`)."""

_DAY_WORDS: dict[str, int] = {}
for _i, _name in enumerate(DAY_NAMES):
    _DAY_WORDS[_name.lower()] = _DAY_WORDS[_name[:3].lower()] = _i
for _i, _zh in enumerate("一二三四五六日"):
    _DAY_WORDS["周" + _zh] = _DAY_WORDS["星期" + _zh] = _i
_DAY_WORDS["周天"] = _DAY_WORDS["星期天"] = 6
_DAILY = {"daily", "every day", "everyday", "每天"}

_DAY_MS = 86_400_000


class RecurrenceInvalid(VillagewatchError, ValueError):
    """A repeat that cannot be: an unknown day, a bad time or zone, a window too long."""


def parse_days(text: str | Sequence[str]) -> tuple[int, ...]:
    """Weekdays (0: Monday) from ``daily`` or day names — ``tue,thu``, ``Tuesday``, ``周二`` —
    given as one comma-separated text or a list; sorted, each once."""
    if isinstance(text, str):
        text = text.replace("\uff0c", ",").split(",")  # a Chinese comma too
    words = [w.strip() for w in text if w.strip()]
    if not words:
        raise RecurrenceInvalid("name the days it repeats on (e.g. tue,thu) or say daily")
    if any(w.lower() in _DAILY for w in words):
        if len(words) > 1:
            raise RecurrenceInvalid("say daily alone, or name the days (e.g. tue,thu)")
        return tuple(range(7))
    days: set[int] = set()
    for word in words:
        day = _DAY_WORDS.get(word.lower())
        if day is None:
            raise RecurrenceInvalid(
                f"{word!r} is not a day of the week: use Monday … Sunday, mon … sun, 周一 … 周日, "
                "or daily"
            )
        days.add(day)
    return tuple(sorted(days))


def parse_clock(text: str) -> time:
    """A local time of day from ``HH:MM`` (24-hour clock)."""
    found = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", text.strip())
    if found:
        return time(int(found[1]), int(found[2]))
    raise RecurrenceInvalid(f"start time {text!r} is not HH:MM on a 24-hour clock (e.g. 09:00)")


def _hours(ms: int) -> str:
    return f"{ms / 3_600_000:g} h"


@dataclass(frozen=True, slots=True)
class Recurrence:
    """Windows from ``start`` (local time in ``zone``) lasting ``duration_ms``, on each of
    ``days`` (0: Monday; all seven: daily), up to and including the day ``until``.

    Built only valid: a known zone, at least one day, a duration above zero and shorter
    than the gap between two of its days (so its windows never overlap), and at least a
    minute.
    """

    days: tuple[int, ...]
    start: time
    duration_ms: int
    zone: str
    until: date | None = None

    def __post_init__(self) -> None:
        try:
            known_zone(self.zone)
        except ValueError as exc:
            raise RecurrenceInvalid(str(exc)) from None
        if not self.days or any(d not in range(7) for d in self.days):
            raise RecurrenceInvalid("name the days it repeats on (e.g. tue,thu) or say daily")
        if list(self.days) != sorted(set(self.days)):
            object.__setattr__(self, "days", tuple(sorted(set(self.days))))
        if self.start.second or self.start.microsecond or self.start.tzinfo is not None:
            raise RecurrenceInvalid("a start time is a local HH:MM, without seconds or zone")
        if self.duration_ms < 60_000:  # a shorter one is a slip of the unit (seconds, hours)
            raise RecurrenceInvalid("a window must last at least a minute")
        gap = self._shortest_gap_ms()
        if self.duration_ms >= gap:
            raise RecurrenceInvalid(
                f"a window of {_hours(self.duration_ms)} does not fit: it must be shorter than "
                f"the {_hours(gap)} from one of its days to the next ({self.every})"
            )

    def _shortest_gap_ms(self) -> int:
        days = self.days
        gaps = [b - a for a, b in itertools.pairwise(days)] + [days[0] + 7 - days[-1]]
        return min(gaps) * _DAY_MS

    @property
    def every(self) -> str:
        """The days in words: ``daily`` or ``Tuesday, Thursday``."""
        if len(self.days) == 7:
            return "daily"
        return ", ".join(DAY_NAMES[d] for d in self.days)

    def describe(self) -> str:
        """One line a person reads: ``Tuesday 09:00 for 2 h (Europe/Berlin) until 2027-01-31``."""
        until = f" until {self.until.isoformat()}" if self.until else ""
        return (
            f"{self.every} {self.start:%H:%M} for {_hours(self.duration_ms)} ({self.zone}){until}"
        )

    def windows(self, after_ms: int) -> Iterator[tuple[int, int]]:
        """Every window (start, end; epoch ms) that ends after ``after_ms``, in order — one
        in progress at ``after_ms`` first; finite only with ``until``."""
        zone = ZoneInfo(self.zone)
        # a window in progress may have started up to its duration earlier, a day before
        day = datetime.fromtimestamp((after_ms - self.duration_ms) / 1000, zone).date()
        day -= timedelta(days=1)
        while self.until is None or day <= self.until:
            if day.weekday() in self.days:
                # fold=0: a skipped time falls as late as the jump, a repeated one is the first
                begins = datetime.combine(day, self.start, tzinfo=zone)
                start_ms = int(begins.timestamp() * 1000)
                if start_ms + self.duration_ms > after_ms:
                    yield start_ms, start_ms + self.duration_ms
            day += timedelta(days=1)

    def window_at(self, now_ms: int) -> tuple[int, int] | None:
        """The window in force at ``now_ms``, if any."""
        found = self.next_window(now_ms)
        return found if found is not None and found[0] <= now_ms else None

    def next_window(self, now_ms: int) -> tuple[int, int] | None:
        """The window in force at ``now_ms`` or else the next one; None when none is left."""
        return next(self.windows(now_ms), None)

    def to_json(self) -> str:
        """As kept in the store's ``recurrence`` column."""
        return json.dumps(
            {
                "days": list(self.days),
                "start": f"{self.start:%H:%M}",
                "duration_ms": self.duration_ms,
                "zone": self.zone,
                "until": self.until.isoformat() if self.until else None,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Recurrence:
        """From the store's ``recurrence`` column."""
        raw: dict[str, Any] = json.loads(text)
        until = raw.get("until")
        return cls(
            days=tuple(raw["days"]),
            start=parse_clock(raw["start"]),
            duration_ms=int(raw["duration_ms"]),
            zone=str(raw["zone"]),
            until=date.fromisoformat(until) if until else None,
        )
