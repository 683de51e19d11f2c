"""VictoriaMetrics for the readings' numbers, composed with a relational store for the rest.

Writing (``/write``, line protocol made by :mod:`~villagewatch.store.vmpoints`) is idempotent
because a redelivered reading is the same samples again and the server runs with
``-dedup.minScrapeInterval=1ms`` (one sample per series and millisecond). What
VictoriaMetrics cannot keep goes to the relational part (:class:`RelationalStore`: an SQLite
file, or a PostgreSQL schema the ingesters of several hosts share):

* events and dead letters — strings;
* a full copy of each reading it cannot give back exactly: a *rescued* one (its boot and
  device time, and its dedupe, which goes by key because a resent copy gets a new time) and
  readings of one device in one millisecond of the same batch (their samples would collapse
  into one). Their numbers go to VictoriaMetrics as well, for last values and charts.

Reading back: last values and charts from VictoriaMetrics alone; history from its
``/api/v1/export`` (each reading's seq and sub-millisecond digits are sample values, see
``vmpoints``) merged with the relational copies, which win at their millisecond.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from villagewatch.config import VictoriaSettings
from villagewatch.contract import DeadLetter, Reading, RejectReason
from villagewatch.db.database import Location
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S
from villagewatch.errors import StoreRejected, StoreUnavailable
from villagewatch.store.base import (
    Batch,
    Bucket,
    History,
    LastValue,
    WriteResult,
    bucket_width_ns,
)
from villagewatch.store.influxql import error_text
from villagewatch.store.relational import RelationalStore
from villagewatch.store.vmpoints import (
    PREFIX,
    encode_readings,
    exact_in_victoria,
    metric_key,
    not_finite,
    readings_of_export,
    selector,
)

__all__ = ["VictoriaStore"]

log = logging.getLogger(__name__)


class VictoriaStore:
    """A :class:`~villagewatch.store.base.Store` on VictoriaMetrics plus a relational store."""

    def __init__(
        self,
        settings: VictoriaSettings,
        *,
        relational: Location,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Open the relational part (an SQLite file or a PostgreSQL schema, see
        :func:`~villagewatch.db.configured.readings_location`) here, so a bad path or an
        unreachable server fails at start-up; VictoriaMetrics is contacted on first use."""
        self._settings = settings
        self._slots = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(timeout=settings.timeout_s, transport=transport)
        self._write_url = settings.url.rstrip("/") + settings.write_path
        self._query_url = (settings.query_url or settings.url).rstrip("/") + "/api/v1"
        self.relational = RelationalStore(relational, busy_timeout_s=busy_timeout_s)

    # --- writing -------------------------------------------------------------

    async def write(self, batch: Batch) -> WriteResult:
        """Numbers to VictoriaMetrics, then the rest to the relational store; a reading with a
        value that is not finite is refused (a dead letter)."""
        readings, rejected = _finite(batch.readings)
        rescued = [r.key for r in readings if r.rescued]
        if rescued:
            stored = await self.relational.stored_keys(rescued)
            kept = [r for r in readings if not (r.rescued and r.key in stored)]
            duplicates, readings = len(readings) - len(kept), kept
        else:
            duplicates = 0
        per = self._settings.points_per_request
        lines = encode_readings(readings)
        await asyncio.gather(*(self._post(lines[i : i + per]) for i in range(0, len(lines), per)))
        rest = await self.relational.write(
            Batch(
                readings=_copies(readings),
                events=batch.events,
                dead_letters=(*batch.dead_letters, *rejected),
            )
        )
        return WriteResult(
            readings=len(readings),
            events=rest.events,
            duplicates=duplicates + rest.duplicates,
            rejected=tuple(rejected),
        )

    async def _post(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._settings.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        async with self._slots:
            try:
                reply = await self._client.post(
                    self._write_url, params={"precision": "ms"}, content=body, headers=headers
                )
            except httpx.TimeoutException as exc:
                raise StoreUnavailable(f"VictoriaMetrics write timed out: {exc!r}") from exc
            except httpx.TransportError as exc:
                raise StoreUnavailable(f"VictoriaMetrics unreachable: {exc!r}") from exc
        if reply.status_code not in (200, 204):
            # It skips a line it cannot parse and still answers 204, so an error is about the
            # whole request (size, server trouble): retrying is all that can help.
            raise StoreUnavailable(
                f"VictoriaMetrics write failed ({reply.status_code}): {error_text(reply)}"
            )

    # --- reading -------------------------------------------------------------

    async def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            reply = await self._client.post(self._query_url + path, data=params)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"VictoriaMetrics query timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"VictoriaMetrics unreachable: {exc!r}") from exc
        if reply.status_code >= 500:
            raise StoreUnavailable(
                f"VictoriaMetrics query failed ({reply.status_code}): {error_text(reply)}"
            )
        if reply.status_code != 200:
            raise StoreRejected(f"VictoriaMetrics refused a query: {error_text(reply)}")
        return reply

    async def _export(self, match: str, since_ms: int, until_ms: int) -> list[bytes]:
        """Raw samples of the matching series in [since, until] (both ends kept), JSON lines."""
        params = {
            "match[]": match,
            "start": f"{since_ms / 1000:.3f}",
            "end": f"{until_ms / 1000:.3f}",
        }
        return (await self._get("/export", params)).content.splitlines()

    async def _instant(self, query: str) -> list[dict[str, Any]]:
        body = (await self._get("/query", {"query": query})).json()
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def last_values(
        self, *, village: str | None = None, device: str | None = None
    ) -> list[LastValue]:
        """Newest value of each metric per device (and lot) within ``last_values_window_s``.

        Queries do not see the newest ``-search.latencyOffset`` of data, so that stretch is
        read raw from the export and wins where it is newer.
        """
        match = selector(village=village, device=device, values_only=True)
        window = f"[{self._settings.last_values_window_s}s]"
        values, times = await asyncio.gather(
            self._instant(f"last_over_time({match}{window}) keep_metric_names"),
            self._instant(f"tlast_over_time({match}{window}) keep_metric_names"),
        )
        newest: dict[tuple[str, str, str, str], tuple[int, float]] = {}
        value_of = {_series_id(s["metric"]): float(s["value"][1]) for s in values}
        for s in times:
            sid = _series_id(s["metric"])
            if sid in value_of:
                newest[sid] = (round(float(s["value"][1]) * 1000), value_of[sid])
        now_ms = int(time.time() * 1000)
        recent_ms = now_ms - int((self._settings.search_latency_s + 5) * 1000)
        for line in await self._export(match, recent_ms, now_ms + 60_000):
            if line.strip():
                s = orjson.loads(line)
                sid = _series_id(s["metric"])
                ms, value = s["timestamps"][-1], float(s["values"][-1])
                if sid not in newest or newest[sid][0] < ms:
                    newest[sid] = (ms, value)
        return [
            LastValue(village_, device_, metric, ms * 1_000_000, value, lot)
            for (village_, device_, lot, metric), (ms, value) in sorted(newest.items())
        ]

    async def downsample(
        self, *, village: str, device: str, metric: str, since_ns: int, until_ns: int, buckets: int
    ) -> list[Bucket]:
        """Mean/min/max per equal slice of [since, until), from the raw samples (with each
        one's sub-millisecond digits, so a bucket edge inside a millisecond is exact)."""
        width = bucket_width_ns(since_ns, until_ns, buckets)
        match = selector(metrics=[metric, "ns"], village=village, device=device, lot="")
        lines = await self._export(match, since_ns // 1_000_000, until_ns // 1_000_000)
        by_ms: dict[int, dict[str, float]] = {}
        for line in lines:
            if line.strip():
                s = orjson.loads(line)
                field = s["metric"]["__name__"].removeprefix(PREFIX)
                for value, ms in zip(s["values"], s["timestamps"], strict=True):
                    by_ms.setdefault(ms, {})[field] = float(value)
        sums: dict[int, list[float]] = {}
        for ms, fields in by_ms.items():
            if metric not in fields:
                continue
            t = ms * 1_000_000 + int(fields.get("ns", 0.0))
            if not since_ns <= t < until_ns:
                continue
            v = fields[metric]
            b = sums.setdefault((t - since_ns) // width, [0.0, v, v, 0])
            b[0] += v
            b[1], b[2], b[3] = min(b[1], v), max(b[2], v), b[3] + 1
        return [
            Bucket(since_ns + b * width, total / n, lo, hi, int(n))
            for b, (total, lo, hi, n) in sorted(sums.items())
        ]

    async def history(
        self,
        *,
        since_ns: int,
        until_ns: int,
        village: str | None = None,
        device: str | None = None,
    ) -> History:
        """Readings from the export, with the relational copies in place of what is at their
        millisecond; events from the relational store."""
        lines, kept = await asyncio.gather(
            self._export(
                selector(village=village, device=device),
                since_ns // 1_000_000,
                until_ns // 1_000_000,
            ),
            self.relational.history(
                since_ns=since_ns, until_ns=until_ns, village=village, device=device
            ),
        )
        covered = {metric_key(r) for r in kept.readings}
        readings = [
            r
            for r in readings_of_export(lines, since_ns=since_ns, until_ns=until_ns)
            if metric_key(r) not in covered
        ]
        readings.extend(kept.readings)
        readings.sort(key=lambda r: (r.time_ns, r.village, r.device, r.seq))
        return History(readings, kept.events)

    async def dead_letters(
        self, *, limit: int = 100, before_ns: int | None = None
    ) -> list[DeadLetter]:
        """Newest dead letters first, from the relational store."""
        return await self.relational.dead_letters(limit=limit, before_ns=before_ns)

    async def close(self) -> None:
        """Close the HTTP pool and the relational store."""
        await self._client.aclose()
        await self.relational.close()


def _finite(readings: Sequence[Reading]) -> tuple[list[Reading], list[DeadLetter]]:
    """The readings VictoriaMetrics can keep, and dead letters for the others."""
    kept, refused = [], []
    for r in readings:
        why = not_finite(r)
        if why is None:
            kept.append(r)
        else:
            payload = repr(r).encode()
            refused.append(
                DeadLetter.of_record(r, time.time_ns(), RejectReason.STORE_REJECTED, why, payload)
            )
    return kept, refused


def _copies(readings: Sequence[Reading]) -> list[Reading]:
    """The readings the relational store keeps whole: those VictoriaMetrics cannot give back
    exactly, and every reading sharing a device millisecond with another of the batch."""
    shared = Counter(metric_key(r) for r in readings)
    return [r for r in readings if not exact_in_victoria(r) or shared[metric_key(r)] > 1]


def _series_id(labels: dict[str, str]) -> tuple[str, str, str, str]:
    return (
        labels.get("village", ""),
        labels.get("device", ""),
        labels.get("lot", ""),
        labels["__name__"].removeprefix(PREFIX),
    )
