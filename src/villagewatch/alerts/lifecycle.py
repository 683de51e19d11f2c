"""An alert's life: pending → firing → acknowledged → resolved, and who moved it when.

Detect decides *transitions* (fire, update, clear); the alert engine turns them
into **alerts** that people handle. One alert per identity (detector, village,
subject, kind) is open at a time: a ``fire`` opens it, an ``update`` changes
its severity in place (yellow → orange is the same flood), a ``clear`` resolves
it — unless the alert needs a person to close it (a forced door, an SOS, or a
kind configured so), in which case it stays open, marked ``condition_cleared``.

``pending`` is for kinds with a pending time: the alert exists (and is shown)
but does not fire — nor notify — until its condition has lasted that long; a
clear while pending resolves it without ever firing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from villagewatch.errors import VillagewatchError
from villagewatch.transitions import Severity

__all__ = [
    "ActionRefused",
    "Alert",
    "AlertPolicy",
    "AlertState",
    "AuditEntry",
    "Note",
]


class AlertState(StrEnum):
    """Where an alert is in its life."""

    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ActionRefused(VillagewatchError):
    """A person's action does not fit the alert (unknown, or already resolved)."""


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """How alerts of one kind live."""

    pending_s: float = 0
    """Stay pending this long before firing; 0: fire at once."""
    close_by_hand: bool = False
    """A clear does not resolve the alert: a person closes it."""
    flap_count: int = 0
    """Firing this many times within ``flap_window_s`` makes it one flapping alert; 0: never."""
    flap_window_s: float = 600


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as stored. Times: ``*_ms`` epoch ms; ``started_ms`` is device time."""

    id: int
    key: str
    detector: str
    village: str
    subject: str
    kind: str
    severity: Severity
    state: AlertState
    message: str
    details: dict[str, Any]
    historical: bool
    needs_close: bool
    """A clear will not resolve it: a person must."""
    condition_cleared: bool
    """The detector says the condition is over (the alert waits for a person)."""
    started_ms: int
    opened_ms: int
    pending_until_ms: int | None
    fired_ms: int | None
    acknowledged_ms: int | None
    acknowledged_by: str | None
    resolved_ms: int | None
    resolved_by: str | None
    assignee: str | None
    updated_ms: int
    place: str
    """The alert's own place (``grid:v/g1``): where it is counted."""
    escalation_level: int
    """0 while only its own place was told; +1 per escalation."""
    next_escalation_ms: int | None
    flapping: bool
    """It came and went too often: one alert until it stays clear."""
    quiet_until_ms: int | None
    """Flapping and clear: resolved if it stays clear until then."""
    resolution: str | None = None
    """Why a person resolved it (a :class:`~villagewatch.alerts.resolution.ResolutionReason`
    value); None while open, when the system resolved it, or from before reasons were kept."""
    message_key: str = ""
    """The message in :mod:`villagewatch.catalogue` (without ``msg.``); empty: an alert from
    before keys were kept, shown by its ``message``."""
    params: dict[str, str] = field(default_factory=dict)
    """The fields of ``message_key``."""

    @property
    def is_open(self) -> bool:
        """Not resolved."""
        return self.state is not AlertState.RESOLVED


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One step in an alert's history (append-only)."""

    id: int
    alert_id: int
    at_ms: int
    actor: str
    """``system`` for what detectors and timers did; otherwise the user."""
    action: str
    state: AlertState
    severity: Severity
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Note:
    """A person's note on an alert."""

    id: int
    alert_id: int
    at_ms: int
    author: str
    text: str
