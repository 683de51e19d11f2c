"""tune replay on a synthetic flood: a lower warning level fires earlier, a higher one removes
the alert, a guaranteed level changes its severity; a broken candidate is refused at its line;
the SQLite store and the in-memory one give the same report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.config import load_deployment, load_village
from villagewatch.store import RelationalStore
from villagewatch.tune import ReplayError, try_candidate
from villagewatch_dev.testing import MemoryStore

from .history import MIN, T0, fill, flood, settings_file, village_file

TODAY = "{warning_cm: 150, hold_s: 0, blue_margin_cm: 0}"
FROM, TO = "2026-11-18T11:06:40Z", "2026-11-18T17:46:40Z"  # T0 .. T0 + 400 min


def run(tmp_path: Path, candidate: str, *extra: str) -> Any:
    settings = settings_file(tmp_path, TODAY)
    store = RelationalStore(tmp_path / "readings.db")
    fill(store, flood())
    asyncio.run(store.close())
    path = village_file(tmp_path / "candidate.yaml", candidate)
    args = ["tune", "replay", "-c", str(settings), "--from", FROM, "--to", TO]
    result = CliRunner().invoke(app, [*args, "--candidate", str(path), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_lower_warning_level_fires_the_same_alert_earlier(tmp_path: Path) -> None:
    report = run(tmp_path, "{warning_cm: 120, hold_s: 0, blue_margin_cm: 0}")
    (change,) = report["changes"]
    assert change["change"] == "earlier" and change["shift_s"] == -30 * 60
    assert change["alert"] == "water_level/v/wl-1/level"
    assert change["today"]["fired_at"] == "2026-11-18T13:36:40Z"  # minute 150
    assert change["candidate"]["fired_at"] == "2026-11-18T13:06:40Z"  # minute 120
    assert report["summary"] == {
        "added": 0, "removed": 0, "earlier": 1, "later": 0, "unchanged": 0, "severity_changed": 0
    }  # fmt: skip
    (count,) = report["counts"]
    assert (count["kind"], count["village"], count["grid"]) == ("level", "v", "g")
    assert count["earlier"] == 1 and count["median_shift_s"] == -1800
    assert report["items"] == 800 and report["today"]["fired"] == report["candidate"]["fired"] == 1


def test_a_higher_warning_level_removes_the_alert(tmp_path: Path) -> None:
    report = run(tmp_path, "{warning_cm: 250, hold_s: 0, blue_margin_cm: 0}")
    (change,) = report["changes"]
    assert change["change"] == "removed" and change["candidate"] is None
    assert report["candidate"]["alerts"] == [] and report["summary"]["removed"] == 1


def test_a_guaranteed_level_changes_the_severity_not_the_fire_time(tmp_path: Path) -> None:
    report = run(tmp_path, "{warning_cm: 150, guaranteed_cm: 180, hold_s: 0, blue_margin_cm: 0}")
    (change,) = report["changes"]
    assert change["change"] == "unchanged" and change["severity_changed"] is True
    assert change["today"]["peak"] == "yellow" and change["candidate"]["peak"] == "orange"
    assert report["summary"]["severity_changed"] == 1
    actions = [t["action"] for t in report["candidate"]["alerts"][0]["transitions"]]
    assert actions == ["fire", "update", "update", "clear"]


def test_the_terminal_table_lists_the_change(tmp_path: Path) -> None:
    settings = settings_file(tmp_path, TODAY)
    store = RelationalStore(tmp_path / "readings.db")
    fill(store, flood())
    asyncio.run(store.close())
    path = village_file(tmp_path / "candidate.yaml", "{warning_cm: 120, hold_s: 0}")
    result = CliRunner().invoke(
        app,
        ["tune", "replay", "-c", str(settings), "--from", FROM, "--to", TO, "--candidate",
         str(path)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Added 0, removed 0, earlier 1" in result.stdout
    assert (
        "water_level/v/wl-1/level" in result.stdout and "-50m00s" in result.stdout
    )  # blue from 100 cm


def test_a_candidate_with_an_error_is_refused_at_its_file_and_line(tmp_path: Path) -> None:
    settings = settings_file(tmp_path, TODAY)
    path = village_file(tmp_path / "candidate.yaml", "{warning_cm: 150, guaranteed_cm: 100}")
    result = CliRunner().invoke(
        app,
        ["tune", "replay", "-c", str(settings), "--from", FROM, "--to", TO,
         "--candidate", str(path)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"{path}:21: detect.devices.wl-1.level" in result.output
    assert "levels must rise" in result.output and "function-after" not in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "wl-9"], "no device 'wl-9' in any village of the config"),
        (["--village", "w"], "no village 'w' in the config (villages: v)"),
    ],
    ids=["unknown-device", "unknown-village"],
)
def test_a_scope_the_config_does_not_have_is_refused(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    settings = settings_file(tmp_path, TODAY)
    fill(RelationalStore(tmp_path / "readings.db"), [])
    path = village_file(tmp_path / "candidate.yaml", TODAY)
    result = CliRunner().invoke(
        app,
        ["tune", "replay", "-c", str(settings), "--from", FROM, "--to", TO,
         "--candidate", str(path), *extra],
    )  # fmt: skip
    assert result.exit_code == 1 and message in result.output


@pytest.mark.parametrize(
    ("since", "until", "message", "code"),
    [
        (TO, FROM, "the range is empty", 1),
        ("yesterday", TO, "--from 'yesterday' is not a date or time", 2),
    ],
    ids=["backwards", "not-a-time"],
)
def test_a_bad_range_is_refused(
    tmp_path: Path, since: str, until: str, message: str, code: int
) -> None:
    settings = settings_file(tmp_path, TODAY)
    fill(RelationalStore(tmp_path / "readings.db"), [])
    path = village_file(tmp_path / "candidate.yaml", TODAY)
    result = CliRunner().invoke(
        app,
        ["tune", "replay", "-c", str(settings), "--from", since, "--to", until,
         "--candidate", str(path)],
    )  # fmt: skip
    assert result.exit_code == code and message in result.output


def test_a_missing_sqlite_store_is_not_created(tmp_path: Path) -> None:
    settings = settings_file(tmp_path, TODAY)
    path = village_file(tmp_path / "candidate.yaml", TODAY)
    result = CliRunner().invoke(
        app,
        ["tune", "replay", "-c", str(settings), "--from", FROM, "--to", TO,
         "--candidate", str(path)],
    )  # fmt: skip
    assert result.exit_code == 1 and "no store at" in result.output
    assert not (tmp_path / "readings.db").exists()


def test_a_candidate_for_another_village_is_refused(tmp_path: Path) -> None:
    deployment = load_deployment(settings_file(tmp_path, TODAY), read_files=False)
    other = village_file(tmp_path / "c.yaml", TODAY)
    other.write_text(other.read_text().replace("id: v\n", "id: w\n", 1))
    with pytest.raises(ReplayError, match="candidate is village 'w'"):
        asyncio.run(
            try_candidate(MemoryStore(), deployment.villages, load_village(other),
                          since_ms=T0, until_ms=T0 + MIN, tick_s=5)
        )  # fmt: skip


def test_the_sqlite_store_and_the_memory_store_give_the_same_report(tmp_path: Path) -> None:
    deployment = load_deployment(settings_file(tmp_path, TODAY), read_files=False)
    candidate = load_village(
        village_file(tmp_path / "c.yaml", "{warning_cm: 120, guaranteed_cm: 190, hold_s: 60}")
    )
    reports = []
    for store in (RelationalStore(tmp_path / "readings.db"), MemoryStore()):
        fill(store, flood())
        trial = asyncio.run(
            try_candidate(store, deployment.villages, candidate,
                          since_ms=T0, until_ms=T0 + 400 * MIN, tick_s=5)
        )  # fmt: skip
        reports.append(trial.report)
    assert reports[0] == reports[1]
    assert reports[0]["summary"]["earlier"] == 1 and reports[0]["summary"]["severity_changed"] == 1


def test_a_long_range_of_silence_replays_in_bounded_steps(tmp_path: Path) -> None:
    """Ten years with nothing stored: a few hundred thousand steps of time, not 63 million;
    the silent gauges go offline once each, under both configs."""
    from villagewatch.store.base import History
    from villagewatch.tune import replay

    deployment = load_deployment(settings_file(tmp_path, TODAY), read_files=False)
    ten_years = 10 * 365 * 86_400_000
    timeline = replay(
        History([], []), deployment.villages, since_ms=T0, until_ms=T0 + ten_years, tick_s=5
    )
    assert [t.key.kind for t in timeline.transitions] == ["device_offline"] * 2
