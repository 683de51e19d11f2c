"""Silences kept in the alert database (see :mod:`villagewatch.alerts.silences`)."""

from __future__ import annotations

from villagewatch.alerts.changes import json_text
from villagewatch.alerts.lifecycle import ActionRefused
from villagewatch.alerts.recurrence import Recurrence, RecurrenceInvalid
from villagewatch.alerts.silences import (
    SILENCE_COLUMNS,
    SILENCE_FIELDS,
    Silence,
    readable_silences,
    silence_row,
)
from villagewatch.db.database import Connection, Database

__all__ = ["AlertDatabaseSilences"]


def _checked(matchers: dict[str, str], reason: str) -> str:
    unknown = sorted(set(matchers) - set(SILENCE_FIELDS))
    if unknown or not matchers:
        fields = ", ".join(SILENCE_FIELDS)
        raise ActionRefused(f"a silence matches on some of {fields}; got {unknown or 'none'}")
    if not reason.strip():
        raise ActionRefused("a silence needs a reason")
    return reason.strip()


class AlertDatabaseSilences:
    """:class:`~villagewatch.alerts.store.AlertSilences` over the store's file (a part of
    :class:`~villagewatch.alerts.database.store.AlertDatabase`)."""

    _db: Database

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
        why = _checked(matchers, reason)
        if ends_ms <= starts_ms:
            raise ActionRefused("a silence must end after it starts")
        return self._insert(Silence(0, matchers, starts_ms, ends_ms, created_by, why), now_ms)

    def add_recurring_silence(
        self,
        matchers: dict[str, str],
        recurrence: Recurrence,
        *,
        created_by: str,
        reason: str,
        now_ms: int,
    ) -> Silence:
        """See :meth:`villagewatch.alerts.store.AlertSilences.add_recurring_silence`."""
        why = _checked(matchers, reason)
        if recurrence.next_window(now_ms) is None:
            assert recurrence.until is not None  # only a bounded recurrence runs out
            raise ActionRefused(
                f"the repeat would never be in force: it ends on {recurrence.until.isoformat()},"
                " before its first window"
            )
        silence = Silence(0, matchers, now_ms, None, created_by, why, recurrence)
        return self._insert(silence, now_ms)

    def _insert(self, s: Silence, now_ms: int) -> Silence:
        recurrence = s.recurrence.to_json() if s.recurrence else None

        def run(c: Connection) -> Silence:
            (silence_id,) = c.execute(
                "INSERT INTO silences (matchers, starts_ms, ends_ms, created_by, reason,"
                " created_ms, recurrence) VALUES (?,?,?,?,?,?,?) RETURNING id",
                (json_text(s.matchers), s.starts_ms, s.ends_ms, s.created_by, s.reason, now_ms,
                 recurrence),
            ).fetchone()  # fmt: skip
            return Silence(
                int(silence_id), s.matchers, s.starts_ms, s.ends_ms, s.created_by, s.reason,
                s.recurrence,
            )  # fmt: skip

        return self._db.write(run)

    def silence(self, silence_id: int) -> Silence | None:
        """See :meth:`villagewatch.alerts.store.AlertSilences.silence`."""
        row = self._db.read(
            lambda c: c.execute(
                f"SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?",  # noqa: S608 - ours
                (silence_id,),
            ).fetchone()
        )
        found = readable_silences([row] if row is not None else [])
        return found[0] if found else None

    def silences(self, now_ms: int) -> list[Silence]:
        """See :meth:`villagewatch.alerts.store.AlertSilences.silences`."""
        rows = self._db.read(
            lambda c: c.execute(
                f"SELECT {SILENCE_COLUMNS} FROM silences"  # noqa: S608 - our column names
                " WHERE ends_ms IS NULL OR ends_ms > ? ORDER BY id",
                (now_ms,),
            ).fetchall()
        )
        return [s for s in readable_silences(rows) if s.next_window(now_ms) is not None]

    def end_silence(self, silence_id: int, by: str, now_ms: int) -> Silence:
        """See :meth:`villagewatch.alerts.store.AlertSilences.end_silence`."""

        def run(c: Connection) -> Silence:
            row = c.execute(
                f"SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?",  # noqa: S608 - ours
                (silence_id,),
            ).fetchone()
            if row is None:
                raise ActionRefused(f"no silence {silence_id}")
            try:
                found = silence_row(row)
            except (RecurrenceInvalid, ValueError, KeyError) as exc:
                raise ActionRefused(f"silence {silence_id} cannot be read: {exc}") from None
            if found.next_window(now_ms) is None:
                raise ActionRefused(f"silence {silence_id} is already over")
            c.execute(
                "UPDATE silences SET ends_ms = ?, ended_by = ? WHERE id = ?",
                (now_ms, by, silence_id),
            )
            ended = c.execute(
                f"SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?",  # noqa: S608 - ours
                (silence_id,),
            ).fetchone()
            return silence_row(ended)

        return self._db.write(run)
