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
from villagewatch.catalogue import DEFAULT_LOCALE, Locale, alert_text, phrase
from villagewatch.config import AlertsSettings
from villagewatch.config.places import Place
from villagewatch.transitions import Severity

__all__ = ["Draft", "Notifier"]


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
    title: str = ""
    """The title of a digest of its group (``{count}`` alerts), in the channel's language."""


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
            out += [
                Draft(
                    channel=channel,
                    place=place.id,
                    level=steps.index(place),
                    event=event,
                    group_key=f"{channel}|{place.id}|{alert.kind}|{event}",
                    due_ms=now_ms + wait,
                    text=self._text(alert, event, place.name, by, self.locale(channel)),
                    state=held or "queued",
                    title=_title(alert, event, place, self.locale(channel)),
                )
                for channel in place.channels
            ]
        return out

    def locale(self, channel: str) -> Locale:
        """The language of ``channel``'s messages (its setting; a channel not configured —
        the config changed under a queued message — the default)."""
        settings = self.settings.channels.get(channel)
        return settings.locale if settings is not None else DEFAULT_LOCALE

    def _text(self, alert: Alert, event: str, place: str, by: str, locale: Locale) -> str:
        tag = phrase(f"notify.sev.{alert.severity.value}", locale)
        step = "resolved_by" if event == "resolved" and by else event
        what = phrase(f"notify.{step}", locale, by=by)
        names = self.router.village_names
        message = alert_text(alert.message_key, alert.params, alert.message, locale, places=names)
        backlog = phrase("notify.backlog", locale) if alert.historical else ""
        return f"{tag} #{alert.id} {what}{message}{backlog} — {place}"


def _title(alert: Alert, event: str, place: Place, locale: Locale) -> str:
    """The title of a digest of the alert's group, ``{count}`` left for the sender."""
    what = phrase(f"notify.event.{event}", locale)
    return phrase(
        "notify.digest", locale, count="{count}", kind=alert.kind, event=what,
        place=place.name, place_id=place.id,
    )  # fmt: skip
