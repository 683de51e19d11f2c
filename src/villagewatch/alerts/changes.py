"""How an alert changes, inside one store transaction: the lifecycle rules, their audit
entries, and the notifications they decide (written to the outbox in the same
transaction)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from villagewatch.alerts import outbox, silences
from villagewatch.alerts.lifecycle import (
    ActionRefused,
    Alert,
    AlertPolicy,
    AlertState,
    AuditEntry,
    Note,
)
from villagewatch.alerts.notify import Notifier
from villagewatch.db.database import Connection
from villagewatch.transitions import Severity, Transition

__all__ = [
    "ALERT_COLUMNS",
    "AUDIT_COLUMNS",
    "SYSTEM",
    "AlertChanges",
    "alert_row",
    "audit_row",
    "json_text",
]

SYSTEM = "system"
_MAX_NOTE = 2000

# Columns by name, read by position: both engines give tuples, and a table's column order
# depends on the migrations that made it.
ALERT_COLUMNS = (
    "id, key, detector, village, subject, kind, severity, state, message, details, historical,"
    " needs_close, condition_cleared, started_ms, opened_ms, pending_until_ms, fired_ms,"
    " acknowledged_ms, acknowledged_by, resolved_ms, resolved_by, assignee, updated_ms, place,"
    " escalation_level, next_escalation_ms, flapping, quiet_until_ms, resolution, message_key,"
    " params"
)
"""The columns :func:`alert_row` reads, in its order."""
AUDIT_COLUMNS = "id, alert_id, at_ms, actor, action, state, severity, detail"
"""The columns :func:`audit_row` reads, in its order."""
_ONE = f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"  # noqa: S608 - our column names


class AlertChanges:
    """One transaction's worth of alert changes at ``now_ms``."""

    def __init__(self, c: Connection, notifier: Notifier | None, now_ms: int) -> None:
        self.c, self.notifier, self.now = c, notifier, now_ms
        self._silences: list[silences.Silence] | None = None

    # --- reading ------------------------------------------------------------------------

    def one(self, alert_id: int) -> Alert:
        """The alert (it exists)."""
        row = self.c.execute(_ONE, (alert_id,)).fetchone()
        return alert_row(row)

    def existing(self, alert_id: int) -> Alert:
        """The alert, or a refusal naming it."""
        row = self.c.execute(_ONE, (alert_id,)).fetchone()
        if row is None:
            raise ActionRefused(f"no alert {alert_id}")
        return alert_row(row)

    def still_open(self, alert_id: int, action: str) -> Alert:
        """The alert, or a refusal if it is resolved."""
        alert = self.existing(alert_id)
        if not alert.is_open:
            raise ActionRefused(f"alert {alert_id} is resolved; it cannot be {action}")
        return alert

    def set(self, alert_id: int, **values: Any) -> Alert:
        """Update columns of the alert (names are ours, never input) and return it."""
        sets = ", ".join(f"{k} = ?" for k in values)
        self.c.execute(
            f"UPDATE alerts SET {sets}, updated_ms = ? WHERE id = ?",  # noqa: S608 - our names
            (*values.values(), self.now, alert_id),
        )
        return self.one(alert_id)

    # --- what happens -----------------------------------------------------------------------

    def audit(self, alert: Alert, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Append to the alert's history."""
        self.c.execute(
            "INSERT INTO alert_audit (alert_id, at_ms, actor, action, state, severity, detail)"
            " VALUES (?,?,?,?,?,?,?)",
            (alert.id, self.now, actor, action, alert.state.value, alert.severity.value,
             json_text(detail)),
        )  # fmt: skip

    def tell(self, alert: Alert, event: str, by: str = "") -> None:
        """Decide the notifications of ``event``; silenced or inhibited ones are kept unsent."""
        if self.notifier is None:
            return
        drafts = self.notifier.drafts(alert, event, self.now, held=self._held(alert), by=by)
        outbox.enqueue(self.c, alert, drafts, self.now)

    def fired(self, alert_id: int, detail: dict[str, Any], event: str = "fired") -> Alert:
        """The alert starts firing (new, or its pending time is over): tell its place."""
        steps = self.notifier.steps(self.one(alert_id)) if self.notifier else 0
        after_ms = self.notifier.escalate_after_ms if self.notifier else 0
        alert = self.set(
            alert_id,
            fired_ms=self.now,
            next_escalation_ms=self.now + after_ms if steps > 1 else None,
        )
        self.audit(alert, SYSTEM, "fired", detail)
        self.tell(alert, event)
        return alert

    def escalate(self, alert_id: int) -> Alert:
        """Not acknowledged in time: one place up (once per level)."""
        before = self.one(alert_id)
        level = before.escalation_level + 1
        steps = self.notifier.steps(before) if self.notifier else 0
        after_ms = self.notifier.escalate_after_ms if self.notifier else 0
        alert = self.set(
            alert_id,
            escalation_level=level,
            next_escalation_ms=self.now + after_ms if level + 1 < steps else None,
        )
        self.audit(alert, SYSTEM, "escalated", {"level": level})
        self.tell(alert, "escalated")
        return alert

    def resolve(
        self, alert_id: int, actor: str, detail: dict[str, Any], reason: str | None = None
    ) -> Alert:
        """The alert ends (for ``reason``, if a person gave one); whoever was told hears of it
        (unless it never fired)."""
        before = self.one(alert_id)
        alert = self.set(
            alert_id, state=AlertState.RESOLVED.value, resolved_ms=self.now, resolved_by=actor,
            next_escalation_ms=None, resolution=reason,
        )  # fmt: skip
        self.audit(alert, actor, "resolved", detail)
        if before.state is not AlertState.PENDING:
            self.tell(alert, "resolved", "" if actor == SYSTEM else actor)
        return alert

    def note(self, alert_id: int, author: str, text: str) -> Note:
        """Keep a person's note."""
        text = text.strip()
        if not text:
            raise ActionRefused("a note needs some text")
        if len(text) > _MAX_NOTE:
            raise ActionRefused(f"a note is at most {_MAX_NOTE} characters, this one {len(text)}")
        (note_id,) = self.c.execute(
            "INSERT INTO alert_notes (alert_id, at_ms, author, text) VALUES (?,?,?,?) RETURNING id",
            (alert_id, self.now, author, text),
        ).fetchone()
        return Note(int(note_id), alert_id, self.now, author, text)

    # --- a detector's transition -----------------------------------------------------------

    def apply(self, t: Transition, policy: AlertPolicy) -> Alert | None:
        """The lifecycle rules (see :mod:`villagewatch.alerts.lifecycle`)."""
        key = str(t.key)
        row = self.c.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE key = ? AND state != 'resolved'",  # noqa: S608
            (key,),
        ).fetchone()
        current = alert_row(row) if row is not None else None
        detail = {"message": t.message, "at_ms": t.at_ms, "historical": t.historical}
        if t.action == "clear":
            return self._clear(current, policy, detail) if current is not None else None
        if current is not None:
            return self._again(current, t, detail)
        return self._open(t, policy, detail)

    def _clear(self, current: Alert, policy: AlertPolicy, detail: dict[str, Any]) -> Alert | None:
        if current.needs_close or current.flapping:
            if current.condition_cleared:
                return None
            quiet = self.now + int(policy.flap_window_s * 1000) if current.flapping else None
            alert = self.set(current.id, condition_cleared=1, quiet_until_ms=quiet)
            self.audit(alert, SYSTEM, "condition_cleared", detail)
            return alert
        pending = current.state is AlertState.PENDING
        return self.resolve(current.id, SYSTEM, {**detail, "while_pending": pending})

    def _again(self, current: Alert, t: Transition, detail: dict[str, Any]) -> Alert | None:
        """A fire or update for an alert that is open: severity in place, or a re-fire."""
        changes: dict[str, Any] = {}
        if t.severity is not current.severity:
            changes["severity"] = t.severity.value
        if current.condition_cleared:
            changes["condition_cleared"] = 0
            changes["quiet_until_ms"] = None
        if not changes and t.action == "fire":
            return None  # the same condition reported again
        alert = self.set(
            current.id, **changes, message=t.message, details=json_text(t.details),
            message_key=t.message_key, params=json_text(t.params),
        )  # fmt: skip
        if "severity" in changes:
            self.audit(
                alert, SYSTEM, "severity_changed", {**detail, "from": current.severity.value}
            )
            worse = t.severity.rank > current.severity.rank
            if worse and alert.state is not AlertState.PENDING:
                self.tell(alert, "severity")
        else:
            self.audit(alert, SYSTEM, "refired" if current.condition_cleared else "updated", detail)
        return alert

    def _open(self, t: Transition, policy: AlertPolicy, detail: dict[str, Any]) -> Alert:
        key = str(t.key)
        flapping = False
        if policy.flap_count:
            since = self.now - int(policy.flap_window_s * 1000)
            recent = self.c.execute(
                "SELECT count(*) FROM alerts WHERE key = ? AND opened_ms >= ?", (key, since)
            ).fetchone()[0]
            flapping = recent + 1 >= policy.flap_count
        pending = policy.pending_s > 0 and not flapping
        place = self.notifier.router.home(t.key.village, t.key.subject) if self.notifier else ""
        (alert_id,) = self.c.execute(
            "INSERT INTO alerts (key, detector, village, subject, kind, severity, state, message,"
            " details, historical, needs_close, condition_cleared, started_ms, opened_ms,"
            " pending_until_ms, updated_ms, place, flapping, message_key, params)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?,?,?) RETURNING id",
            (
                key, t.key.detector, t.key.village, t.key.subject, t.key.kind, t.severity.value,
                AlertState.PENDING.value if pending else AlertState.FIRING.value, t.message,
                json_text(t.details), int(t.historical), int(t.needs_close or policy.close_by_hand),
                t.at_ms, self.now, self.now + int(policy.pending_s * 1000) if pending else None,
                self.now, place, int(flapping), t.message_key, json_text(t.params),
            ),
        ).fetchone()  # fmt: skip
        if pending:
            alert = self.one(alert_id)
            self.audit(alert, SYSTEM, "pending", detail)
            return alert
        return self.fired(alert_id, detail, "flapping" if flapping else "fired")

    # --- silences and inhibition ----------------------------------------------------------

    def _held(self, alert: Alert) -> str | None:
        if self._silences is None:  # once per transaction: a batch shares them
            self._silences = silences.active_silences(self.c, self.now)
        if any(silences.silence_matches(s, alert) for s in self._silences):
            return "silenced"
        if alert.detector == "offline" and alert.kind == "link_down":
            return None
        device = alert.subject.split(":", 1)[0]
        for row in self.c.execute(
            "SELECT subject, kind, details FROM alerts WHERE village = ? AND detector = 'offline'"
            " AND state != 'resolved' AND id != ?",
            (alert.village, alert.id),
        ).fetchall():
            subject, kind, details = row
            if kind == "link_down" and (
                subject == alert.village or device in json.loads(details).get("devices", [])
            ):
                return "inhibited"  # the link is down: its devices' alerts are one story
            if kind == "device_offline" and subject == device and alert.detector != "offline":
                return "inhibited"  # the device is offline: its values wait
        return None


def json_text(value: dict[str, Any]) -> str:
    """Compact JSON for a TEXT column."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def audit_row(r: Sequence[Any]) -> AuditEntry:
    """An audit entry from its row of :data:`AUDIT_COLUMNS`."""
    return AuditEntry(
        r[0], r[1], r[2], r[3], r[4], AlertState(r[5]), Severity(r[6]), json.loads(r[7])
    )


def alert_row(r: Sequence[Any]) -> Alert:
    """An alert from its row of :data:`ALERT_COLUMNS`."""
    return Alert(
        r[0], r[1], r[2], r[3], r[4], r[5], Severity(r[6]), AlertState(r[7]), r[8],
        json.loads(r[9]), bool(r[10]), bool(r[11]), bool(r[12]), r[13], r[14], r[15], r[16],
        r[17], r[18], r[19], r[20], r[21], r[22], r[23], r[24], r[25], bool(r[26]), r[27], r[28],
        message_key=r[29], params=json.loads(r[30]),
    )  # fmt: skip
