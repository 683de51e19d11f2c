"""A camera's space counts per parking lot: decoded with their lot, kept by both stores, and
kept apart from the camera's own series."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from villagewatch.contract import (
    Clock,
    DeadLetter,
    Decoded,
    Decoder,
    DeviceInfo,
    DeviceKind,
    Reading,
    RejectReason,
    TimePolicy,
    point_time_ns,
)
from villagewatch.store import Batch, RelationalStore
from villagewatch.store.influxpoints import encode_readings
from villagewatch.store.relational_schema import MIGRATIONS

NOW_MS = 1_795_000_000_000
DECODER = Decoder(
    devices={("dongcun", "cam-1"): DeviceInfo("g2", DeviceKind.CAMERA)},
    max_bytes=4096,
    time_policy=TimePolicy(),
)
TOPIC = "vw/v1/dongcun/cam-1/telemetry"


def _decode(*items: dict[str, Any]) -> Decoded | DeadLetter:
    body = [{"seq": i, "ts": NOW_MS, "clock": "synced", **it} for i, it in enumerate(items)]
    payload = orjson.dumps({"v": 1, "device": "cam-1", "boot": "b1", "readings": body})
    return DECODER.decode(TOPIC, payload, NOW_MS * 1_000_000)


def test_a_reading_with_a_lot_is_decoded_with_it_and_its_counts_only() -> None:
    out = _decode(
        {"free_spaces": 7, "occupied_spaces": 33},
        {"lot": "clinic", "free_spaces": 3, "occupied_spaces": 5},
    )
    assert isinstance(out, Decoded)
    total, clinic = out.readings
    assert (total.lot, total.values) == ("", {"free_spaces": 7.0, "occupied_spaces": 33.0})
    assert (clinic.lot, clinic.values) == ("clinic", {"free_spaces": 3.0, "occupied_spaces": 5.0})


@pytest.mark.parametrize(
    ("item", "detail"),
    [
        ({"lot": "clinic", "free_spaces": 3}, "free_spaces and occupied_spaces only"),
        (
            {"lot": "clinic", "free_spaces": 3, "occupied_spaces": 1, "fps": 5.0},
            "free_spaces and occupied_spaces only",
        ),
        ({"lot": "../etc", "free_spaces": 3, "occupied_spaces": 1}, "lot"),
        ({"lot": 5, "free_spaces": 3, "occupied_spaces": 1}, "lot"),
    ],
    ids=["one-count", "other-metric", "hostile-id", "number"],
)
def test_a_bad_lot_reading_is_a_dead_letter(item: dict[str, Any], detail: str) -> None:
    out = _decode(item)
    assert isinstance(out, DeadLetter)
    assert out.reason is RejectReason.INVALID_PAYLOAD
    assert detail in out.detail


def _reading(seq: int, free: float, *, lot: str = "", minutes: int = 0) -> Reading:
    ms = NOW_MS + minutes * 60_000
    return Reading(
        "dongcun", "g2", "cam-1", "camera", point_time_ns(ms, "b1", seq), seq, "b1",
        {"free_spaces": free, "occupied_spaces": 40 - free}, Clock.SYNCED, False, False, ms, lot,
    )  # fmt: skip


def test_influx_lines_carry_the_lot_as_a_tag_in_key_order() -> None:
    plain, clinic = encode_readings([_reading(1, 7), _reading(2, 3, lot="clinic")])
    assert plain.startswith("readings,device=cam-1,grid=g2,kind=camera,village=dongcun ")
    assert clinic.startswith(
        "readings,device=cam-1,grid=g2,kind=camera,lot=clinic,village=dongcun "
    )


def test_sqlite_keeps_the_lot_apart_from_the_devices_own_series(tmp_path: Path) -> None:
    async def main() -> None:
        store = RelationalStore(tmp_path / "v.db")
        await store.write(
            Batch(
                [
                    _reading(1, 7),
                    _reading(2, 3, lot="clinic"),
                    _reading(3, 2, lot="clinic", minutes=1),
                ]
            )
        )
        last = {(v.lot, v.metric): v.value for v in await store.last_values(device="cam-1")}
        assert last == {
            ("", "free_spaces"): 7.0,
            ("", "occupied_spaces"): 33.0,
            ("clinic", "free_spaces"): 2.0,
            ("clinic", "occupied_spaces"): 38.0,
        }
        buckets = await store.downsample(
            village="dongcun", device="cam-1", metric="free_spaces",
            since_ns=(NOW_MS - 60_000) * 1_000_000, until_ns=(NOW_MS + 120_000) * 1_000_000,
            buckets=1,
        )  # fmt: skip
        assert [(b.mean, b.count) for b in buckets] == [(7.0, 1)]  # the lots are not the camera's
        history = await store.history(since_ns=0, until_ns=2**62)
        assert [r.lot for r in history.readings] == ["", "clinic", "clinic"]
        await store.close()

    asyncio.run(main())


def test_a_file_of_the_first_schema_keeps_its_latest_values(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0].sql)
    conn.execute("INSERT INTO latest VALUES ('dongcun', 'wl-1', 'level_cm', 5, 12.5)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    async def main() -> None:
        store = RelationalStore(path)
        (value,) = await store.last_values()
        assert (value.device, value.metric, value.value, value.lot) == (
            "wl-1",
            "level_cm",
            12.5,
            "",
        )
        await store.write(Batch([_reading(1, 4, lot="clinic")]))
        assert {v.lot for v in await store.last_values(device="cam-1")} == {"clinic"}
        await store.close()

    asyncio.run(main())
