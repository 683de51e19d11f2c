"""Write each due batch durably, retrying for as long as it takes, and only then acknowledge it.

Up to ``in_flight`` batches are written at once (the store works on one while
the next is encoded), but they are acknowledged strictly in the order they were
taken: when a batch is acknowledged, every earlier batch is durable too. That
is what makes it safe to drop a redelivered duplicate as soon as it is
recognised — its first copy is in an earlier (or the same) batch.

A batch's evidence pictures are saved first, in a worker thread (the event loop
stays free), retried like the store; a picture the evidence store refuses
becomes a dead letter of the same batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from villagewatch.contract import DeadLetter, Event, Reading, RejectReason
from villagewatch.errors import StoreUnavailable
from villagewatch.ingest.evidence import EvidenceMessage
from villagewatch.ingest.intake import Intake, PendingBatch
from villagewatch.ingest.metrics import IngestMetrics
from villagewatch.runtime.backoff import Backoff
from villagewatch.store import Batch, Store, WriteResult
from villagewatch.store.evidence import Evidence, EvidenceRejected

__all__ = ["BatchWriter"]

log = logging.getLogger(__name__)

Acknowledger = Callable[[list[tuple[int, int]]], None]
_LAG_SAMPLES = 200
T = TypeVar("T")


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
        in_flight: int = 1,
        evidence: Evidence | None = None,
    ) -> None:
        self._in_flight = in_flight
        self._store = store
        self._evidence = evidence
        self._intake = intake
        self._acknowledge = acknowledge
        self._metrics = metrics
        self._flush_interval = flush_interval_s
        self._backoff = Backoff(initial_s=retry_initial_s, max_s=retry_max_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Write batches until ``stop`` is set and everything received before it is written."""
        writing: deque[tuple[PendingBatch, asyncio.Task[WriteResult], float]] = deque()
        taking: asyncio.Future[PendingBatch | None] | None = None
        try:
            while True:
                if taking is None:
                    taking = asyncio.ensure_future(self._intake.take(self._flush_interval, stop))
                # a finished write is acknowledged at once, even while no new batch is due:
                # the broker sends nothing more until we acknowledge
                waits: set[asyncio.Future[Any]] = {taking}
                if writing:
                    waits.add(writing[0][1])
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                while writing and writing[0][1].done():
                    await self._finish(*writing.popleft())
                if not taking.done():
                    continue
                batch, taking = taking.result(), None
                if batch is None:
                    break
                task = asyncio.create_task(self._write_until_done(batch))
                writing.append((batch, task, time.monotonic()))
                if len(writing) >= self._in_flight:
                    await self._finish(*writing.popleft())
            while writing:
                await self._finish(*writing.popleft())
        finally:
            for pending in ([taking] if taking is not None else []) + [t for _, t, _ in writing]:
                pending.cancel()

    async def _finish(
        self, batch: PendingBatch, task: asyncio.Task[WriteResult], started: float
    ) -> WriteResult:
        result = await task
        self._acknowledge(batch.acks)
        self._intake.release(batch)
        self._count(batch, result, time.monotonic() - started)
        return result

    async def _write_until_done(self, pending: PendingBatch) -> WriteResult:
        if pending.evidence:
            pictures = pending.evidence
            saved, refused = await self._until_done(
                lambda: asyncio.to_thread(self._save_evidence, pictures),
                expected=(OSError, StoreUnavailable),
                failing="Evidence not saved",
                back="Evidence saved after %d failed attempts",
            )
            pending.evidence_saved = saved
            pending.dead_letters += refused
            pending.evidence = []  # saved: the pictures need not wait in memory for the store
        batch = Batch(pending.readings, pending.events, pending.dead_letters)
        return await self._until_done(
            lambda: self._write_isolating(batch),
            expected=StoreUnavailable,
            failing="Store unavailable",
            back="Store is back after %d failed attempts; batch written",
        )

    async def _write_isolating(self, batch: Batch) -> WriteResult:
        """Write ``batch``; if the store fails on it with anything but StoreUnavailable (a bug
        on one item, not an outage) twice in a row, halve it until the items it fails on stand
        alone, and keep those as dead letters: one poison item must not have its batch retried
        forever. Parts are written again whole, which the stores' idempotence makes safe."""
        try:
            return await self._store.write(batch)
        except StoreUnavailable:
            raise
        except Exception:  # supervisor: once more, in case it was passing
            log.exception("Unexpected error writing a batch of %d; trying it once more", len(batch))
        items: list[Reading | Event | DeadLetter] = [
            *batch.readings, *batch.events, *batch.dead_letters,
        ]  # fmt: skip
        return await self._bisected(items)

    async def _bisected(self, items: list[Reading | Event | DeadLetter]) -> WriteResult:
        """Write ``items``; on a failure (not an outage) write each half the same way, down to
        the single items the store fails on, which become dead letters."""
        try:
            return await self._store.write(_batch_of(items))
        except StoreUnavailable:
            raise
        except Exception as exc:
            if len(items) > 1:
                half = len(items) // 2
                return _merged(
                    await self._bisected(items[:half]), await self._bisected(items[half:])
                )
            (item,) = items
            if isinstance(item, DeadLetter):
                log.exception("The store failed on a dead letter (%s); dropped", item.reason)
                return WriteResult()
            log.exception("The store failed on one item of %s; dead-lettered", item.device)
            letter = DeadLetter.of_record(
                item, item.time_ns, RejectReason.INTERNAL_ERROR,
                f"the store failed on it: {type(exc).__name__}: {exc}", repr(item).encode(),
            )  # fmt: skip
            await self._bisected([letter])
            return WriteResult(rejected=(letter,))

    async def _until_done(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        expected: type[Exception] | tuple[type[Exception], ...],
        failing: str,
        back: str,
    ) -> T:
        """Run ``attempt`` until it succeeds, with backoff between failures; ``expected``
        failures are logged in one line, others with their traceback; ``back`` (with a %d
        for the failures) is logged once it succeeds after failing."""
        failures = 0
        while True:
            try:
                result = await attempt()
            except Exception as exc:  # supervisor: a batch is never dropped, only retried
                if not isinstance(exc, expected):
                    log.exception("Unexpected error writing a batch; it will be retried")
                failures += 1
                self._metrics.store_retries.inc()
                delay = self._backoff.next_delay()
                level = logging.WARNING if failures == 1 or failures % 10 == 0 else logging.INFO
                log.log(
                    level,
                    "%s (attempt %d): %s; holding %d messages unacknowledged, retrying in %.1f s",
                    failing,
                    failures,
                    exc,
                    self._intake.pending,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.warning(back, failures)
            self._backoff.reset()
            return result

    def _save_evidence(self, pictures: list[EvidenceMessage]) -> tuple[int, list[DeadLetter]]:
        """Save each picture (worker thread): how many are stored, and the refused ones.

        ``OSError`` goes up and the whole list is tried again; pictures already
        saved are then recognised and left as they are.
        """
        refused: list[DeadLetter] = []
        for ev in pictures:
            if self._evidence is None:
                refused.append(
                    DeadLetter.of(
                        ev.received_ns, ev.topic, RejectReason.UNEXPECTED_CHANNEL,
                        "this ingester stores no evidence", ev.jpeg,
                    )
                )  # fmt: skip
                continue
            try:
                self._evidence.save(ev.village, ev.device, ev.evidence_id, ev.jpeg)
            except EvidenceRejected as exc:
                refused.append(
                    DeadLetter.of(ev.received_ns, ev.topic, exc.reason, exc.detail, ev.jpeg)
                )
            except (OSError, StoreUnavailable):
                raise  # the disk or the database, not the picture: the list is tried again
            except Exception as exc:  # supervisor: a bug on one picture must not stall the stream
                log.exception("Saving evidence %s failed; dead-lettered", ev.evidence_id)
                refused.append(
                    DeadLetter.of(
                        ev.received_ns, ev.topic, RejectReason.INTERNAL_ERROR,
                        f"saving it failed: {type(exc).__name__}: {exc}", ev.jpeg,
                    )
                )  # fmt: skip
        return len(pictures) - len(refused), refused

    def _count(self, batch: PendingBatch, result: WriteResult, seconds: float) -> None:
        m = self._metrics
        m.batch_write_seconds.observe(seconds)
        m.readings_stored.inc(result.readings)
        m.events_stored.inc(result.events)
        m.evidence_stored.inc(batch.evidence_saved)
        m.duplicates.inc(batch.duplicates + result.duplicates)
        m.rescued.inc(batch.rescued)
        for letter in batch.dead_letters:
            m.rejected.labels(letter.reason.value).inc()
        for letter in result.rejected:
            m.rejected.labels(letter.reason.value).inc()
        now_ms = time.time() * 1000
        samples = batch.live_device_ms
        # a spread of at most _LAG_SAMPLES per batch: an observation costs ~1 µs
        for device_ms in samples[:: max(1, len(samples) // _LAG_SAMPLES)]:
            m.store_lag_seconds.observe(max(0.0, (now_ms - device_ms) / 1000))


def _batch_of(items: list[Reading | Event | DeadLetter]) -> Batch:
    return Batch(
        [i for i in items if isinstance(i, Reading)],
        [i for i in items if isinstance(i, Event)],
        [i for i in items if isinstance(i, DeadLetter)],
    )


def _merged(a: WriteResult, b: WriteResult) -> WriteResult:
    return WriteResult(
        a.readings + b.readings, a.events + b.events, a.duplicates + b.duplicates,
        a.rejected + b.rejected,
    )  # fmt: skip
