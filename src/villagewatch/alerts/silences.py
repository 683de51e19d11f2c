"""Silences: notifications held back for a maintenance window while alerts are still
recorded — what one is, what it covers, and the SQL that finds the ones in force.

A silence matches on some of :data:`SILENCE_FIELDS`; an alert it covers is
recorded, audited and escalated as usual, but nobody is told of it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from villagewatch.alerts.lifecycle import Alert

__all__ = ["SILENCE_FIELDS", "Silence", "active_silences", "silence_matches"]

SILENCE_FIELDS = ("village", "detector", "subject", "kind")
"""The alert fields a silence may match on."""


@dataclass(frozen=True, slots=True)
class Silence:
    """Alerts matching every given field are not notified between ``starts_ms`` and ``ends_ms``."""

    id: int
    matchers: dict[str, str]
    starts_ms: int
    ends_ms: int
    created_by: str
    reason: str


def silence_matches(silence: Silence, alert: Alert) -> bool:
    """Whether ``silence`` covers ``alert`` (a camera zone ``cam-1:road`` matches ``cam-1``)."""
    for name, wanted in silence.matchers.items():
        value = getattr(alert, name)
        if name == "subject" and value.split(":", 1)[0] == wanted:
            continue
        if value != wanted:
            return False
    return True


def active_silences(c: sqlite3.Connection, now_ms: int) -> list[Silence]:
    """Silences in force at ``now_ms``."""
    rows = c.execute(
        "SELECT id, matchers, starts_ms, ends_ms, created_by, reason FROM silences"
        " WHERE starts_ms <= ? AND ends_ms > ?",
        (now_ms, now_ms),
    ).fetchall()
    return [Silence(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5]) for r in rows]
