"""InfluxDB history read as one chunked query per measurement (through a fake transport):
chunks put together in stored-time order, flags and boot ids as the store wrote them, and an
error in the middle of the stream refused rather than taken for the end of the range."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx
import pytest

from villagewatch.config import InfluxSettings
from villagewatch.contract import Clock
from villagewatch.errors import StoreRejected, StoreUnavailable
from villagewatch.store import InfluxStore
from villagewatch.store.base import History

T = 1_795_000_000_000_000_000
READING_COLUMNS = ["time", "battery", "device", "grid", "kind", "level_cm", "seq", "village"]
EVENT_COLUMNS = ["time", "boot", "clock", "credential", "device", "device_ts", "grid",
                 "historical", "kind", "rescued", "seq", "type", "village"]  # fmt: skip


def chunk(columns: list[str], values: Sequence[Sequence[object]]) -> str:
    series = {"name": "x", "columns": columns, "values": values, "partial": True}
    return json.dumps({"results": [{"statement_id": 0, "series": [series], "partial": True}]})


def history(readings: list[str], events: list[str]) -> History:
    seen: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        lines = readings if "FROM readings" in request.url.params["q"] else events
        return httpx.Response(200, text="\n".join(lines) + "\n")

    async def go() -> History:
        store = InfluxStore(
            InfluxSettings(url="http://influx.test", database="d"),
            transport=httpx.MockTransport(answer),
        )
        try:
            return await store.history(since_ns=T, until_ns=T + 10**12, device="wl-1")
        finally:
            await store.close()

    found = asyncio.run(go())
    assert [(p["chunked"], p["chunk_size"]) for p in seen] == [("true", "20000")] * 2
    assert all("\"device\" = 'wl-1'" in p["q"] and f"time < {T + 10**12}" in p["q"] for p in seen)
    return found


def test_chunks_are_put_together_in_stored_time_order() -> None:
    found = history(
        [
            chunk(
                READING_COLUMNS, [[T + 2_000_007, None, "wl-1", "g", "water_level", 3.5, 7, "v"]]
            ),
            chunk(READING_COLUMNS, [[T + 1_000_003, 90, "wl-1", "g", "water_level", 3, 3, "v"]]),
        ],
        [
            chunk(
                EVENT_COLUMNS,
                [
                    [
                        T + 5,
                        "b1",
                        "unsynced",
                        "c-1",
                        "wl-1",
                        42,
                        "g",
                        True,
                        "water_level",
                        True,
                        5,
                        "unlock",
                        "v",
                    ]
                ],
            ),
            chunk(
                EVENT_COLUMNS,
                [
                    [
                        T + 4,
                        None,
                        None,
                        None,
                        "wl-1",
                        None,
                        "g",
                        None,
                        "water_level",
                        None,
                        4,
                        "lock",
                        "v",
                    ]
                ],
            ),
        ],
    )
    first, second = found.readings
    assert (first.seq, first.values, second.values) == (3, {"battery": 90.0, "level_cm": 3.0},
                                                        {"level_cm": 3.5})  # fmt: skip
    assert first.boot == "~0" and first.device_ts_ms == (T + 1_000_003) // 1_000_000
    plain, rescued = found.events
    assert (plain.type, plain.attrs, plain.clock, plain.historical) == (
        "lock",
        {},
        Clock.SYNCED,
        False,
    )
    assert (rescued.boot, rescued.device_ts_ms, rescued.clock, rescued.rescued) == (
        "b1",
        42,
        Clock.UNSYNCED,
        True,
    )
    assert rescued.attrs == {"credential": "c-1"} and rescued.historical


def test_an_error_in_the_middle_of_the_stream_is_refused() -> None:
    error = json.dumps({"results": [{"statement_id": 0, "error": "max-select-point limit"}]})
    rows = [[T, None, "wl-1", "g", "water_level", 3, 3, "v"]]
    with pytest.raises(StoreRejected, match="max-select-point"):
        history([chunk(READING_COLUMNS, rows), error], [])


def test_a_stream_cut_short_is_unavailable_not_the_end() -> None:
    rows = [[T, None, "wl-1", "g", "water_level", 3, 3, "v"]]
    with pytest.raises(StoreUnavailable, match="non-JSON"):
        history([chunk(READING_COLUMNS, rows), '{"results": [{"statement_id'], [])


def test_an_empty_range_is_an_empty_history() -> None:
    empty = json.dumps({"results": [{"statement_id": 0}]})
    assert history([empty], [empty]) == History([], [])


def test_a_server_that_fails_is_unavailable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "engine closed"})

    async def go() -> History:
        store = InfluxStore(
            InfluxSettings(url="http://influx.test", database="d"),
            transport=httpx.MockTransport(answer),
        )
        try:
            return await store.history(since_ns=T, until_ns=T + 1)
        finally:
            await store.close()

    with pytest.raises(StoreUnavailable, match=r"\(503\): engine closed"):
        asyncio.run(go())
