"""Reading InfluxDB back through InfluxQL (``/query`` of the v1 HTTP API): the console's last
values, downsampled series and dead letters, the raw history a replay reads, and the look-up
of rescued copies the writer does before writing rescued items."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import httpx

from villagewatch.contract import Clock, DeadLetter, Event, Reading, RejectReason
from villagewatch.contract.payloads import ALL_METRICS
from villagewatch.errors import StoreRejected, StoreUnavailable
from villagewatch.store.base import Bucket, History, LastValue, bucket_width_ns
from villagewatch.store.influxpoints import DEAD_LETTERS, EVENTS, READINGS
from villagewatch.store.lineprotocol import quote_ident, quote_literal

__all__ = ["InfluxReader", "error_text"]

_TAGS = ("village", "grid", "device", "kind")
_FLAGS = ("time", "seq", "historical", "clock", "rescued", "boot", "device_ts")
"""Columns of a readings or events point that are not a metric or an attribute
(see :mod:`villagewatch.store.influxpoints`)."""

_PAGE = 20_000
"""Points per history query: a server's row limit (``max-row-limit``) is well above it."""


class InfluxReader:
    """InfluxQL queries on one database, over the store's HTTP client."""

    def __init__(self, client: httpx.AsyncClient, *, database: str) -> None:
        self._client = client
        self._database = database

    async def query(self, q: str, *, post: bool = False) -> dict[str, Any]:
        """Run InfluxQL (``post`` for statements that change something); the JSON answer.
        Raises StoreUnavailable (retry later) or StoreRejected (the query itself was refused)."""
        params = {"db": self._database, "q": q, "epoch": "ns"}
        try:
            if post:
                reply = await self._client.post("/query", params=params)
            else:
                reply = await self._client.get("/query", params=params)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"InfluxDB query timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"InfluxDB unreachable: {exc!r}") from exc
        if reply.status_code >= 500 or reply.status_code in (401, 403, 404, 429):
            raise StoreUnavailable(
                f"InfluxDB query failed ({reply.status_code}): {error_text(reply)}"
            )
        try:
            body: dict[str, Any] = reply.json()
        except ValueError as exc:
            raise StoreUnavailable(f"InfluxDB answered a query with non-JSON: {exc}") from exc
        errors = [body.get("error")] + [r.get("error") for r in body.get("results", [])]
        if any(errors) or reply.status_code >= 400:
            raise StoreRejected(f"InfluxDB refused the query: {[e for e in errors if e]}")
        return body

    async def rescued_seqs(
        self,
        measurement: str,
        *,
        village: str,
        device: str,
        boot: str,
        seqs: Iterable[int],
        lookback_s: int,
    ) -> set[int]:
        """The seqs among ``seqs`` of rescued items of this device boot stored within the last
        ``lookback_s``."""
        seqs = list(seqs)
        q = (
            f"SELECT seq FROM {quote_ident(measurement)} WHERE rescued = true"
            f" AND village = {quote_literal(village)} AND device = {quote_literal(device)}"
            f" AND boot = {quote_literal(boot)} AND seq >= {min(seqs)} AND seq <= {max(seqs)}"
            f" AND time > now() - {lookback_s}s"
        )
        return {int(row["seq"]) for row in _rows(await self.query(q))}

    async def last_values(
        self, *, village: str | None = None, device: str | None = None
    ) -> list[LastValue]:
        """Newest value of each metric per device: one ``last()`` statement per metric."""
        where = _where(village=village, device=device)
        statements = ";".join(
            f"SELECT last({quote_ident(m)}) AS value FROM {READINGS}{where}"
            ' GROUP BY "village", "device"'
            for m in ALL_METRICS
        )
        body = await self.query(statements)
        out: list[LastValue] = []
        for metric, result in zip(ALL_METRICS, body.get("results", []), strict=False):
            for series in result.get("series", []):
                tags = series.get("tags", {})
                for time_ns, value in series["values"]:
                    if value is not None:
                        out.append(
                            LastValue(
                                tags["village"], tags["device"], metric, time_ns, float(value)
                            )
                        )
        return sorted(out, key=lambda v: (v.village, v.device, v.metric))

    async def downsample(
        self, *, village: str, device: str, metric: str, since_ns: int, until_ns: int, buckets: int
    ) -> list[Bucket]:
        """Mean/min/max per bucket via ``GROUP BY time(width, offset)`` aligned on ``since``."""
        width = bucket_width_ns(since_ns, until_ns, buckets)
        m = quote_ident(metric)
        q = (
            f"SELECT mean({m}), min({m}), max({m}), count({m}) FROM {READINGS}"
            f"{_where(village=village, device=device)}"
            f" AND time >= {since_ns} AND time < {until_ns}"
            f" GROUP BY time({width}ns, {since_ns % width}ns) fill(none)"
        )
        return [
            Bucket(int(t), float(mean), float(lo), float(hi), int(n))
            for t, mean, lo, hi, n in _values(await self.query(q))
            if n
        ]

    async def history(
        self,
        *,
        since_ns: int,
        until_ns: int,
        village: str | None = None,
        device: str | None = None,
        page: int = _PAGE,
    ) -> History:
        """Readings and events of [since, until), read in pages of ``page`` points.

        Only rescued points keep their boot id; the others get ``~`` and the salt their
        stored time carries (see :func:`~villagewatch.contract.point_time_ns`), the same for
        every item of one boot.
        """
        where = _where(village=village, device=device)
        readings = [
            _reading_of(row) for row in await self._paged(READINGS, where, since_ns, until_ns, page)
        ]
        events = [
            _event_of(row) for row in await self._paged(EVENTS, where, since_ns, until_ns, page)
        ]
        return History(sorted(readings, key=_order), sorted(events, key=_order))

    async def _paged(
        self, measurement: str, where: str, since_ns: int, until_ns: int, page: int
    ) -> list[dict[str, Any]]:
        """Every point of ``measurement`` in the range, page by page on time: a page starts at
        the last time of the one before, leaving out the points already read at that time."""
        out: list[dict[str, Any]] = []
        cursor, at_cursor = since_ns, set[tuple[int, str, str]]()
        while True:
            q = (
                f"SELECT * FROM {measurement}{where} AND time >= {cursor} AND time < {until_ns}"
                f" ORDER BY time ASC LIMIT {int(page)}"
            )
            rows = _rows(await self.query(q))
            out += [r for r in rows if (r["time"], r["village"], r["device"]) not in at_cursor]
            if len(rows) < page:
                return out
            last = rows[-1]["time"]
            if last == cursor:
                raise StoreRejected(
                    f"more than {page} points of {measurement} at one instant ({cursor} ns)"
                )
            cursor = last
            at_cursor = {(r["time"], r["village"], r["device"]) for r in rows if r["time"] == last}

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """Newest dead letters first."""
        q = (
            f"SELECT topic, detail, payload_b64, reason FROM {DEAD_LETTERS}"
            f" ORDER BY time DESC LIMIT {int(limit)}"
        )
        return [
            DeadLetter(
                int(row["time"]),
                row["topic"] or "",
                RejectReason(row["reason"]),
                row["detail"] or "",
                base64.b64decode(row["payload_b64"] or ""),
            )
            for row in _rows(await self.query(q))
        ]


def _where(*, village: str | None, device: str | None) -> str:
    conds = [
        f"{quote_ident(tag)} = {quote_literal(value)}"
        for tag, value in (("village", village), ("device", device))
        if value is not None
    ]
    return " WHERE " + " AND ".join(conds) if conds else " WHERE time > 0"


def _order(item: Reading | Event) -> tuple[int, str, str, int]:
    return (item.time_ns, item.village, item.device, item.seq)


def _flags_of(row: dict[str, Any]) -> tuple[int, int, str, Clock, bool, bool, int]:
    """time, seq, boot, clock, historical, rescued, device time (ms) of a point's row."""
    time_ns, seq = int(row["time"]), int(row["seq"])
    rescued = bool(row.get("rescued"))
    if rescued and row.get("boot") is not None:
        boot, device_ts = str(row["boot"]), int(row["device_ts"])
    else:
        boot, device_ts = f"~{(time_ns % 1_000_000 - seq) % 1_000_000}", time_ns // 1_000_000
    clock = Clock.UNSYNCED if row.get("clock") == "unsynced" else Clock.SYNCED
    return time_ns, seq, boot, clock, bool(row.get("historical")), rescued, device_ts


def _reading_of(row: dict[str, Any]) -> Reading:
    time_ns, seq, boot, clock, historical, rescued, device_ts = _flags_of(row)
    values = {
        k: float(v)
        for k, v in sorted(row.items())
        if k not in _FLAGS and k not in _TAGS and v is not None
    }
    return Reading(
        row["village"], row["grid"], row["device"], row["kind"], time_ns, seq, boot, values,
        clock, historical, rescued, device_ts,
    )  # fmt: skip


def _event_of(row: dict[str, Any]) -> Event:
    time_ns, seq, boot, clock, historical, rescued, device_ts = _flags_of(row)
    attrs = {
        k: v
        for k, v in row.items()
        if k not in _FLAGS and k not in _TAGS and k != "type" and v is not None
    }
    return Event(
        row["village"], row["grid"], row["device"], row["kind"], time_ns, seq, boot,
        str(row["type"]), attrs, clock, historical, rescued, device_ts,
    )  # fmt: skip


def _values(body: dict[str, Any]) -> list[list[Any]]:
    return [
        row
        for result in body.get("results", [])
        for series in result.get("series", [])
        for row in series["values"]
    ]


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        dict(zip(series["columns"], row, strict=True))
        for result in body.get("results", [])
        for series in result.get("series", [])
        for row in series["values"]
    ]


def error_text(reply: httpx.Response) -> str:
    """InfluxDB's error message in a reply (its JSON ``error``, or the start of the body)."""
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:300]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:300]
    return reply.text[:300]
