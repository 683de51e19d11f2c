"""The embedded SQLite store: idempotent writes, durable across reopening, the console's queries."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from villagewatch.contract import Clock, DeadLetter, Event, Reading, RejectReason, point_time_ns
from villagewatch.db.database import Location
from villagewatch.store import Batch, RelationalStore

Where = Callable[[str], Location]
T0 = 1_795_000_000_000  # ms


def reading(
    seq: int, level: float, *, device: str = "wl-1", minutes: float = 0, boot: str = "b1"
) -> Reading:
    ms = int(T0 + minutes * 60_000)
    return Reading(
        "dongcun", "g1", device, "water_level", point_time_ns(ms, boot, seq), seq, boot,
        {"level_cm": level, "battery": 90.0}, Clock.SYNCED, False, False, ms,
    )  # fmt: skip


def event(seq: int) -> Event:
    return Event(
        "dongcun", "g3", "lock-1", "smart_lock", point_time_ns(T0, "b1", seq), seq, "b1", "unlock",
        {"credential": "card-1"}, Clock.SYNCED, False, False, T0,
    )  # fmt: skip


def test_rewriting_the_same_items_stores_them_once(relational: Where) -> None:
    async def main() -> None:
        store = RelationalStore(relational("readings"))
        batch = Batch([reading(1, 10), reading(2, 11)], [event(3)], [])
        first = await store.write(batch)
        again = await store.write(batch)
        assert (first.readings, first.events, first.duplicates) == (2, 1, 0)
        assert again.duplicates == 3
        assert await store.count("readings") == 4  # two metrics each
        assert await store.count("events") == 1
        await store.close()

    asyncio.run(main())


def test_written_data_survives_reopening(relational: Where) -> None:
    async def main() -> None:
        store = RelationalStore(relational("readings"))
        await store.write(
            Batch(
                [reading(1, 10)],
                [],
                [DeadLetter.of(5, "t/x", RejectReason.BAD_JSON, "bad", b"\xff{")],
            )
        )
        await store.close()
        reopened = RelationalStore(relational("readings"))
        assert [lv.value for lv in await reopened.last_values(device="wl-1")] == [90.0, 10.0]
        (letter,) = await reopened.dead_letters()
        assert letter == DeadLetter(5, "t/x", RejectReason.BAD_JSON, "bad", b"\xff{")
        await reopened.close()

    asyncio.run(main())


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    async def main() -> None:
        store = RelationalStore(tmp_path / "v.db")
        await store.write(Batch([reading(1, 1)]))
        await store.close()

    asyncio.run(main())
    with sqlite3.connect(tmp_path / "v.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_last_values_follow_device_time_not_arrival_order(relational: Where) -> None:
    async def main() -> None:
        store = RelationalStore(relational("readings"))
        await store.write(Batch([reading(2, 20, minutes=2)]))
        await store.write(Batch([reading(1, 10, minutes=1)]))  # backlog arriving late
        await store.write(Batch([reading(1, 5, device="wl-2")]))
        latest = {(lv.device, lv.metric): lv.value for lv in await store.last_values()}
        assert latest == {
            ("wl-1", "level_cm"): 20,
            ("wl-1", "battery"): 90,
            ("wl-2", "level_cm"): 5,
            ("wl-2", "battery"): 90,
        }
        assert {lv.device for lv in await store.last_values(device="wl-2")} == {"wl-2"}
        await store.close()

    asyncio.run(main())


def test_downsample_gives_mean_min_max_per_bucket(relational: Where) -> None:
    async def main() -> None:
        store = RelationalStore(relational("readings"))
        await store.write(Batch([reading(i, float(i), minutes=i) for i in range(10)]))
        since = T0 * 1_000_000
        buckets = await store.downsample(
            village="dongcun", device="wl-1", metric="level_cm",
            since_ns=since, until_ns=since + 10 * 60_000_000_000, buckets=5,
        )  # fmt: skip
        assert [(b.mean, b.min, b.max, b.count) for b in buckets] == [
            (0.5, 0, 1, 2),
            (2.5, 2, 3, 2),
            (4.5, 4, 5, 2),
            (6.5, 6, 7, 2),
            (8.5, 8, 9, 2),
        ]
        assert buckets[1].start_ns == since + 2 * 60_000_000_000
        await store.close()

    asyncio.run(main())


def test_hostile_strings_are_stored_and_given_back(relational: Where) -> None:
    hostile = '\'); DROP TABLE items; --\x00\u202e\U0001f600\\u0000 "quoted"'

    async def main() -> None:
        store = RelationalStore(relational("readings"))
        lock = Event(
            "dongcun", "g3", "lock-1", "smart_lock", point_time_ns(T0, "b1", 9), 9, "b1",
            "unlock", {"credential": hostile, "note": hostile + "2"}, Clock.SYNCED, False, False,
            T0,
        )  # fmt: skip
        letter = DeadLetter.of(7, f"vw/{hostile}", RejectReason.BAD_JSON, hostile, b"\x00\xff")
        result = await store.write(Batch([], [lock], [letter]))
        assert (result.events, result.duplicates) == (1, 0)
        found = await store.history(since_ns=0, until_ns=2**62)
        assert found.events == [lock]
        (back,) = await store.dead_letters()
        assert back.payload == b"\x00\xff" and back.reason is RejectReason.BAD_JSON
        assert back.detail.replace("\ufffd", "\x00") == hostile  # PostgreSQL's text has no NUL
        assert back.topic.replace("\ufffd", "\x00") == f"vw/{hostile}"
        assert await store.count("items") == 1
        await store.close()

    asyncio.run(main())
