"""The embedded store: one SQLite file in WAL mode, same interface as InfluxDB.

Readings are kept one row per metric, so "last value per device and metric"
and downsampling are plain SQL. Idempotency is a primary key on the dedupe key
(village, device, boot, seq) in ``items``, shared by readings and events: an
item whose key is already there is counted as a duplicate and not stored again.
A batch is one transaction, committed with ``synchronous=FULL``, so "written"
means on disk even across a power cut.

The file is opened like every SQLite file of the project
(:class:`~villagewatch.db.sqlite.SQLiteFile`: its pragmas, migrations, one
writer and readers that never wait); sqlite3 is blocking, so every call runs
on one dedicated thread of the store's own, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from villagewatch.contract import Clock, DeadLetter, DedupeKey, Event, Reading, RejectReason
from villagewatch.db.migrations import Migration
from villagewatch.db.sqlite import SQLiteFile
from villagewatch.errors import StoreUnavailable
from villagewatch.store.base import (
    Batch,
    Bucket,
    History,
    LastValue,
    WriteResult,
    bucket_width_ns,
)

__all__ = ["MIGRATIONS", "SQLiteStore"]

T = TypeVar("T")

MIGRATIONS = (
    Migration(
        "items, readings, latest values, events and dead letters",
        """
CREATE TABLE IF NOT EXISTS items (
    village TEXT NOT NULL, device TEXT NOT NULL, boot TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (village, device, boot, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readings (
    village TEXT NOT NULL, grid TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    metric TEXT NOT NULL, time_ns INTEGER NOT NULL, value REAL NOT NULL,
    boot TEXT NOT NULL, seq INTEGER NOT NULL, clock TEXT NOT NULL,
    historical INTEGER NOT NULL, rescued INTEGER NOT NULL, device_ts_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_series ON readings (village, device, metric, time_ns);
CREATE TABLE IF NOT EXISTS latest (
    village TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL,
    time_ns INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (village, device, metric)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    village TEXT NOT NULL, grid TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    type TEXT NOT NULL, time_ns INTEGER NOT NULL, attrs TEXT NOT NULL,
    boot TEXT NOT NULL, seq INTEGER NOT NULL, clock TEXT NOT NULL,
    historical INTEGER NOT NULL, rescued INTEGER NOT NULL, device_ts_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_device ON events (village, device, time_ns);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, received_ns INTEGER NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL
);
""",
    ),
    Migration(
        "a camera's space counts per parking lot: readings and latest values keep the lot",
        """
ALTER TABLE readings ADD COLUMN lot TEXT NOT NULL DEFAULT '';
CREATE TABLE latest_by_lot (
    village TEXT NOT NULL, device TEXT NOT NULL, lot TEXT NOT NULL, metric TEXT NOT NULL,
    time_ns INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (village, device, lot, metric)
) WITHOUT ROWID;
INSERT INTO latest_by_lot SELECT village, device, '', metric, time_ns, value FROM latest;
DROP TABLE latest;
ALTER TABLE latest_by_lot RENAME TO latest;
""",
    ),
)
"""The schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""

_INSERT_READING = "INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_EVENT = "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
_UPSERT_LATEST = (
    "INSERT INTO latest VALUES (?,?,?,?,?,?) ON CONFLICT (village, device, lot, metric) DO UPDATE "
    "SET time_ns = excluded.time_ns, value = excluded.value WHERE excluded.time_ns > latest.time_ns"
)


class SQLiteStore:
    """A :class:`~villagewatch.store.base.Store` in one SQLite file."""

    def __init__(self, path: Path) -> None:
        """Open (create, migrate) the file here, so a bad path fails at start-up."""
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db = SQLiteFile(path, name="readings", migrations=MIGRATIONS)
        self._closed = False

    async def _run(self, fn: Callable[[], T]) -> T:
        def call() -> T:
            if self._closed:
                raise StoreUnavailable(f"SQLite store {self._path} is closed")
            return fn()

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._db.rows(sql, args)

    async def write(self, batch: Batch) -> WriteResult:
        """Store the batch in one transaction; items already stored are counted as duplicates."""
        return await self._run(lambda: self._db.write(lambda conn: _write(conn, batch)))

    async def last_values(
        self, *, village: str | None = None, device: str | None = None
    ) -> list[LastValue]:
        """Newest value of every metric per device (and parking lot), from the ``latest``
        table."""
        conds, args = _filters(village=village, device=device)
        sql = (
            f"SELECT village, device, metric, time_ns, value, lot FROM latest{conds}"  # noqa: S608
            " ORDER BY 1, 2, 6, 3"
        )
        rows = await self._run(lambda: self._rows(sql, args))
        return [LastValue(*row) for row in rows]

    async def downsample(
        self, *, village: str, device: str, metric: str, since_ns: int, until_ns: int, buckets: int
    ) -> list[Bucket]:
        """Mean/min/max per equal slice of [since, until)."""
        width = bucket_width_ns(since_ns, until_ns, buckets)
        sql = (
            "SELECT (time_ns - ?) / ? AS b, avg(value), min(value), max(value), count(*)"
            " FROM readings WHERE village = ? AND device = ? AND metric = ? AND lot = ''"
            " AND time_ns >= ? AND time_ns < ? GROUP BY b ORDER BY b"
        )
        args = (since_ns, width, village, device, metric, since_ns, until_ns)
        rows = await self._run(lambda: self._rows(sql, args))
        return [Bucket(since_ns + b * width, mean, lo, hi, n) for b, mean, lo, hi, n in rows]

    async def history(
        self,
        *,
        since_ns: int,
        until_ns: int,
        village: str | None = None,
        device: str | None = None,
    ) -> History:
        """Readings (their one row per metric put back together) and events of [since, until)."""
        conds, args = _filters(village=village, device=device)
        where = (conds + " AND" if conds else " WHERE") + " time_ns >= ? AND time_ns < ?"
        params: tuple[str | int, ...] = (*args, since_ns, until_ns)
        readings_sql = (
            "SELECT village, grid, device, kind, time_ns, seq, boot, clock, historical, rescued,"  # noqa: S608 - only placeholders are inserted
            f" device_ts_ms, metric, value, lot FROM readings{where}"
            " ORDER BY time_ns, village, device, seq, boot, metric"
        )
        events_sql = (
            "SELECT village, grid, device, kind, time_ns, seq, boot, type, attrs, clock,"  # noqa: S608 - as above
            f" historical, rescued, device_ts_ms FROM events{where}"
            " ORDER BY time_ns, village, device, seq, boot"
        )
        reading_rows = await self._run(lambda: self._rows(readings_sql, params))
        event_rows = await self._run(lambda: self._rows(events_sql, params))
        return History(_readings_of(reading_rows), _events_of(event_rows))

    async def dead_letters(
        self, *, limit: int = 100, before_ns: int | None = None
    ) -> list[DeadLetter]:
        """Newest dead letters first (received before ``before_ns``)."""
        sql = (
            "SELECT received_ns, topic, reason, detail, payload FROM dead_letters"
            " WHERE received_ns < ? ORDER BY received_ns DESC, id DESC LIMIT ?"
        )
        before = 2**63 - 1 if before_ns is None else before_ns
        rows = await self._run(lambda: self._rows(sql, (before, limit)))
        return [DeadLetter(t, topic, RejectReason(r), d, bytes(p)) for t, topic, r, d, p in rows]

    async def stored_keys(self, keys: Sequence[DedupeKey]) -> set[DedupeKey]:
        """Those of ``keys`` whose reading or event is already stored (a store that keeps only
        part of an item here asks before writing the rest elsewhere)."""

        def look() -> set[DedupeKey]:
            found: set[DedupeKey] = set()
            for key in keys:
                if self._rows(
                    "SELECT 1 FROM items WHERE village=? AND device=? AND boot=? AND seq=?", key
                ):
                    found.add(key)
            return found

        return await self._run(look) if keys else set()

    async def count(self, table: str) -> int:
        """Rows in one of the store's tables (for tests and the demo's view)."""
        if table not in ("readings", "events", "dead_letters", "items"):
            raise ValueError(f"no table {table!r}")
        sql = f"SELECT count(*) FROM {table}"  # noqa: S608 - table name checked above
        return int((await self._run(lambda: self._rows(sql)))[0][0])

    async def close(self) -> None:
        """Close the file and stop the store's thread."""
        if not self._closed:
            await self._run(self._db.close)
            self._closed = True
            self._executor.shutdown(wait=True)


def _write(conn: sqlite3.Connection, batch: Batch) -> WriteResult:
    duplicates = 0
    reading_rows: list[tuple[Any, ...]] = []
    latest_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    claim = conn.cursor()
    for r in batch.readings:
        claim.execute("INSERT OR IGNORE INTO items VALUES (?,?,?,?)", r.key)
        if claim.rowcount == 0:
            duplicates += 1
            continue
        for metric, value in r.values.items():
            reading_rows.append(
                (
                    r.village, r.grid, r.device, r.kind, metric, r.time_ns, value, r.boot,
                    r.seq, r.clock.value, r.historical, r.rescued, r.device_ts_ms, r.lot,
                )
            )  # fmt: skip
            latest_rows.append((r.village, r.device, r.lot, metric, r.time_ns, value))
    for e in batch.events:
        claim.execute("INSERT OR IGNORE INTO items VALUES (?,?,?,?)", e.key)
        if claim.rowcount == 0:
            duplicates += 1
            continue
        event_rows.append(
            (
                e.village, e.grid, e.device, e.kind, e.type, e.time_ns,
                json.dumps(e.attrs, ensure_ascii=False), e.boot, e.seq, e.clock.value,
                e.historical, e.rescued, e.device_ts_ms,
            )
        )  # fmt: skip
    conn.executemany(_INSERT_READING, reading_rows)
    conn.executemany(_UPSERT_LATEST, latest_rows)
    conn.executemany(_INSERT_EVENT, event_rows)
    conn.executemany(
        "INSERT INTO dead_letters (received_ns, topic, reason, detail, payload) VALUES (?,?,?,?,?)",
        [(d.received_ns, d.topic, d.reason.value, d.detail, d.payload) for d in batch.dead_letters],
    )
    return WriteResult(
        readings=len(batch.readings), events=len(batch.events), duplicates=duplicates
    )


_CLOCKS = {c.value: c for c in Clock}
"""A stored clock's value to its member (a look-up, several times cheaper than ``Clock(v)``)."""


def _readings_of(rows: list[Any]) -> list[Reading]:
    """One reading per run of rows of the same item (the query orders them so)."""
    out: list[Reading] = []
    last: Reading | None = None
    clocks = _CLOCKS
    for (
        village,
        grid,
        device,
        kind,
        time_ns,
        seq,
        boot,
        clock,
        hist,
        resc,
        ts,
        metric,
        value,
        lot,
    ) in rows:
        # time first: it differs from the row before unless this is the same item's next metric
        if (
            last is not None
            and time_ns == last.time_ns
            and seq == last.seq
            and device == last.device
            and village == last.village
            and boot == last.boot
        ):
            last.values[metric] = value
            continue
        last = Reading(
            village, grid, device, kind, time_ns, seq, boot, {metric: value},
            clocks[clock], bool(hist), bool(resc), ts, lot,
        )  # fmt: skip
        out.append(last)
    return out


def _attrs(text: str) -> dict[str, Any]:
    """An event's stored attributes (orjson is faster, but refuses what ``json.dumps`` may have
    written that strict JSON has not, such as NaN)."""
    try:
        attrs: dict[str, Any] = orjson.loads(text)
    except orjson.JSONDecodeError:
        attrs = json.loads(text)
    return attrs


def _events_of(rows: list[Any]) -> list[Event]:
    clocks, loads = _CLOCKS, _attrs
    return [
        Event(
            village, grid, device, kind, time_ns, seq, boot, type_, loads(attrs),
            clocks[clock], bool(hist), bool(resc), ts,
        )
        for village, grid, device, kind, time_ns, seq, boot, type_, attrs, clock, hist, resc, ts
        in rows
    ]  # fmt: skip


def _filters(*, village: str | None, device: str | None) -> tuple[str, tuple[str, ...]]:
    conds = [(col, v) for col, v in (("village", village), ("device", device)) if v is not None]
    if not conds:
        return "", ()
    return " WHERE " + " AND ".join(f"{col} = ?" for col, _ in conds), tuple(v for _, v in conds)
