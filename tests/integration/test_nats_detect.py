"""Detect and the alert engine on a NATS deployment: detect pulls its villages' messages from
JetStream (one durable consumer per village), signed in as the bus's user; devices publish
through NATS's MQTT listener."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import free_port

from .helpers import (
    AlertsProcess,
    DetectProcess,
    publish_through_outages,
    reading,
    wait_until,
    write_deployment,
)
from .test_detect_service import GAUGE_LEVELS


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three JetStream nodes with MQTT listeners, where every client signs in."""
    nodes = NatsCluster(tmp_path / "nats", users={"vw-detect-1": "detect-pw", "edge-1": "edge-pw"})
    try:
        yield nodes.start()
    finally:
        nodes.close()


def _alerts(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM alerts ORDER BY id")]


def test_a_flood_published_to_nats_raises_the_alert_through_detect_and_the_engine(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    """The settings name NATS as the bus (signing in as ``vw-detect-1``) and leave
    ``mqtt.protocol`` out: detect pulls from JetStream, so the flood raises its alert."""
    detect_port, alerts_port = free_port(), free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=cluster.nodes[1].mqtt_port, store={"kind": "sqlite", "path": "r.db"},
        devices=1, ingest={"bus": {"kind": "nats", "servers": cluster.urls,
                                   "username": "vw-detect-1",
                                   "password_file": "creds/vw-detect-1.password"}},
        detect={"client_id": "vw-detect-1", "metrics_port": detect_port, "state_path": "d.db",
                "tick_s": 0.5},
        village_detect={"devices": {"wl-000": {"level": GAUGE_LEVELS}}},
    )  # fmt: skip
    raw = orjson.loads(settings.read_bytes())
    del raw["mqtt"]["protocol"]  # chosen by the bus
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "vw-detect-1.password").write_text("detect-pw\n")
    raw["mqtt"]["credentials_dir"] = "creds"
    raw["alerts"] = {"state_path": "a.db", "metrics_port": alerts_port, "poll_s": 0.1}
    settings.write_bytes(orjson.dumps(raw))
    detect = DetectProcess(settings, detect_port)
    engine = AlertsProcess(settings, alerts_port)
    try:
        detect.start()
        engine.start()
        now = time.time_ns() // 1_000_000
        # the water above the guaranteed level for five minutes, a reading every 10 s
        flood = [reading("wl-000", i, level=300, ts=now - 300_000 + i * 10_000) for i in range(31)]
        publish_through_outages(
            cluster.nodes[0].mqtt_port,
            flood,
            pace=200,
            protocol=MQTTProtocolVersion.MQTTv311,
            login=("edge-1", "edge-pw"),
        )
        raised = wait_until(
            lambda: [a for a in _alerts(tmp_path / "a.db") if a["detector"] == "water_level"],
            timeout=30, what="the flood alert",
        )  # fmt: skip
    finally:
        engine.kill()
        detect.kill()
    assert [(a["kind"], a["state"]) for a in raised] == [("level", "firing")], raised
