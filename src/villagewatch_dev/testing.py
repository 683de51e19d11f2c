"""Fakes for testing code that uses villagewatch: an in-memory store that can be made to fail,
and a tiny valid JPEG for evidence.

Shipped with the package (as structlog ships its testing helpers) so that users
writing their own stages can test against the same fakes we do.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from typing import Any

from villagewatch.alerts.lifecycle import Alert, AlertPolicy
from villagewatch.alerts.store import AlertLifecycle
from villagewatch.contract import DeadLetter, DedupeKey, Event, Reading
from villagewatch.errors import StoreUnavailable
from villagewatch.store.base import (
    Batch,
    Bucket,
    History,
    LastValue,
    WriteResult,
    bucket_width_ns,
)
from villagewatch.transitions import AlertKey, Severity, Transition

__all__ = ["TINY_JPEG", "MemoryStore", "fire_alert"]

TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX"
    "RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcI"
    "CQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcY"
    "GRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKj"
    "pKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/AEg8"
    "Hf8ATP8ASv/Z"
)
"""An 8 by 8 grey gradient as a baseline JPEG (339 bytes, made with OpenCV), for evidence tests."""


class MemoryStore:
    """A :class:`~villagewatch.store.base.Store` in memory, idempotent like the real ones.

    ``fail_next(n)`` makes the next ``n`` writes raise ``StoreUnavailable``;
    ``writes`` lists every batch that was written, in order.
    """

    def __init__(self) -> None:
        self.readings: dict[DedupeKey, Reading] = {}
        self.events: dict[DedupeKey, Event] = {}
        self.letters: list[DeadLetter] = []
        self.writes: list[Batch] = []
        self.attempts = 0
        self._failures = 0
        self.gate: asyncio.Event | None = None
        """When set to an unset event, writes wait for it (to hold a batch "in flight")."""

    def fail_next(self, n: int) -> None:
        """Make the next ``n`` writes fail as if the store were down."""
        self._failures = n

    async def write(self, batch: Batch) -> WriteResult:
        """Store the batch; duplicates (same dedupe key) are counted, not stored twice."""
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self._failures:
            self._failures -= 1
            raise StoreUnavailable("memory store told to fail")
        duplicates = 0
        for reading in batch.readings:
            duplicates += reading.key in self.readings
            self.readings.setdefault(reading.key, reading)
        for event in batch.events:
            duplicates += event.key in self.events
            self.events.setdefault(event.key, event)
        self.letters.extend(batch.dead_letters)
        self.writes.append(batch)
        return WriteResult(
            readings=len(batch.readings), events=len(batch.events), duplicates=duplicates
        )

    async def last_values(
        self, *, village: str | None = None, device: str | None = None
    ) -> list[LastValue]:
        """Newest value per device, parking lot and metric."""
        newest: dict[tuple[str, str, str, str], LastValue] = {}
        for r in self.readings.values():
            if village not in (None, r.village) or device not in (None, r.device):
                continue
            for metric, value in r.values.items():
                k = (r.village, r.device, r.lot, metric)
                if k not in newest or newest[k].time_ns < r.time_ns:
                    newest[k] = LastValue(r.village, r.device, metric, r.time_ns, value, r.lot)
        return [newest[k] for k in sorted(newest)]

    async def downsample(
        self, *, village: str, device: str, metric: str, since_ns: int, until_ns: int, buckets: int
    ) -> list[Bucket]:
        """Mean/min/max per slice, computed in Python."""
        width = bucket_width_ns(since_ns, until_ns, buckets)
        slices: dict[int, list[float]] = {}
        for r in self.readings.values():
            if (r.village, r.device, r.lot) != (village, device, "") or metric not in r.values:
                continue
            if since_ns <= r.time_ns < until_ns:
                slices.setdefault((r.time_ns - since_ns) // width, []).append(r.values[metric])
        return [
            Bucket(since_ns + b * width, sum(v) / len(v), min(v), max(v), len(v))
            for b, v in sorted(slices.items())
        ]

    async def history(
        self,
        *,
        since_ns: int,
        until_ns: int,
        village: str | None = None,
        device: str | None = None,
    ) -> History:
        """Readings and events of [since, until), in stored-time order."""

        def wanted(item: Reading | Event) -> bool:
            return (
                since_ns <= item.time_ns < until_ns
                and village in (None, item.village)
                and device in (None, item.device)
            )

        def order(item: Reading | Event) -> tuple[int, str, str, int]:
            return (item.time_ns, item.village, item.device, item.seq)

        return History(
            sorted(filter(wanted, self.readings.values()), key=order),
            sorted(filter(wanted, self.events.values()), key=order),
        )

    async def dead_letters(
        self, *, limit: int = 100, before_ns: int | None = None
    ) -> list[DeadLetter]:
        """Newest dead letters first (received before ``before_ns``)."""
        older = [d for d in self.letters if before_ns is None or d.received_ns < before_ns]
        return sorted(older, key=lambda d: d.received_ns, reverse=True)[:limit]

    async def close(self) -> None:
        """Nothing to release."""


def fire_alert(
    store: AlertLifecycle,
    *,
    village: str,
    subject: str,
    kind: str,
    severity: str = "orange",
    message: str = "test alert",
    details: dict[str, Any] | None = None,
    detector: str = "water_level",
    at_ms: int | None = None,
) -> Alert:
    """Apply a detector's ``fire`` to ``store`` as the alert engine would; the alert."""
    now = at_ms if at_ms is not None else time.time_ns() // 1_000_000
    key = AlertKey(detector, village, subject, kind)
    transition = Transition(
        key, "fire", Severity(severity), now, message, details or {}, False, False
    )
    alert = store.apply(transition, f"test-{uuid.uuid4().hex}", AlertPolicy(), now)
    assert alert is not None
    return alert
