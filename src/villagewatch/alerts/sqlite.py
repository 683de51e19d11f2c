"""The embedded alert store: one SQLite file (WAL), safe for several writer processes.

Each operation runs in one ``BEGIN IMMEDIATE`` transaction (SQLite admits one
writer at a time; others wait up to ``busy_timeout_s``). A partial unique index
allows one open alert per identity, and the ids of applied transitions are
kept, so a redelivered transition and a racing second writer both find the
work done. The audit log refuses updates and deletes (triggers).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from villagewatch.alerts.lifecycle import (
    ActionRefused,
    Alert,
    AlertPolicy,
    AlertState,
    AuditEntry,
    Note,
)
from villagewatch.detectors import Severity, Transition
from villagewatch.errors import StoreUnavailable

__all__ = ["SQLiteAlertStore"]

T = TypeVar("T")
SYSTEM = "system"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, detector TEXT NOT NULL, village TEXT NOT NULL,
    subject TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, state TEXT NOT NULL,
    message TEXT NOT NULL, details TEXT NOT NULL, historical INTEGER NOT NULL,
    needs_close INTEGER NOT NULL, condition_cleared INTEGER NOT NULL,
    started_ms INTEGER NOT NULL, opened_ms INTEGER NOT NULL, pending_until_ms INTEGER,
    fired_ms INTEGER, acknowledged_ms INTEGER, acknowledged_by TEXT,
    resolved_ms INTEGER, resolved_by TEXT, assignee TEXT, updated_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (key) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_pending ON alerts (pending_until_ms) WHERE state = 'pending';
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
"""

_MAX_NOTE = 2000


class SQLiteAlertStore:
    """Alerts in ``path``; open it in every process that writes them."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            path, isolation_level=None, timeout=busy_timeout_s, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.row_factory = sqlite3.Row
        self._conn.executescript(_SCHEMA)  # idempotent; commits by itself

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

        def run(c: sqlite3.Connection) -> Alert | None:
            if source is not None:
                c.execute(
                    "INSERT INTO feed_cursors VALUES (?, ?) ON CONFLICT (source)"
                    " DO UPDATE SET position = max(position, excluded.position)",
                    source,
                )
            new = c.execute(
                "INSERT OR IGNORE INTO applied_transitions VALUES (?)", (transition_id,)
            ).rowcount
            if not new:
                return None
            return _apply(c, transition, policy, now_ms)

        return self._write(run)

    def cursor(self, source: str) -> int:
        """See :meth:`villagewatch.alerts.store.AlertStore.cursor`."""
        row = self._conn.execute(
            "SELECT position FROM feed_cursors WHERE source = ?", (source,)
        ).fetchone()
        return int(row[0]) if row is not None else 0

    def promote_pending(self, now_ms: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertStore.promote_pending`."""

        def run(c: sqlite3.Connection) -> list[Alert]:
            ids = [
                r[0]
                for r in c.execute(
                    "SELECT id FROM alerts WHERE state = 'pending' AND pending_until_ms <= ?"
                    " ORDER BY id",
                    (now_ms,),
                )
            ]
            for alert_id in ids:
                c.execute(
                    "UPDATE alerts SET state = 'firing', fired_ms = ?, updated_ms = ? WHERE id = ?",
                    (now_ms, now_ms, alert_id),
                )
                _audit(c, _one(c, alert_id), now_ms, SYSTEM, "fired", {"after": "pending"})
            return [_one(c, i) for i in ids]

        return self._write(run)

    # --- people's actions -----------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, now_ms: int, note: str = "") -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertStore.acknowledge`."""

        def run(c: sqlite3.Connection) -> Alert:
            alert = _open(c, alert_id, "acknowledged")
            if alert.state is AlertState.ACKNOWLEDGED:
                return alert  # a second click, or two operators at once: one acknowledgement
            c.execute(
                "UPDATE alerts SET state = 'acknowledged', acknowledged_ms = ?,"
                " acknowledged_by = ?, updated_ms = ? WHERE id = ?",
                (now_ms, actor, now_ms, alert_id),
            )
            after = _one(c, alert_id)
            _audit(c, after, now_ms, actor, "acknowledged", {"note": note} if note else {})
            if note:
                _note(c, alert_id, actor, note, now_ms)
            return after

        return self._write(run)

    def assign(self, alert_id: int, actor: str, assignee: str | None, now_ms: int) -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertStore.assign`."""

        def run(c: sqlite3.Connection) -> Alert:
            alert = _open(c, alert_id, "assigned")
            if alert.assignee == assignee:
                return alert
            c.execute(
                "UPDATE alerts SET assignee = ?, updated_ms = ? WHERE id = ?",
                (assignee, now_ms, alert_id),
            )
            after = _one(c, alert_id)
            _audit(c, after, now_ms, actor, "assigned", {"from": alert.assignee, "to": assignee})
            return after

        return self._write(run)

    def comment(self, alert_id: int, actor: str, text: str, now_ms: int) -> Note:
        """See :meth:`villagewatch.alerts.store.AlertStore.comment`."""

        def run(c: sqlite3.Connection) -> Note:
            alert = _one_or_refuse(c, alert_id)
            note = _note(c, alert_id, actor, text, now_ms)
            _audit(c, alert, now_ms, actor, "noted", {"note_id": note.id})
            return note

        return self._write(run)

    def resolve(self, alert_id: int, actor: str, now_ms: int, note: str = "") -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertStore.resolve`."""

        def run(c: sqlite3.Connection) -> Alert:
            _open(c, alert_id, "resolved")
            after = _resolve(c, alert_id, actor, now_ms, {"note": note} if note else {})
            if note:
                _note(c, alert_id, actor, note, now_ms)
            return after

        return self._write(run)

    # --- reading ----------------------------------------------------------------------------

    def get(self, alert_id: int) -> Alert | None:
        """See :meth:`villagewatch.alerts.store.AlertStore.get`."""
        row = self._conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return _alert(row) if row is not None else None

    def open_alerts(self) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertStore.open_alerts`."""
        rows = self._conn.execute("SELECT * FROM alerts WHERE state != 'resolved' ORDER BY id")
        return [_alert(r) for r in rows]

    def recent(self, limit: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertStore.recent`."""
        rows = self._conn.execute("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))
        return [_alert(r) for r in rows]

    def audit(self, alert_id: int) -> list[AuditEntry]:
        """See :meth:`villagewatch.alerts.store.AlertStore.audit`."""
        rows = self._conn.execute(
            "SELECT * FROM alert_audit WHERE alert_id = ? ORDER BY id", (alert_id,)
        )
        return [_entry(r) for r in rows]

    def notes(self, alert_id: int) -> list[Note]:
        """See :meth:`villagewatch.alerts.store.AlertStore.notes`."""
        rows = self._conn.execute(
            "SELECT * FROM alert_notes WHERE alert_id = ? ORDER BY id", (alert_id,)
        )
        return [Note(r["id"], r["alert_id"], r["at_ms"], r["author"], r["text"]) for r in rows]

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"alert store busy or unreadable: {exc}") from exc
        try:
            result = fn(c)
            c.execute("COMMIT")
        except BaseException as exc:
            if c.in_transaction:
                c.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreUnavailable(f"alert store could not write: {exc}") from exc
            raise
        return result


# --- inside a transaction ------------------------------------------------------------------


def _apply(c: sqlite3.Connection, t: Transition, policy: AlertPolicy, now_ms: int) -> Alert | None:
    key = str(t.key)
    row = c.execute("SELECT * FROM alerts WHERE key = ? AND state != 'resolved'", (key,)).fetchone()
    current = _alert(row) if row is not None else None
    detail = {"message": t.message, "at_ms": t.at_ms, "historical": t.historical}
    if t.action == "clear":
        if current is None:
            return None
        if current.needs_close:
            if current.condition_cleared:
                return None
            c.execute(
                "UPDATE alerts SET condition_cleared = 1, updated_ms = ? WHERE id = ?",
                (now_ms, current.id),
            )
            after = _one(c, current.id)
            _audit(c, after, now_ms, SYSTEM, "condition_cleared", detail)
            return after
        was_pending = current.state is AlertState.PENDING
        return _resolve(c, current.id, SYSTEM, now_ms, {**detail, "while_pending": was_pending})
    if current is not None:
        changes: dict[str, Any] = {}
        if t.severity.value != current.severity.value:
            changes["severity"] = t.severity.value
        if current.condition_cleared:
            changes["condition_cleared"] = 0
        if not changes and t.action == "fire":
            return None  # the same condition reported again
        sets = ", ".join(f"{k} = ?" for k in changes)
        c.execute(
            f"UPDATE alerts SET {sets + ', ' if sets else ''}message = ?, details = ?,"  # noqa: S608 - column names are ours
            " updated_ms = ? WHERE id = ?",
            (*changes.values(), t.message, _json(t.details), now_ms, current.id),
        )
        after = _one(c, current.id)
        if "severity" in changes:
            action = "severity_changed"
            detail["from"] = current.severity.value
        else:
            action = "refired" if current.condition_cleared else "updated"
        _audit(c, after, now_ms, SYSTEM, action, detail)
        return after
    pending = policy.pending_s > 0
    needs_close = t.needs_close or policy.close_by_hand
    cur = c.execute(
        "INSERT INTO alerts (key, detector, village, subject, kind, severity, state, message,"
        " details, historical, needs_close, condition_cleared, started_ms, opened_ms,"
        " pending_until_ms, fired_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?)",
        (
            key, t.key.detector, t.key.village, t.key.subject, t.key.kind, t.severity.value,
            AlertState.PENDING.value if pending else AlertState.FIRING.value, t.message,
            _json(t.details), int(t.historical), int(needs_close), t.at_ms, now_ms,
            now_ms + int(policy.pending_s * 1000) if pending else None,
            None if pending else now_ms, now_ms,
        ),
    )  # fmt: skip
    assert cur.lastrowid is not None
    after = _one(c, cur.lastrowid)
    _audit(c, after, now_ms, SYSTEM, "pending" if pending else "fired", detail)
    return after


def _resolve(
    c: sqlite3.Connection, alert_id: int, actor: str, now_ms: int, detail: dict[str, Any]
) -> Alert:
    c.execute(
        "UPDATE alerts SET state = 'resolved', resolved_ms = ?, resolved_by = ?, updated_ms = ?"
        " WHERE id = ?",
        (now_ms, actor, now_ms, alert_id),
    )
    after = _one(c, alert_id)
    _audit(c, after, now_ms, actor, "resolved", detail)
    return after


def _open(c: sqlite3.Connection, alert_id: int, action: str) -> Alert:
    alert = _one_or_refuse(c, alert_id)
    if not alert.is_open:
        raise ActionRefused(f"alert {alert_id} is resolved; it cannot be {action}")
    return alert


def _one_or_refuse(c: sqlite3.Connection, alert_id: int) -> Alert:
    row = c.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    if row is None:
        raise ActionRefused(f"no alert {alert_id}")
    return _alert(row)


def _one(c: sqlite3.Connection, alert_id: int) -> Alert:
    return _alert(c.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone())


def _note(c: sqlite3.Connection, alert_id: int, author: str, text: str, now_ms: int) -> Note:
    text = text.strip()
    if not text:
        raise ActionRefused("a note needs some text")
    if len(text) > _MAX_NOTE:
        raise ActionRefused(f"a note is at most {_MAX_NOTE} characters, this one {len(text)}")
    cur = c.execute(
        "INSERT INTO alert_notes (alert_id, at_ms, author, text) VALUES (?,?,?,?)",
        (alert_id, now_ms, author, text),
    )
    assert cur.lastrowid is not None
    return Note(cur.lastrowid, alert_id, now_ms, author, text)


def _audit(  # noqa: PLR0917 - private, and each call reads as a sentence
    c: sqlite3.Connection,
    alert: Alert,
    at_ms: int,
    actor: str,
    action: str,
    detail: dict[str, Any],
) -> None:
    c.execute(
        "INSERT INTO alert_audit (alert_id, at_ms, actor, action, state, severity, detail)"
        " VALUES (?,?,?,?,?,?,?)",
        (alert.id, at_ms, actor, action, alert.state.value, alert.severity.value, _json(detail)),
    )


def _entry(r: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        r["id"], r["alert_id"], r["at_ms"], r["actor"], r["action"],
        AlertState(r["state"]), Severity(r["severity"]), json.loads(r["detail"]),
    )  # fmt: skip


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _alert(r: sqlite3.Row) -> Alert:
    return Alert(
        r["id"], r["key"], r["detector"], r["village"], r["subject"], r["kind"],
        Severity(r["severity"]), AlertState(r["state"]), r["message"], json.loads(r["details"]),
        bool(r["historical"]), bool(r["needs_close"]), bool(r["condition_cleared"]),
        r["started_ms"], r["opened_ms"], r["pending_until_ms"], r["fired_ms"],
        r["acknowledged_ms"], r["acknowledged_by"], r["resolved_ms"], r["resolved_by"],
        r["assignee"], r["updated_ms"],
    )  # fmt: skip
