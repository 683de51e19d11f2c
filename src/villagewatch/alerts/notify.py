"""Who is told what, decided while the alert changes (pure: the store records the drafts).

Events: ``fired``, ``severity`` (it got worse), ``acknowledged``, ``escalated``,
``flapping``, ``resolved``. An event goes to every channel of the places that
know of the alert — its own place and each one it escalated to. Red alerts go
at once; everything else waits ``group_wait_s`` so that a burst of one kind in
one place leaves as one digest (the sender groups by ``group_key``).
"""

from __future__ import annotations

from dataclasses import dataclass

from villagewatch.alerts.lifecycle import Alert
from villagewatch.alerts.routing import Router
from villagewatch.config import AlertsSettings
from villagewatch.transitions import Severity

__all__ = ["Draft", "Notifier"]

_SEVERITY_TAG = {
    Severity.INFO: "[info]",
    Severity.BLUE: "[蓝色 blue]",
    Severity.YELLOW: "[黄色 yellow]",
    Severity.ORANGE: "[橙色 orange]",
    Severity.RED: "[红色 red]",
}


@dataclass(frozen=True, slots=True)
class Draft:
    """One message to one channel, decided but not sent."""

    channel: str
    place: str
    level: int
    event: str
    group_key: str
    due_ms: int
    text: str
    state: str
    """``queued``, or why it is kept but not sent: ``silenced``, ``inhibited``."""


class Notifier:
    """Turns alert events into drafts, by the deployment's places and settings."""

    def __init__(self, router: Router, settings: AlertsSettings) -> None:
        self.router = router
        self.settings = settings

    @property
    def escalate_after_ms(self) -> int:
        """How long an alert may go unacknowledged at one place."""
        return int(self.settings.escalate_after_s * 1000)

    def steps(self, alert: Alert) -> int:
        """How many places can be told of ``alert`` (1 + how often it can escalate)."""
        return len(self.router.steps(alert.village, alert.subject))

    def drafts(
        self, alert: Alert, event: str, now_ms: int, *, held: str | None = None, by: str = ""
    ) -> list[Draft]:
        """Messages for ``event`` to every place that knows of the alert.

        ``held``: ``silenced`` or ``inhibited`` — the drafts are kept, not sent.
        """
        if event == "resolved" and not self.settings.notify_resolved:
            return []
        steps = self.router.steps(alert.village, alert.subject)
        if event == "escalated":
            told = steps[alert.escalation_level : alert.escalation_level + 1]
        else:
            told = steps[: alert.escalation_level + 1]
        wait = 0 if alert.severity is Severity.RED else int(self.settings.group_wait_s * 1000)
        out = []
        for place in told:
            text = _text(alert, event, place.name, by)
            out += [
                Draft(
                    channel=channel,
                    place=place.id,
                    level=steps.index(place),
                    event=event,
                    group_key=f"{channel}|{place.id}|{alert.kind}|{event}",
                    due_ms=now_ms + wait,
                    text=text,
                    state=held or "queued",
                )
                for channel in place.channels
            ]
        return out


def _text(alert: Alert, event: str, place: str, by: str) -> str:
    tag = _SEVERITY_TAG[alert.severity]
    what = {
        "fired": "",
        "severity": "worse: ",
        "acknowledged": f"acknowledged by {by}: ",
        "escalated": "not acknowledged, escalated: ",
        "flapping": "keeps coming and going (flapping): ",
        "resolved": f"resolved{f' by {by}' if by else ''}: ",
    }[event]
    backlog = " (from backlog)" if alert.historical else ""
    return f"{tag} #{alert.id} {what}{alert.message}{backlog} — {place}"
