"""InfluxDB through the v1 HTTP API: ``/write`` (line protocol) and ``/query`` (InfluxQL).

InfluxDB 1.x serves these natively, 2.x through its v1 compatibility API and
3.x natively again, so this one path reaches them all. This module writes
(points made by ``influxpoints.py``, which has the schema); ``influxql.py``
reads back.

Idempotency comes from the stored time (see :mod:`villagewatch.contract.records`):
a redelivered reading is the same point again. The exception is a *rescued*
reading, stamped on receipt because its device clock was implausible: a resent
copy would get a new time, so before writing such readings the store looks
for an earlier copy by (device, boot, seq) within ``rescue_lookback_s``.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections import defaultdict
from collections.abc import Sequence

import httpx

from villagewatch.config import InfluxSettings, read_secret
from villagewatch.contract import DeadLetter, Event, Reading, RejectReason
from villagewatch.errors import StoreRejected, StoreUnavailable
from villagewatch.store.base import Batch, Bucket, History, LastValue, WriteResult
from villagewatch.store.influxpoints import (
    EVENTS,
    READINGS,
    encode_dead_letter,
    encode_event,
    encode_readings,
)
from villagewatch.store.influxql import InfluxReader, error_text
from villagewatch.store.lineprotocol import LineProtocolError, quote_ident

__all__ = ["InfluxStore"]

log = logging.getLogger(__name__)

_Item = Reading | Event | DeadLetter


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
        self._reader = InfluxReader(self._client, database=settings.database)
        self._database_ready = not settings.create_database
        self._write_params: dict[str, str] = {"db": settings.database, "precision": "ns"}
        if settings.retention_policy:
            self._write_params["rp"] = settings.retention_policy

    async def create_database(self) -> None:
        """``CREATE DATABASE`` (1.x; a no-op when it exists)."""
        await self._reader.query(
            f"CREATE DATABASE {quote_ident(self._settings.database)}", post=True
        )

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
        lines.extend((encode_dead_letter(d), d) for d in batch.dead_letters)
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
                [(encode_dead_letter(d), d) for d in rejected]
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
        message = error_text(reply)
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
        for (measurement, village, device, boot), seqs in wanted.items():
            try:
                stored = await self._reader.rescued_seqs(
                    measurement, village=village, device=device, boot=boot, seqs=seqs,
                    lookback_s=self._settings.rescue_lookback_s,
                )  # fmt: skip
            except StoreRejected as exc:
                # Can't look: better a possible second copy of a rescued item than a stall.
                log.warning("Could not look for earlier copies of rescued items: %s", exc)
                continue
            found.update((measurement, village, device, boot, seq) for seq in stored)

        def fresh(measurement: str, item: Reading | Event) -> bool:
            return not (
                item.rescued
                and (measurement, item.village, item.device, item.boot, item.seq) in found
            )

        kept_r = [r for r in readings if fresh(READINGS, r)]
        kept_e = [e for e in events if fresh(EVENTS, e)]
        return kept_r, kept_e, len(readings) - len(kept_r) + len(events) - len(kept_e)

    # --- querying ------------------------------------------------------------

    async def last_values(
        self, *, village: str | None = None, device: str | None = None
    ) -> list[LastValue]:
        """Newest value of each metric per device (see :class:`InfluxReader`)."""
        return await self._reader.last_values(village=village, device=device)

    async def downsample(
        self, *, village: str, device: str, metric: str, since_ns: int, until_ns: int, buckets: int
    ) -> list[Bucket]:
        """Mean/min/max per bucket of [since, until) (see :class:`InfluxReader`)."""
        return await self._reader.downsample(
            village=village, device=device, metric=metric,
            since_ns=since_ns, until_ns=until_ns, buckets=buckets,
        )  # fmt: skip

    async def history(
        self,
        *,
        since_ns: int,
        until_ns: int,
        village: str | None = None,
        device: str | None = None,
    ) -> History:
        """Readings and events of [since, until) (see :meth:`InfluxReader.history`)."""
        return await self._reader.history(
            since_ns=since_ns, until_ns=until_ns, village=village, device=device
        )

    async def dead_letters(
        self, *, limit: int = 100, before_ns: int | None = None
    ) -> list[DeadLetter]:
        """Newest dead letters first (received before ``before_ns``)."""
        return await self._reader.dead_letters(limit=limit, before_ns=before_ns)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
