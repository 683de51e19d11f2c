"""Write each due batch durably, retrying for as long as it takes, and only then acknowledge it.

Batches are written strictly one after another, so when a batch is
acknowledged every earlier batch is durable too — which is what makes it safe
to drop a redelivered duplicate as soon as it is recognised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from villagewatch.errors import StoreUnavailable
from villagewatch.ingest.intake import Intake, PendingBatch
from villagewatch.ingest.metrics import IngestMetrics
from villagewatch.store import Batch, Store, WriteResult

__all__ = ["Backoff", "BatchWriter"]

log = logging.getLogger(__name__)

Acknowledger = Callable[[list[tuple[int, int]]], None]


class Backoff:
    """Capped exponential backoff with full jitter in its upper half."""

    def __init__(self, *, initial_s: float, max_s: float) -> None:
        self._initial = initial_s
        self._max = max_s
        self.attempt = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt."""
        cap = min(self._max, self._initial * 2**self.attempt)
        self.attempt += 1
        return random.uniform(cap / 2, cap)  # noqa: S311 - jitter, not cryptography

    def reset(self) -> None:
        """Back to the initial delay after a success."""
        self.attempt = 0


class BatchWriter:
    """Takes due batches from the intake, writes them, acknowledges them."""

    def __init__(
        self,
        *,
        store: Store,
        intake: Intake,
        acknowledge: Acknowledger,
        metrics: IngestMetrics,
        flush_interval_s: float,
        retry_initial_s: float,
        retry_max_s: float,
    ) -> None:
        self._store = store
        self._intake = intake
        self._acknowledge = acknowledge
        self._metrics = metrics
        self._flush_interval = flush_interval_s
        self._backoff = Backoff(initial_s=retry_initial_s, max_s=retry_max_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Write batches until ``stop`` is set and everything received before it is written."""
        while (batch := await self._intake.take(self._flush_interval, stop)) is not None:
            await self.write(batch)

    async def write(self, batch: PendingBatch) -> WriteResult:
        """Write one batch (retrying while the store is unavailable), then acknowledge it."""
        started = time.monotonic()
        result = await self._write_until_done(
            Batch(batch.readings, batch.events, batch.dead_letters)
        )
        self._acknowledge(batch.acks)
        self._intake.release(batch)
        self._count(batch, result, time.monotonic() - started)
        return result

    async def _write_until_done(self, batch: Batch) -> WriteResult:
        failures = 0
        while True:
            try:
                result = await self._store.write(batch)
            except Exception as exc:  # supervisor: a batch is never dropped, only retried
                if not isinstance(exc, StoreUnavailable):
                    log.exception("Unexpected error writing a batch; it will be retried")
                failures += 1
                self._metrics.store_retries.inc()
                delay = self._backoff.next_delay()
                level = logging.WARNING if failures == 1 or failures % 10 == 0 else logging.INFO
                log.log(
                    level,
                    "Store unavailable (attempt %d): %s; holding %d messages unacknowledged, "
                    "retrying in %.1f s",
                    failures,
                    exc,
                    self._intake.pending,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.warning("Store is back after %d failed attempts; batch written", failures)
            self._backoff.reset()
            return result

    def _count(self, batch: PendingBatch, result: WriteResult, seconds: float) -> None:
        m = self._metrics
        m.batch_write_seconds.observe(seconds)
        m.readings_stored.inc(result.readings)
        m.events_stored.inc(result.events)
        m.duplicates.inc(batch.duplicates + result.duplicates)
        m.rescued.inc(batch.rescued)
        for letter in batch.dead_letters:
            m.rejected.labels(letter.reason.value).inc()
        for letter in result.rejected:
            m.rejected.labels(letter.reason.value).inc()
        now_ms = time.time() * 1000
        for device_ms in batch.live_device_ms:
            m.store_lag_seconds.observe(max(0.0, (now_ms - device_ms) / 1000))
