"""Batching, dedupe, back-pressure, and acknowledgement only after a successful write."""

from __future__ import annotations

import asyncio
import time

import pytest

from villagewatch.contract import Clock, DeadLetter, Decoded, Reading, RejectReason
from villagewatch.ingest.intake import Intake
from villagewatch.ingest.metrics import IngestMetrics
from villagewatch.ingest.writer import BatchWriter
from villagewatch.runtime.backoff import Backoff
from villagewatch_dev.testing import MemoryStore


def reading(seq: int, device: str = "wl-1", boot: str = "b1") -> Reading:
    return Reading(
        "dongcun", "g1", device, "water_level", 1_000_000 + seq, seq, boot, {"level_cm": 1.0},
        Clock.SYNCED, False, False, 1,
    )  # fmt: skip


def decoded(*seqs: int, device: str = "wl-1") -> Decoded:
    return Decoded([reading(s, device) for s in seqs], [], 0)


def letter() -> DeadLetter:
    return DeadLetter.of(1, "t", RejectReason.BAD_JSON, "x", b"{")


def make_intake(
    max_messages: int = 3, max_items: int = 100, max_pending: int = 1000, dedupe_window: int = 100
) -> Intake:
    return Intake(
        max_messages=max_messages, max_items=max_items, max_pending=max_pending,
        dedupe_window=dedupe_window,
    )  # fmt: skip


async def take(intake: Intake, flush: float = 10.0, stop: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(intake.take(flush, stop or asyncio.Event()), timeout=5)


def test_batch_closes_when_full_by_message_count() -> None:
    async def main() -> None:
        intake = make_intake()
        for i in range(4):
            intake.add(i, 1, 1, decoded(i))
        batch = await take(intake)
        assert batch.messages == 3 and [a for a, _ in batch.acks] == [0, 1, 2]
        assert intake.pending == 4

    asyncio.run(main())


def test_batch_closes_when_full_by_item_count() -> None:
    async def main() -> None:
        intake = make_intake(max_messages=100, max_items=5)
        intake.add(1, 1, 1, decoded(1, 2, 3))
        intake.add(2, 1, 1, decoded(4, 5, 6))
        batch = await take(intake)
        assert batch.items == 6 and batch.messages == 2

    asyncio.run(main())


def test_batch_closes_on_the_timer_when_not_full() -> None:
    async def main() -> None:
        intake = make_intake()
        intake.add(1, 1, 1, decoded(1))
        started = time.monotonic()
        batch = await take(intake, flush=0.2)
        assert batch.messages == 1 and time.monotonic() - started >= 0.15

    asyncio.run(main())


def test_duplicates_are_dropped_and_counted_but_still_acknowledged() -> None:
    async def main() -> None:
        intake = make_intake()
        intake.add(1, 1, 1, decoded(1, 2))
        intake.add(2, 1, 1, decoded(2, 3))  # 2 again, redelivered inside another message
        intake.add(3, 1, 1, decoded(1, device="wl-2"))  # same seq, other device: not a duplicate
        batch = await take(intake)
        assert [r.seq for r in batch.readings] == [1, 2, 3, 1]
        assert batch.duplicates == 1
        assert [a for a, _ in batch.acks] == [1, 2, 3]

    asyncio.run(main())


def test_dedupe_window_remembers_the_recent_half_and_forgets_beyond_the_window() -> None:
    intake = make_intake(dedupe_window=4, max_messages=100)
    for mid, seq in enumerate([1, 2, 3, 1, 4, 5]):
        intake.add(mid, 1, 1, decoded(seq))
    assert intake._batch.duplicates == 1  # 1 again, two keys later: remembered
    intake.add(6, 1, 1, decoded(2))  # five keys later: forgotten (the store still dedupes)
    intake.add(7, 1, 1, decoded(5))  # two keys later (at most window/2): remembered
    assert intake._batch.duplicates == 2


def test_qos0_messages_are_batched_but_not_acknowledged() -> None:
    intake = make_intake()
    intake.add(0, 0, 1, decoded(1))
    intake.add(9, 1, 1, letter())
    assert intake._batch.acks == [(9, 1)] and intake._batch.messages == 2


def test_a_full_intake_pauses_reading_and_a_release_resumes_it() -> None:
    async def main() -> None:
        calls: list[str] = []
        intake = Intake(
            max_messages=2, max_items=100, max_pending=2, dedupe_window=100,
            pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume"),
        )  # fmt: skip
        intake.add(1, 1, 1, decoded(1))
        assert calls == []
        intake.add(2, 1, 1, decoded(2))
        assert calls == ["pause"], "2 pending: stop reading from the broker"
        intake.add(3, 1, 1, decoded(3))  # the rest of a read in progress still comes in
        batch = await take(intake)
        assert calls == ["pause"], "taken is not yet acknowledged: still pending"
        intake.release(batch)
        assert calls == ["pause", "resume"] and intake.pending == 1

    asyncio.run(main())


def test_closed_intake_refuses_and_take_returns_leftovers_then_none() -> None:
    async def main() -> None:
        intake = make_intake(max_messages=10)
        intake.add(1, 1, 1, decoded(1))
        intake.close()
        assert intake.add(2, 1, 1, decoded(2)) is False
        stop = asyncio.Event()
        stop.set()
        batch = await take(intake, stop=stop)
        assert batch.messages == 1
        assert await take(intake, stop=stop) is None

    asyncio.run(main())


class AckRecorder:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.acked: list[int] = []
        self.stored_when_acked: list[int] = []

    def __call__(self, acks: list[tuple[int, int]]) -> None:
        self.acked.extend(mid for mid, _ in acks)
        self.stored_when_acked.append(len(self.store.readings))


def make_writer(
    store: MemoryStore, intake: Intake, acks: AckRecorder, metrics: IngestMetrics
) -> BatchWriter:
    return BatchWriter(
        store=store, intake=intake, acknowledge=acks, metrics=metrics,
        flush_interval_s=0.05, retry_initial_s=0.01, retry_max_s=0.02,
    )  # fmt: skip


def test_writer_acknowledges_only_after_the_store_accepted_the_batch() -> None:
    async def main() -> None:
        store, metrics = MemoryStore(), IngestMetrics()
        store.gate = asyncio.Event()
        intake = make_intake(max_messages=2)
        acks = AckRecorder(store)
        stop = asyncio.Event()
        task = asyncio.create_task(make_writer(store, intake, acks, metrics).run(stop))
        intake.add(1, 1, 1, decoded(1))
        intake.add(2, 1, 1, letter())
        await asyncio.sleep(0.2)
        assert acks.acked == [] and store.attempts == 1, "write in progress: nothing acknowledged"
        store.gate.set()
        stop.set()
        await asyncio.wait_for(task, 5)
        assert acks.acked == [1, 2] and acks.stored_when_acked == [1]
        assert metrics.value("villagewatch_ingest_readings_stored_total") == 1
        assert metrics.value("villagewatch_ingest_rejected_total", {"reason": "bad_json"}) == 1

    asyncio.run(main())


def test_writer_retries_an_unavailable_store_without_acknowledging_or_dropping() -> None:
    async def main() -> None:
        store, metrics = MemoryStore(), IngestMetrics()
        store.fail_next(5)
        intake = make_intake(max_messages=1)
        acks = AckRecorder(store)
        stop = asyncio.Event()
        intake.add(1, 1, 1, decoded(1))
        stop.set()
        await asyncio.wait_for(make_writer(store, intake, acks, metrics).run(stop), 5)
        assert store.attempts == 6 and acks.acked == [1] and len(store.readings) == 1
        assert metrics.value("villagewatch_ingest_store_retries_total") == 5
        assert intake.pending == 0

    asyncio.run(main())


def test_writer_survives_an_unexpected_store_error() -> None:
    class Flaky(MemoryStore):
        async def write(self, batch):  # type: ignore[no-untyped-def]
            if self.attempts == 0:
                self.attempts += 1
                raise RuntimeError("bug")
            return await super().write(batch)

    async def main() -> None:
        store, metrics = Flaky(), IngestMetrics()
        intake = make_intake(max_messages=1)
        acks = AckRecorder(store)
        stop = asyncio.Event()
        intake.add(1, 1, 1, decoded(1))
        stop.set()
        await asyncio.wait_for(make_writer(store, intake, acks, metrics).run(stop), 5)
        assert acks.acked == [1] and len(store.readings) == 1

    asyncio.run(main())


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_capped_and_jittered(attempt: int) -> None:
    backoff = Backoff(initial_s=0.5, max_s=30)
    delays = [backoff.next_delay() for _ in range(attempt + 1)]
    cap = min(30, 0.5 * 2**attempt)
    assert cap / 2 <= delays[-1] <= cap
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_batches_written_at_once_are_acknowledged_in_order() -> None:
    """The second batch's write may finish first; its ack still waits for the first batch."""

    class FirstSlow(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.first = asyncio.Event()

        async def write(self, batch):  # type: ignore[no-untyped-def]
            if batch.readings and batch.readings[0].seq == 1:
                await self.first.wait()
            return await super().write(batch)

    async def main() -> None:
        store, metrics = FirstSlow(), IngestMetrics()
        intake = make_intake(max_messages=1)
        acks = AckRecorder(store)
        stop = asyncio.Event()
        writer = BatchWriter(
            store=store, intake=intake, acknowledge=acks, metrics=metrics,
            flush_interval_s=0.05, retry_initial_s=0.01, retry_max_s=0.02, in_flight=3,
        )  # fmt: skip
        task = asyncio.create_task(writer.run(stop))
        intake.add(1, 1, 1, decoded(1))
        intake.add(2, 1, 1, decoded(2))
        await asyncio.sleep(0.2)
        assert [r.seq for r in store.readings.values()] == [2], "the second batch is written"
        assert acks.acked == [], "but not acknowledged before the first"
        store.first.set()
        await asyncio.sleep(0.2)
        assert acks.acked == [1, 2]
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())


def test_a_written_batch_is_acknowledged_without_waiting_for_the_next() -> None:
    """The broker sends nothing more until we ack, so the ack can't wait for more messages."""

    async def main() -> None:
        store, metrics = MemoryStore(), IngestMetrics()
        intake = make_intake(max_messages=1)
        acks = AckRecorder(store)
        stop = asyncio.Event()
        writer = BatchWriter(
            store=store, intake=intake, acknowledge=acks, metrics=metrics,
            flush_interval_s=0.05, retry_initial_s=0.01, retry_max_s=0.02, in_flight=2,
        )  # fmt: skip
        task = asyncio.create_task(writer.run(stop))
        intake.add(1, 1, 1, decoded(1))
        await asyncio.sleep(0.3)
        assert acks.acked == [1]
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())


class PoisonStore(MemoryStore):
    """A store with a bug: any batch holding the reading with seq 666 raises."""

    async def write(self, batch):  # type: ignore[no-untyped-def]
        if any(r.seq == 666 for r in batch.readings):
            self.attempts += 1
            raise ValueError("a bug of ours on one reading")
        return await super().write(batch)


def test_a_reading_the_store_fails_on_is_dead_lettered_and_the_rest_written() -> None:
    """One poison item must not make the writer retry its batch forever (a stalled stream)."""

    async def main() -> None:
        store, metrics = PoisonStore(), IngestMetrics()
        intake = make_intake(max_messages=4)
        acks = AckRecorder(store)
        stop = asyncio.Event()
        task = asyncio.create_task(make_writer(store, intake, acks, metrics).run(stop))
        for mid, seq in enumerate([1, 666, 3, 4], start=1):
            intake.add(mid, 1, 1, decoded(seq))
        await asyncio.wait_for(_until(lambda: acks.acked == [1, 2, 3, 4]), 5)
        assert sorted(r.seq for r in store.readings.values()) == [1, 3, 4]
        (dead,) = store.letters
        assert dead.reason is RejectReason.INTERNAL_ERROR and "666" in dead.payload.decode()
        assert metrics.rejected.labels("internal_error")._value.get() == 1
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())


async def _until(probe):  # type: ignore[no-untyped-def]
    while not probe():  # noqa: ASYNC110 - polling what a fake records
        await asyncio.sleep(0.01)
