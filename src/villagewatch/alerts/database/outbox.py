"""The sender's side of the notification outbox in the alert database: what is due, what was
sent, what failed (see :mod:`villagewatch.alerts.outbox`).

Several senders (one per alert engine) may share the outbox: each claims what is due inside a
write transaction (the store's writers run one at a time, on both engines) and marks only
rows still ``queued`` (see :mod:`villagewatch.alerts.outbox`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from villagewatch.alerts import outbox
from villagewatch.alerts.changes import SYSTEM, AlertChanges
from villagewatch.db.database import Connection, Database

__all__ = ["AlertDatabaseOutbox"]


class AlertDatabaseOutbox:
    """:class:`~villagewatch.alerts.store.NotificationOutbox` over the store's file (a part of
    :class:`~villagewatch.alerts.database.store.AlertDatabase`)."""

    _db: Database

    def due_notifications(self, now_ms: int, limit: int = 100) -> list[list[outbox.Queued]]:
        """See :meth:`villagewatch.alerts.store.NotificationOutbox.due_notifications`."""
        return self._db.write(lambda c: outbox.due_groups(c, now_ms, limit))

    def release(self, ids: Sequence[int]) -> None:
        """See :meth:`villagewatch.alerts.store.NotificationOutbox.release`."""
        self._db.write(lambda c: outbox.release(c, ids))

    def mark_sent(self, ids: Sequence[int], now_ms: int) -> None:
        """See :meth:`villagewatch.alerts.store.NotificationOutbox.mark_sent`."""

        def run(c: Connection) -> None:
            c.executemany(
                "UPDATE notifications SET state = 'sent', sent_ms = ?, attempts = attempts + 1,"
                " error = NULL WHERE id = ? AND state = 'queued'",
                [(now_ms, i) for i in ids],
            )

        self._db.write(run)

    def mark_failed(self, ids: Sequence[int], now_ms: int, error: str, retry_at_ms: int) -> None:
        """See :meth:`villagewatch.alerts.store.NotificationOutbox.mark_failed`."""

        def run(c: Connection) -> None:
            c.executemany(
                "UPDATE notifications SET attempts = attempts + 1, error = ?, next_ms = ?,"
                " claimed_until_ms = NULL WHERE id = ? AND state = 'queued'",
                [(error[:500], retry_at_ms, i) for i in ids],
            )
            alerts = {
                r[0]: r[1]
                for i in ids
                for r in c.execute(
                    "SELECT alert_id, channel FROM notifications WHERE id = ?", (i,)
                ).fetchall()
            }
            for alert_id, channel in alerts.items():
                tx = AlertChanges(c, None, now_ms)
                detail = {"channel": channel, "error": error[:200], "retry_at_ms": retry_at_ms}
                tx.audit(tx.one(alert_id), SYSTEM, "notify_failed", detail)

        self._db.write(run)

    def outbox_backlog(self) -> tuple[int, int | None]:
        """See :meth:`villagewatch.alerts.store.NotificationOutbox.outbox_backlog`."""
        (row,) = self._db.rows(
            "SELECT count(*), min(created_ms) FROM notifications WHERE state = 'queued'"
        )
        return int(row[0]), None if row[1] is None else int(row[1])

    def notifications(self, alert_id: int | None = None) -> list[dict[str, Any]]:
        """See :meth:`villagewatch.alerts.store.NotificationOutbox.notifications`."""
        where, args = ("WHERE alert_id = ?", (alert_id,)) if alert_id is not None else ("", ())
        sql = f"SELECT * FROM notifications {where} ORDER BY id"  # noqa: S608 - fixed text
        return self._db.read(lambda c: outbox.row_dicts(c, sql, args))
