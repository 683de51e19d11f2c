"""`villagewatch alerts list / show / ack / resolve` from a terminal."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from typer.testing import CliRunner

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.cli import app
from villagewatch.transitions import AlertKey, Severity, Transition

NOW = 1_795_000_000_000


def deployment(tmp_path: Path) -> Path:
    village = {"id": "v", "name": "v", "town": "t", "grids": [{"id": "g", "name": "g"}]}
    (tmp_path / "village.yaml").write_bytes(orjson.dumps(village))
    settings = tmp_path / "settings.yaml"
    settings.write_bytes(orjson.dumps({"villages": ["village.yaml"]}))
    store = AlertDatabase(tmp_path / "var" / "alerts.db")  # the default, beside the settings
    fire = Transition(
        AlertKey("lock", "v", "lock-1", "forced_open"), "fire", Severity.RED, NOW,
        "House 3 lock: the door was forced open", needs_close=True,
    )  # fmt: skip
    store.apply(fire, "f1", AlertPolicy(), NOW)
    store.close()
    return settings


def test_an_operator_lists_acknowledges_and_resolves_from_a_terminal(tmp_path: Path) -> None:
    settings = str(deployment(tmp_path))
    runner = CliRunner()
    listed = runner.invoke(app, ["alerts", "list", "-c", settings])
    assert listed.exit_code == 0, listed.output
    assert "#1" in listed.output and "firing" in listed.output and "forced open" in listed.output

    acked = runner.invoke(
        app, ["alerts", "ack", "-c", settings, "1", "--by", "wang", "--note", "going"]
    )
    assert acked.exit_code == 0, acked.output
    assert "acknowledged" in acked.output

    resolved = runner.invoke(
        app,
        [
            "alerts",
            "resolve",
            "-c",
            settings,
            "1",
            "--by",
            "wang",
            "--reason",
            "false_alarm",
            "--note",
            "tenant",
        ],
    )
    assert resolved.exit_code == 0 and "resolved" in resolved.output

    again = runner.invoke(
        app, ["alerts", "resolve", "-c", settings, "1", "--by", "li", "--reason", "duplicate"]
    )
    assert again.exit_code == 1
    assert "alert 1 is resolved; it cannot be resolved" in again.output

    shown = runner.invoke(app, ["alerts", "show", "-c", settings, "1"])
    assert shown.exit_code == 0
    for line in ("system", "fired", "wang", "acknowledged", "resolved", "note by wang: going"):
        assert line in shown.output
    assert "no open alerts" in runner.invoke(app, ["alerts", "list", "-c", settings]).output


def test_an_unknown_alert_is_a_clear_error(tmp_path: Path) -> None:
    settings = str(deployment(tmp_path))
    result = CliRunner().invoke(app, ["alerts", "ack", "-c", settings, "7", "--by", "wang"])
    assert result.exit_code == 1 and "no alert 7" in result.output


def test_report_and_silence_from_a_terminal(tmp_path: Path) -> None:
    settings = str(deployment(tmp_path))
    runner = CliRunner()
    report = runner.invoke(app, ["alerts", "report", "-c", settings, "--month", "2026-11"])
    assert report.exit_code == 0, report.output
    assert "forced_open" in report.output and "Alerts 2026-11" in report.output
    as_json = runner.invoke(
        app, ["alerts", "report", "-c", settings, "--month", "2026-11", "--json"]
    )
    assert '"kind": "forced_open"' in as_json.output
    bad = runner.invoke(app, ["alerts", "report", "-c", settings, "--month", "November"])
    assert bad.exit_code == 1 and "month 'November' is not YYYY-MM" in bad.output

    ok = runner.invoke(
        app,
        [
            "alerts",
            "silence",
            "-c",
            settings,
            "--by",
            "li",
            "--reason",
            "cleaning",
            "--device",
            "wl-1",
        ],
    )
    assert ok.exit_code == 0 and "silence #1 until" in ok.output, ok.output
    no_filter = runner.invoke(
        app, ["alerts", "silence", "-c", settings, "--by", "li", "--reason", "x"]
    )
    assert no_filter.exit_code == 1 and "a silence matches on some of" in no_filter.output


def test_a_database_newer_than_the_command_is_refused_in_words_not_a_traceback(
    tmp_path: Path,
) -> None:
    """After a downgrade the alert store's schema is newer than the code: every command says
    so and what to do, with exit status 1 — the entry point, not each command, turns an
    error of villagewatch into its message."""
    settings = deployment(tmp_path)
    with sqlite3.connect(tmp_path / "var" / "alerts.db") as db:
        db.execute("PRAGMA user_version = 99")
    ran = subprocess.run(
        [sys.executable, "-m", "villagewatch", "alerts", "list", "-c", str(settings)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    assert "schema version 99" in ran.stderr and "newer villagewatch" in ran.stderr


def test_a_weekly_maintenance_window_from_a_terminal(tmp_path: Path) -> None:
    """Made with --every/--at/--hours in the deployment's zone, listed with its next window,
    refused in words for a day that does not exist, ended."""
    settings_path = deployment(tmp_path)
    settings = orjson.loads(settings_path.read_bytes())
    settings["alerts"] = {"time_zone": "Europe/Berlin"}
    settings_path.write_bytes(orjson.dumps(settings))
    runner = CliRunner()
    base = ["alerts", "silence", "-c", str(settings_path), "--by", "li", "--device", "wl-1"]
    made = runner.invoke(
        app, [*base, "--reason", "sluice works", "--every", "tue", "--at", "09:00", "--hours", "2"]
    )
    assert made.exit_code == 0, made.output
    assert "silence #1 Tuesday 09:00 for 2 h (Europe/Berlin); next " in made.output
    listed = runner.invoke(app, ["alerts", "silences", "-c", str(settings_path)])
    assert listed.exit_code == 0, listed.output
    assert "#1" in listed.output and "Tuesday 09:00 for 2 h (Europe/Berlin)" in listed.output
    assert " 09:00 → 11:00" in listed.output or "in force until" in listed.output
    assert "subject=wl-1" in listed.output

    for wrong, said in [
        (["--every", "tuesdy", "--at", "09:00"], "'tuesdy' is not a day of the week"),
        (["--every", "daily", "--at", "09:00", "--hours", "24"], "a window of 24 h does not fit"),
        (["--every", "tue"], "--every needs --at"),
        (["--at", "09:00"], "--at and --until go with --every"),
        (["--every", "tue", "--at", "09:00", "--until", "soon"], "'soon' is not a day"),
    ]:
        refused = runner.invoke(app, [*base, "--reason", "x", *wrong])
        assert refused.exit_code == 1 and said in refused.output, (wrong, refused.output)

    ended = runner.invoke(
        app, ["alerts", "end-silence", "-c", str(settings_path), "1", "--by", "wang"]
    )
    assert ended.exit_code == 0 and "over" in ended.output, ended.output
    gone = runner.invoke(app, ["alerts", "silences", "-c", str(settings_path)])
    assert "no silences" in gone.output
    again = runner.invoke(
        app, ["alerts", "end-silence", "-c", str(settings_path), "1", "--by", "x"]
    )
    assert again.exit_code == 1 and "silence 1 is already over" in again.output


def test_times_are_local_in_the_deployments_zone_and_the_zone_is_named(tmp_path: Path) -> None:
    """alerts.time_zone Europe/Berlin: the alert that fired at NOW prints in Berlin's wall time
    under a line naming the zone (it printed UTC, unnamed); report --csv is the month as CSV."""
    settings_path = deployment(tmp_path)
    settings = orjson.loads(settings_path.read_bytes())
    settings["alerts"] = {"time_zone": "Europe/Berlin"}
    settings_path.write_bytes(orjson.dumps(settings))
    berlin = datetime.fromtimestamp(NOW / 1000, tz=ZoneInfo("Europe/Berlin"))
    runner = CliRunner()
    for command in (["list"], ["show", "1"]):
        shown = runner.invoke(app, ["alerts", *command, "-c", str(settings_path)])
        assert shown.exit_code == 0, shown.output
        assert "times in Europe/Berlin" in shown.output
        assert berlin.strftime("%Y-%m-%d %H:%M") in shown.output, shown.output
    month = berlin.strftime("%Y-%m")
    as_csv = runner.invoke(
        app, ["alerts", "report", "-c", str(settings_path), "--month", month, "--csv"]
    )
    assert as_csv.exit_code == 0, as_csv.output
    header, row = as_csv.output.splitlines()[:2]
    assert header.startswith("month,zone,place,kind,alerts")
    assert row.startswith(f"{month},Europe/Berlin,") and ",forced_open,1," in row


def test_a_missing_alert_store_is_refused_with_its_path_not_created(tmp_path: Path) -> None:
    """`alerts list -c` a settings file whose alert store does not exist (the demo's checked-in
    config, whose data lives elsewhere) says where it looked instead of creating an empty
    store and answering "no open alerts"."""
    settings = deployment(tmp_path)
    (tmp_path / "var" / "alerts.db").unlink()
    for command in (["list"], ["show", "1"], ["report", "--month", "2026-11"]):
        result = CliRunner().invoke(app, ["alerts", *command, "-c", str(settings)])
        assert result.exit_code == 1, result.output
        assert f"no alert store at {tmp_path / 'var' / 'alerts.db'}" in result.output
        assert "no open alerts" not in result.output
    assert not (tmp_path / "var" / "alerts.db").exists()
