"""How a person closes an alert: a reason from a fixed list, and a note where it matters.

A red alert, and one that a clear does not resolve (a forced door, an SOS, a kind configured
``close_by_hand``), is closed by hand only with a note saying what was done; every close by a
person names a :class:`ResolutionReason`, which the monthly assessment counts. The rule is
checked by the store, so the API, the CLI and the console all meet the same one.
"""

from __future__ import annotations

from enum import StrEnum

from villagewatch.alerts.lifecycle import ActionRefused, Alert
from villagewatch.transitions import Severity

__all__ = ["ResolutionIncomplete", "ResolutionReason", "check_resolution", "needs_note"]


class ResolutionReason(StrEnum):
    """Why an alert was closed, as the monthly assessment counts it."""

    HANDLED_ON_SITE = "handled_on_site"
    FALSE_ALARM = "false_alarm"
    DUPLICATE = "duplicate"
    DEVICE_FAULT = "device_fault"
    TEST = "test"
    OTHER = "other"


class ResolutionIncomplete(ActionRefused):
    """A person's close lacks its reason or the note the alert needs (the API answers 422)."""


def needs_note(alert: Alert, reason: ResolutionReason | None) -> bool:
    """Whether closing ``alert`` for ``reason`` needs a note: red alerts, alerts only a person
    closes, and the reason "other" (which says nothing by itself)."""
    return alert.severity is Severity.RED or alert.needs_close or reason is ResolutionReason.OTHER


def check_resolution(alert: Alert, note: str, reason: ResolutionReason | None) -> None:
    """Refuse a close by a person that lacks its reason or a needed note, naming what is
    missing."""
    missing = []
    if reason is None:
        choices = ", ".join(r.value for r in ResolutionReason)
        missing.append(f"a reason (one of {choices})")
    if not note.strip() and needs_note(alert, reason):
        why = (
            "it is red" if alert.severity is Severity.RED
            else "only a person closes it" if alert.needs_close
            else "the reason is 'other'"
        )  # fmt: skip
        missing.append(f"a note saying what was done ({why})")
    if missing:
        raise ResolutionIncomplete(f"alert {alert.id} needs {' and '.join(missing)} to be resolved")
