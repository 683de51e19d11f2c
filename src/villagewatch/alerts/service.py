"""``villagewatch alerts run``: the engine and the sender of one alert store, and their metrics.

The :class:`~villagewatch.alerts.engine.AlertEngine` turns detect's transitions into alerts
and escalates them; the :class:`~villagewatch.alerts.sender.NotificationSender` sends the
notifications the store queues, through channels that share one HTTP client. Both go by one
steady clock, so timers and due times do not jump with the system clock.

The service follows its config files (:mod:`villagewatch.runtime.follow`): a changed village
file (places, grids, teams) or alert setting (kinds, channels, towns, escalation and noise
control) is in force within about a second, with no restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from villagewatch.alerts.channels import NotificationChannel, build_channel
from villagewatch.alerts.engine import AlertEngine, notifier_for
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.alerts.sender import NotificationSender
from villagewatch.alerts.store import AlertStore
from villagewatch.config import AlertsSettings, Deployment
from villagewatch.config.teams import ChannelSettings
from villagewatch.db import configured
from villagewatch.db.sqlite import SQLITE_METRICS
from villagewatch.errors import ConfigIssue
from villagewatch.runtime.diskspace import export_free_space
from villagewatch.runtime.follow import ConfigFollower
from villagewatch.runtime.metrics_http import joined, metrics_served
from villagewatch.runtime.steadyclock import SteadyClock

__all__ = ["AlertService"]

_Built = dict[str, tuple[tuple[ChannelSettings, str | None], NotificationChannel]]
"""Each channel by id: what it was built from (its settings, the console's address), the sender."""


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
            settings=settings, store=store, metrics=self.metrics, clock=self.clock,
            sources=configured.transition_sources(deployment.settings),
            busy_timeout_s=configured.busy_timeout_s(deployment.settings),
        )  # fmt: skip
        self._follower = ConfigFollower(
            deployment, apply=self._follow, refused=self._refused, service="the alert engine"
        )
        self._client: httpx.AsyncClient | None = None
        self._built: _Built = {}
        self._sender: NotificationSender | None = None
        self.running = asyncio.Event()
        """Set once the engine and the sender run."""

    async def run(self, stop: asyncio.Event) -> None:
        """Apply transitions, escalate and send notifications until ``stop``; metrics on
        ``alerts.metrics_port`` meanwhile."""
        served = joined(self.metrics.registry, SQLITE_METRICS)
        with metrics_served(served, self._settings.metrics_port):
            async with httpx.AsyncClient() as client, asyncio.TaskGroup() as tg:
                self._client = client
                self._sender = NotificationSender(
                    store=self._store, channels=self._channels(self._settings),
                    metrics=self.metrics, now_ms=self.clock.now_ms,
                )  # fmt: skip
                tg.create_task(self.engine.run(stop))
                tg.create_task(self._sender.run(stop))
                tg.create_task(self._follower.run(stop))
                self.running.set()

    def _channels(self, alerts: AlertsSettings) -> dict[str, NotificationChannel]:
        """The senders of ``alerts.channels``: those configured as before (and linking to the
        same console) are kept, with their rate limits; the others built — all or none (a secret
        that cannot be read refuses)."""
        assert self._client is not None, "built in run"
        console_url = str(alerts.console_url) if alerts.console_url else None
        built: _Built = {}
        for cid, cfg in alerts.channels.items():
            kept = self._built.get(cid)
            made = (cfg, console_url)
            built[cid] = (
                kept
                if kept and kept[0] == made
                else (made, build_channel(cid, cfg, self._client, console_url=console_url))
            )
        self._built = built
        return {cid: channel for cid, (_cfg, channel) in built.items()}

    def _follow(self, deployment: Deployment) -> None:
        """A changed config: routing, teams, channels and noise control from now on."""
        alerts = deployment.settings.alerts
        assert self._sender is not None, "followed in run"
        self._sender.use_channels(self._channels(alerts))  # ConfigError: refused
        self._store.use_notifier(notifier_for(deployment))
        self.engine.use(alerts)
        self.metrics.config_applied.inc()

    def _refused(self, _issues: Sequence[ConfigIssue]) -> None:
        self.metrics.config_refused.inc()
