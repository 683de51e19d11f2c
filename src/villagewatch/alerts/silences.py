"""Silences: notifications held back for a maintenance window while alerts are still
recorded — what one is, what it covers, when it is in force, and the SQL that finds the ones
in force.

A silence matches on some of :data:`SILENCE_FIELDS`; an alert it covers is
recorded, audited and escalated as usual, but nobody is told of it. A silence is one window
(``starts_ms`` to ``ends_ms``) or, with a :class:`~villagewatch.alerts.recurrence.Recurrence`,
windows that repeat in local time from ``starts_ms`` on (``ends_ms``: when a person ended it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from villagewatch.alerts.lifecycle import Alert
from villagewatch.alerts.recurrence import Recurrence, RecurrenceInvalid
from villagewatch.db.database import Connection

__all__ = [
    "SILENCE_COLUMNS",
    "SILENCE_FIELDS",
    "Silence",
    "active_silences",
    "readable_silences",
    "silence_matches",
    "silence_row",
]

log = logging.getLogger(__name__)

SILENCE_FIELDS = ("village", "detector", "subject", "kind")
"""The alert fields a silence may match on."""

SILENCE_COLUMNS = "id, matchers, starts_ms, ends_ms, created_by, reason, recurrence, ended_by"
"""The columns :func:`silence_row` reads, in its order."""


@dataclass(frozen=True, slots=True)
class Silence:
    """Alerts matching every given field are not notified from ``starts_ms`` until ``ends_ms``
    (None: no end), and with a ``recurrence`` only inside its windows."""

    id: int
    matchers: dict[str, str]
    starts_ms: int
    ends_ms: int | None
    created_by: str
    reason: str
    recurrence: Recurrence | None = None
    ended_by: str | None = None
    """Who ended it early (None: it runs its course)."""

    def next_window(self, now_ms: int) -> tuple[int, int] | None:
        """The window (start, end; epoch ms) in force at ``now_ms``, or else the next one;
        None when the silence is over."""
        if self.ends_ms is not None and self.ends_ms <= now_ms:
            return None
        if self.recurrence is None:
            assert self.ends_ms is not None  # a one-off silence always has an end
            return self.starts_ms, self.ends_ms
        for start, end in self.recurrence.windows(max(now_ms, self.starts_ms)):
            if self.ends_ms is not None and start >= self.ends_ms:
                return None
            return max(start, self.starts_ms), end if self.ends_ms is None else min(
                end, self.ends_ms
            )
        return None

    def in_force(self, now_ms: int) -> bool:
        """Whether it holds back notifications at ``now_ms``."""
        window = self.next_window(now_ms)
        return window is not None and window[0] <= now_ms


def silence_matches(silence: Silence, alert: Alert) -> bool:
    """Whether ``silence`` covers ``alert`` (a camera zone ``cam-1:road`` matches ``cam-1``)."""
    for name, wanted in silence.matchers.items():
        value = getattr(alert, name)
        if name == "subject" and value.split(":", 1)[0] == wanted:
            continue
        if value != wanted:
            return False
    return True


def silence_row(r: Sequence[Any]) -> Silence:
    """A silence from a row of :data:`SILENCE_COLUMNS`."""
    recurrence = Recurrence.from_json(r[6]) if r[6] is not None else None
    return Silence(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5], recurrence, r[7])


def readable_silences(rows: Iterable[Sequence[Any]]) -> list[Silence]:
    """The silences of ``rows``; one that cannot be read (its time zone gone from this
    machine's zone database) is logged and left out — its alerts are then notified, which
    is the side to err on, rather than every alert failing to apply."""
    out = []
    for r in rows:
        try:
            out.append(silence_row(r))
        except (RecurrenceInvalid, ValueError, KeyError) as exc:
            log.warning("silence %s cannot be read, so it holds nothing back: %s", r[0], exc)
    return out


def active_silences(c: Connection, now_ms: int) -> list[Silence]:
    """Silences in force at ``now_ms`` (a recurring one only inside one of its windows)."""
    rows = c.execute(
        f"SELECT {SILENCE_COLUMNS} FROM silences"  # noqa: S608 - our column names
        " WHERE starts_ms <= ? AND (ends_ms IS NULL OR ends_ms > ?)",
        (now_ms, now_ms),
    ).fetchall()
    return [s for s in readable_silences(rows) if s.in_force(now_ms)]
