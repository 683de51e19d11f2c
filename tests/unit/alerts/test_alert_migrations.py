"""An alert database of the previous schema (its migrations applied, rows written), on SQLite
and on PostgreSQL, upgraded in place with its data kept — by opening and by ``villagewatch db
upgrade``; a queued notification of before is free for any sender."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from villagewatch.alerts import AlertDatabase, AlertState
from villagewatch.alerts.database.schema import MIGRATIONS
from villagewatch.cli import app
from villagewatch.db.database import (
    Connection,
    Location,
    PostgresLocation,
    open_database,
    peek_version,
)

REPO = Path(__file__).resolve().parents[3]
PREVIOUS = 4  # the schema before notifications were claimed
NOW = 1_795_000_000_000


def _previous(where: Location) -> None:
    """The previous schema, with a firing alert, its audit entry, a note, a queued
    notification and a silence, as that version wrote them."""
    old = open_database(where, name="alerts", migrations=MIGRATIONS[:PREVIOUS], busy_timeout_s=5)

    def rows(c: Connection) -> None:
        run = c.execute
        run(
            "INSERT INTO alerts (key, detector, village, subject, kind, severity, state, message,"
            " details, historical, needs_close, condition_cleared, started_ms, opened_ms,"
            " fired_ms, updated_ms, place, message_key, params) VALUES"
            " ('level/v/wl-1/level', 'level', 'v', 'wl-1', 'level', 'red', 'firing', 'high',"
            " '{}', 0, 0, 0, ?, ?, ?, ?, 'grid:v/g', '', '{}')",
            (NOW, NOW, NOW, NOW),
        )
        run(
            "INSERT INTO alert_audit (alert_id, at_ms, actor, action, state, severity, detail)"
            " VALUES (1, ?, 'system', 'fired', 'firing', 'red', '{}')",
            (NOW,),
        )
        run(
            "INSERT INTO alert_notes (alert_id, at_ms, author, text) VALUES (1, ?, 'li', 'seen')",
            (NOW,),
        )
        run(
            "INSERT INTO notifications (alert_id, channel, place, level, event, group_key,"
            " severity, text, state, created_ms, due_ms, next_ms, title) VALUES (1, 'hook',"
            " 'grid:v/g', 0, 'fired', 'hook|grid:v/g|level|fired', 'red', 'high', 'queued',"
            " ?, ?, ?, '')",
            (NOW, NOW, NOW),
        )
        run(
            "INSERT INTO silences (matchers, starts_ms, ends_ms, created_by, reason, created_ms)"
            " VALUES ('{\"subject\":\"wl-2\"}', ?, ?, 'li', 'cleaning', ?)",
            (NOW, NOW + 3_600_000, NOW),
        )
        run("INSERT INTO feed_cursors (source, position) VALUES ('detect', 42)")

    old.write(rows)
    old.close()
    assert peek_version(where) == PREVIOUS


def _kept(where: Location) -> None:
    store = AlertDatabase(where)
    try:
        [alert] = store.open_alerts()
        assert (alert.id, alert.state, alert.subject) == (1, AlertState.FIRING, "wl-1")
        assert [e.action for e in store.audit(1)] == ["fired"]
        assert [n.text for n in store.notes(1)] == ["seen"]
        assert store.cursor("detect") == 42
        assert [s.matchers for s in store.silences(NOW)] == [{"subject": "wl-2"}]
        [[queued]] = store.due_notifications(NOW + 1)
        assert (queued.id, queued.text) == (1, "high"), "a notification of before is free"
        assert store.due_notifications(NOW + 1) == [], "and now claimed"
        after = store.acknowledge(1, "wang", NOW + 2)
        assert after.state is AlertState.ACKNOWLEDGED
        assert [e.id for e in store.audit(1)] == [1, 2], "the ids go on from the old rows"
    finally:
        store.close()
    assert peek_version(where) == len(MIGRATIONS)


def test_the_previous_schema_is_upgraded_by_opening(relational: Callable[[str], Location]) -> None:
    where = relational("alerts")
    _previous(where)
    _kept(where)


def test_the_previous_schema_is_upgraded_by_db_upgrade(
    relational: Callable[[str], Location], tmp_path: Path
) -> None:
    where = relational("alerts")
    _previous(where)
    (tmp_path / "v.yaml").write_text("id: v\n")
    if isinstance(where, PostgresLocation):
        engine = f"relational: {{kind: postgres, dsn: '{where.dsn}'}}"
    else:
        engine = f"alerts: {{state_path: '{where}'}}"
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"villages: [v.yaml]\napi: {{state_dir: api}}\n{engine}\n")
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(settings)])
    assert done.exit_code == 0, done.output
    assert f"version {PREVIOUS}, applied:\n  5: notifications: claimed" in done.output
    assert peek_version(where) == len(MIGRATIONS)
    _kept(where)


def test_the_cli_reads_and_acts_on_the_store_the_settings_name(
    relational: Callable[[str], Location], tmp_path: Path
) -> None:
    """``alerts list``/``ack`` open the alert store where the settings put it (a file, or the
    ``alerts`` schema); none there yet is said in words, and nothing is created."""
    where = relational("alerts")
    shutil.copy(REPO / "config" / "demo" / "dongcun.yaml", tmp_path / "v.yaml")
    if isinstance(where, PostgresLocation):
        engine = f"relational: {{kind: postgres, dsn: '{where.dsn}'}}"
        place = "schema alerts of PostgreSQL database"
    else:
        engine = f"alerts: {{state_path: '{where}'}}"
        place = str(where)
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"villages: [v.yaml]\napi: {{state_dir: api}}\n{engine}\n")
    missing = CliRunner().invoke(app, ["alerts", "list", "-c", str(settings)])
    assert missing.exit_code == 1, missing.output
    assert f"no alert store at {place}" in missing.output
    assert peek_version(where) == 0, "nothing created"
    _previous(where)
    listed = CliRunner().invoke(app, ["alerts", "list", "-c", str(settings)])
    assert listed.exit_code == 0, listed.output
    assert "#1     firing       red" in listed.output
    acked = CliRunner().invoke(app, ["alerts", "ack", "1", "--by", "wang", "-c", str(settings)])
    assert acked.exit_code == 0, acked.output
    store = AlertDatabase(where)
    try:
        assert [e.action for e in store.audit(1)] == ["fired", "acknowledged"]
    finally:
        store.close()
