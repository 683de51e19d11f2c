"""The monthly figures: counts, median and p90 times to acknowledge and resolve, escalations,
month and day boundaries in local time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from villagewatch.alerts import AlertPolicy, SQLiteAlertStore
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.report import month_bounds, month_report
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.alerts.routing import Router
from villagewatch.config import AlertsSettings, Village
from villagewatch.transitions import AlertKey, Severity, Transition

CST = timezone(timedelta(hours=8))


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=CST).timestamp() * 1000)


def test_month_bounds_are_local_midnights() -> None:
    assert month_bounds("2026-11", 8) == (ms(2026, 11, 1), ms(2026, 12, 1))
    assert month_bounds("2026-12", 8) == (ms(2026, 12, 1), ms(2027, 1, 1))
    with pytest.raises(ValueError, match="'2026-13' is not YYYY-MM"):
        month_bounds("2026-13", 8)


def test_figures_per_place_and_kind(tmp_path: Path) -> None:
    village = Village.model_validate(
        {"id": "v", "name": "v", "town": "t", "grids": [{"id": "g1", "name": "g1"}],
         "devices": [{"id": f"lock-{i}", "kind": "smart_lock", "grid": "g1"} for i in range(12)]}
    )  # fmt: skip
    settings = AlertsSettings()
    store = SQLiteAlertStore(tmp_path / "a.db", notifier=Notifier(Router([village], {}), settings))
    start = ms(2026, 11, 30, 23, 0)  # the last hour of November in China, the 30th in UTC+8
    for i in range(10):  # ten forced doors, acknowledged after i+1 minutes, resolved after 2(i+1)
        t = Transition(AlertKey("lock", "v", f"lock-{i}", "forced_open"), "fire", Severity.RED,
                       start, "forced", needs_close=True)  # fmt: skip
        a = store.apply(t, f"f{i}", AlertPolicy(), start)
        assert a is not None
        store.acknowledge(a.id, "wang", start + (i + 1) * 60_000)
        store.resolve(
            a.id,
            "wang",
            start + 2 * (i + 1) * 60_000,
            "door shut",
            ResolutionReason.HANDLED_ON_SITE,
        )
    pending = Transition(
        AlertKey("lock", "v", "lock-10", "door_ajar"), "fire", Severity.YELLOW, start, "ajar"
    )
    store.apply(pending, "p", AlertPolicy(pending_s=600), start)  # never fires: not counted
    december = Transition(
        AlertKey("lock", "v", "lock-11", "tamper"), "fire", Severity.ORANGE, start, "t"
    )
    store.apply(december, "d", AlertPolicy(), ms(2026, 12, 1, 0, 0))
    report = month_report(store.fired_between(*month_bounds("2026-11", 8)), "2026-11", 8)
    (row,) = report.rows
    assert (row.place, row.kind, row.alerts, row.acknowledged, row.resolved) == (
        "grid:v/g1", "forced_open", 10, 10, 10,
    )  # fmt: skip
    assert (row.ack_median_s, row.ack_p90_s) == (330.0, 600.0)
    assert (row.resolve_median_s, row.resolve_p90_s) == (660.0, 1200.0)
    assert row.escalated == 0
    assert report.per_day == {"2026-11-30": {"grid:v/g1": 10}}
    store.close()
