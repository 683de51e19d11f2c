"""The transition log as the ``transitions`` table of detect's SQLite file.

Detect writes it through its own connection, inside the transaction that saves
the detector state (:meth:`SQLiteTransitionLog.append`); the alert engine opens
the file with :func:`open_transition_log` and reads it in order of ``rowid``,
which is the position. Columns are named on both sides, never taken by place.
The table itself is created with the rest of detect's file
(:mod:`villagewatch.detect.store`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from villagewatch.db.sqlite import connect_reader
from villagewatch.errors import StoreUnavailable
from villagewatch.transitions.log import LoggedTransition, UnreadableTransition
from villagewatch.transitions.model import AlertKey, Severity, Transition, transition_id

__all__ = ["SQLiteTransitionLog", "open_transition_log"]

_ACTIONS = ("fire", "update", "clear")

_INSERT = (
    "INSERT OR IGNORE INTO transitions (id, key, detector, village, subject, kind, action,"
    " severity, at_ms, message, details, historical, needs_close, recorded_ns, message_key,"
    " params) VALUES (:id, :key, :detector, :village, :subject, :kind, :action, :severity,"
    " :at_ms, :message, :details, :historical, :needs_close, :recorded_ns, :message_key,"
    " :params)"
)
_SELECT = (
    "SELECT rowid AS position, id, detector, village, subject, kind, action, severity, at_ms,"
    " message, details, historical, needs_close, message_key, params FROM transitions"
    " WHERE rowid > ? ORDER BY rowid LIMIT ?"
)


class SQLiteTransitionLog:
    """The ``transitions`` table on a connection the caller owns (and commits)."""

    def __init__(self, conn: sqlite3.Connection, *, where: str = "the transition log") -> None:
        """``where`` names the log in errors (e.g. the file it is in)."""
        self._conn = conn
        self._where = where

    def append(self, transitions: Sequence[Transition], *, recorded_ns: int) -> list[Transition]:
        """See :meth:`villagewatch.transitions.log.TransitionLog.append`. SQLite's errors
        reach the caller as they are: its transaction decides what they mean."""
        new: list[Transition] = []
        for t in transitions:
            cur = self._conn.execute(_INSERT, _row(t, recorded_ns))
            if cur.rowcount:
                new.append(t)
        return new

    def read_after(self, cursor: int, limit: int) -> list[LoggedTransition | UnreadableTransition]:
        """See :meth:`villagewatch.transitions.log.TransitionLog.read_after`;
        :class:`StoreUnavailable` when the table cannot be read."""
        try:
            reader = self._conn.cursor()
            reader.row_factory = sqlite3.Row
            rows = reader.execute(_SELECT, (cursor, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"cannot read {self._where}: {exc}") from exc
        return [_record(row) for row in rows]


@contextmanager
def open_transition_log(path: Path) -> Iterator[SQLiteTransitionLog]:
    """Detect's file at ``path`` opened to read its transitions (the alert engine's side),
    closed on leaving; :class:`StoreUnavailable` when it cannot be opened."""
    where = f"detect's transitions in {path}"
    try:
        conn = connect_reader(path, busy_timeout_s=10)
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"cannot read {where}: {exc}") from exc
    try:
        yield SQLiteTransitionLog(conn, where=where)
    finally:
        conn.close()


def _row(t: Transition, recorded_ns: int) -> dict[str, object]:
    k = t.key
    return {
        "id": transition_id(t),
        "key": str(k),
        "detector": k.detector,
        "village": k.village,
        "subject": k.subject,
        "kind": k.kind,
        "action": t.action,
        "severity": t.severity.value,
        "at_ms": t.at_ms,
        "message": t.message,
        "details": json.dumps(t.details, ensure_ascii=False, default=str),
        "historical": t.historical,
        "needs_close": t.needs_close,
        "recorded_ns": recorded_ns,
        "message_key": t.message_key,
        "params": json.dumps(t.params, ensure_ascii=False),
    }


def _record(row: sqlite3.Row) -> LoggedTransition | UnreadableTransition:
    position, tid = row["position"], str(row["id"])
    try:
        transition = _transition(row)
    except (ValueError, TypeError) as exc:
        return UnreadableTransition(position, tid, repr(exc))
    return LoggedTransition(position, tid, transition)


def _transition(row: sqlite3.Row) -> Transition:
    action, at_ms = row["action"], row["at_ms"]
    if action not in _ACTIONS:
        raise ValueError(f"{action!r} is not an action")
    if not isinstance(at_ms, int):
        raise TypeError(f"at_ms {at_ms!r} is not an integer")
    key = AlertKey(str(row["detector"]), str(row["village"]), str(row["subject"]), str(row["kind"]))
    severity = Severity(str(row["severity"]))
    details = json.loads(str(row["details"]))
    if not isinstance(details, dict):
        raise TypeError(f"details {details!r:.100} are not an object")
    params = json.loads(str(row["params"]))
    if not isinstance(params, dict):
        raise TypeError(f"params {params!r:.100} are not an object")
    return Transition(
        key, action, severity, at_ms, str(row["message"]), details,
        bool(row["historical"]), bool(row["needs_close"]),
        str(row["message_key"]), {str(k): str(v) for k, v in params.items()},
    )  # fmt: skip
