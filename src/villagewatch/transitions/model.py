"""What detect hands to the alert engine: severities, alert identities, transitions.

Detectors make these; the alert side reads them back from the transition log
(:mod:`villagewatch.transitions.log`). Neither side imports the other: both
import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["AlertKey", "Severity", "Transition", "transition_id"]


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
    message_key: str = ""
    """The message in the catalogue (:mod:`villagewatch.catalogue`, without ``msg.``), from
    which each reader renders ``message`` in its language; empty: only ``message``."""
    params: dict[str, str] = field(default_factory=dict)
    """The fields of ``message_key``, formatted (numbers as the message shows them)."""


def transition_id(t: Transition) -> str:
    """Deterministic: the same decision made twice has the same id, so the log records it
    once and the alert side applies it once."""
    return f"{t.key}#{t.action}@{t.at_ms}"
