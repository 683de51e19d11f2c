"""The embedded alert store: one SQLite file (WAL), safe for several writer processes.

Each change runs in one ``BEGIN IMMEDIATE`` transaction (SQLite admits one
writer at a time; others wait up to ``busy_timeout_s``, then the change is
refused as unavailable); reads use connections of their own and never wait
for a writer (:class:`~villagewatch.db.sqlite.SQLiteFile`). A partial unique index
allows one open alert per identity, and the ids of applied transitions are
kept, so a redelivered transition and a racing second writer both find the
work done. The audit log refuses updates and deletes (triggers).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from villagewatch.alerts import outbox
from villagewatch.alerts.changes import SYSTEM, Change, alert_row, audit_row, json_text
from villagewatch.alerts.lifecycle import (
    ActionRefused,
    Alert,
    AlertPolicy,
    AlertState,
    AuditEntry,
    Note,
)
from villagewatch.alerts.notify import Notifier
from villagewatch.db.migrations import Migration
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S, SQLiteFile
from villagewatch.detectors import Transition

__all__ = ["MIGRATIONS", "SQLiteAlertStore"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, detector TEXT NOT NULL, village TEXT NOT NULL,
    subject TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, state TEXT NOT NULL,
    message TEXT NOT NULL, details TEXT NOT NULL, historical INTEGER NOT NULL,
    needs_close INTEGER NOT NULL, condition_cleared INTEGER NOT NULL,
    started_ms INTEGER NOT NULL, opened_ms INTEGER NOT NULL, pending_until_ms INTEGER,
    fired_ms INTEGER, acknowledged_ms INTEGER, acknowledged_by TEXT,
    resolved_ms INTEGER, resolved_by TEXT, assignee TEXT, updated_ms INTEGER NOT NULL,
    place TEXT NOT NULL, escalation_level INTEGER NOT NULL DEFAULT 0,
    next_escalation_ms INTEGER, flapping INTEGER NOT NULL DEFAULT 0, quiet_until_ms INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (key) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_pending ON alerts (pending_until_ms) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS alerts_key_opened ON alerts (key, opened_ms);
CREATE INDEX IF NOT EXISTS alerts_open_detector ON alerts (village, detector)
    WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_escalation ON alerts (next_escalation_ms)
    WHERE state = 'firing';
CREATE INDEX IF NOT EXISTS alerts_fired ON alerts (fired_ms);
CREATE TABLE IF NOT EXISTS alert_audit (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_audit_alert ON alert_audit (alert_id);
CREATE TRIGGER IF NOT EXISTS alert_audit_no_update BEFORE UPDATE ON alert_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS alert_audit_no_delete BEFORE DELETE ON alert_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS alert_notes (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at_ms INTEGER NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_transitions (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feed_cursors (source TEXT PRIMARY KEY, position INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_transitions (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, position INTEGER NOT NULL,
    transition_id TEXT NOT NULL, detail TEXT NOT NULL, at_ms INTEGER NOT NULL
);
"""

MIGRATIONS = (
    Migration(
        "alerts, their audit log, notes, the transitions feed, notifications and silences",
        _SCHEMA + outbox.SCHEMA,
    ),
)
"""The schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""


class SQLiteAlertStore:
    """Alerts in ``path``; open it in every process that writes them."""

    def __init__(
        self,
        path: Path,
        *,
        notifier: Notifier | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        reserve_bytes: int = 0,
    ) -> None:
        """``notifier``: who is told of what (routing); without one nothing is notified.
        ``busy_timeout_s``: how long a change waits for another writer. ``reserve_bytes``:
        disk space kept beside the file for when the disk is full (see
        :class:`~villagewatch.db.sqlite.SQLiteFile`)."""
        self._db = SQLiteFile(
            path, name="alerts", migrations=MIGRATIONS, busy_timeout_s=busy_timeout_s,
            foreign_keys=True, rows="row", reserve_bytes=reserve_bytes,
        )  # fmt: skip
        self._notifier = notifier
        self._failing: set[int] = set()

    # --- detector transitions -------------------------------------------------------

    def apply(
        self,
        transition: Transition,
        transition_id: str,
        policy: AlertPolicy,
        now_ms: int,
        *,
        source: tuple[str, int] | None = None,
    ) -> Alert | None:
        """See :meth:`villagewatch.alerts.store.AlertStore.apply`."""
        return self.apply_many([(transition, transition_id, policy)], now_ms, source=source)[0]

    def apply_many(
        self,
        items: Sequence[tuple[Transition, str, AlertPolicy]],
        now_ms: int,
        *,
        source: tuple[str, int] | None = None,
    ) -> list[Alert | None]:
        """See :meth:`villagewatch.alerts.store.AlertStore.apply_many`."""

        def run(c: sqlite3.Connection) -> list[Alert | None]:
            if source is not None:
                c.execute(
                    "INSERT INTO feed_cursors VALUES (?, ?) ON CONFLICT (source)"
                    " DO UPDATE SET position = max(position, excluded.position)",
                    source,
                )
            change = Change(c, self._notifier, now_ms)
            out: list[Alert | None] = []
            for transition, transition_id, policy in items:
                new = c.execute(
                    "INSERT OR IGNORE INTO applied_transitions VALUES (?)", (transition_id,)
                ).rowcount
                out.append(change.apply(transition, policy) if new else None)
            return out

        return self._write(run)

    def set_aside(
        self, source: tuple[str, int], transition_id: str, detail: str, now_ms: int
    ) -> None:
        """See :meth:`villagewatch.alerts.store.AlertStore.set_aside`."""

        def run(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO feed_cursors VALUES (?, ?) ON CONFLICT (source)"
                " DO UPDATE SET position = max(position, excluded.position)",
                source,
            )
            c.execute(
                "INSERT INTO dead_transitions (source, position, transition_id, detail, at_ms)"
                " VALUES (?,?,?,?,?)",
                (*source, transition_id[:300], detail[:1000], now_ms),
            )

        self._write(run)

    def dead_transitions(self, limit: int = 100) -> list[dict[str, Any]]:
        """See :meth:`villagewatch.alerts.store.AlertStore.dead_transitions`."""
        rows = self._read(
            "SELECT source, position, transition_id, detail, at_ms FROM dead_transitions"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    def maintain(self) -> None:
        """See :meth:`villagewatch.alerts.store.AlertStore.maintain`."""
        self._db.maintain()

    def cursor(self, source: str) -> int:
        """See :meth:`villagewatch.alerts.store.AlertStore.cursor`."""
        rows = self._read("SELECT position FROM feed_cursors WHERE source = ?", (source,))
        return int(rows[0][0]) if rows else 0

    def tick(self, now_ms: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertStore.tick`."""

        def run(c: sqlite3.Connection) -> list[Alert]:
            tx = Change(c, self._notifier, now_ms)
            changed: list[Alert] = []

            def fire(alert_id: int) -> Alert:
                c.execute("UPDATE alerts SET state = 'firing' WHERE id = ?", (alert_id,))
                return tx.fired(alert_id, {"after": "pending"})

            due: list[tuple[str, Callable[[int], Alert]]] = [
                (
                    "SELECT id FROM alerts WHERE state = 'pending' AND pending_until_ms <= ?",
                    fire,
                ),
                (
                    "SELECT id FROM alerts WHERE state = 'firing' AND next_escalation_ms <= ?",
                    tx.escalate,
                ),
                (
                    (
                        "SELECT id FROM alerts WHERE state != 'resolved' AND flapping = 1"
                        " AND condition_cleared = 1 AND quiet_until_ms <= ?"
                    ),
                    lambda i: tx.resolve(i, SYSTEM, {"flapping": "stayed clear"}),
                ),
            ]
            for query, step in due:
                for (alert_id,) in c.execute(query + " ORDER BY id", (now_ms,)).fetchall():
                    changed += self._isolated(c, alert_id, step)
            return changed

        return self._write(run)

    def _isolated(
        self, c: sqlite3.Connection, alert_id: int, step: Callable[[int], Alert]
    ) -> list[Alert]:
        """One alert's timer step in a savepoint: a bug on one alert must not stop every
        pending, escalation and flap timer behind it (it is logged once and tried again)."""
        c.execute("SAVEPOINT one_alert")
        try:
            alert = step(alert_id)
        except sqlite3.OperationalError:
            raise  # the database itself: the whole pass is retried
        except Exception:
            c.execute("ROLLBACK TO one_alert")
            c.execute("RELEASE one_alert")
            if alert_id not in self._failing:
                self._failing.add(alert_id)
                log.exception("Timer step of alert %d failed; the others go on", alert_id)
            return []
        c.execute("RELEASE one_alert")
        self._failing.discard(alert_id)
        return [alert]

    def add_silence(
        self,
        matchers: dict[str, str],
        starts_ms: int,
        ends_ms: int,
        *,
        created_by: str,
        reason: str,
        now_ms: int,
    ) -> outbox.Silence:
        """See :meth:`villagewatch.alerts.store.AlertStore.add_silence`."""
        unknown = sorted(set(matchers) - set(outbox.SILENCE_FIELDS))
        if unknown or not matchers:
            fields = ", ".join(outbox.SILENCE_FIELDS)
            raise ActionRefused(f"a silence matches on some of {fields}; got {unknown or 'none'}")
        if ends_ms <= starts_ms:
            raise ActionRefused("a silence must end after it starts")
        if not reason.strip():
            raise ActionRefused("a silence needs a reason")

        def run(c: sqlite3.Connection) -> outbox.Silence:
            cur = c.execute(
                "INSERT INTO silences (matchers, starts_ms, ends_ms, created_by, reason,"
                " created_ms) VALUES (?,?,?,?,?,?)",
                (json_text(matchers), starts_ms, ends_ms, created_by, reason.strip(), now_ms),
            )
            assert cur.lastrowid is not None
            return outbox.Silence(
                cur.lastrowid, matchers, starts_ms, ends_ms, created_by, reason.strip()
            )

        return self._write(run)

    # --- the sender's side of the outbox -------------------------------------------------

    def due_notifications(self, now_ms: int, limit: int = 100) -> list[list[outbox.Queued]]:
        """See :meth:`villagewatch.alerts.store.AlertStore.due_notifications`."""
        return self._write(lambda c: outbox.due_groups(c, now_ms, limit))

    def mark_sent(self, ids: Sequence[int], now_ms: int) -> None:
        """See :meth:`villagewatch.alerts.store.AlertStore.mark_sent`."""

        def run(c: sqlite3.Connection) -> None:
            c.executemany(
                "UPDATE notifications SET state = 'sent', sent_ms = ?, attempts = attempts + 1,"
                " error = NULL WHERE id = ? AND state = 'queued'",
                [(now_ms, i) for i in ids],
            )

        self._write(run)

    def mark_failed(self, ids: Sequence[int], now_ms: int, error: str, retry_at_ms: int) -> None:
        """See :meth:`villagewatch.alerts.store.AlertStore.mark_failed`."""

        def run(c: sqlite3.Connection) -> None:
            c.executemany(
                "UPDATE notifications SET attempts = attempts + 1, error = ?, next_ms = ?"
                " WHERE id = ? AND state = 'queued'",
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
                tx = Change(c, None, now_ms)
                detail = {"channel": channel, "error": error[:200], "retry_at_ms": retry_at_ms}
                tx.audit(tx.one(alert_id), SYSTEM, "notify_failed", detail)

        self._write(run)

    def outbox_backlog(self) -> tuple[int, int | None]:
        """See :meth:`villagewatch.alerts.store.AlertStore.outbox_backlog`."""
        (row,) = self._read(
            "SELECT count(*), min(created_ms) FROM notifications WHERE state = 'queued'"
        )
        return int(row[0]), None if row[1] is None else int(row[1])

    def notifications(self, alert_id: int | None = None) -> list[dict[str, Any]]:
        """See :meth:`villagewatch.alerts.store.AlertStore.notifications`."""
        where, args = ("WHERE alert_id = ?", (alert_id,)) if alert_id is not None else ("", ())
        sql = f"SELECT * FROM notifications {where} ORDER BY id"  # noqa: S608 - fixed text
        return self._db.read(lambda c: outbox.row_dicts(c, sql, args))

    # --- people's actions -----------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, now_ms: int, note: str = "") -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertStore.acknowledge`."""

        def run(c: sqlite3.Connection) -> Alert:
            tx = Change(c, self._notifier, now_ms)
            alert = tx.still_open(alert_id, "acknowledged")
            if alert.state is AlertState.ACKNOWLEDGED:
                return alert  # a second click, or two operators at once: one acknowledgement
            after = tx.set(
                alert_id, state=AlertState.ACKNOWLEDGED.value, acknowledged_ms=now_ms,
                acknowledged_by=actor, next_escalation_ms=None,
            )  # fmt: skip
            tx.audit(after, actor, "acknowledged", {"note": note} if note else {})
            if note:
                tx.note(alert_id, actor, note)
            if alert.state is not AlertState.PENDING:
                tx.tell(after, "acknowledged", actor)
            return after

        return self._write(run)

    def assign(self, alert_id: int, actor: str, assignee: str | None, now_ms: int) -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertStore.assign`."""

        def run(c: sqlite3.Connection) -> Alert:
            tx = Change(c, self._notifier, now_ms)
            alert = tx.still_open(alert_id, "assigned")
            if alert.assignee == assignee:
                return alert
            after = tx.set(alert_id, assignee=assignee)
            tx.audit(after, actor, "assigned", {"from": alert.assignee, "to": assignee})
            return after

        return self._write(run)

    def comment(self, alert_id: int, actor: str, text: str, now_ms: int) -> Note:
        """See :meth:`villagewatch.alerts.store.AlertStore.comment`."""

        def run(c: sqlite3.Connection) -> Note:
            tx = Change(c, self._notifier, now_ms)
            alert = tx.existing(alert_id)
            note = tx.note(alert_id, actor, text)
            tx.audit(alert, actor, "noted", {"note_id": note.id})
            return note

        return self._write(run)

    def resolve(self, alert_id: int, actor: str, now_ms: int, note: str = "") -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertStore.resolve`."""

        def run(c: sqlite3.Connection) -> Alert:
            tx = Change(c, self._notifier, now_ms)
            tx.still_open(alert_id, "resolved")
            after = tx.resolve(alert_id, actor, {"note": note} if note else {})
            if note:
                tx.note(alert_id, actor, note)
            return after

        return self._write(run)

    # --- reading ----------------------------------------------------------------------------

    def get(self, alert_id: int) -> Alert | None:
        """See :meth:`villagewatch.alerts.store.AlertStore.get`."""
        rows = self._read("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return alert_row(rows[0]) if rows else None

    def open_alerts(self) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertStore.open_alerts`."""
        rows = self._read("SELECT * FROM alerts WHERE state != 'resolved' ORDER BY id")
        return [alert_row(r) for r in rows]

    def recent(self, limit: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertStore.recent`."""
        rows = self._read("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))
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
        """See :meth:`villagewatch.alerts.store.AlertStore.search`."""
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
        sql = f"SELECT * FROM alerts WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"  # noqa: S608 - columns fixed, values bound
        return [alert_row(r) for r in self._read(sql, [*args, limit])]

    def changes_since(self, audit_id: int, limit: int = 500) -> list[tuple[int, int]]:
        """See :meth:`villagewatch.alerts.store.AlertStore.changes_since`."""
        rows = self._read(
            "SELECT id, alert_id FROM alert_audit WHERE id > ? ORDER BY id LIMIT ?",
            (audit_id, limit),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    def last_change(self) -> int:
        """See :meth:`villagewatch.alerts.store.AlertStore.last_change`."""
        (row,) = self._read("SELECT coalesce(max(id), 0) FROM alert_audit")
        return int(row[0])

    def fired_between(self, start_ms: int, end_ms: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertStore.fired_between`."""
        rows = self._read(
            "SELECT * FROM alerts WHERE fired_ms >= ? AND fired_ms < ? ORDER BY id",
            (start_ms, end_ms),
        )
        return [alert_row(r) for r in rows]

    def audit(self, alert_id: int) -> list[AuditEntry]:
        """See :meth:`villagewatch.alerts.store.AlertStore.audit`."""
        rows = self._read("SELECT * FROM alert_audit WHERE alert_id = ? ORDER BY id", (alert_id,))
        return [audit_row(r) for r in rows]

    def notes(self, alert_id: int) -> list[Note]:
        """See :meth:`villagewatch.alerts.store.AlertStore.notes`."""
        rows = self._read("SELECT * FROM alert_notes WHERE alert_id = ? ORDER BY id", (alert_id,))
        return [Note(r["id"], r["alert_id"], r["at_ms"], r["author"], r["text"]) for r in rows]

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._db.write(fn)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db.rows(sql, args)
