"""Store.history on SQLite: a range's readings put back together from their per-metric rows,
events with their attributes, in stored-time order, filtered by village and device."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from villagewatch.contract import Clock, Event, Reading, point_time_ns
from villagewatch.db.database import Location
from villagewatch.store import Batch, History, RelationalStore

Where = Callable[[str], Location]
T0 = 1_795_000_000_000


def reading(device: str, minute: int, seq: int, **values: float) -> Reading:
    ms = T0 + minute * 60_000
    return Reading("v", "g", device, "rain_gauge", point_time_ns(ms, "b", seq), seq, "b",
                   values, Clock.SYNCED, False, False, ms)  # fmt: skip


def event(minute: int, seq: int) -> Event:
    ms = T0 + minute * 60_000
    return Event("v", "g", "lock-1", "smart_lock", point_time_ns(ms, "b", seq), seq, "b",
                 "unlock", {"method": "card", "credential": "c-1", "ok": True, "n": 2},
                 Clock.UNSYNCED, True, False, ms)  # fmt: skip


def history(path: Location, batch: Batch, **kw: str) -> History:
    async def go() -> History:
        store = RelationalStore(path)
        try:
            await store.write(batch)
            return await store.history(
                since_ns=(T0 + 60_000) * 1_000_000, until_ns=(T0 + 4 * 60_000) * 1_000_000, **kw
            )
        finally:
            await store.close()

    return asyncio.run(go())


def test_history_gives_the_range_as_written_in_time_order(relational: Where) -> None:
    readings = [reading("rg-1", m, m, mm=float(m), battery_pct=90.0) for m in range(6)]
    readings += [reading("rg-2", m, m, mm=0.5) for m in range(6)]
    events = [event(m, 100 + m) for m in range(6)]
    found = history(relational("readings"), Batch(readings=readings[::-1], events=events))
    expected = sorted(
        [r for r in readings if 1 <= (r.at_ms - T0) // 60_000 < 4],
        key=lambda r: (r.time_ns, r.device),
    )
    assert found.readings == expected  # both metrics back in one reading; 4 minutes is out
    assert found.events == events[1:4] and len(found) == 9


def test_history_of_one_device(relational: Where) -> None:
    readings = [reading(d, m, m, mm=1.0) for m in range(6) for d in ("rg-1", "rg-2")]
    found = history(
        relational("readings"), Batch(readings=readings, events=[event(2, 7)]), device="rg-2"
    )
    assert {r.device for r in found.readings} == {"rg-2"} and len(found.readings) == 3
    assert found.events == []
