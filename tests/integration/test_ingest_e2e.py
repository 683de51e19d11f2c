"""A reading sent with mosquitto_pub lands in InfluxDB and in SQLite with the right tags and fields."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import orjson

from villagewatch.store.influxpoints import READINGS
from villagewatch_dev.servers import Influxd, Mosquitto, free_port

from .helpers import IngesterProcess, wait_until, write_deployment

TS = int(time.time() * 1000) - 60_000


def mosquitto_pub(port: int, topic: str, body: dict[str, object]) -> None:
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "1",
         "-t", topic, "-m", orjson.dumps(body).decode()],
        check=True, timeout=10,
    )  # fmt: skip


READING = {
    "v": 1, "device": "wl-003", "boot": "b7", "reading": {"seq": 42, "ts": TS, "clock": "synced", "level_cm": 123.4, "battery": 87},
}  # fmt: skip
EVENT = {
    "v": 1, "device": "lock-1", "boot": "b7",
    "event": {"seq": 43, "ts": TS, "clock": "unsynced", "type": "unlock", "credential": "card-0031", "method": "card"},
}  # fmt: skip


def test_mosquitto_pub_reading_is_queryable_in_influxdb(
    tmp_path: Path, mosquitto: Mosquitto, shared_influxd: Influxd, database: str
) -> None:
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "influx", "url": shared_influxd.url, "database": database},
        ingest={"metrics_port": metrics_port},
    )
    ingester = IngesterProcess(settings, metrics_port).start()
    try:
        mosquitto_pub(mosquitto.port, "vw/v1/testvil/wl-003/telemetry", READING)
        mosquitto_pub(mosquitto.port, "vw/v1/testvil/lock-1/event", EVENT)
        q = f"SELECT * FROM {READINGS}"
        (row,) = wait_until(
            lambda: shared_influxd.rows(q, db=database), timeout=2, what="the reading in InfluxDB"
        )
        assert {k: row[k] for k in ("village", "grid", "device", "kind")} == {
            "village": "testvil", "grid": "g1", "device": "wl-003", "kind": "water_level",
        }  # fmt: skip
        assert (row["level_cm"], row["battery"], row["seq"]) == (123.4, 87, 42)
        assert row["time"] // 1_000_000 == TS
        assert not {"historical", "clock", "rescued", "boot"} & row.keys(), (
            "flags are written only when set"
        )
        tags = shared_influxd.rows(f"SHOW TAG KEYS FROM {READINGS}", db=database)
        assert {t["tagKey"] for t in tags} == {"village", "grid", "device", "kind"}
        (event,) = wait_until(
            lambda: shared_influxd.rows("SELECT * FROM events", db=database),
            timeout=2,
            what="the event",
        )
        assert (event["type"], event["credential"], event["method"], event["clock"]) == (
            "unlock",
            "card-0031",
            "card",
            "unsynced",
        )
        assert event["device"] == "lock-1" and event["grid"] == "g2"
    finally:
        ingester.kill()


def test_mosquitto_pub_reading_is_queryable_in_sqlite(tmp_path: Path, mosquitto: Mosquitto) -> None:
    metrics_port = free_port()
    db = tmp_path / "store.db"
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": str(db)},
        ingest={"metrics_port": metrics_port},
    )  # fmt: skip
    ingester = IngesterProcess(settings, metrics_port).start()

    def rows() -> list[tuple[object, ...]]:
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT village, grid, device, kind, metric, value, seq, boot, clock, historical, device_ts_ms"
                " FROM readings ORDER BY metric"
            ).fetchall()

    try:
        mosquitto_pub(mosquitto.port, "vw/v1/testvil/wl-003/telemetry", READING)
        found = wait_until(rows, timeout=2, what="the reading in SQLite")
        assert found == [
            ("testvil", "g1", "wl-003", "water_level", "battery", 87.0, 42, "b7", "synced", 0, TS),
            (
                "testvil",
                "g1",
                "wl-003",
                "water_level",
                "level_cm",
                123.4,
                42,
                "b7",
                "synced",
                0,
                TS,
            ),
        ]
    finally:
        ingester.kill()
