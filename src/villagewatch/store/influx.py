"""InfluxDB through the v1 HTTP API: ``/write`` (line protocol) and ``/query`` (InfluxQL).

InfluxDB 1.x serves these natively, 2.x through its v1 compatibility API and
3.x natively again, so this one path reaches them all.

Schema: measurements ``readings``, ``events`` and ``dead_letters``; tags are
only ``village``, ``grid``, ``device`` and ``kind`` (``reason`` for dead
letters) — bounded sets — and everything else is a field. To keep the write
cost low (InfluxDB's cost grows with every field of every point), flags are
written only when they say something: ``historical=true``,
``clock="unsynced"``, ``rescued=true`` with the device's ``boot`` and its own
``device_ts`` (epoch ms). Every point carries ``seq``.

Idempotency comes from the stored time (see :mod:`villagewatch.contract.records`):
a redelivered reading is the same point again. The exception is a *rescued*
reading, stamped on receipt because its device clock was implausible: a resent
copy would get a new time, so before writing such readings the store looks
for an earlier copy by (device, boot, seq) within ``rescue_lookback_s``.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import httpx

from villagewatch.config import InfluxSettings, read_secret
from villagewatch.contract import DeadLetter, Event, Reading, RejectReason
from villagewatch.contract.payloads import ALL_METRICS, Clock
from villagewatch.errors import StoreRejected, StoreUnavailable
from villagewatch.store.base import Batch, Bucket, LastValue, WriteResult, bucket_width_ns
from villagewatch.store.lineprotocol import (
    FieldValue,
    LineProtocolError,
    encode_point,
    field_value,
    quote_ident,
    quote_literal,
)

__all__ = ["InfluxStore", "encode_event", "encode_reading"]

log = logging.getLogger(__name__)

READINGS = "readings"
EVENTS = "events"
DEAD_LETTERS = "dead_letters"
_Item = Reading | Event | DeadLetter


def _flags(item: Reading | Event) -> str:
    out = f",seq={item.seq}i"
    if item.historical:
        out += ",historical=true"
    if item.clock is not Clock.SYNCED:
        out += ',clock="unsynced"'
    if item.rescued:
        out += f',rescued=true,boot="{item.boot}",device_ts={item.device_ts_ms}i'
    return out


@lru_cache(maxsize=1 << 16)
def _series(measurement: str, device: str, grid: str, kind: str, village: str) -> str:
    return f"{measurement},device={device},grid={grid},kind={kind},village={village} "


def encode_reading(r: Reading) -> str:
    """Line protocol for one reading (see :func:`encode_readings`)."""
    (line,) = encode_readings([r])
    return line


def encode_readings(readings: Sequence[Reading]) -> list[str]:
    """Line protocol for readings: the ingest hot path.

    Tags and field keys come from validated identifiers and the contract's
    metric names and values are finite floats, so nothing needs escaping or
    can fail; the common case (live, synced) gets no flag fields.
    """
    out = []
    synced = Clock.SYNCED
    for r in readings:
        head = _series(READINGS, r.device, r.grid, r.kind, r.village)
        values = ",".join([f"{k}={v!r}" for k, v in r.values.items()])
        if r.historical or r.rescued or r.clock is not synced:
            out.append(f"{head}{values}{_flags(r)} {r.time_ns}")
        else:
            out.append(f"{head}{values},seq={r.seq}i {r.time_ns}")
    return out


def encode_event(e: Event) -> str:
    """Line protocol for an event; attribute values are escaped as field values."""
    attrs = "".join(f",{k}={field_value(v)}" for k, v in e.attrs.items())
    head = _series(EVENTS, e.device, e.grid, e.kind, e.village)
    return f"{head}type={field_value(e.type)}{attrs}{_flags(e)} {e.time_ns}"


def _encode_dead_letter(d: DeadLetter) -> str:
    fields: dict[str, FieldValue] = {
        "topic": d.topic,
        "detail": d.detail,
        "payload_b64": base64.b64encode(d.payload).decode(),
    }
    return encode_point(DEAD_LETTERS, [("reason", d.reason.value)], fields, d.received_ns)


class InfluxStore:
    """A :class:`~villagewatch.store.base.Store` on InfluxDB's v1 HTTP API."""

    def __init__(
        self,
        settings: InfluxSettings,
        *,
        points_per_request: int = 5000,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._per_request = points_per_request
        self._slots = asyncio.Semaphore(concurrency)
        headers: dict[str, str] = {}
        auth: httpx.BasicAuth | None = None
        if settings.token_file is not None:
            headers["Authorization"] = f"Token {read_secret(settings.token_file)}"
        elif settings.username is not None:
            password = read_secret(settings.password_file) if settings.password_file else ""
            auth = httpx.BasicAuth(settings.username, password)
        self._client = httpx.AsyncClient(
            base_url=settings.url,
            headers=headers,
            auth=auth,
            timeout=settings.timeout_s,
            transport=transport,
        )
        self._database_ready = not settings.create_database
        self._write_params: dict[str, str] = {"db": settings.database, "precision": "ns"}
        if settings.retention_policy:
            self._write_params["rp"] = settings.retention_policy

    async def create_database(self) -> None:
        """``CREATE DATABASE`` (1.x; a no-op when it exists)."""
        await self._query(f"CREATE DATABASE {quote_ident(self._settings.database)}", post=True)

    # --- writing -------------------------------------------------------------

    async def write(self, batch: Batch) -> WriteResult:
        """Write readings, events, dead letters; points the server refuses become dead letters."""
        if not self._database_ready:
            await self.create_database()  # lazily: the server may be down at start-up
            self._database_ready = True
        readings: Sequence[Reading] = batch.readings
        events: Sequence[Event] = batch.events
        duplicates = 0
        if any(r.rescued for r in readings) or any(e.rescued for e in events):
            readings, events, duplicates = await self._drop_rescued_copies(readings, events)
        lines: list[tuple[str, _Item]] = list(zip(encode_readings(readings), readings, strict=True))
        refused: list[tuple[_Item, str, bytes]] = []
        for event in events:
            try:
                lines.append((encode_event(event), event))
            except LineProtocolError as exc:
                refused.append((event, str(exc), repr(event).encode()))
        lines.extend((_encode_dead_letter(d), d) for d in batch.dead_letters)
        refused.extend((it, err, line.encode()) for line, err, it in await self._write_lines(lines))
        rejected: list[DeadLetter] = []
        for what, err, raw in refused:
            if isinstance(what, DeadLetter):
                log.error("InfluxDB refused a dead letter (%s); dropped: %s", what.reason, err)
            else:
                rejected.append(
                    DeadLetter.of_record(
                        what, time.time_ns(), RejectReason.STORE_REJECTED, err, raw
                    )
                )
        if rejected:
            for _line, err, _item in await self._write_lines(
                [(_encode_dead_letter(d), d) for d in rejected]
            ):
                log.error("InfluxDB refused the dead letter of a refused point; dropped: %s", err)
        return WriteResult(
            readings=len(readings) - sum(isinstance(i, Reading) for i, _, _ in refused),
            events=len(events) - sum(isinstance(i, Event) for i, _, _ in refused),
            duplicates=duplicates,
            rejected=tuple(rejected),
        )

    async def _write_lines(self, lines: list[tuple[str, _Item]]) -> list[tuple[str, str, _Item]]:
        """POST in chunks, concurrently; return the lines the server refused, with its reason."""
        per = self._per_request
        chunks = [lines[i : i + per] for i in range(0, len(lines), per)]
        results = await asyncio.gather(*(self._write_chunk(c) for c in chunks))
        return [refused for chunk_refused in results for refused in chunk_refused]

    async def _write_chunk(self, lines: list[tuple[str, _Item]]) -> list[tuple[str, str, _Item]]:
        if not lines:
            return []
        try:
            await self._post("\n".join(line for line, _ in lines).encode())
        except StoreRejected as exc:
            if len(lines) == 1:
                line, item = lines[0]
                return [(line, str(exc), item)]
            # Bisect to find the refused points. InfluxDB 1.x keeps the good points of
            # a partial write; writing them again is harmless (same points).
            half = len(lines) // 2
            return [*await self._write_chunk(lines[:half]), *await self._write_chunk(lines[half:])]
        return []

    async def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._settings.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        async with self._slots:
            try:
                reply = await self._client.post(
                    "/write", params=self._write_params, content=body, headers=headers
                )
            except httpx.TimeoutException as exc:
                raise StoreUnavailable(f"InfluxDB write timed out: {exc!r}") from exc
            except httpx.TransportError as exc:
                raise StoreUnavailable(f"InfluxDB unreachable: {exc!r}") from exc
        status = reply.status_code
        if status in (200, 204):
            return
        message = _error_text(reply)
        if status in (400, 422):
            raise StoreRejected(message)
        if status == 413:
            raise StoreRejected(f"request too large: {message}")
        if status in (401, 403):
            raise StoreUnavailable(f"InfluxDB refused our credentials ({status}): {message}")
        if status == 404:
            raise StoreUnavailable(f"InfluxDB database not found ({status}): {message}")
        raise StoreUnavailable(f"InfluxDB write failed ({status}): {message}")

    async def _drop_rescued_copies(
        self, readings: Sequence[Reading], events: Sequence[Event]
    ) -> tuple[list[Reading], list[Event], int]:
        """Leave out rescued items an earlier write already stored (found by device, boot, seq)."""
        wanted: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
        for measurement, items in ((READINGS, readings), (EVENTS, events)):
            for item in items:
                if item.rescued:
                    wanted[(measurement, item.village, item.device, item.boot)].append(item.seq)
        found: set[tuple[str, str, str, str, int]] = set()
        lookback = self._settings.rescue_lookback_s
        for (measurement, village, device, boot), seqs in wanted.items():
            q = (
                f"SELECT seq FROM {quote_ident(measurement)} WHERE rescued = true"
                f" AND village = {quote_literal(village)} AND device = {quote_literal(device)}"
                f" AND boot = {quote_literal(boot)} AND seq >= {min(seqs)} AND seq <= {max(seqs)}"
                f" AND time > now() - {lookback}s"
            )
            try:
                rows = _rows(await self._query(q))
            except StoreRejected as exc:
                # Can't look: better a possible second copy of a rescued item than a stall.
                log.warning("Could not look for earlier copies of rescued items: %s", exc)
                continue
            found.update((measurement, village, device, boot, int(row["seq"])) for row in rows)

        def fresh(measurement: str, item: Reading | Event) -> bool:
            return not (
                item.rescued
                and (measurement, item.village, item.device, item.boot, item.seq) in found
            )

        kept_r = [r for r in readings if fresh(READINGS, r)]
        kept_e = [e for e in events if fresh(EVENTS, e)]
        return kept_r, kept_e, len(readings) - len(kept_r) + len(events) - len(kept_e)

    # --- querying ------------------------------------------------------------

    async def _query(self, q: str, *, post: bool = False) -> dict[str, Any]:
        params = {"db": self._settings.database, "q": q, "epoch": "ns"}
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
                f"InfluxDB query failed ({reply.status_code}): {_error_text(reply)}"
            )
        try:
            body: dict[str, Any] = reply.json()
        except ValueError as exc:
            raise StoreUnavailable(f"InfluxDB answered a query with non-JSON: {exc}") from exc
        errors = [body.get("error")] + [r.get("error") for r in body.get("results", [])]
        if any(errors) or reply.status_code >= 400:
            raise StoreRejected(f"InfluxDB refused the query: {[e for e in errors if e]}")
        return body

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
        body = await self._query(statements)
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
            for t, mean, lo, hi, n in _values(await self._query(q))
            if n
        ]

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
            for row in _rows(await self._query(q))
        ]

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def _where(*, village: str | None, device: str | None) -> str:
    conds = [
        f"{quote_ident(tag)} = {quote_literal(value)}"
        for tag, value in (("village", village), ("device", device))
        if value is not None
    ]
    return " WHERE " + " AND ".join(conds) if conds else " WHERE time > 0"


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


def _error_text(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:300]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:300]
    return reply.text[:300]
