"""10,000 hostile payloads interleaved with valid ones: every valid reading stored, every bad one
counted by reason and dead-lettered, implausible clocks rescued, nothing crashes."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

from villagewatch.config import load_deployment
from villagewatch.contract import RejectReason
from villagewatch.ingest import IngestService
from villagewatch.store import InfluxStore
from villagewatch_dev.servers import Influxd, Mosquitto

from .helpers import NOW_MS, publish_all, reading, wait_until, write_deployment

N_VALID = 10_000
N_HOSTILE = 10_000
DEVICES = 10
T = "vw/v1/testvil/wl-000/telemetry"

Msg = tuple[str, bytes]


def body(item: dict[str, object] | None = None, **envelope: object) -> bytes:
    base: dict[str, object] = {
        "v": 1, "device": "wl-000", "boot": "hb",
        "reading": {"seq": 1, "ts": NOW_MS, "clock": "synced", "level_cm": 1.0, **(item or {})},
    }  # fmt: skip
    base.update(envelope)
    return orjson.dumps(base)


R = RejectReason
GOOD = body()
# Each maker returns a message and the reason it must be refused for.
HOSTILE: list[tuple[str, Callable[[random.Random], Msg], RejectReason]] = [
    ("truncated json", lambda r: (T, GOOD[: r.randrange(1, len(GOOD) - 1)]), R.BAD_JSON),
    ("random bytes", lambda r: (T, b"\x00" + r.randbytes(r.randrange(1, 300))), R.BAD_JSON),
    ("invalid utf-8", lambda r: (T, GOOD.replace(b"wl-000", b"wl-\xff\xfe0")), R.BAD_JSON),
    ("deep nesting", lambda r: (T, b"[" * 5000 + b"]" * 5000), R.BAD_JSON),
    ("array", lambda r: (T, b"[1,2,3]"), R.INVALID_PAYLOAD),
    ("string for number", lambda r: (T, body({"level_cm": "12.5"})), R.INVALID_PAYLOAD),
    ("bool for number", lambda r: (T, body({"level_cm": True})), R.INVALID_PAYLOAD),
    ("object for number", lambda r: (T, body({"level_cm": {"x": 1}})), R.INVALID_PAYLOAD),
    ("NaN", lambda r: (T, GOOD.replace(b'"level_cm":1.0', b'"level_cm":NaN')), R.INVALID_PAYLOAD),
    (
        "Infinity",
        lambda r: (T, GOOD.replace(b'"level_cm":1.0', b'"level_cm":-Infinity')),
        R.INVALID_PAYLOAD,
    ),
    (
        "1e999",
        lambda r: (T, GOOD.replace(b'"level_cm":1.0', b'"level_cm":1e999')),
        R.INVALID_PAYLOAD,
    ),
    ("negative seq", lambda r: (T, body({"seq": -1})), R.INVALID_PAYLOAD),
    ("unknown field", lambda r: (T, body({"colour": "red"})), R.INVALID_PAYLOAD),
    ("100 KB string", lambda r: (T, body({"clock": "x" * 100_000})), R.INVALID_PAYLOAD),
    (
        "wildcard device",
        lambda r: (T, body(device=r.choice(["wl+0", "#", "wl/0"]))),
        R.INVALID_PAYLOAD,
    ),
    ("dollar boot", lambda r: (T, body(boot="$SYS")), R.INVALID_PAYLOAD),
    ("device mismatch", lambda r: (T, body(device="wl-001")), R.DEVICE_MISMATCH),
    (
        "unknown device",
        lambda r: ("vw/v1/testvil/wl-999/telemetry", body(device="wl-999")),
        R.UNKNOWN_DEVICE,
    ),
    ("unknown village", lambda r: ("vw/v1/nowhere/wl-000/telemetry", GOOD), R.UNKNOWN_DEVICE),
    (
        "dollar in topic",
        lambda r: (r.choice(["vw/v1/$sys/wl-000/telemetry", "vw/v1/testvil/$x/telemetry"]), GOOD),
        R.BAD_TOPIC,
    ),
    ("version 2", lambda r: (T, body(v=2)), R.UNSUPPORTED_VERSION),
    ("event from a gauge", lambda r: ("vw/v1/testvil/wl-000/event", GOOD), R.UNEXPECTED_CHANNEL),
]
MEGABYTE = 10  # 1 MB payloads: few of them, they are big


def hostile(rng: random.Random) -> list[tuple[Msg, RejectReason]]:
    out = [((T, body({"clock": "x" * 1_000_000})), R.TOO_LARGE) for _ in range(MEGABYTE)]
    while len(out) < N_HOSTILE:
        _, make, reason = rng.choice(HOSTILE)
        out.append((make(rng), reason))
    return out


def test_hostile_payloads_are_dead_lettered_by_reason_and_valid_ones_all_stored(
    tmp_path: Path, mosquitto: Mosquitto, shared_influxd: Influxd, database: str
) -> None:
    rng = random.Random(20261121)
    bad = hostile(rng)
    valid: list[Msg] = [
        reading(f"wl-{i % DEVICES:03d}", i // DEVICES, level=float(i)) for i in range(N_VALID)
    ]
    # clocks that are wrong: 1970 after a power cut, and far in the future
    rescued = [
        reading("wl-000", 10_000 + i, ts=0 if i % 2 else NOW_MS + 10 * 365 * 86_400_000)
        for i in range(50)
    ]
    repeats = rng.sample(valid, 100)  # a device resending what it already sent
    stream: list[Msg] = [m for m, _ in bad] + valid + rescued + repeats
    rng.shuffle(stream)
    expected = Counter(reason.value for _, reason in bad)

    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, devices=DEVICES,
        store={"kind": "influx", "url": shared_influxd.url, "database": database},
    )  # fmt: skip
    deployment = load_deployment(settings)
    store = InfluxStore(deployment.settings.store)  # type: ignore[arg-type]
    service = IngestService(deployment=deployment, store=store)
    m = service.metrics

    def rejected() -> Counter[str]:
        return Counter(
            {
                r.value: int(m.value("villagewatch_ingest_rejected_total", {"reason": r.value}))
                for r in R
            }
        )

    async def main() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await asyncio.wait_for(service.connected.wait(), 10)
        started = time.time()
        await asyncio.to_thread(publish_all, mosquitto.port, stream)
        await asyncio.to_thread(
            wait_until,
            lambda: m.value("villagewatch_ingest_readings_stored_total") >= N_VALID + len(rescued)
            and sum(rejected().values()) >= N_HOSTILE,
            timeout=60, what="everything processed",
        )  # fmt: skip
        stop.set()
        await task
        await store.close()
        return started

    started = asyncio.run(main())

    assert m.value("villagewatch_ingest_messages_received_total") == len(stream)
    assert m.value("villagewatch_ingest_readings_stored_total") == N_VALID + len(rescued)
    assert m.value("villagewatch_ingest_duplicates_total") == len(repeats)
    assert m.value("villagewatch_ingest_rescued_timestamps_total") == len(rescued)
    assert +rejected() == expected

    (count,) = shared_influxd.rows(
        "SELECT count(level_cm), sum(level_cm) FROM readings", db=database
    )
    assert (count["count"], count["sum"]) == (
        N_VALID + len(rescued),
        sum(range(N_VALID)) + 100.0 * len(rescued),
    )

    rows = shared_influxd.rows("SELECT * FROM readings WHERE rescued = true", db=database)
    assert sorted(r["seq"] for r in rows) == list(range(10_000, 10_050))
    for row in rows:
        assert started * 1e9 <= row["time"] <= time.time() * 1e9, "stamped with the receive time"
        assert row["device_ts"] in (0, NOW_MS + 10 * 365 * 86_400_000), (
            "the device's own time is kept"
        )
        assert row["boot"] == "b1"

    letters = shared_influxd.rows(
        "SELECT count(topic) FROM dead_letters GROUP BY reason", db=database
    )
    assert {r["reason"]: r["count"] for r in letters} == dict(expected)
    (big,) = shared_influxd.rows(
        "SELECT * FROM dead_letters WHERE reason = 'too_large' LIMIT 1", db=database
    )
    assert big["topic"] == T and "bytes, limit 262144" in big["detail"]
    assert base64.b64decode(big["payload_b64"]) == body({"clock": "x" * 1_000_000})[:512]
