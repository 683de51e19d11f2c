"""How alerts change in the alert database: detector transitions applied (idempotent by
their id, the feed's cursor moved in the same transaction), timers, and people's actions.

Each change — its reads included — runs in one :meth:`~villagewatch.db.database.Database.write`
transaction, and the writers of the store run one at a time in every process (SQLite's
``BEGIN IMMEDIATE``, PostgreSQL's advisory lock); others wait up to the busy timeout, then the
change is refused as unavailable. So whichever engine, however many engines: a transition is
applied once, a timer step (fire, escalate, flap end) happens once. The rules themselves are
in :mod:`villagewatch.alerts.changes`.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable, Sequence

from villagewatch.alerts.changes import SYSTEM, AlertChanges
from villagewatch.alerts.lifecycle import Alert, AlertPolicy, AlertState, Note
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.resolution import ResolutionReason, check_resolution
from villagewatch.db.database import Connection, Database
from villagewatch.transitions import Transition

__all__ = ["AlertDatabaseLifecycle"]

log = logging.getLogger(__name__)

# the feed's cursor only moves forward (a slower writer with an older position loses)
_CURSOR = (
    "INSERT INTO feed_cursors (source, position) VALUES (?, ?) ON CONFLICT (source) DO UPDATE"
    " SET position = CASE WHEN excluded.position > feed_cursors.position"
    " THEN excluded.position ELSE feed_cursors.position END"
)


def _database_failure(exc: Exception) -> bool:
    """Whether ``exc`` is the database itself failing (lost, busy, full), not one alert's bug."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    psycopg = sys.modules.get("psycopg")  # loaded only where PostgreSQL is used
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


class AlertDatabaseLifecycle:
    """:class:`~villagewatch.alerts.store.AlertLifecycle` over the store's file (a part of
    :class:`~villagewatch.alerts.database.store.AlertDatabase`)."""

    _db: Database
    _notifier: Notifier | None
    _failing: set[int]  # alerts whose timer step failed, logged once

    def apply(
        self,
        transition: Transition,
        transition_id: str,
        policy: AlertPolicy,
        now_ms: int,
        *,
        source: tuple[str, int] | None = None,
    ) -> Alert | None:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.apply`."""
        return self.apply_many([(transition, transition_id, policy)], now_ms, source=source)[0]

    def apply_many(
        self,
        items: Sequence[tuple[Transition, str, AlertPolicy]],
        now_ms: int,
        *,
        source: tuple[str, int] | None = None,
    ) -> list[Alert | None]:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.apply_many`."""

        def run(c: Connection) -> list[Alert | None]:
            if source is not None:
                c.execute(_CURSOR, source)
            change = AlertChanges(c, self._notifier, now_ms)
            out: list[Alert | None] = []
            for transition, transition_id, policy in items:
                new = c.execute(
                    "INSERT INTO applied_transitions (id) VALUES (?) ON CONFLICT DO NOTHING",
                    (transition_id,),
                ).rowcount
                out.append(change.apply(transition, policy) if new else None)
            return out

        return self._db.write(run)

    def use_notifier(self, notifier: Notifier) -> None:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.use_notifier`."""
        self._notifier = notifier  # one reference: each change reads it once, at its start

    def set_aside(
        self, source: tuple[str, int], transition_id: str, detail: str, now_ms: int
    ) -> None:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.set_aside`."""

        def run(c: Connection) -> None:
            c.execute(_CURSOR, source)
            c.execute(
                "INSERT INTO dead_transitions (source, position, transition_id, detail, at_ms)"
                " VALUES (?,?,?,?,?)",
                (*source, transition_id[:300], detail[:1000], now_ms),
            )

        self._db.write(run)

    def cursor(self, source: str) -> int:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.cursor`."""
        rows = self._db.rows("SELECT position FROM feed_cursors WHERE source = ?", (source,))
        return int(rows[0][0]) if rows else 0

    def tick(self, now_ms: int) -> list[Alert]:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.tick`."""

        def run(c: Connection) -> list[Alert]:
            tx = AlertChanges(c, self._notifier, now_ms)
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

        return self._db.write(run)

    def _isolated(self, c: Connection, alert_id: int, step: Callable[[int], Alert]) -> list[Alert]:
        """One alert's timer step in a savepoint: a bug on one alert must not stop every
        pending, escalation and flap timer behind it (it is logged once and tried again)."""
        c.execute("SAVEPOINT one_alert")
        try:
            alert = step(alert_id)
        except Exception as exc:
            if _database_failure(exc):
                raise  # the database itself: the whole pass is retried
            c.execute("ROLLBACK TO one_alert")
            c.execute("RELEASE one_alert")
            if alert_id not in self._failing:
                self._failing.add(alert_id)
                log.exception("Timer step of alert %d failed; the others go on", alert_id)
            return []
        c.execute("RELEASE one_alert")
        self._failing.discard(alert_id)
        return [alert]

    def acknowledge(self, alert_id: int, actor: str, now_ms: int, note: str = "") -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.acknowledge`."""

        def run(c: Connection) -> Alert:
            tx = AlertChanges(c, self._notifier, now_ms)
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

        return self._db.write(run)

    def assign(self, alert_id: int, actor: str, assignee: str | None, now_ms: int) -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.assign`."""

        def run(c: Connection) -> Alert:
            tx = AlertChanges(c, self._notifier, now_ms)
            alert = tx.still_open(alert_id, "assigned")
            if alert.assignee == assignee:
                return alert
            after = tx.set(alert_id, assignee=assignee)
            tx.audit(after, actor, "assigned", {"from": alert.assignee, "to": assignee})
            return after

        return self._db.write(run)

    def comment(self, alert_id: int, actor: str, text: str, now_ms: int) -> Note:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.comment`."""

        def run(c: Connection) -> Note:
            tx = AlertChanges(c, self._notifier, now_ms)
            alert = tx.existing(alert_id)
            note = tx.note(alert_id, actor, text)
            tx.audit(alert, actor, "noted", {"note_id": note.id})
            return note

        return self._db.write(run)

    def resolve(
        self,
        alert_id: int,
        actor: str,
        now_ms: int,
        note: str = "",
        reason: ResolutionReason | None = None,
    ) -> Alert:
        """See :meth:`villagewatch.alerts.store.AlertLifecycle.resolve`."""

        def run(c: Connection) -> Alert:
            tx = AlertChanges(c, self._notifier, now_ms)
            check_resolution(tx.still_open(alert_id, "resolved"), note, reason)
            detail: dict[str, str] = {"reason": reason.value} if reason else {}
            if note:
                detail["note"] = note
            after = tx.resolve(alert_id, actor, detail, reason.value if reason else None)
            if note:
                tx.note(alert_id, actor, note)
            return after

        return self._db.write(run)
