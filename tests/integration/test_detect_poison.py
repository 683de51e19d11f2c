"""``villagewatch detect`` against hostile but valid messages: nothing mutes a device, nothing
stalls the stream (a real Mosquitto, a real detect process)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.faults import Campaign, stall_watch
from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import NOW_MS, DetectProcess, publish_all, wait_until, write_deployment
from .test_detect_service import lock_event, transitions

pytestmark = pytest.mark.campaign

HOUSES = [
    {
        "id": "h1",
        "lock": "lock-1",
        "tenants": [{"id": "t1", "name": "T", "credentials": [{"id": "card-1"}]}],
    }
]


def sos(seq: int, ts: int) -> tuple[str, bytes]:
    body = {
        "v": 1, "device": "sos-1", "boot": "b1",
        "event": {"seq": seq, "ts": ts, "clock": "synced", "type": "sos"},
    }  # fmt: skip
    return "vw/v1/testvil/sos-1/event", orjson.dumps(body)


def with_houses(village: dict[str, Any]) -> None:
    village["houses"] = HOUSES


def test_lock_events_at_the_largest_timestamp_do_not_stall_detect(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    """More poison than detect's receive window, then an SOS: the SOS is recorded."""
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": "r.db"},
        detect={"metrics_port": metrics_port, "receive_maximum": 5, "state_path": "d.db"},
        edit_village=with_houses,
    )  # fmt: skip
    db = tmp_path / "d.db"
    detect = DetectProcess(settings, metrics_port).start()
    try:
        poison = [
            lock_event(i, "unlock", 2**53, credential="card-9") for i in range(1, 21)
        ]  # ts = 2**53: the contract's largest timestamp
        with stall_watch(lambda: detect.metric("villagewatch_detect_messages_total") or 0) as s:
            publish_all(mosquitto.port, [*poison, sos(1, NOW_MS)])
            wait_until(
                lambda: transitions(db, "sos", "sos-1"), timeout=30, what="the SOS after the poison"
            )
        assert detect.alive()
        processed = int(detect.metric("villagewatch_detect_messages_total") or 0)
    finally:
        detect.terminate()
    raised = len(transitions(db, "sos", "sos-1"))
    campaign.row(
        "20 lock events at the largest timestamp (more than detect's window), then an SOS",
        offered=len(poison) + 1, stored=processed, alerts_expected=1, alerts_raised=raised,
        lost=len(poison) + 1 - processed, duplicated=max(0, raised - 1), stalled_s=s[0],
    )  # fmt: skip
    assert raised == 1
    with sqlite3.connect(db) as conn:
        failed = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    assert failed == 0, "the largest timestamp is valid input, not a failure"


def test_a_reading_a_device_retained_is_not_replayed_at_every_subscribe(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A retained reading would come to detect again at each reconnect (and be counted a
    duplicate at best); statuses stay retained on purpose."""
    import subprocess

    metrics_port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": "r.db"},
        detect={"metrics_port": metrics_port, "state_path": "d.db"},
    )  # fmt: skip
    topic, payload = sos(1, NOW_MS)
    subprocess.run(
        ["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-r", "-t", topic, "-m",
         payload.decode()],
        check=True, timeout=10,
    )  # fmt: skip
    detect = DetectProcess(settings, metrics_port).start()
    try:
        publish_all(mosquitto.port, [sos(2, NOW_MS + 700_000)])  # after the subscribe
        wait_until(
            lambda: detect.metric("villagewatch_detect_messages_total") or 0, timeout=20,
            what="the live SOS",
        )  # fmt: skip
        assert detect.metric("villagewatch_detect_messages_total") == 1
    finally:
        detect.terminate()
