"""How an alert changes, inside one store transaction: the lifecycle rules, their audit
entries, and the notifications they decide (written to the outbox in the same
transaction)."""

from __future__ import annotations

import json
import sqlite3
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
from villagewatch.transitions import Severity, Transition

__all__ = ["SYSTEM", "AlertChanges", "alert_row", "audit_row", "json_text"]

SYSTEM = "system"
_MAX_NOTE = 2000


class AlertChanges:
    """One transaction's worth of alert changes at ``now_ms``."""

    def __init__(self, c: sqlite3.Connection, notifier: Notifier | None, now_ms: int) -> None:
        self.c, self.notifier, self.now = c, notifier, now_ms
        self._silences: list[silences.Silence] | None = None

    # --- reading ------------------------------------------------------------------------

    def one(self, alert_id: int) -> Alert:
        """The alert (it exists)."""
        row = self.c.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return alert_row(row)

    def existing(self, alert_id: int) -> Alert:
        """The alert, or a refusal naming it."""
        row = self.c.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
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
        cur = self.c.execute(
            "INSERT INTO alert_notes (alert_id, at_ms, author, text) VALUES (?,?,?,?)",
            (alert_id, self.now, author, text),
        )
        assert cur.lastrowid is not None
        return Note(cur.lastrowid, alert_id, self.now, author, text)

    # --- a detector's transition -----------------------------------------------------------

    def apply(self, t: Transition, policy: AlertPolicy) -> Alert | None:
        """The lifecycle rules (see :mod:`villagewatch.alerts.lifecycle`)."""
        key = str(t.key)
        row = self.c.execute(
            "SELECT * FROM alerts WHERE key = ? AND state != 'resolved'", (key,)
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
        cur = self.c.execute(
            "INSERT INTO alerts (key, detector, village, subject, kind, severity, state, message,"
            " details, historical, needs_close, condition_cleared, started_ms, opened_ms,"
            " pending_until_ms, updated_ms, place, flapping, message_key, params)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?,?,?)",
            (
                key, t.key.detector, t.key.village, t.key.subject, t.key.kind, t.severity.value,
                AlertState.PENDING.value if pending else AlertState.FIRING.value, t.message,
                json_text(t.details), int(t.historical), int(t.needs_close or policy.close_by_hand),
                t.at_ms, self.now, self.now + int(policy.pending_s * 1000) if pending else None,
                self.now, place, int(flapping), t.message_key, json_text(t.params),
            ),
        )  # fmt: skip
        assert cur.lastrowid is not None
        if pending:
            alert = self.one(cur.lastrowid)
            self.audit(alert, SYSTEM, "pending", detail)
            return alert
        return self.fired(cur.lastrowid, detail, "flapping" if flapping else "fired")

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
        ):
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


def audit_row(r: sqlite3.Row) -> AuditEntry:
    """An audit entry from its row."""
    return AuditEntry(
        r["id"], r["alert_id"], r["at_ms"], r["actor"], r["action"],
        AlertState(r["state"]), Severity(r["severity"]), json.loads(r["detail"]),
    )  # fmt: skip


def alert_row(r: sqlite3.Row) -> Alert:
    """An alert from its row."""
    return Alert(
        r["id"], r["key"], r["detector"], r["village"], r["subject"], r["kind"],
        Severity(r["severity"]), AlertState(r["state"]), r["message"], json.loads(r["details"]),
        bool(r["historical"]), bool(r["needs_close"]), bool(r["condition_cleared"]),
        r["started_ms"], r["opened_ms"], r["pending_until_ms"], r["fired_ms"],
        r["acknowledged_ms"], r["acknowledged_by"], r["resolved_ms"], r["resolved_by"],
        r["assignee"], r["updated_ms"], r["place"], r["escalation_level"],
        r["next_escalation_ms"], bool(r["flapping"]), r["quiet_until_ms"], r["resolution"],
        message_key=r["message_key"], params=json.loads(r["params"]),
    )  # fmt: skip
