"""The server's clock is stepped +6 h and back under a running detect and alert engine: nobody
is taken for silent, a gauge that dies afterwards is still found, and no alert escalates
early (real processes on a clock stepped by libfaketime; their monotonic clock is the real
one)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.faults import Campaign
from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import (
    FAKETIME_LIB,
    AlertsProcess,
    DetectProcess,
    SteppedClock,
    publish_all,
    wait_until,
    write_deployment,
)

pytestmark = [
    pytest.mark.campaign,
    pytest.mark.skipif(not FAKETIME_LIB.exists(), reason="libfaketime not installed"),
]

GAUGES = 4


def offline_transitions(db: Path) -> list[tuple[str, str, str]]:
    """(subject, kind, action) of every offline transition recorded."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT subject, kind, action FROM transitions WHERE detector = 'offline' ORDER BY rowid"
        ).fetchall()


def gauge_reading(device: str, seq: int) -> tuple[str, bytes]:
    item = {"seq": seq, "ts": time.time_ns() // 1_000_000, "clock": "synced", "level_cm": 100.0}
    body = {"v": 1, "device": device, "boot": "b1", "reading": item}
    return f"vw/v1/testvil/{device}/telemetry", orjson.dumps(body)


def fast_gauges(village: dict[str, Any]) -> None:
    """Gauges that report every second, found offline after 3 s without grouping delay."""
    for device in village["devices"]:
        if device["id"].startswith("wl-"):
            device["interval_s"] = 1
    village["detect"] = {"kinds": {"water_level": {"offline": {"factor": 3, "group_s": 0}}}}


def test_a_stepped_clock_neither_silences_everyone_nor_hides_a_gauge_that_died(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, devices=GAUGES,
        store={"kind": "sqlite", "path": "r.db"},
        detect={"metrics_port": metrics_port, "tick_s": 0.5, "state_path": "d.db"},
        edit_village=fast_gauges,
    )  # fmt: skip
    db = tmp_path / "d.db"
    clock = SteppedClock(tmp_path)
    detect = DetectProcess(settings, metrics_port, env=clock.env).start()
    alive = {f"wl-{i:03d}" for i in range(GAUGES)}
    stop = threading.Event()
    sent = [0]

    def gauges() -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            sent[0] += publish_all(mosquitto.port, [gauge_reading(d, seq) for d in sorted(alive)])
            time.sleep(0.5)

    publisher = threading.Thread(target=gauges, daemon=True)
    publisher.start()
    try:
        time.sleep(3)
        clock.step("+6h")
        time.sleep(3)  # six ticks with every device apparently silent for 6 h
        clock.step("+0")
        time.sleep(2)
        alive.discard("wl-003")  # it dies after the clock came back
        found = wait_until(
            lambda: ("wl-003", "device_offline", "fire") in offline_transitions(db),
            timeout=30,
            what="wl-003 found offline",
        )
        assert found
    finally:
        stop.set()
        publisher.join()
        processed = int(detect.metric("villagewatch_detect_messages_total") or 0)
        detect.terminate()
    fired = [t for t in offline_transitions(db) if t[2] == "fire"]
    spurious = [t for t in offline_transitions(db) if t[0] != "wl-003"]
    campaign.row(
        "detect's system clock stepped +6 h and back; a gauge dies afterwards",
        offered=sent[0], stored=processed, alerts_expected=1, alerts_raised=len(fired),
        lost=sent[0] - processed, duplicated=len(spurious),
    )  # fmt: skip
    assert spurious == [], "nobody else was silent"
    assert (detect.metric("villagewatch_detect_clock_skew_seconds") or 0) == 0, "back to normal"


def with_teams(village: dict[str, Any]) -> None:
    team = {"members": [{"id": "lead", "name": "Lead", "role": "leader"}], "channels": ["hook"]}
    village["team"] = village["grids"][0]["team"] = team


def test_a_clock_step_does_not_escalate_every_open_alert(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    """An SOS firing, escalation after 15 min; the clock jumps 6 h: it must not escalate."""
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": "r.db"},
        detect={"metrics_port": free_port(), "state_path": "d.db"}, edit_village=with_teams,
    )  # fmt: skip
    raw = orjson.loads(settings.read_bytes())
    raw["alerts"] = {
        "state_path": "a.db", "metrics_port": metrics_port, "escalate_after_s": 900,
        "poll_s": 0.2, "channels": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/"}},
    }  # fmt: skip
    settings.write_bytes(orjson.dumps(raw))
    detect = DetectProcess(settings, raw["detect"]["metrics_port"]).start()
    clock = SteppedClock(tmp_path)
    alerts = AlertsProcess(settings, metrics_port, env=clock.env).start()
    adb = tmp_path / "a.db"
    try:
        sos = {"seq": 1, "ts": time.time_ns() // 1_000_000, "clock": "synced", "type": "sos"}
        publish_all(
            mosquitto.port,
            [("vw/v1/testvil/sos-1/event",
              orjson.dumps({"v": 1, "device": "sos-1", "boot": "b1", "event": sos}))],
        )  # fmt: skip

        def fired() -> bool:
            if not adb.exists():
                return False
            with sqlite3.connect(adb) as conn:
                return bool(conn.execute("SELECT count(*) FROM alerts").fetchone()[0])

        wait_until(fired, timeout=30, what="the SOS alert")
        clock.step("+6h")
        time.sleep(3)  # fifteen polls of the engine on the stepped clock
        clock.step("+0")
        time.sleep(1)
    finally:
        alerts.terminate()
        detect.terminate()
    with sqlite3.connect(adb) as conn:
        levels = conn.execute("SELECT escalation_level FROM alerts").fetchall()
        escalated = conn.execute(
            "SELECT count(*) FROM alert_audit WHERE action = 'escalated'"
        ).fetchone()[0]
    campaign.row(
        "the alert engine's system clock stepped +6 h and back with an SOS firing",
        offered=1, stored=len(levels), alerts_expected=1, alerts_raised=len(levels),
        lost=1 - len(levels), duplicated=escalated,
    )  # fmt: skip
    assert levels == [(0,)] and escalated == 0
