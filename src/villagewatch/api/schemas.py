"""What the API takes and gives: pydantic models, so the OpenAPI documents every field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from villagewatch.alerts.lifecycle import Alert, AlertState, AuditEntry, Note
from villagewatch.alerts.recurrence import DAY_NAMES
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.alerts.silences import Silence
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
    "ResolveIn",
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
    message: str = Field(description="The message in English as stored (no key: as written).")
    message_key: str = Field(
        description="The message's key in the catalogue (without `msg.`), rendered in the "
        "reader's language with `params`; empty for alerts from before keys were kept."
    )
    params: dict[str, str] = Field(description="The fields of `message_key`.")
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
    resolution: ResolutionReason | None = Field(
        None, description="Why a person resolved it; null while open or when the system did."
    )

    @classmethod
    def of(cls, a: Alert, place_name: str) -> AlertOut:
        """From the store's alert."""
        evidence = a.details.get("evidence")
        return cls(
            id=a.id, detector=a.detector, village=a.village, subject=a.subject, kind=a.kind,
            severity=a.severity, state=a.state, message=a.message,
            message_key=a.message_key, params=a.params, place=a.place,
            place_name=place_name, historical=a.historical, needs_close=a.needs_close,
            condition_cleared=a.condition_cleared, flapping=a.flapping,
            escalation_level=a.escalation_level, started=at(a.started_ms),
            opened=at(a.opened_ms), fired=dt(a.fired_ms), acknowledged=dt(a.acknowledged_ms),
            acknowledged_by=a.acknowledged_by, resolved=dt(a.resolved_ms),
            resolved_by=a.resolved_by, assignee=a.assignee, updated=at(a.updated_ms),
            details=a.details,
            evidence=f"/api/alerts/{a.id}/evidence" if isinstance(evidence, str) else None,
            resolution=ResolutionReason(a.resolution) if a.resolution else None,
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


class ResolveIn(StrictModel):
    """Closing an alert: why, and what was done (a note is needed for red alerts, for kinds
    only a person closes, and for the reason "other")."""

    note: str = Field("", max_length=2000, description="What was done; kept with the alert.")
    reason: ResolutionReason | None = Field(
        None,
        description="Why it is closed: handled_on_site, false_alarm, duplicate, device_fault, "
        "test or other. Required; missing, the answer is 422 naming it.",
    )


class CommentIn(StrictModel):
    """A note on its own."""

    text: str = Field(min_length=1, max_length=2000, description="The note.")


class AssignIn(StrictModel):
    """Give the alert to someone."""

    assignee: Identifier | None = Field(description="A user name; null: to nobody.")


class RepeatIn(StrictModel):
    """Repeat the window on these days from this local time (the deployment's time zone,
    ``alerts.time_zone``), each window lasting ``duration_s``."""

    days: list[Annotated[str, Field(min_length=1, max_length=12)]] = Field(
        min_length=1,
        max_length=7,
        description='Day names (Monday … Sunday, mon … sun, 周一 … 周日), or ["daily"].',
    )
    at: str = Field(min_length=1, max_length=5, description="Local start time, HH:MM (24 h).")
    until: date | None = Field(
        None, description="The last day (local) a window may start; unset: no end."
    )


class SilenceIn(StrictModel):
    """Hold back notifications of matching alerts for a while (they are still recorded)."""

    village: Identifier = Field(description="The village.")
    detector: Identifier | None = Field(None, description="Only this detector.")
    subject: str | None = Field(
        None, max_length=200, description="Only this device or camera zone (cam-1:road)."
    )
    kind: Identifier | None = Field(None, description="Only this kind.")
    duration_s: float = Field(
        gt=0,
        le=30 * 86400,
        description="From now, this long; with `repeat`, the length of each window.",
    )
    reason: str = Field(min_length=1, max_length=500, description="Why (maintenance …).")
    repeat: RepeatIn | None = Field(
        None, description="Repeat in local time (a maintenance window); unset: once, from now."
    )


class RepeatOut(Reply):
    """When a recurring silence is in force."""

    days: list[str] = Field(description="Monday … Sunday (all seven: daily).")
    at: str = Field(description="Local start time, HH:MM.")
    duration_s: float = Field(description="Each window's length.")
    time_zone: str = Field(description="The zone of `at` (the deployment's when it was made).")
    until: date | None = Field(description="The last day a window may start; null: no end.")
    text: str = Field(description="In words: Tuesday 09:00 for 2 h (Europe/Berlin).")


class SilenceOut(Reply):
    """A silence as stored, with its next window."""

    id: int
    matchers: dict[str, str]
    starts: datetime = Field(description="When it was made to start.")
    ends: datetime | None = Field(description="When it ends (null: a repeat with no end).")
    created_by: str
    reason: str
    repeat: RepeatOut | None = Field(description="null: one window.")
    ended_by: str | None = Field(description="Who ended it early, if anyone.")
    in_force: bool = Field(description="Holding back notifications now.")
    next_starts: datetime | None = Field(
        description="The window in force now or the next one (local time of a repeat); null: over."
    )
    next_ends: datetime | None = Field(description="…and when that window ends.")

    @classmethod
    def of(cls, s: Silence, now_ms: int) -> SilenceOut:
        """The answer for ``s`` at ``now_ms``."""
        r = s.recurrence
        window = s.next_window(now_ms)
        zone = ZoneInfo(r.zone) if r else UTC

        def local(ms: int) -> datetime:
            return at(ms).astimezone(zone)

        repeat = None
        if r is not None:
            repeat = RepeatOut(
                days=[DAY_NAMES[d] for d in r.days], at=f"{r.start:%H:%M}",
                duration_s=r.duration_ms / 1000, time_zone=r.zone, until=r.until,
                text=r.describe(),
            )  # fmt: skip
        return cls(
            id=s.id, matchers=s.matchers, starts=at(s.starts_ms),
            ends=None if s.ends_ms is None else at(s.ends_ms), created_by=s.created_by,
            reason=s.reason, repeat=repeat, ended_by=s.ended_by,
            in_force=window is not None and window[0] <= now_ms,
            next_starts=local(window[0]) if window else None,
            next_ends=local(window[1]) if window else None,
        )  # fmt: skip
