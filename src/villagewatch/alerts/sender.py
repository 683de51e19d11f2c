"""The outbox's other end: due notifications go to their channels, grouped, within each
channel's rate, retried until the platform accepts them.

Every queued notification of one group (channel, place, kind, event) leaves as
one message when the first of them is due — one alert as itself, several as a
digest listing them. A failure keeps them queued with a growing delay (the one retry
policy, ``runtime/backoff.py``); a throttling reply waits what the platform asked
(HTTP 429's ``Retry-After``), or a minute; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from villagewatch.alerts.channels import ChannelError, NotificationChannel, RateLimit
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.alerts.outbox import CLAIM_MS, SEND_ALLOWANCE_MS, Queued
from villagewatch.alerts.store import NotificationOutbox
from villagewatch.errors import StoreUnavailable
from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["NotificationSender", "compose"]

log = logging.getLogger(__name__)

_RETRY = Backoff(initial_s=5, max_s=300)
"""A failed group waits per its attempts so far; a platform's own wait (Retry-After) wins."""


def compose(group: list[Queued]) -> tuple[str, str]:
    """Title and text of the message for one group."""
    if len(group) == 1:
        return group[0].text[:80], group[0].text
    if group[0].title:
        return group[0].title.replace("{count}", str(len(group))), "\n".join(
            f"- {q.text}" for q in group
        )
    _, place, kind, event = group[0].group_key.split("|", 3)
    title = f"{len(group)} alerts: {kind} {event} — {place}"
    return title, "\n".join(f"- {q.text}" for q in group)


class NotificationSender:
    """Sends what the store has due."""

    def __init__(
        self,
        *,
        store: NotificationOutbox,
        channels: Mapping[str, NotificationChannel],
        metrics: AlertMetrics | None = None,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._monotonic = monotonic
        self._channels: Mapping[str, NotificationChannel] = {}
        self._limits: dict[str, RateLimit] = {}
        self.use_channels(channels)
        self._now_ms = now_ms
        self.sent = (metrics or AlertMetrics(store)).notifications

    def use_channels(self, channels: Mapping[str, NotificationChannel]) -> None:
        """Send through ``channels`` from the next pass on (at start, and when the config
        changes); a channel kept as it was keeps its rate limit's count."""
        self._limits = {
            cid: (
                self._limits[cid]
                if self._channels.get(cid) is ch
                else RateLimit(ch.rate_per_minute, self._monotonic)
            )
            for cid, ch in channels.items()
        }
        self._channels = channels

    async def send_due(self) -> int:
        """One pass over what is due; returns how many messages were sent."""
        now = self._now_ms()
        claimed = self._monotonic()
        groups = await asyncio.to_thread(self._store.due_notifications, now)
        sent = 0
        unsent: list[int] = []  # claimed, but their channel's rate is used up, or time is
        for group in groups:
            cid = group[0].channel
            ids = [q.id for q in group]
            if (self._monotonic() - claimed) * 1000 > CLAIM_MS - SEND_ALLOWANCE_MS:
                unsent += ids  # too late in the claim to begin a send: the next pass claims it
                continue
            channel = self._channels.get(cid)
            if channel is None:
                await self._failed(ids, f"no channel {cid!r} is configured", 60, group)
                continue
            if self._limits[cid].wait_s() > 0:
                unsent += ids
                continue  # its turn comes in a later pass; other channels go on
            title, text = compose(group)
            # ``notification`` is the outbox row: the same on a resend, so a receiver can tell
            # the one a killed engine sent but never marked sent from a new one.
            alerts = [
                {"alert": q.alert_id, "notification": q.id, "severity": q.severity, "text": q.text}
                for q in group
            ]
            self._limits[cid].took()
            try:
                await channel.send(title, text, alerts)
            except ChannelError as exc:
                attempts = max(q.attempts for q in group)
                delay = exc.retry_after_s or _RETRY.delay(attempts)
                await self._failed(ids, str(exc), delay, group)
                continue
            await asyncio.to_thread(self._store.mark_sent, ids, self._now_ms())
            self.sent.labels(cid, "sent").inc()
            sent += 1
        if unsent:
            await asyncio.to_thread(self._store.release, unsent)
        return sent

    async def _failed(
        self, ids: list[int], error: str, delay_s: float, group: list[Queued]
    ) -> None:
        log.warning(
            "Notification to %s failed (%s); retrying in %.0f s", group[0].channel, error, delay_s
        )
        self.sent.labels(group[0].channel, "failed").inc()
        now = self._now_ms()
        await asyncio.to_thread(self._store.mark_failed, ids, now, error, now + int(delay_s * 1000))

    async def run(self, stop: asyncio.Event, *, every_s: float = 0.2) -> None:
        """Send until ``stop``; a store that is busy is retried, not fatal (what was due
        stays queued)."""
        while not stop.is_set():
            try:
                await self.send_due()
            except StoreUnavailable as exc:
                log.warning("%s; retrying", exc)
            await sleep_or_stop(stop, every_s)
