"""SIGKILL of the ingester in the middle of a run: after a restart every message is stored exactly once."""

from __future__ import annotations

import random
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

N = 20_000
DEVICES = 20
KILLS = 3


def test_sigkill_mid_run_then_restart_stores_every_message_exactly_once(
    tmp_path: Path,
    mosquitto: Mosquitto,
    shared_influxd: Influxd,
    database: str,
    campaign: Campaign,
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "influx", "url": shared_influxd.url, "database": database},
        devices=DEVICES,
        ingest={"metrics_port": metrics_port, "batch_max_messages": 500, "receive_maximum": 2000},
    )
    messages = [reading(f"wl-{i % DEVICES:03d}", i // DEVICES, level=float(i)) for i in range(N)]
    ingester = IngesterProcess(settings, metrics_port).start()
    publishing = threading.Thread(
        target=publish_all, args=(mosquitto.port, messages), kwargs={"pace": 1500}
    )
    publishing.start()
    kills_at: list[int] = []
    with stall_watch(lambda: stored_readings(shared_influxd, database), every_s=0.2) as stalled:
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.5, 1.5))
                ingester.kill()
                kills_at.append(stored_readings(shared_influxd, database))
                ingester = IngesterProcess(settings, metrics_port).start()
            publishing.join(timeout=120)
            wait_until(
                lambda: stored_readings(shared_influxd, database) >= N,
                timeout=60,
                what=f"{N} readings",
            )
            assert ingester.terminate() == 0
        finally:
            ingester.kill()
            publishing.join(timeout=5)

    stored = stored_readings(shared_influxd, database)
    per_device = seqs_and_points_per_device(shared_influxd, database)
    distinct, points = distinct_and_points(shared_influxd, database)
    campaign.row(
        f"ingest SIGKILLed {KILLS} times while {N:,} readings arrive (InfluxDB)",
        offered=N, stored=stored, lost=N - distinct, duplicated=points - distinct,
        stalled_s=stalled[0],
    )  # fmt: skip
    assert all(0 < k < N for k in kills_at), (
        f"every kill must land mid-run: {kills_at} (seed {seed})"
    )
    assert stored == N, f"seed {seed}"
    assert per_device == {(N // DEVICES, N // DEVICES)}
    (total,) = shared_influxd.rows("SELECT sum(level_cm) FROM readings", db=database)
    assert total["sum"] == sum(range(N)), "every value is the one that was sent"
