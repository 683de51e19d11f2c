"""VictoriaStore against a real VictoriaMetrics: outages, rewrites, values it cannot keep, a
huge batch, rescued readings, and last values the server's queries do not show yet."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from villagewatch.config import VictoriaSettings
from villagewatch.contract import Clock, Event, Reading, RejectReason, point_time_ns
from villagewatch.db.database import Location
from villagewatch.errors import StoreUnavailable
from villagewatch.store import Batch, VictoriaStore
from villagewatch_dev.servers import VictoriaMetrics

Where = Callable[[str], Location]
T0 = 1_795_000_000_000  # ms


def store_for(vm: VictoriaMetrics, where: Location, **kw: Any) -> VictoriaStore:
    settings = {"last_values_window_s": 10 * 365 * 86_400, "search_latency_s": 0, **kw}
    return VictoriaStore(VictoriaSettings(url=vm.url, **settings), relational=where)


def reading(village: str, seq: int, level: float, *, ms: int | None = None, **kw: Any) -> Reading:
    at = T0 + seq * 1000 if ms is None else ms
    return Reading(
        village, "g1", "wl-1", "water_level", point_time_ns(at, "b1", seq), seq, "b1",
        {"level_cm": level}, Clock.SYNCED, False, False, at, **kw,
    )  # fmt: skip


def samples(vm: VictoriaMetrics, village: str, name: str = "readings_level_cm") -> int:
    """The samples of the village's series once VictoriaMetrics shows them: after settle(),
    read until two reads 0.5 s apart agree on a count that is not 0, or 10 s pass (a new
    series' index entry came up after settle's marker in a loaded CI run: 0 of 60,000)."""
    vm.settle()
    deadline, last = time.monotonic() + 10, -1
    while True:
        count = sum(len(s["values"]) for s in vm.export(f'{name}{{village="{village}"}}'))
        if (count and count == last) or time.monotonic() > deadline:
            return count
        last = count
        time.sleep(0.5)


@pytest.fixture
def village() -> str:
    return f"v{uuid.uuid4().hex[:12]}"


def test_an_outage_is_unavailable_nothing_is_lost_and_the_retry_stores_it_once(
    victoria: VictoriaMetrics, tmp_path: Path, relational: Where, village: str
) -> None:
    lock = Event(
        village, "g3", "lock-1", "smart_lock", point_time_ns(T0, "b", 1), 1, "b", "unlock",
        {"method": "card"}, Clock.SYNCED, False, False, T0,
    )  # fmt: skip
    batch = Batch([reading(village, i, float(i)) for i in range(100)], [lock])

    async def main() -> None:
        store = store_for(victoria, relational("readings"))
        await store.write(Batch(batch.readings[:10]))  # some of it got there before the outage
        victoria.stop()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.write(batch)
        assert await store.relational.count("events") == 0  # nothing half-written elsewhere
        with pytest.raises(StoreUnavailable):
            await store.last_values()
        victoria.start()
        result = await store.write(batch)
        assert (result.readings, result.events) == (100, 1)
        assert samples(victoria, village) == 100
        found = await store.history(since_ns=0, until_ns=2**62, village=village)
        assert [r.seq for r in found.readings] == list(range(100)) and len(found.events) == 1
        await store.close()

    asyncio.run(main())


def test_values_it_cannot_keep_are_dead_letters_and_the_rest_is_stored(
    shared_victoria: VictoriaMetrics, tmp_path: Path, relational: Where, village: str
) -> None:
    """VictoriaMetrics would drop NaN silently (its staleness mark) and keep inf: both refused."""
    good = [reading(village, i, float(i)) for i in range(3)]
    bad = [reading(village, 10, math.nan), reading(village, 11, math.inf)]

    async def main() -> None:
        store = store_for(shared_victoria, relational("readings"))
        result = await store.write(Batch([good[0], *bad, *good[1:]]))
        assert result.readings == 3
        assert [d.reason for d in result.rejected] == [RejectReason.STORE_REJECTED] * 2
        assert "not finite" in result.rejected[0].detail
        letters = await store.dead_letters()
        assert {d.topic for d in letters} == {f"vw/v1/{village}/wl-1/telemetry"}
        assert len(letters) == 2
        assert samples(shared_victoria, village) == 3
        await store.close()

    asyncio.run(main())


def test_a_huge_batch_is_stored_whole_and_once(
    shared_victoria: VictoriaMetrics, tmp_path: Path, relational: Where, village: str
) -> None:
    batch = Batch([reading(village, i, float(i % 500)) for i in range(60_000)])

    async def main() -> None:
        store = store_for(shared_victoria, relational("readings"), points_per_request=7_000)
        await store.write(batch)
        await store.write(batch)
        assert samples(shared_victoria, village) == 60_000
        assert samples(shared_victoria, village, "readings_seq") == 60_000
        assert await store.relational.count("readings") == 0  # all exact in VictoriaMetrics
        found = await store.history(since_ns=0, until_ns=2**62, village=village)
        assert [r.seq for r in found.readings] == list(range(60_000))
        await store.close()

    asyncio.run(main())


def test_no_strings_reach_victoriametrics(
    shared_victoria: VictoriaMetrics, tmp_path: Path, relational: Where, village: str
) -> None:
    """A string field would be kept as 0: flags go as numbers, events and boots elsewhere."""
    odd = reading(village, 1, 4.0)._replace(clock=Clock.UNSYNCED, historical=True)

    async def main() -> None:
        store = store_for(shared_victoria, relational("readings"))
        await store.write(Batch([odd]))
        shared_victoria.settle()
        names = {
            s["metric"]["__name__"] for s in shared_victoria.export(f'{{village="{village}"}}')
        }
        assert names == {
            "readings_level_cm", "readings_seq", "readings_ns", "readings_historical",
            "readings_unsynced",
        }  # fmt: skip
        (back,) = (await store.history(since_ns=0, until_ns=2**62, village=village)).readings
        assert (back.clock, back.historical, back.time_ns) == (Clock.UNSYNCED, True, odd.time_ns)
        await store.close()

    asyncio.run(main())


def test_a_resent_rescued_reading_is_stored_once(
    shared_victoria: VictoriaMetrics, tmp_path: Path, relational: Where, village: str
) -> None:
    """Stamped on receipt, a resent copy gets a new time; it is found by its dedupe key."""
    now_ms = int(time.time() * 1000)
    first = reading(village, 7, 3.0, ms=now_ms)._replace(rescued=True, device_ts_ms=12)
    later = first._replace(time_ns=point_time_ns(now_ms + 5000, "b1", 7))

    async def main() -> None:
        store = store_for(shared_victoria, relational("readings"))
        await store.write(Batch([first]))
        await store.close()
        restarted = store_for(shared_victoria, relational("readings"))
        result = await restarted.write(Batch([later]))
        assert (result.readings, result.duplicates) == (0, 1)
        assert samples(shared_victoria, village) == 1
        (back,) = (await restarted.history(since_ns=0, until_ns=2**62, village=village)).readings
        assert (back.boot, back.rescued, back.device_ts_ms) == ("b1", True, 12)
        await restarted.close()

    asyncio.run(main())


def test_last_values_include_what_the_servers_queries_still_hide(
    tmp_path: Path, relational: Where, village: str
) -> None:
    """With the server's default -search.latencyOffset (30 s) a query does not see a sample
    written just now; last values read that stretch raw."""
    vm = VictoriaMetrics(tmp_path / "vm", latency_offset_s=30).start()
    try:

        async def main() -> None:
            store = store_for(vm, relational("readings"), search_latency_s=30)
            now_ms = int(time.time() * 1000)
            await store.write(
                Batch(
                    [
                        reading(village, 1, 1.0, ms=now_ms - 3_600_000),
                        reading(village, 2, 2.0, ms=now_ms),
                    ]
                )
            )
            vm.settle()
            (latest,) = await store.last_values(village=village)
            assert (latest.value, latest.time_ns // 1_000_000) == (2.0, now_ms)
            await store.close()

        asyncio.run(main())
    finally:
        vm.kill()
