"""The live feed: every change to an alert, pushed to open consoles as Server-Sent Events.

The alert engine, the sender and people's actions all write the alerts' audit
log, whose ids only grow; one poller per API process reads what is new every
``live_poll_s`` and hands the changed alerts to each subscriber. An event's id
is its audit id, so a console that reconnects with ``Last-Event-ID`` gets
what it missed. A subscriber that falls more than its queue behind is cut off
and told to reload (it reconnects and starts from a fresh list).

Nothing one change does stops the feed: an alert that cannot be read is left
out (counted, and logged the first time for each reason), a poll that fails is
tried again at the next one, and the poller itself only ends when nobody has
listened for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from villagewatch.alerts.lifecycle import Alert
from villagewatch.alerts.store import AlertQueries
from villagewatch.api.metrics import ApiMetrics
from villagewatch.errors import StoreUnavailable

__all__ = ["AlertFeed", "FeedChange"]

log = logging.getLogger(__name__)

_QUEUE = 1000
_IDLE_STOP_S = 30


@dataclass(frozen=True, slots=True)
class FeedChange:
    """An alert as it is after the change with audit id ``id``; None: the feed overflowed."""

    id: int
    alert: Alert | None


class AlertFeed:
    """Polls the alert store for changes while anyone listens."""

    def __init__(self, store: AlertQueries, poll_s: float, metrics: ApiMetrics) -> None:
        self._store = store
        self._poll_s = poll_s
        self._metrics = metrics
        self._subscribers: set[asyncio.Queue[FeedChange | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._last = 0
        self._told: set[str] = set()  # reasons already logged: a bad row must not flood the log

    def replay(self, after: int, limit: int = 500) -> tuple[list[FeedChange], bool]:
        """Changes after audit id ``after`` (one per alert, its newest), and whether that
        was all of them (False: too many; reload instead)."""
        rows = self._store.changes_since(after, limit + 1)
        return self._changes(rows[:limit]), len(rows) <= limit

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[FeedChange | None]]:
        """A queue of changes from now on, while the context is open; None when the API
        stops (:meth:`close`)."""
        queue: asyncio.Queue[FeedChange | None] = asyncio.Queue(_QUEUE)
        if self._task is None or self._task.done():
            self._last = await asyncio.to_thread(self._store.last_change)
            self._task = asyncio.create_task(self._poll(), name="alert-feed")
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """End every subscriber's stream: the API is stopping. An open console would
        otherwise hold its stream until the server's grace time ran out and its task was
        cancelled with a traceback; it reconnects and replays what it missed."""
        for q in list(self._subscribers):
            self._subscribers.discard(q)
            while not q.empty():
                q.get_nowait()
            q.put_nowait(None)

    @property
    def position(self) -> int:
        """The newest audit id handed out."""
        return self._last

    async def _poll(self) -> None:
        idle = 0.0
        while idle < _IDLE_STOP_S:
            await asyncio.sleep(self._poll_s)
            idle = 0.0 if self._subscribers else idle + self._poll_s
            try:
                rows = await asyncio.to_thread(self._store.changes_since, self._last)
                changes = await asyncio.to_thread(self._changes, rows)
            except StoreUnavailable as exc:
                self._metrics.feed_failures.labels("StoreUnavailable").inc()
                log.warning("Live feed cannot read alerts: %s; trying again", exc)
                continue
            except Exception as exc:  # noqa: BLE001 - a supervisor: every console's feed goes on
                reason = type(exc).__name__
                self._metrics.feed_failures.labels(reason).inc()
                self._tell_once(
                    reason, "Live feed poll failed: %s: %s; trying again (further %s are only "
                    "counted)", reason, exc, reason,
                )  # fmt: skip
                continue
            if rows:
                self._last = rows[-1][0]
            for change in changes:
                self._hand_out(change)
        self._task = None

    def _hand_out(self, change: FeedChange) -> None:
        for q in list(self._subscribers):
            try:
                q.put_nowait(change)
            except asyncio.QueueFull:
                self._subscribers.discard(q)
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
                q.put_nowait(FeedChange(change.id, None))

    def _changes(self, rows: list[tuple[int, int]]) -> list[FeedChange]:
        newest = {alert_id: audit_id for audit_id, alert_id in rows}  # the last change wins
        out = []
        for alert_id, audit_id in sorted(newest.items(), key=lambda kv: kv[1]):
            try:
                alert = self._store.get(alert_id)
            except StoreUnavailable:
                raise  # the whole poll is tried again
            except Exception as exc:  # noqa: BLE001 - this alert only: the others still go out
                self.skipped(exc, alert_id)
                continue
            if alert is not None:
                out.append(FeedChange(audit_id, alert))
        return out

    def skipped(self, exc: Exception, alert_id: int) -> None:
        """Count and (once per reason) log a change of ``alert_id`` left out of the feed."""
        reason = type(exc).__name__
        self._metrics.feed_skipped.labels(reason).inc()
        self._tell_once(
            reason, "Live feed left out alert %s: %s (further %s are only counted)",
            alert_id, exc, reason,
        )  # fmt: skip

    def _tell_once(self, reason: str, message: str, *args: object) -> None:
        if reason not in self._told:
            self._told.add(reason)
            log.warning(message, *args)
