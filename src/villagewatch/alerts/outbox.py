"""Notifications decided but not yet sent: the SQL the alert store shares.

A notification row is written in the same transaction as the alert change that
caused it (the outbox pattern): a crash after the decision leaves it queued,
and the sender sends it after the restart. It is marked sent right after the
channel confirms; a crash in between those two moments is the one case where a
message can go out twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from villagewatch.alerts.lifecycle import Alert
from villagewatch.alerts.notify import Draft
from villagewatch.db.database import Connection

__all__ = ["Queued", "due_groups", "enqueue", "row_dicts"]


@dataclass(frozen=True, slots=True)
class Queued:
    """A notification waiting to be sent."""

    id: int
    alert_id: int
    channel: str
    place: str
    event: str
    group_key: str
    severity: str
    text: str
    attempts: int
    title: str = ""
    """The title of a digest of its group, in its channel's language (``{count}`` to fill);
    empty for one decided before titles were kept."""


def enqueue(c: Connection, alert: Alert, drafts: Sequence[Draft], now_ms: int) -> None:
    """Record the drafts of one alert event."""
    c.executemany(
        "INSERT INTO notifications (alert_id, channel, place, level, event, group_key, severity,"
        " text, state, created_ms, due_ms, next_ms, title) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (alert.id, d.channel, d.place, d.level, d.event, d.group_key, alert.severity.value,
             d.text, d.state, now_ms, d.due_ms, d.due_ms, d.title)
            for d in drafts
        ],
    )  # fmt: skip


def due_groups(c: Connection, now_ms: int, limit: int) -> list[list[Queued]]:
    """Groups with a notification due: each group whole (everything queued under its key)."""
    keys = [
        r[0]
        for r in c.execute(
            "SELECT group_key FROM notifications WHERE state = 'queued'"
            " GROUP BY group_key HAVING min(next_ms) <= ? ORDER BY min(next_ms) LIMIT ?",
            (now_ms, limit),
        ).fetchall()
    ]
    out = []
    for key in keys:
        rows = c.execute(
            "SELECT id, alert_id, channel, place, event, group_key, severity, text, attempts,"
            " title FROM notifications WHERE state = 'queued' AND group_key = ? ORDER BY id",
            (key,),
        ).fetchall()
        out.append([Queued(*r) for r in rows])
    return out


def row_dicts(c: Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows as dicts (for reports and tests)."""
    cur: Any = c.execute(sql, args)  # both engines' cursors describe their columns
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
