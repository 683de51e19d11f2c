"""Reading the alert database: alerts, their history and notes, the live feed. Reads are
snapshots that never wait for a writer (:class:`~villagewatch.db.database.Database`).

The live feed follows the audit log by id: ids are taken inside the store's serialised write
transactions, so they are committed in id order on both engines and a reader that has seen
id N will never later find a new row below N."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from villagewatch.alerts.changes import ALERT_COLUMNS, AUDIT_COLUMNS, alert_row, audit_row
from villagewatch.alerts.lifecycle import Alert, AuditEntry, Note
from villagewatch.db.database import Database

__all__ = ["AlertDatabaseQueries"]

_ALERTS = f"SELECT {ALERT_COLUMNS} FROM alerts"  # noqa: S608 - our column names


class AlertDatabaseQueries:
    """:class:`~villagewatch.alerts.store.AlertQueries` over the store's file (a part of
    :class:`~villagewatch.alerts.database.store.AlertDatabase`)."""

    _db: Database

    def get(self, alert_id: int) -> Alert | None:
        """See :meth:`villagewatch.alerts.store.AlertQueries.get`."""
        rows = self._db.rows(_ALERTS + " WHERE id = ?", (alert_id,))
        return alert_row(rows[0]) if rows else None

    def open_alerts(self) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.open_alerts`."""
        rows = self._db.rows(_ALERTS + " WHERE state != 'resolved' ORDER BY id")
        return [alert_row(r) for r in rows]

    def recent(self, limit: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.recent`."""
        rows = self._db.rows(_ALERTS + " ORDER BY id DESC LIMIT ?", (limit,))
        return [alert_row(r) for r in rows]

    def search(
        self,
        *,
        states: Sequence[str] = (),
        severities: Sequence[str] = (),
        places: Sequence[str] | None = None,
        kinds: Sequence[str] = (),
        since_ms: int | None = None,
        until_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.search`."""
        where: list[str] = ["1=1"]
        args: list[Any] = []
        for column, values in (
            ("state", states), ("severity", severities), ("place", places), ("kind", kinds)
        ):  # fmt: skip
            if values is not None and (values or column == "place"):
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args += list(values)
        for cond, value in (
            ("opened_ms >= ?", since_ms), ("opened_ms < ?", until_ms), ("id < ?", before_id)
        ):  # fmt: skip
            if value is not None:
                where.append(cond)
                args.append(value)
        sql = f"{_ALERTS} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        return [alert_row(r) for r in self._db.rows(sql, [*args, limit])]

    def changes_since(self, audit_id: int, limit: int = 500) -> list[tuple[int, int]]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.changes_since`."""
        rows = self._db.rows(
            "SELECT id, alert_id FROM alert_audit WHERE id > ? ORDER BY id LIMIT ?",
            (audit_id, limit),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    def last_change(self) -> int:
        """See :meth:`villagewatch.alerts.store.AlertQueries.last_change`."""
        (row,) = self._db.rows("SELECT coalesce(max(id), 0) FROM alert_audit")
        return int(row[0])

    def fired_between(self, start_ms: int, end_ms: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.fired_between`."""
        rows = self._db.rows(
            _ALERTS + " WHERE fired_ms >= ? AND fired_ms < ? ORDER BY id",
            (start_ms, end_ms),
        )
        return [alert_row(r) for r in rows]

    def audit(self, alert_id: int) -> list[AuditEntry]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.audit`."""
        rows = self._db.rows(
            f"SELECT {AUDIT_COLUMNS} FROM alert_audit WHERE alert_id = ? ORDER BY id",  # noqa: S608
            (alert_id,),
        )
        return [audit_row(r) for r in rows]

    def notes(self, alert_id: int) -> list[Note]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.notes`."""
        rows = self._db.rows(
            "SELECT id, alert_id, at_ms, author, text FROM alert_notes WHERE alert_id = ?"
            " ORDER BY id",
            (alert_id,),
        )
        return [Note(*r) for r in rows]

    def dead_transitions(self, limit: int = 100) -> list[dict[str, Any]]:
        """See :meth:`villagewatch.alerts.store.AlertQueries.dead_transitions`."""
        rows = self._db.rows(
            "SELECT source, position, transition_id, detail, at_ms FROM dead_transitions"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        names = ("source", "position", "transition_id", "detail", "at_ms")
        return [dict(zip(names, r, strict=True)) for r in rows]
