"""Silences kept in the SQLite store (see :mod:`villagewatch.alerts.silences`)."""

from __future__ import annotations

import sqlite3

from villagewatch.alerts.changes import json_text
from villagewatch.alerts.lifecycle import ActionRefused
from villagewatch.alerts.silences import SILENCE_FIELDS, Silence
from villagewatch.db.sqlite import SQLiteFile

__all__ = ["SQLiteSilences"]


class SQLiteSilences:
    """:class:`~villagewatch.alerts.store.AlertSilences` over the store's file (a part of
    :class:`~villagewatch.alerts.sqlite.store.SQLiteAlertStore`)."""

    _db: SQLiteFile

    def add_silence(
        self,
        matchers: dict[str, str],
        starts_ms: int,
        ends_ms: int,
        *,
        created_by: str,
        reason: str,
        now_ms: int,
    ) -> Silence:
        """See :meth:`villagewatch.alerts.store.AlertSilences.add_silence`."""
        unknown = sorted(set(matchers) - set(SILENCE_FIELDS))
        if unknown or not matchers:
            fields = ", ".join(SILENCE_FIELDS)
            raise ActionRefused(f"a silence matches on some of {fields}; got {unknown or 'none'}")
        if ends_ms <= starts_ms:
            raise ActionRefused("a silence must end after it starts")
        if not reason.strip():
            raise ActionRefused("a silence needs a reason")

        def run(c: sqlite3.Connection) -> Silence:
            cur = c.execute(
                "INSERT INTO silences (matchers, starts_ms, ends_ms, created_by, reason,"
                " created_ms) VALUES (?,?,?,?,?,?)",
                (json_text(matchers), starts_ms, ends_ms, created_by, reason.strip(), now_ms),
            )
            assert cur.lastrowid is not None
            return Silence(cur.lastrowid, matchers, starts_ms, ends_ms, created_by, reason.strip())

        return self._db.write(run)
