"""Notifications decided but not yet sent: the SQL the alert store shares.

A notification row is written in the same transaction as the alert change that
caused it (the outbox pattern): a crash after the decision leaves it queued,
and the sender sends it after the restart. It is marked sent right after the
channel confirms; a crash in between those two moments is the one case where a
message can go out twice.

Several senders (one per alert engine process, on one SQLite file or one PostgreSQL
database) share the outbox: a sender takes what is due by *claiming* it — in the same write
transaction that finds it, its ``claimed_until_ms`` is set :data:`CLAIM_MS` ahead — and no
sender takes (or adds to a digest) a claimed row. Sent, it is marked so; failed, it waits its
retry time unclaimed; a sender killed in between leaves it to another once the claim runs
out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from villagewatch.alerts.lifecycle import Alert
from villagewatch.alerts.notify import Draft
from villagewatch.db.database import Connection

__all__ = [
    "CLAIM_MS",
    "SEND_ALLOWANCE_MS",
    "Queued",
    "due_groups",
    "enqueue",
    "release",
    "row_dicts",
]

CLAIM_MS = 30_000
"""How long a sender holds what it took; what a killed sender took waits this long for
another (a restarted engine included). A sender starts no send in the last
:data:`SEND_ALLOWANCE_MS` of its claim (it hands the rest back), so a send that takes up to
that long — a channel's timeout, 10 s by default — ends before anyone else may take it."""

SEND_ALLOWANCE_MS = 15_000
"""The part of a claim kept for the last send begun under it."""


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


# queued and not claimed by a sender (or its claim ran out)
_DUE_KEYS = (
    "SELECT group_key FROM notifications WHERE state = 'queued'"
    " AND (claimed_until_ms IS NULL OR claimed_until_ms <= ?)"
    " GROUP BY group_key HAVING min(next_ms) <= ? ORDER BY min(next_ms) LIMIT ?"
)
_GROUP = (
    "SELECT id, alert_id, channel, place, event, group_key, severity, text, attempts, title"
    " FROM notifications WHERE state = 'queued'"
    " AND (claimed_until_ms IS NULL OR claimed_until_ms <= ?) AND group_key = ? ORDER BY id"
)


def due_groups(c: Connection, now_ms: int, limit: int) -> list[list[Queued]]:
    """Groups with a notification due, each whole (everything queued and unclaimed under its
    key), claimed for :data:`CLAIM_MS`; ``c`` is in a write transaction, so no two senders
    take one notification."""
    keys = [r[0] for r in c.execute(_DUE_KEYS, (now_ms, now_ms, limit)).fetchall()]
    out = []
    for key in keys:
        rows = c.execute(_GROUP, (now_ms, key)).fetchall()
        out.append([Queued(*r) for r in rows])
    c.executemany(
        "UPDATE notifications SET claimed_until_ms = ? WHERE id = ?",
        [(now_ms + CLAIM_MS, q.id) for group in out for q in group],
    )
    return out


def release(c: Connection, ids: Sequence[int]) -> None:
    """Hand claimed notifications back unsent (their channel's rate was used up), for
    whichever sender comes next."""
    c.executemany(
        "UPDATE notifications SET claimed_until_ms = NULL WHERE id = ? AND state = 'queued'",
        [(i,) for i in ids],
    )


def row_dicts(c: Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows as dicts (for reports and tests)."""
    cur: Any = c.execute(sql, args)  # both engines' cursors describe their columns
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
