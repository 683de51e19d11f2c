"""``villagewatch detect`` through a real Mosquitto: the simulator's flood, a lock under attack."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from villagewatch.alerts import AlertDatabase, AlertState
from villagewatch.alerts.engine import AlertEngine
from villagewatch.config import load_deployment
from villagewatch.registry import RegistryStore
from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import NOW_MS, DetectProcess, publish_all, wait_until, write_deployment

GAUGE_LEVELS = {
    "warning_cm": 200,
    "guaranteed_cm": 260,
    "historical_max_cm": 400,
    "blue_margin_cm": 20,
    "hold_s": 120,
    "deadband_cm": 5,
}


def transitions(db: Path, detector: str, subject: str) -> list[dict[str, Any]]:
    """Recorded transitions of one detector and subject, in the order they were recorded."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM transitions WHERE detector = ? AND subject = ? ORDER BY rowid",
            (detector, subject),
        ).fetchall()
    return [dict(r) for r in rows]


def firing(db: Path) -> list[dict[str, Any]]:
    """The alerts table."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM alerts ORDER BY key")]


def committed_high(db: Path, device: str) -> int:
    """The highest sequence number of ``device`` whose processing is committed (-1: none)."""
    if not db.exists():
        return -1
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT state FROM state WHERE owner = ?", (f"testvil/{device}",)
        ).fetchone()
    if row is None:
        return -1
    seen = json.loads(row[0])["seen"]
    remembered = [*seen["readings"].values(), *seen["events"].values()]
    return max((seq for seqs in remembered for seq in seqs), default=-1)


def lock_event(seq: int, type_: str, ts: int, **attrs: str) -> tuple[str, bytes]:
    body = {
        "v": 1,
        "device": "lock-1",
        "boot": "b1",
        "event": {"seq": seq, "ts": ts, "clock": "synced", "type": type_, **attrs},
    }
    return "vw/v1/testvil/lock-1/event", orjson.dumps(body)


def test_the_simulated_flood_raises_blue_yellow_orange_and_clears_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    metrics_port = free_port()
    flood = {
        "device": "wl-000",
        "start_s": 600,
        "rise_cm": 180,
        "rise_s": 1800,
        "hold_s": 600,
        "fall_s": 1800,
    }
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "sqlite", "path": str(tmp_path / "readings.db")},
        devices=4,
        detect={"metrics_port": metrics_port},
        village_detect={"devices": {"wl-000": {"level": GAUGE_LEVELS}}},
        simulate={"base_level_cm": 100, "flood": flood},
    )
    db = tmp_path / "var" / "detect.db"
    detect = DetectProcess(settings, metrics_port).start()
    try:
        # 6 devices at 120 messages/s, 200x faster: a reading every 10 simulated s per device,
        # the 4800 s of the flood plus 10 quiet minutes in 27 s
        sim = subprocess.run(
            [
                *(sys.executable, "-m", "villagewatch", "simulate", "--config", str(settings)),
                *("--rate", "120", "--speed", "200", "--duration", "27"),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert sim.returncode == 0, sim.stderr
        level = wait_until(
            lambda: (
                [t for t in transitions(db, "water_level", "wl-000") if t["action"] == "clear"]
                and transitions(db, "water_level", "wl-000")
            ),
            timeout=30,
            what="the flood alert to clear",
        )
    finally:
        detect.terminate()
    steps = [(t["action"], t["severity"]) for t in level]
    crest = steps.index(("update", "orange"))
    assert steps[: crest + 1] == [("fire", "blue"), ("update", "yellow"), ("update", "orange")], (
        steps
    )
    assert [a for a, _ in steps].count("clear") == 1 and steps[-1][0] == "clear", steps
    assert all(a == "update" for a, _ in steps[crest + 1 : -1]), steps
    assert not [a for a in firing(db) if a["detector"] == "water_level"]
    assert all(not t["historical"] for t in level)

    # the alert engine makes the whole flood one alert whose severity changed in place
    alerts = load_deployment(settings).settings.alerts
    store = AlertDatabase(alerts.state_path)
    try:
        AlertEngine(settings=alerts, store=store, sources=alerts.detect_state_paths).pump(NOW_MS)
        (flood_alert,) = [a for a in store.recent(50) if a.detector == "water_level"]
        assert flood_alert.state is AlertState.RESOLVED
        actions = [e.action for e in store.audit(flood_alert.id)]
        assert actions == ["fired"] + ["severity_changed"] * (len(steps) - 2) + ["resolved"]
    finally:
        store.close()


def test_five_wrong_codes_in_a_minute_raise_one_alert(mosquitto: Mosquitto, tmp_path: Path) -> None:
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "sqlite", "path": str(tmp_path / "readings.db")},
        devices=1,
        detect={"metrics_port": metrics_port},
    )
    db = tmp_path / "var" / "detect.db"
    detect = DetectProcess(settings, metrics_port).start()
    try:
        start = NOW_MS - 120_000
        publish_all(
            mosquitto.port, [lock_event(i, "wrong_code", start + i * 10_000) for i in range(4)]
        )
        wait_until(lambda: committed_high(db, "lock-1") == 3, timeout=15, what="four wrong codes")
        assert transitions(db, "lock", "lock-1") == [], "four are not five"
        # the fifth within the minute, then two more: still one alert
        publish_all(
            mosquitto.port, [lock_event(i, "wrong_code", start + i * 10_000) for i in range(4, 7)]
        )
        wait_until(lambda: committed_high(db, "lock-1") == 6, timeout=15, what="seven wrong codes")
    finally:
        detect.terminate()
    lock = transitions(db, "lock", "lock-1")
    assert [(t["kind"], t["action"]) for t in lock] == [("wrong_codes", "fire")]
    assert lock[0]["at_ms"] == start + 40_000, "fires at the fifth code, in device time"
    assert [a["kind"] for a in firing(db)] == ["wrong_codes"]


def test_the_lock_detector_follows_the_registry_operators_keep(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A card registered in the console opens quietly; once ended (no restart), it alerts."""
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, devices=1,
        store={"kind": "sqlite", "path": str(tmp_path / "readings.db")},
        detect={"metrics_port": metrics_port}, registry={"poll_s": 0.2},
    )  # fmt: skip
    registry = RegistryStore(tmp_path / "var" / "registry.db")
    registry.add_house("testvil", "h1", "house one", "lock-1", NOW_MS)
    registry.add_tenant("testvil", "h1", "t1", name="x", phone="", verified=True, now_ms=NOW_MS)
    registry.add_credential(
        "testvil", "h1", "t1", "card-1", valid_from_ms=None, valid_to_ms=None, now_ms=NOW_MS
    )
    db = tmp_path / "var" / "detect.db"
    detect = DetectProcess(settings, metrics_port).start()
    try:
        publish_all(mosquitto.port, [lock_event(0, "unlock", NOW_MS, credential="card-1")])
        wait_until(lambda: committed_high(db, "lock-1") == 0, timeout=15, what="the first unlock")
        assert transitions(db, "lock", "lock-1") == [], "a registered card"
        registry.end_credential("testvil", "h1", "card-1", NOW_MS + 1000)
        generation = registry.generation()
        wait_until(
            lambda: f"Rental registry generation {generation} in use" in detect.log_text(),
            timeout=15, what="detect picking up the registry change",
        )  # fmt: skip
        publish_all(mosquitto.port, [lock_event(1, "unlock", NOW_MS + 2000, credential="card-1")])
        wait_until(lambda: committed_high(db, "lock-1") == 1, timeout=15, what="the second unlock")
    finally:
        detect.terminate()
        registry.close()
    lock = transitions(db, "lock", "lock-1")
    assert [(t["kind"], t["action"]) for t in lock] == [("unregistered_credential", "fire")]
    assert "x" not in json.loads(lock[0]["details"]).values(), "no tenant's name in the alert"
