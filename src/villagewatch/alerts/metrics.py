"""What ``villagewatch alerts run`` shows Prometheus: transitions applied, messages sent and
failed per channel, and what waits in the outbox (a channel that stopped accepting shows as
a growing backlog and an ageing oldest message)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from villagewatch.alerts.store import NotificationOutbox

__all__ = ["AlertMetrics"]


class AlertMetrics:
    """The alert engine's metrics, in their own registry."""

    def __init__(
        self, store: NotificationOutbox, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.transitions = Counter(
            "villagewatch_alerts_transitions",
            "Detect transitions applied to the alert store.",
            registry=self.registry,
        )
        self.notifications = Counter(
            "villagewatch_alerts_notifications",
            "Messages to channels (a digest is one), by channel and result (sent, failed).",
            ["channel", "result"],
            registry=self.registry,
        )
        self.failed = Counter(
            "villagewatch_alerts_failed",
            "Detect transitions that could not be read or applied: set aside (kept with the "
            "reason), the rest applied.",
            registry=self.registry,
        )
        self.config_applied = Counter(
            "villagewatch_alerts_config_applied",
            "Config changes followed without a restart (routing, teams, channels, noise).",
            registry=self.registry,
        )
        self.config_refused = Counter(
            "villagewatch_alerts_config_refused",
            "Config changes refused (they do not load); the running config stays.",
            registry=self.registry,
        )
        queued = Gauge(
            "villagewatch_alerts_outbox_queued",
            "Notifications decided and not yet accepted by their channel.",
            registry=self.registry,
        )
        oldest = Gauge(
            "villagewatch_alerts_outbox_oldest_seconds",
            "Age of the oldest queued notification (0: none queued).",
            registry=self.registry,
        )
        queued.set_function(lambda: store.outbox_backlog()[0])
        oldest.set_function(lambda: _age_s(store.outbox_backlog()[1]))


def _age_s(created_ms: int | None) -> float:
    return 0.0 if created_ms is None else max(0.0, time.time() - created_ms / 1000)
