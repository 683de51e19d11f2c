"""The alert engine and the ingester follow a changed config while they run (no restart):
a grid's team gets a new channel, an alert kind a pending time, a village a new gauge."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import (
    NOW_MS,
    AlertsProcess,
    DetectProcess,
    IngesterProcess,
    edit_json,
    publish_all,
    reading,
    wait_until,
    write_deployment,
)
from .webhook import Recorder, recording_server

LEVELS = {"warning_cm": 300, "hold_s": 0, "blue_margin_cm": 0, "deadband_cm": 5}


def alert_rows(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM alerts ORDER BY id")]


def told(recorder: Recorder, path: str) -> list[str]:
    """The alert texts each message to ``/path`` carried."""
    with recorder.lock:
        return [a["text"] for r in recorder.received if r.path == path for a in r.body["alerts"]]


def test_the_alert_engine_follows_teams_channels_and_kinds_without_a_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with recording_server(Recorder()) as hook:
        detect_port, alerts_port = free_port(), free_port()

        def grid_team(village: dict[str, Any]) -> None:
            village["grids"][0]["team"] = {"channels": ["grid"]}

        settings = write_deployment(
            tmp_path, mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": "r.db"},
            detect={"metrics_port": detect_port, "state_path": "d.db"},
            village_detect={"kinds": {"water_level": {"level": LEVELS}}},
            edit_village=grid_team,
        )  # fmt: skip
        url = f"http://127.0.0.1:{hook.port}"

        def alerting(raw: dict[str, Any]) -> None:
            raw["alerts"] = {
                "state_path": "a.db", "metrics_port": alerts_port, "poll_s": 0.1,
                "group_wait_s": 0,
                "channels": {"grid": {"kind": "webhook", "url": f"{url}/grid"},
                             "duty": {"kind": "webhook", "url": f"{url}/duty"}},
            }  # fmt: skip

        edit_json(settings, alerting)
        village = settings.parent / "village.yaml"
        adb = tmp_path / "a.db"
        detect = DetectProcess(settings, detect_port).start()
        engine = AlertsProcess(settings, alerts_port).start()
        try:
            at = NOW_MS - 60_000
            # wl-001 and wl-003 … sit in grid g1, whose team is told through `grid`
            publish_all(mosquitto.port, [reading("wl-001", 0, level=350, ts=at)])
            wait_until(lambda: told(hook, "/grid"), timeout=15, what="the grid told")
            # 1. the grid's team is now reached through `duty`: the next alert goes there
            edit_json(village, lambda v: v["grids"][0].update(team={"channels": ["duty"]}))
            applied = time.monotonic()
            wait_until(
                lambda: engine.metric("villagewatch_alerts_config_applied_total") == 1,
                timeout=5, what="the engine following the village file",
            )  # fmt: skip
            assert time.monotonic() - applied < 5
            publish_all(mosquitto.port, [reading("wl-003", 0, level=350, ts=at)])
            wait_until(lambda: told(hook, "/duty"), timeout=15, what="the duty channel told")
            assert all("wl-003" not in t for t in told(hook, "/grid")), told(hook, "/grid")
            # 2. a broken settings file is refused: the engine keeps what it runs
            edit_json(settings, lambda raw: raw["alerts"].update(group_wait_s="soon"))
            wait_until(
                lambda: engine.metric("villagewatch_alerts_config_refused_total") == 1,
                timeout=5, what="the refusal",
            )  # fmt: skip
            assert "refused" in engine.log_text() and "group_wait_s" in engine.log_text()
            publish_all(mosquitto.port, [reading("wl-005", 0, level=350, ts=at)])
            wait_until(
                lambda: any("wl-005" in t for t in told(hook, "/duty")), timeout=15,
                what="the alert after the refusal, told as before",
            )  # fmt: skip

            # 3. water-level alerts now wait an hour before anyone is told
            def pending(raw: dict[str, Any]) -> None:
                raw["alerts"].update(group_wait_s=0, kinds={"level": {"pending_s": 3600}})

            edit_json(settings, pending)
            wait_until(
                lambda: engine.metric("villagewatch_alerts_config_applied_total") == 2,
                timeout=5, what="the engine following the settings file",
            )  # fmt: skip
            publish_all(mosquitto.port, [reading("wl-007", 0, level=350, ts=at)])
            wait_until(
                lambda: any(a["subject"] == "wl-007" for a in alert_rows(adb)), timeout=15,
                what="the wl-007 alert",
            )  # fmt: skip
            time.sleep(1.5)  # several engine passes: it would have been told by now
            states = {a["subject"]: a["state"] for a in alert_rows(adb)}
            assert states["wl-007"] == "pending", states
            assert all("wl-007" not in t for t in told(hook, "/duty") + told(hook, "/grid"))
            assert engine.alive() and detect.alive()
        finally:
            engine.terminate()
            detect.terminate()


def test_the_ingester_takes_a_gauge_added_to_the_village_file_without_a_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, devices=2,
        store={"kind": "sqlite", "path": str(tmp_path / "r.db")}, ingest={"metrics_port": port},
    )  # fmt: skip
    ingester = IngesterProcess(settings, port).start()
    try:
        publish_all(mosquitto.port, [reading("wl-new", 0)])
        wait_until(
            lambda: ingester.metric("villagewatch_ingest_rejected_total", 'reason="unknown_device"')
            == 1, timeout=15, what="the unknown gauge dead-lettered",
        )  # fmt: skip
        gauge = {"id": "wl-new", "kind": "water_level", "grid": "g1"}
        edit_json(settings.parent / "village.yaml", lambda v: v["devices"].append(gauge))
        wait_until(
            lambda: ingester.metric("villagewatch_ingest_config_applied_total") == 1,
            timeout=5, what="the ingester following the village file",
        )  # fmt: skip
        publish_all(mosquitto.port, [reading("wl-new", 1)])
        wait_until(
            lambda: ingester.metric("villagewatch_ingest_readings_stored_total") == 1,
            timeout=15, what="the new gauge's reading stored",
        )  # fmt: skip
    finally:
        ingester.terminate()
