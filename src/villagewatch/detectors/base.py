"""What every detector shares: severities, alert identities, transitions, the detector interface.

A detector is a pure object: readings, events and the passing of time go in,
alert transitions come out. It does no I/O and never reads a clock — time is
the device time of the data, or the ``now_ms`` the caller passes to
:meth:`Detector.tick`. Its whole state can be taken out (:meth:`snapshot`,
plain JSON values) and put back (:meth:`restore`), which is how the detect
service survives a restart without re-firing or forgetting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from villagewatch.contract import Event, Reading

__all__ = [
    "AlertKey",
    "Detector",
    "Flags",
    "Severity",
    "Transition",
]


class Severity(StrEnum):
    """How bad: China's four warning colours, under them ``info``; ``red`` is critical."""

    INFO = "info"
    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        """0 for info … 4 for red."""
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}


@dataclass(frozen=True, slots=True)
class AlertKey:
    """The identity of an alert: which detector, about what (a device or a zone), what kind."""

    detector: str
    village: str
    subject: str
    kind: str

    def __str__(self) -> str:
        return f"{self.detector}/{self.village}/{self.subject}/{self.kind}"


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert starts (``fire``), changes severity (``update``) or ends (``clear``)."""

    key: AlertKey
    action: Literal["fire", "update", "clear"]
    severity: Severity
    at_ms: int
    """Device time of the data that caused it (or the tick that did)."""
    message: str
    """One sentence for people: what happened, where, how much."""
    details: dict[str, Any] = field(default_factory=dict)
    historical: bool = False
    """Raised while replaying backlog: it happened in the past."""
    needs_close: bool = False
    """Never cleared by data: a person closes it (forced door, SOS)."""


@dataclass(frozen=True, slots=True)
class Flags:
    """What the sensor-health tests said about one reading's metrics."""

    suspect: frozenset[str] = frozenset()
    """Metrics that failed or are suspect: value detectors must not act on them."""
    missing: frozenset[str] = frozenset()
    """Metrics whose value was a sentinel (e.g. -9999): no measurement at all."""

    def usable(self, metric: str) -> bool:
        """Whether a value detector may act on ``metric``."""
        return metric not in self.suspect and metric not in self.missing


CLEAN = Flags()


class Detector:
    """Base of every detector: override what it reacts to; the rest does nothing."""

    name: str = "detector"

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:  # noqa: ARG002 - a default
        """React to one reading (in device-time order per device)."""
        return []

    def event(self, e: Event) -> list[Transition]:  # noqa: ARG002 - a default
        """React to one event."""
        return []

    def tick(self, now_ms: int) -> list[Transition]:  # noqa: ARG002 - a default
        """React to time passing without data (offline, gaps, windows emptying)."""
        return []

    def snapshot(self) -> dict[str, Any]:
        """The whole state, as JSON values."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a state :meth:`snapshot` made."""

    def forget_future(self, limit_ms: int) -> None:
        """Forget every time in the state later than ``limit_ms``.

        Data times are bounded by the decoder, so only a state saved by an older
        version (or under a server clock that ran ahead) can hold one; left alone,
        every reading until then would look out of order and the detector stay mute.
        """
