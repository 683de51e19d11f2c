"""The monthly figures: counts, median and p90 times to acknowledge and resolve, escalations,
month and day boundaries in local time."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.report import (
    CSV_COLUMNS,
    KindFigures,
    MonthReport,
    month_bounds,
    month_report,
    render,
    to_csv,
)
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.alerts.routing import Router
from villagewatch.config import AlertsSettings, Village
from villagewatch.transitions import AlertKey, Severity, Transition

CST = timezone(timedelta(hours=8))


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=CST).timestamp() * 1000)


def test_month_bounds_are_local_midnights() -> None:
    assert month_bounds("2026-11", "Asia/Shanghai") == (ms(2026, 11, 1), ms(2026, 12, 1))
    assert month_bounds("2026-12", "Asia/Shanghai") == (ms(2026, 12, 1), ms(2027, 1, 1))
    with pytest.raises(ValueError, match="'2026-13' is not YYYY-MM"):
        month_bounds("2026-13", "Asia/Shanghai")


def test_figures_per_place_and_kind(tmp_path: Path) -> None:
    village = Village.model_validate(
        {"id": "v", "name": "v", "town": "t", "grids": [{"id": "g1", "name": "g1"}],
         "devices": [{"id": f"lock-{i}", "kind": "smart_lock", "grid": "g1"} for i in range(12)]}
    )  # fmt: skip
    settings = AlertsSettings()
    store = AlertDatabase(tmp_path / "a.db", notifier=Notifier(Router([village], {}), settings))
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
    report = month_report(
        store.fired_between(*month_bounds("2026-11", "Asia/Shanghai")), "2026-11", "Asia/Shanghai"
    )
    (row,) = report.rows
    assert (row.place, row.kind, row.alerts, row.acknowledged, row.resolved) == (
        "grid:v/g1", "forced_open", 10, 10, 10,
    )  # fmt: skip
    assert (row.ack_median_s, row.ack_p90_s) == (330.0, 600.0)
    assert (row.resolve_median_s, row.resolve_p90_s) == (660.0, 1200.0)
    assert row.escalated == 0
    assert report.per_day == {"2026-11-30": {"grid:v/g1": 10}}
    store.close()


def _fired(tmp_path: Path, places: list[tuple[str, int]]) -> AlertDatabase:
    """An alert store with one fired forced-door alert per (device, epoch ms)."""
    store = AlertDatabase(tmp_path / "a.db")
    for device, at in places:
        t = Transition(AlertKey("lock", "v", device, "forced_open"), "fire", Severity.RED, at,
                       "forced", needs_close=True)  # fmt: skip
        store.apply(t, f"f-{device}-{at}", AlertPolicy(), at)
    return store


def test_months_and_days_are_those_of_the_deployments_zone_summer_time_included(
    tmp_path: Path,
) -> None:
    """Europe/Berlin: the month starts at local midnight (UTC+1 in November, UTC+2 in
    summer) and an alert at 23:30 on the 30th is November's and the 30th's — not December's,
    as it was with days in UTC+8."""
    berlin = ZoneInfo("Europe/Berlin")

    def local(*parts: int) -> int:
        return int(datetime(*parts, tzinfo=berlin).timestamp() * 1000)  # type: ignore[arg-type,misc]

    assert month_bounds("2026-11", "Europe/Berlin") == (local(2026, 11, 1), local(2026, 12, 1))
    july = month_bounds("2026-07", "Europe/Berlin")
    assert july[0] == int(datetime(2026, 6, 30, 22, tzinfo=UTC).timestamp() * 1000)
    store = _fired(
        tmp_path, [("lock-1", local(2026, 11, 30, 23, 30)), ("lock-2", local(2026, 12, 1, 0, 30))]
    )
    report = month_report(
        store.fired_between(*month_bounds("2026-11", "Europe/Berlin")), "2026-11", "Europe/Berlin"
    )
    store.close()
    assert [r.alerts for r in report.rows] == [1]
    assert report.per_day == {"2026-11-30": {report.rows[0].place: 1}}
    assert report.zone == "Europe/Berlin"
    assert "(months and days in Europe/Berlin)" in render(report)


def test_the_month_as_csv_with_a_header_minutes_and_no_formulas(tmp_path: Path) -> None:
    """One row per place and kind; durations in minutes; a cell a spreadsheet would run as a
    formula is quoted with an apostrophe, a negative duration (a wrong clock) is not."""
    rows = [
        KindFigures("grid:v/g", "forced_open", 3, 2, 1, 1, 330.0, 600.0, 660.0, None),
        KindFigures('=HYPERLINK("x")', "@kind", 1, 1, 0, 0, -120.0, -120.0, None, None),
    ]
    text = to_csv(MonthReport("2026-11", "Asia/Shanghai", rows, {}))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(CSV_COLUMNS)
    assert parsed[1][:12] == [
        "2026-11", "Asia/Shanghai", "grid:v/g", "forced_open", "3", "2", "1", "1",
        "5.5", "10.0", "11.0", "",
    ]  # fmt: skip
    assert parsed[2][2:4] == ['\'=HYPERLINK("x")', "'@kind"]
    assert parsed[2][8] == "-2.0"
    assert text.endswith("\r\n")
