"""The transition log as the ``transitions`` table of detect's database.

Detect writes it inside the transaction that saves the detector state
(:meth:`TableTransitionLog.append` on the write transaction's connection); the alert
engine reads it in order of ``position`` — on SQLite the rowid, on PostgreSQL an identity
drawn under the store's write lock, so positions become visible in order on both engines.
It reads an SQLite file with :func:`open_transition_log` (a read connection, nothing
migrated), and PostgreSQL's ``detect`` schema through a :class:`DatabaseTransitionLog`.
Columns are named on both sides, never taken by place. The table itself is created with the
rest of detect's database (:mod:`villagewatch.detect.store`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from villagewatch.db.database import Connection, Database
from villagewatch.db.sqlite import connect_reader
from villagewatch.errors import StoreUnavailable
from villagewatch.transitions.log import LoggedTransition, UnreadableTransition
from villagewatch.transitions.model import AlertKey, Severity, Transition, transition_id

__all__ = [
    "WAKE_CHANNEL",
    "DatabaseTransitionLog",
    "TableTransitionLog",
    "open_transition_log",
]

WAKE_CHANNEL = "villagewatch_transitions"
"""The PostgreSQL channel detect notifies on when it commits new transitions."""

_ACTIONS = ("fire", "update", "clear")

_COLUMNS = (
    "id", "key", "detector", "village", "subject", "kind", "action", "severity", "at_ms",
    "message", "details", "historical", "needs_close", "recorded_ns", "message_key", "params",
)  # fmt: skip
_INSERT = "INSERT INTO transitions ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING".format(  # noqa: S608 - fixed names
    ", ".join(_COLUMNS), ", ".join("?" * len(_COLUMNS))
)
_READ = (
    "position", "id", "detector", "village", "subject", "kind", "action", "severity", "at_ms",
    "message", "details", "historical", "needs_close", "message_key", "params",
)  # fmt: skip
_SELECT = (
    f"SELECT {', '.join(_READ)} FROM transitions"  # noqa: S608 - fixed names
    " WHERE position > ? ORDER BY position LIMIT ?"
)


class TableTransitionLog:
    """The ``transitions`` table on a connection the caller owns (and commits)."""

    def __init__(self, conn: Connection, *, where: str = "the transition log") -> None:
        """``where`` names the log in errors (e.g. the file it is in)."""
        self._conn = conn
        self._where = where

    def append(self, transitions: Sequence[Transition], *, recorded_ns: int) -> list[Transition]:
        """See :meth:`villagewatch.transitions.log.TransitionLog.append`. The database's
        errors reach the caller as they are: its transaction decides what they mean."""
        new: list[Transition] = []
        for t in transitions:
            cur = self._conn.execute(_INSERT, _row(t, recorded_ns))
            if cur.rowcount:
                new.append(t)
        return new

    def read_after(self, cursor: int, limit: int) -> list[LoggedTransition | UnreadableTransition]:
        """See :meth:`villagewatch.transitions.log.TransitionLog.read_after`;
        :class:`StoreUnavailable` when an SQLite table cannot be read."""
        try:
            rows = self._conn.execute(_SELECT, (cursor, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"cannot read {self._where}: {exc}") from exc
        return [_record(dict(zip(_READ, row, strict=True))) for row in rows]


class DatabaseTransitionLog:
    """The log of a detect database open as a :class:`Database` (PostgreSQL's ``detect``
    schema): each call one transaction of its own."""

    def __init__(self, db: Database) -> None:
        """``db``: detect's database, migrated by whoever opened it."""
        self._db = db

    def append(self, transitions: Sequence[Transition], *, recorded_ns: int) -> list[Transition]:
        """See :meth:`TableTransitionLog.append` (committed at once)."""
        return self._db.write(
            lambda c: TableTransitionLog(c).append(transitions, recorded_ns=recorded_ns)
        )

    def read_after(self, cursor: int, limit: int) -> list[LoggedTransition | UnreadableTransition]:
        """See :meth:`TableTransitionLog.read_after` (one snapshot); :class:`StoreUnavailable`
        when the database cannot be read."""
        return self._db.read(lambda c: TableTransitionLog(c).read_after(cursor, limit))


@contextmanager
def open_transition_log(path: Path) -> Iterator[TableTransitionLog]:
    """Detect's SQLite file at ``path`` opened to read its transitions (the alert engine's
    side), closed on leaving; :class:`StoreUnavailable` when it cannot be opened."""
    where = f"detect's transitions in {path}"
    try:
        conn = connect_reader(path, busy_timeout_s=10)
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"cannot read {where}: {exc}") from exc
    try:
        yield TableTransitionLog(conn, where=where)
    finally:
        conn.close()


def _row(t: Transition, recorded_ns: int) -> tuple[object, ...]:
    k = t.key
    named: dict[str, object] = {
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
        "historical": int(t.historical),
        "needs_close": int(t.needs_close),
        "recorded_ns": recorded_ns,
        "message_key": t.message_key,
        "params": json.dumps(t.params, ensure_ascii=False),
    }
    return tuple(named[c] for c in _COLUMNS)


def _record(row: dict[str, Any]) -> LoggedTransition | UnreadableTransition:
    position, tid = int(row["position"]), str(row["id"])
    try:
        transition = _transition(row)
    except (ValueError, TypeError) as exc:
        return UnreadableTransition(position, tid, repr(exc))
    return LoggedTransition(position, tid, transition)


def _transition(row: dict[str, Any]) -> Transition:
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
