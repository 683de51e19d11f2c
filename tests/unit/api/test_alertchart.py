"""The alert chart's span and levels, table-driven: pure functions of the alert and config."""

from __future__ import annotations

from pathlib import Path

import pytest

from villagewatch.alerts import AlertDatabase
from villagewatch.api.alertchart import CONTEXT_MAX_MS, CONTEXT_MIN_MS, chart_span, detector_levels
from villagewatch.detectors.config import HealthConfig, LevelConfig
from villagewatch.detectors.device import FamilyConfig
from villagewatch_dev.testing import fire_alert

H = 3600_000
NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("started", "ended", "span"),
    [
        pytest.param(
            NOW - 9 * 60_000, None, (NOW - 9 * 60_000 - CONTEXT_MIN_MS, NOW), id="young-open"
        ),
        pytest.param(NOW - 5 * H, None, (NOW - 10 * H, NOW), id="open-5h"),
        pytest.param(
            NOW - 30 * 24 * H, None, (NOW - 30 * 24 * H - CONTEXT_MAX_MS, NOW), id="open-a-month"
        ),
        pytest.param(
            NOW - 5 * H, NOW - 4 * H, (NOW - 6 * H, NOW - 4 * H + 6 * 60_000), id="cleared"
        ),
        pytest.param(
            NOW - 5 * H, NOW - 60_000, (NOW - 10 * H + 60_000, NOW), id="cleared-just-now"
        ),
        pytest.param(
            NOW + 2 * H,
            None,
            (NOW + 2 * H - CONTEXT_MIN_MS, NOW + 2 * H + 60_000),
            id="clock-ahead",
        ),
        pytest.param(
            NOW - H,
            NOW - 2 * H,
            (NOW - H - CONTEXT_MIN_MS, NOW - H + 66_000),
            id="clear-before-start",
        ),
    ],
)
def test_chart_span(started: int, ended: int | None, span: tuple[int, int]) -> None:
    """As long before as it lasted (30 min to 24 h), to a tenth after its clear (never past
    now), or to now; a clock ahead or a clear before the start still gives a minute."""
    assert chart_span(started, ended, NOW) == span


def test_levels_of_a_gauge_and_of_a_health_alert(tmp_path: Path) -> None:
    """A gauge's levels on its level series only; a health alert adds its plausible range."""
    store = AlertDatabase(tmp_path / "alerts.db")
    level = fire_alert(store, village="v", subject="wl", kind="level")
    health = fire_alert(store, village="v", subject="wl", kind="spike:level_cm", detector="health")
    families: dict[str, FamilyConfig] = {
        "level": LevelConfig(warning_cm=200, guaranteed_cm=None, blue_margin_cm=0),
        "health": HealthConfig(plausible_min=0, plausible_max=500),
    }
    assert [(lv.name, lv.value) for lv in detector_levels(level, "level_cm", families)] == [
        ("warning", 200)
    ]
    assert [lv.name for lv in detector_levels(health, "level_cm", families)] == [
        "plausible_min", "warning", "plausible_max"
    ]  # fmt: skip
    assert detector_levels(level, "battery", families) == []  # another series: no level lines
    store.close()
