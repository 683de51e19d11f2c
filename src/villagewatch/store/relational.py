"""The relational reading store: an SQLite file (the embedded store, ``store.kind: sqlite``)
or a PostgreSQL schema (VictoriaMetrics' relational part on several hosts), one interface.

Readings are kept one row per metric, so "last value per device and metric"
and downsampling are plain SQL. Idempotency is a primary key on the dedupe key
(village, device, boot, seq) in ``items``, shared by readings and events: an
item whose key is already there is counted as a duplicate and not stored again —
in PostgreSQL also when two ingesters write the same item at once, since the key
is claimed in the batch's transaction. A batch is one transaction (SQLite: committed with
``synchronous=FULL``), so "written" means on disk even across a power cut.

The database is opened through :func:`~villagewatch.db.database.open_database` (migrations,
one writer at a time, readers that never wait); its calls block, so they run on one
dedicated thread of the store's own, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from villagewatch.contract import Clock, DeadLetter, DedupeKey, Event, Reading, RejectReason
from villagewatch.db.database import (
    Connection,
    Location,
    describe_location,
    open_database,
)
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S
from villagewatch.errors import StoreUnavailable
from villagewatch.store.base import (
    Batch,
    Bucket,
    History,
    LastValue,
    WriteResult,
    bucket_width_ns,
)
from villagewatch.store.relational_schema import MIGRATIONS

__all__ = ["RelationalStore"]

T = TypeVar("T")

_INSERT_READING = "INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_EVENT = "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
_UPSERT_LATEST = (
    "INSERT INTO latest (village, device, lot, metric, time_ns, value) VALUES (?,?,?,?,?,?)"
    " ON CONFLICT (village, device, lot, metric) DO UPDATE "
    "SET time_ns = excluded.time_ns, value = excluded.value WHERE excluded.time_ns > latest.time_ns"
)
_INSERT_DEAD_LETTER = (
    "INSERT INTO dead_letters (received_ns, topic, reason, detail, payload) VALUES (?,?,?,?,?)"
)


class RelationalStore:
    """A :class:`~villagewatch.store.base.Store` in an SQLite file or a PostgreSQL schema."""

    def __init__(
        self, location: Location, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        """Open (create, migrate) the database here, so a bad path or an unreachable server
        fails at start-up."""
        self._where = describe_location(location)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reading-store")
        self._db = open_database(
            location, name="readings", migrations=MIGRATIONS, busy_timeout_s=busy_timeout_s
        )
        self._closed = False

    async def _run(self, fn: Callable[[], T]) -> T:
        def call() -> T:
            if self._closed:
                raise StoreUnavailable(f"the reading store ({self._where}) is closed")
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

        def look(conn: Connection) -> set[DedupeKey]:
            sql = "SELECT 1 FROM items WHERE village=? AND device=? AND boot=? AND seq=?"
            return {key for key in keys if conn.execute(sql, key).fetchone() is not None}

        return await self._run(lambda: self._db.read(look)) if keys else set()

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


_CLAIM_ROWS = 200
"""Keys claimed per statement (four parameters each: well under both engines' limits)."""


def _claimed(conn: Connection, keys: list[DedupeKey]) -> list[bool]:
    """Claim ``keys`` in ``items``, in order: True for each one stored now, False for one
    already there (or earlier in ``keys``). One statement per slice, not one per key: on
    PostgreSQL every statement is a round trip inside the store's write lock."""
    fresh: set[DedupeKey] = set()
    for i in range(0, len(keys), _CLAIM_ROWS):
        part = keys[i : i + _CLAIM_ROWS]
        values = ",".join(["(?,?,?,?)"] * len(part))
        sql = f"INSERT INTO items VALUES {values} ON CONFLICT DO NOTHING RETURNING *"  # noqa: S608 - placeholders only
        args = [v for key in part for v in key]
        fresh.update(tuple(row) for row in conn.execute(sql, args).fetchall())
    out = []
    for key in keys:
        out.append(key in fresh)
        fresh.discard(key)  # a second copy in the same batch is a duplicate
    return out


def _write(conn: Connection, batch: Batch) -> WriteResult:
    claims = iter(
        _claimed(conn, [*(r.key for r in batch.readings), *(e.key for e in batch.events)])
    )
    duplicates = 0
    reading_rows: list[tuple[Any, ...]] = []
    latest_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    for r in batch.readings:
        if not next(claims):
            duplicates += 1
            continue
        for metric, value in r.values.items():
            reading_rows.append(
                (
                    r.village, r.grid, r.device, r.kind, metric, r.time_ns, value, r.boot,
                    r.seq, r.clock.value, int(r.historical), int(r.rescued), r.device_ts_ms,
                    r.lot,
                )
            )  # fmt: skip
            latest_rows.append((r.village, r.device, r.lot, metric, r.time_ns, value))
    for e in batch.events:
        if not next(claims):
            duplicates += 1
            continue
        event_rows.append(
            (
                e.village, e.grid, e.device, e.kind, e.type, e.time_ns,
                json.dumps(e.attrs, ensure_ascii=False), e.boot, e.seq, e.clock.value,
                int(e.historical), int(e.rescued), e.device_ts_ms,
            )
        )  # fmt: skip
    letter_rows = [
        (d.received_ns, _text(d.topic), d.reason.value, _text(d.detail), d.payload)
        for d in batch.dead_letters
    ]
    for sql, rows in (
        (_INSERT_READING, reading_rows), (_UPSERT_LATEST, latest_rows),
        (_INSERT_EVENT, event_rows), (_INSERT_DEAD_LETTER, letter_rows),
    ):  # fmt: skip
        if rows:
            conn.executemany(sql, rows)
    return WriteResult(
        readings=len(batch.readings), events=len(batch.events), duplicates=duplicates
    )


def _text(text: str) -> str:
    """A dead letter's topic or detail as text both engines keep: PostgreSQL's text refuses
    NUL, which a hostile payload's words quoted in the detail may carry (the payload itself is
    kept exact, as bytes); SQLite stores the same, so both give the same back."""
    return text.replace("\x00", "\ufffd")


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
