"""InfluxStore against a real influxd: escaping round trips, refused points, queries, rescued copies."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from villagewatch.config import InfluxSettings
from villagewatch.contract import Clock, DeadLetter, Event, Reading, RejectReason, point_time_ns
from villagewatch.errors import StoreUnavailable
from villagewatch.store import Batch, InfluxStore
from villagewatch.store.lineprotocol import encode_point, quote_ident, quote_literal
from villagewatch_dev.servers import Influxd

T0 = 1_795_000_000_000


def store_for(influxd: Influxd, database: str, **kw: object) -> InfluxStore:
    return InfluxStore(InfluxSettings(url=influxd.url, database=database, **kw))  # type: ignore[arg-type]


def reading(
    seq: int, level: float, *, minutes: float = 0, device: str = "wl-1", rescued: bool = False
) -> Reading:
    ms = int(T0 + minutes * 60_000)
    return Reading(
        "dongcun", "g1", device, "water_level", point_time_ns(ms, "b1", seq), seq, "b1",
        {"level_cm": level}, Clock.SYNCED, False, rescued, 0 if rescued else ms,
    )  # fmt: skip


NAMES = [
    "plain",
    "with space",
    "com,ma",
    "equals=sign",
    'double"quote',
    "single'quote",
    "back\\slash",
    "水位 站,东=村",
    'mixed \\x, "y"=z\'s',
]
STRINGS = [*NAMES, "", "trailing\\", "double\\\\", "line\nbreak", 'esc\\"aped', "\\"]


@pytest.mark.parametrize("name", NAMES)
def test_names_and_values_round_trip_through_influxdb(
    shared_influxd: Influxd, database: str, name: str
) -> None:
    """Measurement, tag key/value, field key and string value with the same awkward text come back intact."""
    fields = {"f " + name: "v:" + name, **{f"s{i}": s for i, s in enumerate(STRINGS)}}
    line = encode_point(name, [(name, name)], fields, 1_000)
    reply = httpx.post(
        f"{shared_influxd.url}/write",
        params={"db": database, "precision": "ns"},
        content=line.encode(),
    )
    assert reply.status_code == 204, reply.text
    measurements = shared_influxd.rows("SHOW MEASUREMENTS", db=database)
    assert name in {m["name"] for m in measurements}
    q = f"SELECT * FROM {quote_ident(name)} WHERE {quote_ident(name)} = {quote_literal(name)}"
    (row,) = shared_influxd.rows(q, db=database)
    assert row[name] == name  # the tag, found by its own literal
    assert row["f " + name] == "v:" + name
    assert [row[f"s{i}"] for i in range(len(STRINGS))] == STRINGS


def test_refused_points_are_isolated_and_dead_lettered_the_rest_stored(
    shared_influxd: Influxd, database: str
) -> None:
    # InfluxDB fixes a field's type per shard at its first write: make "weird" a string field
    first = httpx.post(
        f"{shared_influxd.url}/write", params={"db": database},
        content=f'readings,device=other weird="s" {T0 * 1_000_000}'.encode(),
    )  # fmt: skip
    assert first.status_code == 204
    good = [reading(i, float(i), minutes=i) for i in range(300)]
    conflicting = reading(999, 0.0)._replace(values={"level_cm": 1.0, "weird": 2.0})
    lock = Event(
        "dongcun", "g3", "lock-1", "smart_lock", point_time_ns(T0, "b", 1), 1, "b", "unlock", {},
        Clock.SYNCED, False, False, T0,
    )  # fmt: skip

    async def main() -> None:
        store = store_for(shared_influxd, database)
        result = await store.write(Batch([*good[:150], conflicting, *good[150:]], [lock]))
        assert (result.readings, result.events) == (len(good), 1)
        (refused,) = result.rejected
        assert refused.reason is RejectReason.STORE_REJECTED
        assert refused.topic == "vw/v1/dongcun/wl-1/telemetry"
        assert "field type conflict" in refused.detail and b"weird=2.0" in refused.payload
        assert [d.reason for d in await store.dead_letters()] == [RejectReason.STORE_REJECTED]
        await store.close()

    asyncio.run(main())
    (count,) = shared_influxd.rows("SELECT count(level_cm) FROM readings", db=database)
    assert count["count"] == len(good)


def test_last_values_and_downsample(shared_influxd: Influxd, database: str) -> None:
    async def main() -> None:
        store = store_for(shared_influxd, database)
        batch = [reading(i, float(i), minutes=i) for i in range(10)] + [
            reading(1, 50.0, device="wl-2")
        ]
        await store.write(Batch(batch))
        latest = await store.last_values()
        assert [(v.device, v.metric, v.value) for v in latest] == [
            ("wl-1", "level_cm", 9.0),
            ("wl-2", "level_cm", 50.0),
        ]
        assert latest[0].time_ns == batch[9].time_ns
        since = T0 * 1_000_000
        buckets = await store.downsample(
            village="dongcun", device="wl-1", metric="level_cm",
            since_ns=since, until_ns=since + 10 * 60_000_000_000, buckets=5,
        )  # fmt: skip
        assert [(b.start_ns, b.mean, b.min, b.max, b.count) for b in buckets] == [
            (since + k * 120_000_000_000, 2 * k + 0.5, 2 * k, 2 * k + 1, 2) for k in range(5)
        ]
        await store.close()

    asyncio.run(main())


def test_a_cameras_lots_are_kept_apart_from_its_own_series(
    shared_influxd: Influxd, database: str
) -> None:
    def camera(seq: int, free: float, lot: str = "") -> Reading:
        ms = T0 + seq * 60_000
        return Reading(
            "dongcun", "g2", "cam-1", "camera", point_time_ns(ms, "b1", seq), seq, "b1",
            {"free_spaces": free, "occupied_spaces": 40 - free}, Clock.SYNCED, False, False, ms,
            lot,
        )  # fmt: skip

    async def main() -> None:
        store = store_for(shared_influxd, database)
        await store.write(Batch([camera(0, 9), camera(1, 3, "clinic"), camera(2, 2, "clinic")]))
        latest = await store.last_values(device="cam-1")
        assert [(v.lot, v.metric, v.value) for v in latest] == [
            ("", "free_spaces", 9.0),
            ("", "occupied_spaces", 31.0),
            ("clinic", "free_spaces", 2.0),
            ("clinic", "occupied_spaces", 38.0),
        ]
        since = T0 * 1_000_000
        buckets = await store.downsample(
            village="dongcun", device="cam-1", metric="free_spaces",
            since_ns=since, until_ns=since + 10 * 60_000_000_000, buckets=1,
        )  # fmt: skip
        assert [(b.mean, b.count) for b in buckets] == [(9.0, 1)]
        history = await store.history(since_ns=since, until_ns=since + 10 * 60_000_000_000)
        assert [(r.lot, r.values["free_spaces"]) for r in history.readings] == [
            ("", 9.0), ("clinic", 3.0), ("clinic", 2.0),
        ]  # fmt: skip
        await store.close()

    asyncio.run(main())


def test_rescued_readings_are_not_stored_twice_by_a_fresh_store(
    shared_influxd: Influxd, database: str
) -> None:
    """A resent reading whose clock was implausible gets a new receive time; the store finds its first copy."""

    async def main() -> None:
        now_ms = int(time.time() * 1000)
        first = reading(7, 3.0, rescued=True)._replace(time_ns=point_time_ns(now_ms, "b1", 7))
        later = first._replace(time_ns=point_time_ns(now_ms + 5000, "b1", 7))
        other = reading(8, 4.0, rescued=True)._replace(
            time_ns=point_time_ns(now_ms + 5000, "b1", 8)
        )
        store = store_for(shared_influxd, database)
        await store.write(Batch([first]))
        await store.close()
        restarted = store_for(shared_influxd, database)
        result = await restarted.write(Batch([later, other]))
        assert result.duplicates == 1
        rows = shared_influxd.rows("SELECT seq, level_cm, rescued, boot FROM readings", db=database)
        assert sorted((r["seq"], r["rescued"], r["boot"]) for r in rows) == [
            (7, True, "b1"),
            (8, True, "b1"),
        ]
        await restarted.close()

    asyncio.run(main())


def test_database_created_lazily_and_outage_raises_unavailable(influxd: Influxd) -> None:
    async def main() -> None:
        store = store_for(influxd, "lazy", create_database=True)
        influxd.stop()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.write(Batch([reading(1, 1.0)]))
        influxd.start()
        result = await store.write(
            Batch([reading(1, 1.0)], [], [DeadLetter.of(1, "t", RejectReason.BAD_JSON, "x", b"{")])
        )
        assert result.readings == 1
        assert influxd.rows("SELECT count(level_cm) FROM readings", db="lazy")[0]["count"] == 1
        await store.close()

    asyncio.run(main())


def test_missing_database_is_unavailable_not_rejected(shared_influxd: Influxd) -> None:
    async def main() -> None:
        store = store_for(shared_influxd, "does_not_exist")
        with pytest.raises(StoreUnavailable, match="database not found"):
            await store.write(Batch([reading(1, 1.0)]))
        await store.close()

    asyncio.run(main())
