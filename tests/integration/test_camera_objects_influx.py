"""InfluxDB keeps a camera event's objects (compact JSON text) and model label as fields."""

from __future__ import annotations

import asyncio
import time

import orjson

from villagewatch.config import InfluxSettings
from villagewatch.contract import Decoded, Decoder, DeviceInfo, DeviceKind
from villagewatch.store import Batch, InfluxStore
from villagewatch_dev.servers import Influxd

DECODER = Decoder(devices={("v", "cam-1"): DeviceInfo("g", DeviceKind.CAMERA)})
OBJECTS = [{"box": [0.1, 0.7, 0.2, 0.1], "label": "debris", "score": 0.91}] + [
    {"box": [0.02 * i, 0.9, 0.01, 0.05]} for i in range(31)
]


def test_objects_and_label_are_stored_in_influxdb(shared_influxd: Influxd, database: str) -> None:
    ts = int(time.time() * 1000) - 60_000
    event = {
        "seq": 1, "ts": ts, "clock": "synced", "type": "detection", "detection": "river_debris",
        "zone": "river", "box": [0.1, 0.7, 0.2, 0.1], "label": "debris", "label_score": 0.91,
        "objects": OBJECTS,
    }  # fmt: skip
    body = orjson.dumps({"v": 1, "device": "cam-1", "boot": "b1", "event": event})
    got = DECODER.decode("vw/v1/v/cam-1/event", body, time.time_ns())
    assert isinstance(got, Decoded), got

    async def main() -> None:
        store = InfluxStore(InfluxSettings(url=shared_influxd.url, database=database))
        await store.write(Batch([], got.events))
        await store.close()

    asyncio.run(main())
    (row,) = shared_influxd.rows("SELECT * FROM events", db=database)
    assert orjson.loads(row["objects"]) == OBJECTS  # all 32, quotes and all
    assert (row["label"], row["label_score"], row["box"]) == ("debris", 0.91, "0.1,0.7,0.2,0.1")
    assert row["time"] // 1_000_000 == ts
