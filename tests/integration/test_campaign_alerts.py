"""Campaign: detect and the alert engine as real processes — a right code after wrong ones,
and a damaged transition in detect's file in front of an SOS."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.faults import Campaign
from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import AlertsProcess, DetectProcess, publish_all, wait_until, write_deployment
from .test_detect_service import lock_event

pytestmark = pytest.mark.campaign


def with_tenant(village: dict[str, Any]) -> None:
    village["houses"] = [
        {"id": "h1", "lock": "lock-1",
         "tenants": [{"id": "t1", "name": "T", "credentials": [{"id": "card-1"}]}]},
    ]  # fmt: skip


def services(tmp_path: Path, mosquitto: Mosquitto) -> tuple[DetectProcess, AlertsProcess]:
    detect_port, alerts_port = free_port(), free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": "r.db"},
        detect={"metrics_port": detect_port, "state_path": "d.db", "tick_s": 0.5},
        village_detect={"kinds": {"smart_lock": {"lock": {"wrong_window_s": 3}}}},
        edit_village=with_tenant,
    )  # fmt: skip
    raw = orjson.loads(settings.read_bytes())
    raw["alerts"] = {"state_path": "a.db", "metrics_port": alerts_port, "poll_s": 0.1}
    settings.write_bytes(orjson.dumps(raw))
    return DetectProcess(settings, detect_port).start(), AlertsProcess(settings, alerts_port)


def alerts(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM alerts ORDER BY id")]


def test_a_right_code_after_wrong_ones_keeps_the_alert_open_and_red(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    """Before: the right code resolved the wrong-codes alert 2.6 s later; with the 30 s
    digest wait nobody was ever told."""
    detect, engine = services(tmp_path, mosquitto)
    engine.start()
    db = tmp_path / "a.db"
    now = time.time_ns() // 1_000_000
    events = [lock_event(i, "wrong_code", now + i * 100) for i in range(5)]
    events.append(lock_event(5, "unlock", now + 600, credential="card-1"))
    try:
        publish_all(mosquitto.port, events)
        wait_until(
            lambda: [a for a in alerts(db) if a["severity"] == "red"], timeout=30,
            what="the wrong-codes alert, red",
        )  # fmt: skip
        wait_until(
            lambda: [a for a in alerts(db) if a["condition_cleared"]], timeout=30,
            what="the quiet window over (the condition cleared)",
        )  # fmt: skip
    finally:
        engine.terminate()
        detect.terminate()
    found = alerts(db)
    still_open = [a for a in found if a["state"] != "resolved"]
    campaign.row(
        "5 wrong codes, then the right one, then quiet (real detect and alert engine)",
        offered=len(events), stored=len(events), alerts_expected=1,
        alerts_raised=len(still_open), lost=1 - len(still_open),
        duplicated=max(0, len(found) - 1),
    )  # fmt: skip
    assert [(a["kind"], a["severity"], a["state"]) for a in found] == [
        ("wrong_codes", "red", "firing")
    ]


def test_a_damaged_transition_does_not_hold_back_the_sos_behind_it(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    """A row of detect's file the engine cannot read is set aside; the SOS after it is an
    alert (before: the engine's loop died and no alert after it was ever made)."""
    detect, engine = services(tmp_path, mosquitto)
    ddb = tmp_path / "d.db"
    publish_all(mosquitto.port, [lock_event(1, "forced_open", time.time_ns() // 1_000_000)])
    wait_until(ddb.exists, timeout=20, what="detect's file")
    wait_until(lambda: _transitions(ddb) == 1, timeout=20, what="the forced door recorded")
    with sqlite3.connect(ddb) as conn:
        conn.execute("UPDATE transitions SET severity = 'purple', details = '{oops'")
    sos = {"v": 1, "device": "sos-1", "boot": "b1",
           "event": {"seq": 1, "ts": time.time_ns() // 1_000_000, "clock": "synced",
                     "type": "sos"}}  # fmt: skip
    publish_all(mosquitto.port, [("vw/v1/testvil/sos-1/event", orjson.dumps(sos))])
    wait_until(lambda: _transitions(ddb) == 2, timeout=20, what="the SOS recorded")
    engine.start()
    adb = tmp_path / "a.db"
    try:
        wait_until(
            lambda: [a for a in alerts(adb) if a["kind"] == "sos"], timeout=30, what="the SOS alert"
        )
        raised = len(alerts(adb))
        set_aside = engine.metric("villagewatch_alerts_failed_total") or 0
    finally:
        engine.terminate()
        detect.terminate()
    campaign.row(
        "a damaged transition in detect's file, then an SOS (real alert engine)",
        offered=2, stored=int(set_aside) + raised, alerts_expected=1, alerts_raised=raised,
        lost=2 - int(set_aside) - raised,
    )  # fmt: skip
    assert raised == 1 and set_aside == 1


def _transitions(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM transitions").fetchone()[0])
