"""Broker restarts: with plain subscriptions the ingester's persistent session survives and every
reading is stored exactly once; Mosquitto 2.0 does not restore *shared* subscriptions, which the
last test pins down (the reason docs/broker.md and config/production use plain ones)."""

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
    publish_through_outages,
    reading,
    seqs_and_points_per_device,
    stored_readings,
    wait_until,
    write_deployment,
)

RATE = 500
N = 5000
DEVICES = 10


@pytest.mark.campaign
def test_broker_restart_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path,
    mosquitto: Mosquitto,
    shared_influxd: Influxd,
    database: str,
    campaign: Campaign,
) -> None:
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "influx", "url": shared_influxd.url, "database": database},
        devices=DEVICES,
        ingest={
            "metrics_port": metrics_port, "batch_max_messages": 200, "receive_maximum": 1000,
            "share_group": None,
        },
    )  # fmt: skip
    messages = [reading(f"wl-{i % DEVICES:03d}", i // DEVICES, level=float(i)) for i in range(N)]
    ingester = IngesterProcess(settings, metrics_port).start()
    publishing = threading.Thread(
        target=publish_through_outages, args=(mosquitto.port, messages), kwargs={"pace": RATE}
    )
    publishing.start()
    watch = stall_watch(lambda: stored_readings(shared_influxd, database), every_s=0.2)
    with watch as stalled:
        run_through_a_restart(mosquitto, ingester, publishing, shared_influxd, database)
    log = ingester.log_text()
    assert "Cannot reach the MQTT broker" in log
    assert "(session resumed)" in log, "the broker kept the ingester's session across its restart"
    per_device = seqs_and_points_per_device(shared_influxd, database)
    distinct, points = distinct_and_points(shared_influxd, database)
    campaign.row(
        f"Mosquitto restarted while {N:,} readings arrive",
        offered=N, stored=stored_readings(shared_influxd, database), lost=N - distinct,
        duplicated=points - distinct, stalled_s=stalled[0],
    )  # fmt: skip
    assert per_device == {(N // DEVICES, N // DEVICES)}


def run_through_a_restart(
    mosquitto: Mosquitto,
    ingester: IngesterProcess,
    publishing: threading.Thread,
    influx: Influxd,
    database: str,
) -> None:
    try:
        time.sleep(3)
        mosquitto.stop()  # SIGTERM: Mosquitto saves its sessions and queues
        wait_until(
            lambda: ingester.metric("villagewatch_ingest_broker_connected") == 0,
            timeout=10,
            what="disconnect noticed",
        )
        time.sleep(2)
        assert ingester.alive()
        mosquitto.start()
        wait_until(
            lambda: ingester.metric("villagewatch_ingest_broker_connected") == 1,
            timeout=30,
            what="reconnect",
        )
        publishing.join(timeout=120)

        wait_until(lambda: stored_readings(influx, database) >= N, timeout=60, what=f"{N} readings")
        assert ingester.terminate() == 0
    finally:
        ingester.kill()
        publishing.join(timeout=5)


@pytest.mark.parametrize(
    ("share_group", "kept"),
    [
        pytest.param(None, "all", id="plain-subscription-survives"),
        pytest.param("ingest", "only-queued", id="shared-subscription-forgotten-by-mosquitto-2.0"),
    ],
)
def test_messages_sent_while_the_ingester_is_away_over_a_broker_restart(
    tmp_path: Path,
    mosquitto: Mosquitto,
    shared_influxd: Influxd,
    database: str,
    share_group: str | None,
    kept: str,
) -> None:
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "influx", "url": shared_influxd.url, "database": database},
        ingest={"metrics_port": metrics_port, "share_group": share_group},
    )
    IngesterProcess(settings, metrics_port).start().terminate()  # the session now exists
    publish_all(mosquitto.port, [reading("wl-001", seq) for seq in range(100)])  # queued for it
    mosquitto.stop()
    mosquitto.start()
    publish_all(
        mosquitto.port, [reading("wl-001", seq) for seq in range(100, 200)]
    )  # after the restart
    ingester = IngesterProcess(settings, metrics_port).start()
    try:
        expected = 200 if kept == "all" else 100

        wait_until(
            lambda: stored_readings(shared_influxd, database) >= expected,
            timeout=30,
            what=f"{expected} readings",
        )
        time.sleep(1)  # anything more would come now
        assert stored_readings(shared_influxd, database) == expected
    finally:
        ingester.kill()
