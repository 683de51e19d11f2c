"""What an alert store does; :class:`~villagewatch.alerts.sqlite.SQLiteAlertStore` is the
embedded one, and a PostgreSQL store for several API nodes implements the same.

Every method is one atomic transaction. Applying a detector transition is
idempotent by its id (a redelivered transition changes nothing), and at most
one alert per identity is open, whatever number of writers race.
"""

from __future__ import annotations

from typing import Protocol

from villagewatch.alerts.lifecycle import Alert, AlertPolicy, AuditEntry, Note
from villagewatch.detectors import Transition

__all__ = ["AlertStore"]


class AlertStore(Protocol):
    """Alerts, their audit log and notes."""

    def apply(
        self,
        transition: Transition,
        transition_id: str,
        policy: AlertPolicy,
        now_ms: int,
        *,
        source: tuple[str, int] | None = None,
    ) -> Alert | None:
        """A detector's transition; the alert it changed, None when it changed none
        (already applied, or a clear/update with nothing open to act on). ``source``
        (name, position) moves that feed's cursor in the same transaction."""
        ...

    def cursor(self, source: str) -> int:
        """How far the feed ``source`` has been applied (0: not at all)."""
        ...

    def promote_pending(self, now_ms: int) -> list[Alert]:
        """Pending alerts whose pending time is over start firing."""
        ...

    def acknowledge(self, alert_id: int, actor: str, now_ms: int, note: str = "") -> Alert:
        """A person has seen it and is on it (firing or pending → acknowledged)."""
        ...

    def assign(self, alert_id: int, actor: str, assignee: str | None, now_ms: int) -> Alert:
        """Give it to someone (None: to nobody)."""
        ...

    def comment(self, alert_id: int, actor: str, text: str, now_ms: int) -> Note:
        """Add a note."""
        ...

    def resolve(self, alert_id: int, actor: str, now_ms: int, note: str = "") -> Alert:
        """A person closes it."""
        ...

    def get(self, alert_id: int) -> Alert | None:
        """One alert."""
        ...

    def open_alerts(self) -> list[Alert]:
        """Every alert not resolved, oldest first."""
        ...

    def recent(self, limit: int) -> list[Alert]:
        """The last ``limit`` alerts opened, resolved or not, newest first."""
        ...

    def audit(self, alert_id: int) -> list[AuditEntry]:
        """The alert's history, in order."""
        ...

    def notes(self, alert_id: int) -> list[Note]:
        """The alert's notes, in order."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...
