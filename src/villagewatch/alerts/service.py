"""``villagewatch alerts run``: the engine and the sender of one alert store, and their metrics.

The :class:`~villagewatch.alerts.engine.AlertEngine` turns detect's transitions into alerts
and escalates them; the :class:`~villagewatch.alerts.sender.NotificationSender` sends the
notifications the store queues, through channels that share one HTTP client. Both go by one
steady clock, so timers and due times do not jump with the system clock.
"""

from __future__ import annotations

import asyncio

import httpx

from villagewatch.alerts.channels import build_channel
from villagewatch.alerts.engine import AlertEngine
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.alerts.sender import NotificationSender
from villagewatch.alerts.store import AlertStore
from villagewatch.config import Deployment
from villagewatch.db.sqlite import SQLITE_METRICS
from villagewatch.runtime.diskspace import export_free_space
from villagewatch.runtime.metrics_http import joined, metrics_served
from villagewatch.runtime.steadyclock import SteadyClock

__all__ = ["AlertService"]


class AlertService:
    """One alert process: the engine and the sender over one alert store."""

    def __init__(
        self, *, deployment: Deployment, store: AlertStore, metrics: AlertMetrics | None = None
    ) -> None:
        self._settings = settings = deployment.settings.alerts
        self._store = store
        self.metrics = metrics or AlertMetrics(store)
        export_free_space(self.metrics.registry, "alerts", [settings.state_path.parent])
        self.clock = SteadyClock()
        self.engine = AlertEngine(
            settings=settings, store=store, metrics=self.metrics, clock=self.clock
        )
        self.running = asyncio.Event()
        """Set once the engine and the sender run."""

    async def run(self, stop: asyncio.Event) -> None:
        """Apply transitions, escalate and send notifications until ``stop``; metrics on
        ``alerts.metrics_port`` meanwhile."""
        served = joined(self.metrics.registry, SQLITE_METRICS)
        with metrics_served(served, self._settings.metrics_port):
            async with httpx.AsyncClient() as client, asyncio.TaskGroup() as tg:
                channels = {
                    cid: build_channel(cid, cfg, client)
                    for cid, cfg in self._settings.channels.items()
                }
                sender = NotificationSender(
                    store=self._store, channels=channels, metrics=self.metrics,
                    now_ms=self.clock.now_ms,
                )  # fmt: skip
                tg.create_task(self.engine.run(stop))
                tg.create_task(sender.run(stop))
                self.running.set()
