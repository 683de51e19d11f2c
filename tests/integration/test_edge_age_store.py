"""An alarm the centre stamped (it came with ``age_ms``, no device time) and was sent again is
stored once: the copies get slightly different times, and the store finds the first by key."""

from __future__ import annotations

import asyncio
import time

import orjson

from villagewatch.config import InfluxSettings
from villagewatch.contract import Decoded, Decoder, DeviceInfo, DeviceKind
from villagewatch.store import Batch, InfluxStore
from villagewatch_dev.servers import Influxd

DECODER = Decoder(devices={("v", "sos-1"): DeviceInfo("g", DeviceKind.CALL_BUTTON)})
TOPIC = "vw/v1/v/sos-1/event"


def sos(age_ms: int) -> bytes:
    return orjson.dumps(
        {"v": 1, "device": "sos-1", "boot": "b1",
         "event": {"seq": 3, "age_ms": age_ms, "clock": "unsynced", "type": "sos"}}
    )  # fmt: skip


def test_a_resent_centre_stamped_alarm_is_stored_once(
    shared_influxd: Influxd, database: str
) -> None:
    now_ns = time.time_ns()
    first = DECODER.decode(TOPIC, sos(120), now_ns)
    # resent 5 s later (the link dropped before the PUBACK); 7 ms more on the way this time
    again = DECODER.decode(TOPIC, sos(5_113), now_ns + 5_000_000_000 + 7_000_000)
    assert isinstance(first, Decoded) and isinstance(again, Decoded)
    assert first.events[0].time_ns != again.events[0].time_ns

    async def main() -> None:
        settings = InfluxSettings(url=shared_influxd.url, database=database)
        store = InfluxStore(settings)
        await store.write(Batch([], first.events))
        await store.close()
        restarted = InfluxStore(settings)
        result = await restarted.write(Batch([], again.events))
        await restarted.close()
        assert result.duplicates == 1

    asyncio.run(main())
    rows = shared_influxd.rows("SELECT seq, type, rescued FROM events", db=database)
    assert [(r["seq"], r["type"], r["rescued"]) for r in rows] == [(3, "sos", True)]
