"""Reading InfluxDB back through InfluxQL (``/query`` of the v1 HTTP API): the console's last
values, downsampled series and dead letters, the raw history a replay reads, and the look-up
of rescued copies the writer does before writing rescued items."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import orjson

from villagewatch.contract import Clock, DeadLetter, Event, Reading, RejectReason
from villagewatch.contract.payloads import ALL_METRICS, LOT
from villagewatch.errors import StoreRejected, StoreUnavailable
from villagewatch.store.base import Bucket, History, LastValue, bucket_width_ns
from villagewatch.store.influxpoints import DEAD_LETTERS, EVENTS, READINGS
from villagewatch.store.lineprotocol import quote_ident, quote_literal

__all__ = ["InfluxReader", "error_text"]

_TAGS = ("village", "grid", "device", "kind")
_FLAGS = ("time", "seq", "historical", "clock", "rescued", "boot", "device_ts", LOT)
"""Columns of a readings or events point that are not a metric or an attribute
(see :mod:`villagewatch.store.influxpoints`)."""

_PAGE = 20_000
"""Points per chunk of a history answer: a few MB of JSON at a time."""


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
        """Newest value of each metric per device (and parking lot: a reading without the
        ``lot`` tag groups under ``""``): one ``last()`` statement per metric."""
        where = _where(village=village, device=device)
        statements = ";".join(
            f"SELECT last({quote_ident(m)}) AS value FROM {READINGS}{where}"
            f' GROUP BY "village", "device", "{LOT}"'
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
                                tags["village"],
                                tags["device"],
                                metric,
                                time_ns,
                                float(value),
                                tags.get(LOT, ""),
                            )
                        )
        return sorted(out, key=lambda v: (v.village, v.device, v.lot, v.metric))

    async def downsample(
        self, *, village: str, device: str, metric: str, since_ns: int, until_ns: int, buckets: int
    ) -> list[Bucket]:
        """Mean/min/max per bucket via ``GROUP BY time(width, offset)`` aligned on ``since``."""
        width = bucket_width_ns(since_ns, until_ns, buckets)
        m = quote_ident(metric)
        q = (
            f"SELECT mean({m}), min({m}), max({m}), count({m}) FROM {READINGS}"
            f"{_where(village=village, device=device)}"
            f""" AND "{LOT}" = '' AND time >= {since_ns} AND time < {until_ns}"""
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
        """Readings and events of [since, until): one query each, whose answer streams in
        chunks of ``page`` points (a chunked answer is not cut at the server's
        ``max-row-limit``, and the server reads the range once, not once per page).

        Only rescued points keep their boot id; the others get ``~`` and the salt their
        stored time carries (see :func:`~villagewatch.contract.point_time_ns`), the same for
        every item of one boot.
        """
        where = f"{_where(village=village, device=device)} AND time >= {since_ns}"
        where += f" AND time < {until_ns}"
        readings: list[Reading] = []
        events: list[Event] = []
        await self._chunked(
            f"SELECT * FROM {READINGS}{where}",
            page,
            lambda c, v: readings.extend(_readings_of(c, v)),
        )
        await self._chunked(
            f"SELECT * FROM {EVENTS}{where}", page, lambda c, v: events.extend(_events_of(c, v))
        )
        readings.sort(key=_order)
        events.sort(key=_order)
        return History(readings, events)

    async def _chunked(
        self, q: str, size: int, sink: Callable[[list[str], list[list[Any]]], None]
    ) -> None:
        """Run a SELECT with a chunked answer; each chunk's columns and rows go to ``sink`` as
        they arrive. Raises as :meth:`query` does."""
        params = {"db": self._database, "q": q, "epoch": "ns", "chunked": "true"}
        params["chunk_size"] = str(int(size))
        try:
            async with self._client.stream("GET", "/query", params=params) as reply:
                if reply.status_code >= 400:
                    await reply.aread()
                    text = error_text(reply)
                    if reply.status_code >= 500 or reply.status_code in (401, 403, 404, 429):
                        raise StoreUnavailable(
                            f"InfluxDB query failed ({reply.status_code}): {text}"
                        )
                    raise StoreRejected(f"InfluxDB refused the query: {text}")
                async for line in reply.aiter_lines():
                    if line.strip():
                        _chunk(line, sink)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"InfluxDB query timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"InfluxDB unreachable: {exc!r}") from exc

    async def dead_letters(
        self, *, limit: int = 100, before_ns: int | None = None
    ) -> list[DeadLetter]:
        """Newest dead letters first (received before ``before_ns``)."""
        before = "" if before_ns is None else f" WHERE time < {int(before_ns)}"
        q = (
            f"SELECT topic, detail, payload_b64, reason FROM {DEAD_LETTERS}{before}"
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


def _chunk(line: str, sink: Callable[[list[str], list[list[Any]]], None]) -> None:
    """One chunk of a chunked answer (a JSON document of its own) to ``sink``."""
    try:
        body = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise StoreUnavailable(f"InfluxDB answered a query with non-JSON: {exc}") from exc
    errors = [body.get("error")] + [r.get("error") for r in body.get("results", [])]
    if any(errors):
        raise StoreRejected(f"InfluxDB refused the query: {[e for e in errors if e]}")
    for result in body.get("results", []):
        for series in result.get("series", []):
            sink(series["columns"], series["values"])


class _Layout:
    """Where a chunk's columns are: a point's tags, its flags (a flag never written to the
    measurement has no column), and the rest — metrics or attributes — by name."""

    def __init__(self, columns: list[str]) -> None:
        at = {name: i for i, name in enumerate(columns)}
        self.tags = tuple(at[t] for t in _TAGS)
        self.time, self.seq, self.type = at["time"], at["seq"], at.get("type")
        self.historical, self.clock = at.get("historical"), at.get("clock")
        self.rescued, self.boot, self.device_ts = (
            at.get("rescued"),
            at.get("boot"),
            at.get("device_ts"),
        )
        self.rest = [
            (name, i) for i, name in enumerate(columns) if name not in _FLAGS and name not in _TAGS
        ]

    def flags(self, row: list[Any]) -> tuple[int, int, str, Clock, bool, bool, int]:
        """time, seq, boot, clock, historical, rescued, device time (ms) of a point's row."""
        time_ns, seq = int(row[self.time]), int(row[self.seq])
        rescued = self.rescued is not None and bool(row[self.rescued])
        boot = row[self.boot] if self.boot is not None else None
        if rescued and boot is not None:
            boot, device_ts = str(boot), int(row[self.device_ts])  # type: ignore[index]
        else:
            boot, device_ts = f"~{(time_ns % 1_000_000 - seq) % 1_000_000}", time_ns // 1_000_000
        unsynced = self.clock is not None and row[self.clock] == "unsynced"
        historical = self.historical is not None and bool(row[self.historical])
        clock = Clock.UNSYNCED if unsynced else Clock.SYNCED
        return time_ns, seq, boot, clock, historical, rescued, device_ts


def _readings_of(columns: list[str], rows: list[list[Any]]) -> list[Reading]:
    layout = _Layout(columns)
    village, grid, device, kind = layout.tags
    metrics = sorted(layout.rest)
    lot = columns.index(LOT) if LOT in columns else None
    out: list[Reading] = []
    for row in rows:
        time_ns, seq, boot, clock, historical, rescued, device_ts = layout.flags(row)
        out.append(
            Reading(
                row[village], row[grid], row[device], row[kind], time_ns, seq, boot,
                {name: float(row[i]) for name, i in metrics if row[i] is not None},
                clock, historical, rescued, device_ts,
                (row[lot] or "") if lot is not None else "",
            )
        )  # fmt: skip
    return out


def _events_of(columns: list[str], rows: list[list[Any]]) -> list[Event]:
    layout = _Layout(columns)
    village, grid, device, kind = layout.tags
    if layout.type is None:
        raise StoreRejected(f"InfluxDB's {EVENTS} have no type field")
    type_ = layout.type
    attrs = [(name, i) for name, i in layout.rest if name != "type"]
    out: list[Event] = []
    for row in rows:
        time_ns, seq, boot, clock, historical, rescued, device_ts = layout.flags(row)
        out.append(
            Event(
                row[village], row[grid], row[device], row[kind], time_ns, seq, boot,
                str(row[type_]), {name: row[i] for name, i in attrs if row[i] is not None},
                clock, historical, rescued, device_ts,
            )
        )  # fmt: skip
    return out


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
