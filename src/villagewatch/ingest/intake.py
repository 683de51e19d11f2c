"""Where decoded messages wait for their batch to be written.

The MQTT link calls :meth:`Intake.add` for every message; a batch that reaches
its message or item count is closed and queued, and the next message opens a
new one. The writer task awaits :meth:`Intake.take` for the next batch that is
due: the oldest full one, else the open one once its oldest message has waited
``flush_interval``. A message counts as *pending* from ``add`` until the writer
calls :meth:`Intake.release` after acknowledging its batch. Everything runs in
the event loop's thread: no locks.

Overflow policy: once ``max_pending`` messages or ``max_pending_items`` items
(default: eight batches' worth) are pending, the intake asks the link to stop
reading (``pause``), so TCP pushes back on the broker, and to read again
(``resume``) when a release makes room. The item bound is what keeps memory
in check when every message carries a batch of readings. Under MQTT 5 this rarely
triggers for QoS 1 (the broker stops at our Receive Maximum first); it bounds
memory for QoS 0 floods and behind MQTT 3.1.1 brokers. A read already in
progress finishes, so pending may pass the limit by one read's worth.

Evidence pictures (:meth:`Intake.add_evidence`) ride in the same batches, so
they are acknowledged in order with everything else, once saved. They are big
(up to 1 MiB each), so their bytes are bounded too: a batch closes once it holds
``max_batch_evidence_bytes`` of them, and reading pauses while
``max_pending_evidence_bytes`` are pending.

Recently seen dedupe keys are remembered (between half and all of the last
``dedupe_window``) so a redelivered reading is dropped here and counted; the
stores are idempotent anyway, so forgetting a key (restart, window exceeded)
costs work, not correctness.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from villagewatch.contract import DeadLetter, Decoded, DedupeKey, Event, Reading
from villagewatch.contract.payloads import Clock
from villagewatch.ingest.evidence import EvidenceMessage

__all__ = ["Intake", "PendingBatch"]

T = TypeVar("T", Reading, Event)


@dataclass(slots=True)
class PendingBatch:
    """Messages waiting to be written together, with what is needed to acknowledge them."""

    readings: list[Reading] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)
    """(packet id, connection generation) of each QoS 1 message."""
    messages: int = 0
    items: int = 0
    duplicates: int = 0
    rescued: int = 0
    first_at: float = 0.0
    """time.monotonic() when the first message arrived."""
    live_device_ms: list[int] = field(default_factory=list)
    """Device time of the first live, synced item of each message (store-lag samples)."""
    evidence: list[EvidenceMessage] = field(default_factory=list)
    """Pictures to save before the batch is acknowledged."""
    evidence_bytes: int = 0
    evidence_saved: int = 0
    """Pictures durably stored (new, or already there); set by the writer."""

    def take(
        self,
        readings: list[Reading],
        events: list[Event],
        dead: DeadLetter | None,
        ack: tuple[int, int] | None,
        live_ms: int | None,
    ) -> None:
        """Add one message's records."""
        if readings:
            self.readings += readings
        if events:
            self.events += events
        if dead is not None:
            self.dead_letters.append(dead)
        if ack is not None:
            self.acks.append(ack)
        if live_ms is not None:
            self.live_device_ms.append(live_ms)
        self.messages += 1
        self.items += len(readings) + len(events) + (dead is not None)


class Intake:
    """Hands decoded messages to the writer task; everything runs in the event loop's thread."""

    def __init__(
        self,
        *,
        max_messages: int,
        max_items: int,
        max_pending: int,
        dedupe_window: int,
        max_pending_items: int | None = None,
        max_batch_evidence_bytes: int = 8 << 20,
        max_pending_evidence_bytes: int = 64 << 20,
        pause: Callable[[], None] | None = None,
        resume: Callable[[], None] | None = None,
    ) -> None:
        self._max_messages = max_messages
        self._max_items = max_items
        self._max_pending = max_pending
        self._max_pending_items = max_pending_items or 8 * max_items
        self._pending_items = 0
        self._max_batch_evidence_bytes = max_batch_evidence_bytes
        self._max_pending_evidence_bytes = max_pending_evidence_bytes
        self._pending_evidence_bytes = 0
        self._dedupe_window = dedupe_window
        self._pause, self._resume = pause, resume
        self._paused = False
        self._recent: dict[DedupeKey, None] = {}
        self._older: dict[DedupeKey, None] = {}
        self._batch = PendingBatch()
        self._full: deque[PendingBatch] = deque()
        self._waiting = 0
        """Messages in full batches and the open batch, not yet taken."""
        self._in_flight = 0
        self._closed = False
        self._wake = asyncio.Event()

    @property
    def pending(self) -> int:
        """Messages added and not yet released."""
        return self._in_flight + self._waiting

    def add(self, mid: int, qos: int, generation: int, decoded: Decoded | DeadLetter) -> bool:
        """Queue one message's outcome; False when closed (the message stays unacknowledged)."""
        if self._closed:
            return False
        dead: DeadLetter | None = None
        readings: list[Reading] = []
        events: list[Event] = []
        duplicates = rescued = 0
        if isinstance(decoded, DeadLetter):
            dead = decoded
        else:
            readings = self._fresh(decoded.readings)
            events = self._fresh(decoded.events)
            duplicates = len(decoded.readings) + len(decoded.events) - len(readings) - len(events)
            rescued = decoded.rescued
        # one store-lag sample per message: its first item, if live
        first = readings[0] if readings else events[0] if events else None
        live_ms = None
        if first is not None and not (
            first.historical or first.rescued or first.clock is Clock.UNSYNCED
        ):
            live_ms = first.device_ts_ms
        b = self._open_batch()
        b.take(readings, events, dead, (mid, generation) if qos else None, live_ms)
        b.duplicates += duplicates
        b.rescued += rescued
        self._waiting += 1
        self._pending_items += len(readings) + len(events) + (dead is not None)
        self._taken(b, full=b.messages >= self._max_messages or b.items >= self._max_items)
        return True

    def add_evidence(self, mid: int, qos: int, generation: int, evidence: EvidenceMessage) -> bool:
        """Queue one checked evidence picture; False when closed (it stays unacknowledged)."""
        if self._closed:
            return False
        b = self._open_batch()
        size = len(evidence.jpeg)
        b.take([], [], None, (mid, generation) if qos else None, None)
        b.items += 1
        b.evidence.append(evidence)
        b.evidence_bytes += size
        self._waiting += 1
        self._pending_items += 1
        self._pending_evidence_bytes += size
        self._taken(
            b,
            full=b.messages >= self._max_messages
            or b.items >= self._max_items
            or b.evidence_bytes >= self._max_batch_evidence_bytes,
        )
        return True

    def _open_batch(self) -> PendingBatch:
        """The batch a message joins; the first one starts its flush clock."""
        b = self._batch
        if b.messages == 0:
            b.first_at = time.monotonic()
            self._wake.set()
        return b

    def _taken(self, b: PendingBatch, *, full: bool) -> None:
        """After a message joined ``b``: seal it when ``full``; pause reading if too much waits."""
        if full:
            self._full.append(b)
            self._batch = PendingBatch()
            self._wake.set()
        if not self._paused and self._full_up() and self._pause is not None:
            self._paused = True
            self._pause()

    def _full_up(self) -> bool:
        return (
            self.pending >= self._max_pending
            or self._pending_items >= self._max_pending_items
            or self._pending_evidence_bytes >= self._max_pending_evidence_bytes
        )

    def _fresh(self, items: list[T]) -> list[T]:
        """The items whose dedupe key was not seen recently (remembering theirs)."""
        if not items or not self._dedupe_window:
            return items
        # Two generations of keys instead of an LRU: a dict lookup and store per item,
        # nothing to reorder or evict one by one.
        recent, older = self._recent, self._older
        out = items
        for i, item in enumerate(items):
            key = (item.village, item.device, item.boot, item.seq)
            if key in recent or key in older:
                if out is items:
                    out = items[:i]
                continue
            recent[key] = None
            if out is not items:
                out.append(item)
        if len(recent) >= self._dedupe_window // 2:
            self._older, self._recent = recent, {}
        return out

    async def take(self, flush_interval: float, stop: asyncio.Event) -> PendingBatch | None:
        """The next due batch; after ``stop`` is set, whatever is left, then None."""
        while True:
            self._wake.clear()
            b = self._batch
            now = time.monotonic()
            if self._full:
                return self._hand_over(self._full.popleft())
            if b.messages and (now - b.first_at >= flush_interval or stop.is_set()):
                self._batch = PendingBatch()
                return self._hand_over(b)
            if stop.is_set():
                return None
            timeout = b.first_at + flush_interval - now if b.messages else None
            await _wait_any(self._wake, stop, timeout)

    def _hand_over(self, batch: PendingBatch) -> PendingBatch:
        self._waiting -= batch.messages
        self._in_flight += batch.messages
        return batch

    def release(self, batch: PendingBatch) -> None:
        """The batch is written and acknowledged: its messages no longer count as pending."""
        self._in_flight -= batch.messages
        self._pending_items -= batch.items
        self._pending_evidence_bytes -= batch.evidence_bytes
        if self._paused and not self._full_up() and not self._closed:
            self._paused = False
            if self._resume is not None:
                self._resume()

    def close(self) -> None:
        """Refuse further messages (they stay unacknowledged and will be redelivered)."""
        self._closed = True


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event, wait_s: float | None) -> None:
    waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waiters, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
