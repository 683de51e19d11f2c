"""InfluxDB down for 30 s in the middle of a run: the ingester stays up, holds its acks, loses and duplicates nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.faults import Campaign, stall_watch
from villagewatch_dev.servers import Influxd, Mosquitto, free_port

from .helpers import (
    IngesterProcess,
    distinct_and_points,
    publish_all,
    reading,
    seqs_and_points_per_device,
    stored_readings,
    wait_until,
    write_deployment,
)

pytestmark = pytest.mark.campaign

RATE = 200  # messages per second
SECONDS = 45
N = RATE * SECONDS
DEVICES = 10


def test_influxdb_outage_of_30s_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, campaign: Campaign
) -> None:
    influxd.query('CREATE DATABASE "outage"')
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "influx", "url": influxd.url, "database": "outage", "timeout_s": 2},
        devices=DEVICES,
        ingest={
            "metrics_port": metrics_port, "batch_max_messages": 200, "receive_maximum": 1000,
            "retry_initial_s": 0.2, "retry_max_s": 2,
        },
    )  # fmt: skip
    messages = [reading(f"wl-{i % DEVICES:03d}", i // DEVICES, level=float(i)) for i in range(N)]
    ingester = IngesterProcess(settings, metrics_port).start()
    publishing = threading.Thread(
        target=publish_all, args=(mosquitto.port, messages), kwargs={"pace": RATE}
    )
    publishing.start()
    with stall_watch(lambda: stored_readings(influxd, "outage"), every_s=0.5) as stalled:
        try:
            time.sleep(5)
            influxd.stop()
            down_since = time.monotonic()
            while time.monotonic() - down_since < 30:
                assert ingester.alive(), "the ingester must not exit while the database is down"
                time.sleep(1)
            held = ingester.metric("villagewatch_ingest_acks_pending")
            retries = ingester.metric("villagewatch_ingest_store_retries_total")
            influxd.start()
            publishing.join(timeout=60)

            wait_until(
                lambda: stored_readings(influxd, "outage") >= N,
                timeout=60,
                what=f"{N} readings after the outage",
            )
            assert ingester.alive()
        finally:
            ingester.kill()
            publishing.join(timeout=5)

    per_device = seqs_and_points_per_device(influxd, "outage")
    distinct, points = distinct_and_points(influxd, "outage")
    campaign.row(
        f"InfluxDB down 30 s while {N:,} readings arrive (the stall is the outage)",
        offered=N, stored=stored_readings(influxd, "outage"),
        lost=N - distinct, duplicated=points - distinct, stalled_s=stalled[0],
    )  # fmt: skip
    assert retries is not None and retries > 0, "writes failed and were retried during the outage"
    assert held is not None and held > 0, "messages were held unacknowledged during the outage"
    assert "Store unavailable" in ingester.log_text() and "Store is back" in ingester.log_text()
    assert per_device == {(N // DEVICES, N // DEVICES)}
    (total,) = influxd.rows("SELECT sum(level_cm) FROM readings", db="outage")
    assert total["sum"] == sum(range(N))
