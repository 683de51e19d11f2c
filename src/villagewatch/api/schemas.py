"""What the API takes and gives: pydantic models, so the OpenAPI documents every field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import HTTPException
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from villagewatch.alerts.lifecycle import Alert, AlertState, AuditEntry, Note
from villagewatch.api.users import UserRole
from villagewatch.contract import Identifier, StrictModel
from villagewatch.transitions import Severity

__all__ = [
    "EARLIEST",
    "LATEST",
    "AlertAuditOut",
    "AlertDetail",
    "AlertOut",
    "LoginIn",
    "LoginOut",
    "MeOut",
    "NoteIn",
    "NoteOut",
    "Reply",
    "StoredTime",
    "at",
    "dt",
    "epoch_ns",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Reply(BaseModel):
    """What every answer of the API is built from: frozen once made."""

    model_config = ConfigDict(frozen=True)


_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


def at(ms: int) -> datetime:
    """Epoch ms as an aware datetime. A time beyond the calendar (a device's clock gone wild
    reached a stored alert) is shown as its first or last moment: one absurd time must not
    fail a whole list."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return _FIRST if ms < 0 else _LAST


EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)
"""The times the stores hold: epoch nanoseconds in a signed 64-bit integer (SQLite, InfluxDB)
reach from 1677-09-21 to 2262-04-11; whole years inside that, so the rule reads simply."""


def _storable(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(
            f"{value.isoformat()} is not between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}, "
            "the times villagewatch keeps"
        )
    return value


StoredTime = Annotated[AwareDatetime, AfterValidator(_storable)]
"""A time in a request body: with a UTC offset, and one the stores can keep."""


def epoch_ns(value: datetime, name: str) -> int:
    """A query's time as epoch ns; 422 for one without a UTC offset (whose time would it be?)
    or outside the times the stores hold."""
    if value.tzinfo is None:
        raise HTTPException(422, f"{name} {value.isoformat()} needs a UTC offset, e.g. Z or +08:00")
    try:
        _storable(value)
    except ValueError as exc:
        raise HTTPException(422, f"{name} {exc}") from None
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000  # exact, also before 1970


def dt(ms: int | None) -> datetime | None:
    """Epoch ms as an aware datetime (None stays None)."""
    return None if ms is None else at(ms)


class LoginIn(StrictModel):
    """A user's name and password."""

    user: str = Field(min_length=1, max_length=64, description="User name.")
    password: str = Field(min_length=1, max_length=256, description="Password.")


class LoginOut(Reply):
    """A session: send ``token`` as ``Authorization: Bearer <token>``."""

    token: str
    expires: datetime
    user: str
    role: UserRole
    places: list[str]


class MeOut(Reply):
    """The logged-in user."""

    user: str
    role: UserRole
    places: list[str]


class AlertOut(Reply):
    """An alert as the console lists it."""

    id: int
    detector: str
    village: str
    subject: str = Field(description="Device, or device:zone for a camera zone.")
    kind: str
    severity: Severity
    state: AlertState
    message: str
    place: str = Field(description="The alert's own place (grid or village).")
    place_name: str
    historical: bool = Field(description="Raised from a replayed backlog.")
    needs_close: bool
    condition_cleared: bool
    flapping: bool
    escalation_level: int
    started: datetime
    opened: datetime
    fired: datetime | None
    acknowledged: datetime | None
    acknowledged_by: str | None
    resolved: datetime | None
    resolved_by: str | None
    assignee: str | None
    updated: datetime
    details: dict[str, Any]
    evidence: str | None = Field(description="URL of the evidence picture, if there is one.")

    @classmethod
    def of(cls, a: Alert, place_name: str) -> AlertOut:
        """From the store's alert."""
        evidence = a.details.get("evidence")
        return cls(
            id=a.id, detector=a.detector, village=a.village, subject=a.subject, kind=a.kind,
            severity=a.severity, state=a.state, message=a.message, place=a.place,
            place_name=place_name, historical=a.historical, needs_close=a.needs_close,
            condition_cleared=a.condition_cleared, flapping=a.flapping,
            escalation_level=a.escalation_level, started=at(a.started_ms),
            opened=at(a.opened_ms), fired=dt(a.fired_ms), acknowledged=dt(a.acknowledged_ms),
            acknowledged_by=a.acknowledged_by, resolved=dt(a.resolved_ms),
            resolved_by=a.resolved_by, assignee=a.assignee, updated=at(a.updated_ms),
            details=a.details,
            evidence=f"/api/alerts/{a.id}/evidence" if isinstance(evidence, str) else None,
        )  # fmt: skip


class AlertAuditOut(Reply):
    """One step of an alert's history."""

    at: datetime
    actor: str
    action: str
    state: AlertState
    severity: Severity
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEntry) -> AlertAuditOut:
        """From the store's entry."""
        return cls(
            at=at(e.at_ms), actor=e.actor, action=e.action, state=e.state, severity=e.severity,
            detail=e.detail,
        )  # fmt: skip


class NoteOut(Reply):
    """A person's note on an alert."""

    at: datetime
    author: str
    text: str

    @classmethod
    def of(cls, n: Note) -> NoteOut:
        """From the store's note."""
        return cls(at=at(n.at_ms), author=n.author, text=n.text)


class ChartHint(Reply):
    """Which series to chart around the alert."""

    village: str
    device: str
    metric: str


class AlertDetail(Reply):
    """An alert with its history, notes, notifications and what to chart."""

    alert: AlertOut
    audit: list[AlertAuditOut]
    notes: list[NoteOut]
    notifications: list[dict[str, Any]] = Field(
        description="Channel, state, attempts, last error of each notification."
    )
    chart: ChartHint | None


class NoteIn(StrictModel):
    """An optional note with an action."""

    note: str = Field("", max_length=2000, description="Kept with the alert.")


class CommentIn(StrictModel):
    """A note on its own."""

    text: str = Field(min_length=1, max_length=2000, description="The note.")


class AssignIn(StrictModel):
    """Give the alert to someone."""

    assignee: Identifier | None = Field(description="A user name; null: to nobody.")


class SilenceIn(StrictModel):
    """Hold back notifications of matching alerts for a while (they are still recorded)."""

    village: Identifier = Field(description="The village.")
    detector: Identifier | None = Field(None, description="Only this detector.")
    subject: str | None = Field(None, max_length=200, description="Only this device or zone.")
    kind: Identifier | None = Field(None, description="Only this kind.")
    duration_s: float = Field(gt=0, le=30 * 86400, description="From now, this long.")
    reason: str = Field(min_length=1, max_length=500, description="Why (maintenance …).")


class SilenceOut(Reply):
    """A silence as stored."""

    id: int
    matchers: dict[str, str]
    starts: datetime
    ends: datetime
    created_by: str
    reason: str
