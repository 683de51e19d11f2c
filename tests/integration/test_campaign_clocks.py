"""Campaign: one hostile but valid reading, then a flood — through a real ingester (InfluxDB)
and a real detect process. Every reading is stored once, and the flood raises its alert."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from tests.faults import Campaign, stall_watch
from villagewatch_dev.servers import Influxd, Mosquitto, free_port

from .helpers import (
    DetectProcess,
    IngesterProcess,
    distinct_and_points,
    publish_all,
    reading,
    stored_readings,
    wait_until,
    write_deployment,
)

pytestmark = pytest.mark.campaign

LEVELS = {"warning_cm": 250, "hold_s": 0, "blue_margin_cm": 0}


def level_fires(db: Path, device: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM transitions WHERE subject = ? AND kind = 'level'"
                " AND action = 'fire'",
                (device,),
            ).fetchone()[0]
        )


def at_least(influx: Influxd, database: str, want: int) -> bool:
    return stored_readings(influx, database) >= want


def flood(device: str, first_seq: int, start_ms: int) -> list[tuple[str, bytes]]:
    """Twenty quiet readings at 120 cm, then 2 cm more each to 300 cm: one a second."""
    levels = [120.0 + (i % 3) * 0.3 for i in range(20)] + [120.0 + 2 * i for i in range(1, 91)]
    return [
        reading(device, first_seq + i, level=lv, ts=start_ms + i * 1000)
        for i, lv in enumerate(levels)
    ]


SCENARIOS: dict[str, Callable[[int], tuple[str, bytes]]] = {
    "one reading stamped 1 h ahead, then a flood": lambda now: reading(
        "wl-000", 0, level=120.0, ts=now + 3_600_000
    ),
    "one reading with sequence number 2**63-1, then a flood": lambda now: reading(
        "wl-001", 2**63 - 1, level=120.0, ts=now
    ),
    "one reading at the largest timestamp (2**53), then a flood": lambda now: reading(
        "wl-002", 0, level=120.0, ts=2**53
    ),
}


def test_one_hostile_reading_mutes_no_gauge(
    tmp_path: Path,
    mosquitto: Mosquitto,
    shared_influxd: Influxd,
    database: str,
    campaign: Campaign,
) -> None:
    ingest_port, detect_port = free_port(), free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, devices=3,
        store={"kind": "influx", "url": shared_influxd.url, "database": database},
        ingest={"metrics_port": ingest_port},
        detect={"metrics_port": detect_port, "state_path": "d.db"},
        village_detect={"kinds": {"water_level": {"level": LEVELS}}},
    )  # fmt: skip
    db = tmp_path / "d.db"
    ingester = IngesterProcess(settings, ingest_port).start()
    detect = DetectProcess(settings, detect_port).start()
    try:
        for n, (scenario, hostile) in enumerate(SCENARIOS.items()):
            device = f"wl-{n:03d}"
            now = time.time_ns() // 1_000_000
            messages = [hostile(now), *flood(device, 1, now + 1000)]
            before = stored_readings(shared_influxd, database)
            with stall_watch(lambda: stored_readings(shared_influxd, database)) as stalled:
                publish_all(mosquitto.port, messages)
                want = before + len(messages)
                wait_until(
                    partial(at_least, shared_influxd, database, want), timeout=60,
                    what="every reading stored",
                )  # fmt: skip
                wait_until(partial(level_fires, db, device), timeout=30, what="the flood")
            stored = stored_readings(shared_influxd, database) - before
            distinct, points = distinct_and_points(shared_influxd, database)
            duplicated = points - distinct
            row = campaign.row(
                scenario, offered=len(messages), stored=stored, alerts_expected=1,
                alerts_raised=level_fires(db, device), lost=len(messages) - stored,
                duplicated=duplicated, stalled_s=stalled[0],
            )  # fmt: skip
            assert (row.lost, row.duplicated, row.alerts_raised) == (0, 0, 1)
    finally:
        detect.terminate()
        ingester.terminate()
