"""``villagewatch detect`` follows its village file while it runs (no restart)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import (
    NOW_MS,
    DetectProcess,
    edit_json,
    publish_all,
    reading,
    wait_until,
    write_deployment,
)
from .test_detect_service import committed_high, firing, transitions

LEVELS = {"warning_cm": 300, "hold_s": 0, "blue_margin_cm": 0, "deadband_cm": 5}


def rewrite(settings: Path, edit: Any) -> None:
    """Change the village file as an apply does."""
    edit_json(settings.parent / "village.yaml", edit)


def gauges(tmp_path: Path, mosquitto: Mosquitto) -> tuple[Path, int]:
    """Settings of two gauges with levels, and detect's metrics port."""
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, devices=2,
        store={"kind": "sqlite", "path": str(tmp_path / "readings.db")},
        detect={"metrics_port": metrics_port},
        village_detect={"devices": {"wl-000": {"level": LEVELS}, "wl-001": {"level": LEVELS}}},
    )  # fmt: skip
    return settings, metrics_port


def drop_wl001_lower_wl000(village: dict[str, Any]) -> None:
    village["devices"] = [d for d in village["devices"] if d["id"] != "wl-001"]
    del village["detect"]["devices"]["wl-001"]
    village["detect"]["devices"]["wl-000"]["level"]["warning_cm"] = 240


def set_level(warning_cm: float | str) -> Any:
    def edit(village: dict[str, Any]) -> None:
        village["detect"]["devices"]["wl-000"]["level"]["warning_cm"] = warning_cm

    return edit


def test_a_lowered_level_fires_a_removed_gauge_clears_a_broken_file_is_refused(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings, metrics_port = gauges(tmp_path, mosquitto)
    db = tmp_path / "var" / "detect.db"
    detect = DetectProcess(settings, metrics_port).start()
    try:
        at = NOW_MS - 60_000
        publish_all(mosquitto.port, [reading("wl-000", 0, level=250, ts=at),
                                     reading("wl-001", 0, level=350, ts=at)])  # fmt: skip
        wait_until(lambda: committed_high(db, "wl-000") == 0, timeout=15, what="the readings")
        assert transitions(db, "water_level", "wl-000") == []
        # 1. the warning level goes below the current reading: an alert within 5 s, no restart
        rewrite(settings, set_level(240))
        applied = time.monotonic()
        fired = wait_until(
            lambda: transitions(db, "water_level", "wl-000"), timeout=5, what="the level alert"
        )
        assert time.monotonic() - applied < 5
        assert [(t["action"], t["severity"]) for t in fired] == [("fire", "yellow")]
        assert detect.metric("villagewatch_detect_config_applied_total") == 1
        # 2. a broken file is refused: the running config stays and still alerts
        rewrite(settings, set_level("very high"))
        wait_until(
            lambda: detect.metric("villagewatch_detect_config_refused_total") == 1,
            timeout=5, what="the refusal",
        )  # fmt: skip
        assert "refused" in detect.log_text() and "warning_cm" in detect.log_text()
        publish_all(mosquitto.port, [reading("wl-000", 1, level=230, ts=at + 1000),
                                     reading("wl-000", 2, level=245, ts=at + 2000)])  # fmt: skip
        wait_until(
            lambda: len(transitions(db, "water_level", "wl-000")) == 3, timeout=10,
            what="the old config clearing and firing again",
        )  # fmt: skip
        steps = [t["action"] for t in transitions(db, "water_level", "wl-000")]
        assert steps == ["fire", "clear", "fire"], steps
        assert detect.metric("villagewatch_detect_config_applied_total") == 1
        # 3. a gauge with a firing alert is removed: its alert clears "removed from config"
        assert [a["subject"] for a in firing(db)] == ["wl-000", "wl-001"]
        rewrite(settings, drop_wl001_lower_wl000)
        cleared = wait_until(
            lambda: [t for t in transitions(db, "water_level", "wl-001") if t["action"] == "clear"],
            timeout=5, what="the removed gauge's alert to clear",
        )  # fmt: skip
        assert "removed from config" in cleared[0]["message"]
        assert [a["subject"] for a in firing(db)] == ["wl-000"]
        assert detect.alive(), "no restart"
    finally:
        assert detect.terminate() == 0


def test_a_config_changed_while_detect_was_down_is_judged_at_start(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Lowered level and a removed gauge while detect is stopped: at its start the alert
    fires and the removed gauge's alert clears, without waiting for another reading."""
    settings, metrics_port = gauges(tmp_path, mosquitto)
    db = tmp_path / "var" / "detect.db"
    detect = DetectProcess(settings, metrics_port).start()
    at = NOW_MS - 60_000
    publish_all(mosquitto.port, [reading("wl-000", 0, level=250, ts=at),
                                 reading("wl-001", 0, level=350, ts=at)])  # fmt: skip
    wait_until(lambda: committed_high(db, "wl-000") == 0, timeout=15, what="the readings")
    assert detect.terminate() == 0
    assert [a["subject"] for a in firing(db)] == ["wl-001"]
    rewrite(settings, drop_wl001_lower_wl000)
    detect = DetectProcess(settings, metrics_port).start()
    try:
        wait_until(
            lambda: [a["subject"] for a in firing(db)] == ["wl-000"], timeout=5,
            what="wl-000 firing and wl-001 cleared at start",
        )  # fmt: skip
        (cleared,) = [t for t in transitions(db, "water_level", "wl-001") if t["action"] == "clear"]
        assert "removed from config" in cleared["message"]
    finally:
        assert detect.terminate() == 0
