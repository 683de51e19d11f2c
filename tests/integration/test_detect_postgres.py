"""Detect and the alert engine as two processes on two "hosts" (separate directories, no file
in common) handing transitions over through PostgreSQL's ``detect`` schema: a flood read over
MQTT raises one alert; detect SIGKILLed and PostgreSQL crashed mid-run lose and duplicate
no transition."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from tests.faults import Campaign
from villagewatch.cli import app
from villagewatch_dev.servers import Mosquitto, Postgres, free_port

from .helpers import (
    NOW_MS,
    AlertsProcess,
    DetectProcess,
    edit_json,
    publish_all,
    reading,
    wait_until,
    write_deployment,
)
from .test_detect_crash import expected_ids
from .test_detect_service import GAUGE_LEVELS

pytestmark = pytest.mark.campaign

N = 1200
MINUTE = 60_000
START = NOW_MS - (N + 100) * MINUTE


def level_at(i: int) -> float:
    """Calm, then a flood that rises through every band and stays."""
    if i < 400:
        return 150.0
    return min(300.0, 150.0 + (i - 400) * 0.75)


def host(directory: Path, mqtt_port: int, relational: dict[str, Any], **sections: Any) -> Path:
    settings = write_deployment(
        directory, mqtt_port=mqtt_port,
        store={"kind": "sqlite", "path": str(directory / "readings.db")}, devices=1,
        detect={"metrics_port": free_port(), "flush_interval_s": 0.25,
                "batch_max_messages": 100_000},
        village_detect={"devices": {"wl-000": {"level": GAUGE_LEVELS}}},
    )  # fmt: skip
    edit_json(settings, lambda doc: doc.update(relational=relational, **sections))
    return settings


def query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def recorded_ids(dsn: str) -> list[str]:
    """Transitions about wl-000 in detect's schema, in order of position."""
    rows = query(
        dsn,
        "SELECT id FROM detect.transitions WHERE subject = 'wl-000' AND detector != 'offline'"
        " ORDER BY position",
    )
    return [r[0] for r in rows]


def committed_high(dsn: str) -> int:
    """The highest sequence number of wl-000 whose processing detect committed (-1: none)."""
    try:
        rows = query(dsn, "SELECT state FROM detect.state WHERE owner = 'testvil/wl-000'")
    except psycopg.Error:  # not made yet, or the server restarting
        return -1
    if not rows:
        return -1
    seen = json.loads(rows[0][0])["seen"]
    remembered = [*seen["readings"].values(), *seen["events"].values()]
    return max((seq for seqs in remembered for seq in seqs), default=-1)


def alert_lines(settings: Path) -> list[str]:
    """``villagewatch alerts list --resolved`` on the alert engine's host: one line an alert."""
    out = CliRunner().invoke(app, ["alerts", "list", "--resolved", "--config", str(settings)])
    return [line for line in out.output.splitlines() if line.startswith("#")]


def test_detect_and_alerts_on_postgres_share_no_file_and_survive_kills(
    mosquitto: Mosquitto, postgres: Postgres, tmp_path: Path, campaign: Campaign
) -> None:
    dsn = postgres.create_database("vw")
    relational = {"kind": "postgres", "dsn": dsn}
    detect_host, alerts_host = tmp_path / "detect-host", tmp_path / "alerts-host"
    detect_settings = host(detect_host, mosquitto.port, relational)
    alerts_port = free_port()
    alerts_settings = host(
        alerts_host, mosquitto.port, relational, alerts={"metrics_port": alerts_port}
    )
    detect_port = json.loads(detect_settings.read_text())["detect"]["metrics_port"]
    messages = [reading("wl-000", i, level=level_at(i), ts=START + i * MINUTE) for i in range(N)]
    want = expected_ids(detect_settings, messages)
    assert any("#fire@" in i for i in want), "the flood should fire"

    alerts = AlertsProcess(alerts_settings, alerts_port).start()
    detect = DetectProcess(detect_settings, detect_port).start()
    publisher = threading.Thread(
        target=publish_all, args=(mosquitto.port, messages), kwargs={"pace": 100}
    )
    publisher.start()
    try:
        wait_until(lambda: committed_high(dsn) > 300, timeout=60, what="readings committed")
        detect.kill()  # SIGKILL mid-run: processed messages not yet committed come again
        detect = DetectProcess(detect_settings, detect_port).start()
        wait_until(lambda: committed_high(dsn) > 480, timeout=60, what="the flood rising")
        postgres.kill()  # an immediate shutdown, recovery at the start, as after a crash
        postgres.start()
        publisher.join()
        wait_until(lambda: committed_high(dsn) == N - 1, timeout=120, what="the whole stream")
        lines = wait_until(
            lambda: [x for x in alert_lines(alerts_settings) if "orange" in x],
            timeout=60, what="the flood alert at orange",
        )  # fmt: skip
        applied = wait_until(
            lambda: (alerts.metric("villagewatch_alerts_transitions_total") or 0) >= len(want)
            and alerts.metric("villagewatch_alerts_transitions_total"),
            timeout=60, what="every transition applied",
        )  # fmt: skip
    finally:
        publisher.join()
        detect.terminate()
        alerts.terminate()
    got = recorded_ids(dsn)
    fires = [i for i in want if "#fire@" in i]
    campaign.row(
        "detect SIGKILLed and PostgreSQL crashed while a flood crosses the levels; the alert "
        "engine on another host reads detect's schema",
        offered=N, stored=committed_high(dsn) + 1, alerts_expected=len(fires),
        alerts_raised=len([i for i in got if "#fire@" in i]),
        lost=len(set(want) - set(got)), duplicated=len(got) - len(set(got)),
    )  # fmt: skip
    assert got == want, "none lost, none twice, in order"
    assert len(lines) == 1, lines
    assert applied == len(want), "the alert engine applied each transition once"
    assert not (alerts_host / "var" / "detect.db").exists(), "no detect file on the alerts host"
    assert not list(detect_host.rglob("alerts*.db")), "no alert file on the detect host"
