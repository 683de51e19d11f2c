"""The Store contract, the same tests against every store: SQLite, InfluxDB and VictoriaMetrics
(with its relational part in SQLite or PostgreSQL) on real servers.

Each test writes to a village of its own, so the servers are shared across tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from villagewatch.config import InfluxSettings, VictoriaSettings
from villagewatch.contract import Clock, DeadLetter, Event, Reading, RejectReason, point_time_ns
from villagewatch.db.database import Location, PostgresLocation
from villagewatch.store import Batch, InfluxStore, RelationalStore, Store, VictoriaStore
from villagewatch_dev.servers import Influxd, VictoriaMetrics

T0 = 1_795_000_000_000  # ms
MINUTE = 60_000_000_000  # ns


@dataclass
class Subject:
    """A store of one kind to test: how to open it, and how to wait until writes are seen."""

    open: Callable[[], Store]
    settle: Callable[[], None] = lambda: None


@pytest.fixture(params=["sqlite", "influx", "victoria", "victoria-postgres"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    kind: str = request.param
    if kind == "sqlite":
        path = tmp_path / "r.db"
        yield Subject(lambda: RelationalStore(path))
    elif kind == "influx":
        influxd: Influxd = request.getfixturevalue("shared_influxd")
        name = f"c_{uuid.uuid4().hex[:12]}"
        influxd.query(f'CREATE DATABASE "{name}"')
        yield Subject(lambda: InfluxStore(InfluxSettings(url=influxd.url, database=name)))
    else:
        vm: VictoriaMetrics = request.getfixturevalue("shared_victoria")
        vsettings = VictoriaSettings(
            url=vm.url, last_values_window_s=10 * 365 * 86_400, search_latency_s=0
        )
        # the relational part in an SQLite file, or in PostgreSQL (shared by several hosts)
        where: Location = tmp_path / "relational.db"
        if kind == "victoria-postgres":
            where = PostgresLocation(request.getfixturevalue("pg_dsn"), "readings")
        yield Subject(lambda: VictoriaStore(vsettings, relational=where), vm.settle)


@pytest.fixture
def village() -> str:
    return f"v{uuid.uuid4().hex[:12]}"


def run(subject: Subject, body: Callable[[Store], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        store = subject.open()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def reading(village: str, seq: int, level: float, *, minutes: float = 0, **kw: Any) -> Reading:
    ms = int(T0 + minutes * 60_000)
    device = kw.pop("device", "wl-1")
    boot = kw.pop("boot", "b1")
    return Reading(
        village, "g1", device, "water_level", point_time_ns(ms, boot, seq), seq, boot,
        {"level_cm": level, "battery_pct": 90.0}, Clock.SYNCED, False, False, ms, **kw,
    )  # fmt: skip


def event(village: str, seq: int, minutes: float = 0) -> Event:
    ms = int(T0 + minutes * 60_000)
    return Event(
        village, "g3", "lock-1", "smart_lock", point_time_ns(ms, "b1", seq), seq, "b1", "unlock",
        {"method": "card", "ok": True, "n": 2}, Clock.UNSYNCED, True, False, ms,
    )  # fmt: skip


def same(r: Reading) -> tuple[Any, ...]:
    """What every store gives back of a reading (boot: InfluxDB and VictoriaMetrics give one
    that stands for it)."""
    return (r.village, r.device, r.time_ns, r.seq, r.values, r.clock, r.historical, r.lot)


def test_the_same_batch_written_twice_is_stored_once(subject: Subject, village: str) -> None:
    batch = Batch([reading(village, i, float(i), minutes=i) for i in range(5)], [event(village, 9)])

    async def body(store: Store) -> None:
        await store.write(batch)
        second = await store.write(batch)
        assert (second.readings, second.events) == (5, 1)
        subject.settle()
        found = await store.history(since_ns=0, until_ns=2**62, village=village)
        assert [same(r) for r in found.readings] == [same(r) for r in batch.readings]
        assert len(found.events) == 1

    run(subject, body)


def test_history_is_the_range_in_time_order_with_events(subject: Subject, village: str) -> None:
    readings = [reading(village, m, float(m), minutes=m) for m in range(6)]
    readings += [reading(village, m, 0.5, minutes=m, device="wl-2") for m in range(6)]
    events = [event(village, 100 + m, m) for m in range(6)]

    async def body(store: Store) -> None:
        await store.write(Batch(readings[::-1], events))
        subject.settle()
        since, until = T0 * 1_000_000 + MINUTE, T0 * 1_000_000 + 4 * MINUTE
        found = await store.history(since_ns=since, until_ns=until, village=village)
        expected = sorted(
            (r for r in readings if since <= r.time_ns < until),
            key=lambda r: (r.time_ns, r.device),
        )
        assert [same(r) for r in found.readings] == [same(r) for r in expected]
        assert [(e.seq, e.attrs, e.clock, e.historical) for e in found.events] == [
            (e.seq, e.attrs, e.clock, e.historical) for e in events[1:4]
        ]
        one = await store.history(since_ns=since, until_ns=until, village=village, device="wl-2")
        assert {r.device for r in one.readings} == {"wl-2"} and len(one.readings) == 3
        # one boot's items share a boot, even where the store gives one that stands for it
        assert len({r.boot for r in found.readings}) == 1

    run(subject, body)


def test_two_readings_in_one_millisecond_both_come_back(subject: Subject, village: str) -> None:
    """Readings of one device in the same millisecond (and one on the range's edge) are kept."""
    a, b = reading(village, 1, 1.0), reading(village, 2, 2.0)
    edge = reading(village, 3, 3.0, minutes=1)  # exactly at `until`: left out

    async def body(store: Store) -> None:
        await store.write(Batch([a, b, edge]))
        subject.settle()
        found = await store.history(since_ns=T0 * 1_000_000, until_ns=edge.time_ns, village=village)
        assert sorted(same(r) for r in found.readings) == sorted([same(a), same(b)])
        last = await store.history(
            since_ns=edge.time_ns, until_ns=edge.time_ns + 1, village=village
        )
        assert [same(r) for r in last.readings] == [same(edge)]

    run(subject, body)


def test_last_values_follow_device_time_and_downsample_buckets(
    subject: Subject, village: str
) -> None:
    batch = [reading(village, i, float(i), minutes=i) for i in range(10)]
    batch.append(reading(village, 1, 50.0, device="wl-2"))

    async def body(store: Store) -> None:
        await store.write(Batch(batch[::-1]))  # arrival order is not device time
        subject.settle()
        latest = [v for v in await store.last_values(village=village) if v.metric == "level_cm"]
        assert [(v.device, v.value) for v in latest] == [("wl-1", 9.0), ("wl-2", 50.0)]
        assert latest[0].time_ns // 1_000_000 == batch[9].at_ms
        since = T0 * 1_000_000
        buckets = await store.downsample(
            village=village, device="wl-1", metric="level_cm",
            since_ns=since, until_ns=since + 10 * MINUTE, buckets=5,
        )  # fmt: skip
        assert [(b.start_ns, b.mean, b.min, b.max, b.count) for b in buckets] == [
            (since + k * 2 * MINUTE, 2 * k + 0.5, 2 * k, 2 * k + 1, 2) for k in range(5)
        ]

    run(subject, body)


def test_a_cameras_lots_are_kept_apart(subject: Subject, village: str) -> None:
    def camera(seq: int, free: float, lot: str = "") -> Reading:
        ms = T0 + seq * 60_000
        return Reading(
            village, "g2", "cam-1", "camera", point_time_ns(ms, "b1", seq), seq, "b1",
            {"free_spaces": free}, Clock.SYNCED, False, False, ms, lot,
        )  # fmt: skip

    async def body(store: Store) -> None:
        await store.write(Batch([camera(0, 9), camera(1, 3, "clinic"), camera(2, 2, "clinic")]))
        subject.settle()
        latest = await store.last_values(village=village, device="cam-1")
        assert [(v.lot, v.value) for v in latest] == [("", 9.0), ("clinic", 2.0)]
        buckets = await store.downsample(
            village=village, device="cam-1", metric="free_spaces",
            since_ns=T0 * 1_000_000, until_ns=T0 * 1_000_000 + 10 * MINUTE, buckets=1,
        )  # fmt: skip
        assert [(b.mean, b.count) for b in buckets] == [(9.0, 1)]
        found = await store.history(since_ns=0, until_ns=2**62, village=village)
        assert [r.lot for r in found.readings] == ["", "clinic", "clinic"]

    run(subject, body)


def test_dead_letters_newest_first(subject: Subject, village: str) -> None:
    letters = [
        DeadLetter.of(T0 * 1_000_000 + i, f"vw/v1/{village}/x", RejectReason.BAD_JSON, "d", b"{")
        for i in range(3)
    ]

    async def body(store: Store) -> None:
        await store.write(Batch(dead_letters=letters))
        subject.settle()
        found = [d for d in await store.dead_letters() if village in d.topic]
        assert [d.received_ns for d in found] == [d.received_ns for d in letters[::-1]]

    run(subject, body)
