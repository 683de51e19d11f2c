"""Alerts and transitions written before message keys were kept: the files gain the columns
at open (alerts migration 4, detect migration 2) and their rows show their stored text."""

from __future__ import annotations

from pathlib import Path

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.database.schema import MIGRATIONS as ALERTS
from villagewatch.catalogue import alert_text
from villagewatch.db.sqlite import SQLiteFile
from villagewatch.db.transition_log import TableTransitionLog
from villagewatch.detect.store import MIGRATIONS as DETECT
from villagewatch.transitions import LoggedTransition

OLD_ALERT = (
    "INSERT INTO alerts (key, detector, village, subject, kind, severity, state, message,"
    " details, historical, needs_close, condition_cleared, started_ms, opened_ms, updated_ms,"
    " place) VALUES ('water_level/v/wl-1/level', 'water_level', 'v', 'wl-1', 'level', 'blue',"
    " 'firing', 'Bridge: water at 205 cm, near the warning level (180 cm)', '{}', 0, 0, 0,"
    " 1, 1, 1, 'grid:v/g')"
)
OLD_TRANSITION = (
    "INSERT INTO transitions (id, key, detector, village, subject, kind, action, severity,"
    " at_ms, message, details, historical, needs_close, recorded_ns) VALUES ('t1',"
    " 'water_level/v/wl-1/level', 'water_level', 'v', 'wl-1', 'level', 'fire', 'blue', 1,"
    " 'old text', '{}', 0, 0, 1)"
)


def test_an_alert_from_before_keys_shows_its_stored_text(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    old = SQLiteFile(path, name="alerts", migrations=ALERTS[:2])
    old.write(lambda c: c.execute(OLD_ALERT))
    old.close()
    store = AlertDatabase(path)
    (alert,) = store.open_alerts()
    store.close()
    assert (alert.message_key, alert.params) == ("", {})
    for locale in ("zh", "en"):
        shown = alert_text(alert.message_key, alert.params, alert.message, locale)
        assert shown == "Bridge: water at 205 cm, near the warning level (180 cm)"


def test_a_transition_logged_before_keys_reads_back_without_one(tmp_path: Path) -> None:
    path = tmp_path / "detect.db"
    old = SQLiteFile(path, name="detect", migrations=DETECT[:1])
    old.write(lambda c: c.execute(OLD_TRANSITION))
    old.close()
    new = SQLiteFile(path, name="detect", migrations=DETECT)
    (record,) = new.read(lambda c: TableTransitionLog(c).read_after(0, 10))
    new.close()
    assert isinstance(record, LoggedTransition)
    t = record.transition
    assert (t.message, t.message_key, t.params) == ("old text", "", {})
