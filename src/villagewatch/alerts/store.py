"""What an alert store does, by concern: each caller asks for the part it uses.

- :class:`AlertLifecycle` — detector transitions and people's actions change
  alerts (pending → firing → acknowledged → resolved), and time passes;
- :class:`NotificationOutbox` — the sender's side of the notifications those
  changes decided;
- :class:`AlertSilences` — notifications held back for a maintenance window;
- :class:`AlertQueries` — reading alerts, their history and the live feed;
- :class:`~villagewatch.alerts.overview.AlertOverview` — the wall's figures, counted in
  the store;
- :class:`AlertStore` — all five, and the file's housekeeping.

:class:`~villagewatch.alerts.database.store.AlertDatabase` implements it on an SQLite file
or a PostgreSQL schema shared by several alert engines and API nodes.

Every method is one atomic transaction. Applying a detector transition is
idempotent by its id (a redelivered transition changes nothing), and at most
one alert per identity is open, whatever number of writers race.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from villagewatch.alerts.lifecycle import Alert, AlertPolicy, AuditEntry, Note
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.outbox import Queued
from villagewatch.alerts.overview import AlertOverview
from villagewatch.alerts.recurrence import Recurrence
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.alerts.silences import Silence
from villagewatch.transitions import Transition

__all__ = ["AlertLifecycle", "AlertQueries", "AlertSilences", "AlertStore", "NotificationOutbox"]


class AlertLifecycle(Protocol):
    """How alerts change: detector transitions applied, people's actions, timers."""

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

    def apply_many(
        self,
        items: Sequence[tuple[Transition, str, AlertPolicy]],
        now_ms: int,
        *,
        source: tuple[str, int] | None = None,
    ) -> list[Alert | None]:
        """Several transitions (transition, id, policy) in order, in one transaction."""
        ...

    def set_aside(
        self, source: tuple[str, int], transition_id: str, detail: str, now_ms: int
    ) -> None:
        """A transition that could not be read or applied: keep it with why, and move the
        feed's cursor past it (``source`` is (name, position)) in the same transaction."""
        ...

    def use_notifier(self, notifier: Notifier) -> None:
        """Decide notifications by ``notifier`` from the next change on (a followed config);
        a change in progress finishes with the one it started with."""
        ...

    def cursor(self, source: str) -> int:
        """How far the feed ``source`` has been applied (0: not at all)."""
        ...

    def tick(self, now_ms: int) -> list[Alert]:
        """Time passes: pending alerts whose time is over fire, alerts not acknowledged in
        time escalate one place up, flapping alerts that stayed clear resolve."""
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

    def resolve(
        self,
        alert_id: int,
        actor: str,
        now_ms: int,
        note: str = "",
        reason: ResolutionReason | None = None,
    ) -> Alert:
        """A person closes it, for ``reason``; :class:`~villagewatch.alerts.resolution.
        ResolutionIncomplete` without a reason, or without a note where the alert needs one
        (:func:`~villagewatch.alerts.resolution.check_resolution`)."""
        ...


class NotificationOutbox(Protocol):
    """Notifications decided with the changes that caused them, as the sender sees them."""

    def due_notifications(self, now_ms: int, limit: int = 100) -> list[list[Queued]]:
        """Notification groups (one channel, place, kind, event) with one due: each whole,
        and claimed by this caller (another sender does not get them while they are sent)."""
        ...

    def release(self, ids: Sequence[int]) -> None:
        """Claimed but not sent (the channel's rate is used up): for the next pass."""
        ...

    def mark_sent(self, ids: Sequence[int], now_ms: int) -> None:
        """The channel confirmed these."""
        ...

    def mark_failed(self, ids: Sequence[int], now_ms: int, error: str, retry_at_ms: int) -> None:
        """These failed; try again at ``retry_at_ms`` (in the alerts' history too)."""
        ...

    def outbox_backlog(self) -> tuple[int, int | None]:
        """Queued notifications: how many, and when the oldest was decided (ms; None: none)."""
        ...

    def notifications(self, alert_id: int | None = None) -> list[dict[str, Any]]:
        """Notification rows (all, or one alert's), in order."""
        ...


class AlertSilences(Protocol):
    """Notifications held back (alerts are still recorded)."""

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
        """Hold back notifications of alerts matching every given field (village, detector,
        subject, kind) between the two times; alerts are still recorded."""
        ...

    def add_recurring_silence(
        self,
        matchers: dict[str, str],
        recurrence: Recurrence,
        *,
        created_by: str,
        reason: str,
        now_ms: int,
    ) -> Silence:
        """The same, inside each window of ``recurrence`` from now on (a window in progress
        now included); refused when it would never be in force."""
        ...

    def silence(self, silence_id: int) -> Silence | None:
        """One silence, over or not."""
        ...

    def silences(self, now_ms: int) -> list[Silence]:
        """Silences not over at ``now_ms`` (in force or to come), oldest first."""
        ...

    def end_silence(self, silence_id: int, by: str, now_ms: int) -> Silence:
        """End a silence now (a recurring one: no more windows); refused for an unknown one
        or one already over."""
        ...


class AlertQueries(Protocol):
    """Alerts, their audit log and notes, read."""

    def get(self, alert_id: int) -> Alert | None:
        """One alert."""
        ...

    def open_alerts(self) -> list[Alert]:
        """Every alert not resolved, oldest first."""
        ...

    def recent(self, limit: int) -> list[Alert]:
        """The last ``limit`` alerts opened, resolved or not, newest first."""
        ...

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
        """Alerts matching every filter given, newest first: an empty sequence does not
        filter, except ``places``, where None does not and an empty one matches nothing;
        times are when the alert was opened; ``before_id`` pages back."""
        ...

    def changes_since(self, audit_id: int, limit: int = 500) -> list[tuple[int, int]]:
        """(audit id, alert id) of every change after ``audit_id``, in order: the live feed."""
        ...

    def last_change(self) -> int:
        """The newest audit id (0: none yet)."""
        ...

    def fired_between(self, start_ms: int, end_ms: int) -> list[Alert]:
        """Alerts that started firing in [start_ms, end_ms), for reports."""
        ...

    def audit(self, alert_id: int) -> list[AuditEntry]:
        """The alert's history, in order."""
        ...

    def notes(self, alert_id: int) -> list[Note]:
        """The alert's notes, in order."""
        ...

    def dead_transitions(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest transitions set aside: source, position, transition_id, detail, at_ms."""
        ...


class AlertStore(
    AlertLifecycle, NotificationOutbox, AlertSilences, AlertQueries, AlertOverview, Protocol
):
    """Every concern of an alert store, and the file it keeps them in."""

    def maintain(self) -> None:
        """Housekeeping a store may need now and then (its disk reserve made again)."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...
