"""Water level bands with hold and deadband, fast rises, rain accumulations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from villagewatch.detectors import CLEAN, Flags, LevelConfig, RainConfig, RiseConfig
from villagewatch.detectors.config import RainTier
from villagewatch.detectors.water import RainAccumulation, WaterLevel, WaterRise
from villagewatch.transitions import Severity

from .helpers import reading, summary

LEVELS = LevelConfig(
    warning_cm=250,
    guaranteed_cm=300,
    historical_max_cm=350,
    blue_margin_cm=20,
    hold_s=300,
    deadband_cm=5,
)


def run_levels(
    points: list[tuple[float, float]], config: LevelConfig = LEVELS
) -> list[tuple[str, str, str]]:
    detector = WaterLevel(config, village="v", device="wl-1", label="Bridge gauge")
    out = []
    for minute, level in points:
        out += detector.reading(reading(minute, level_cm=level), CLEAN)
    return summary(out)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param([(0, 100), (10, 120), (20, 140)], [], id="normal-water-no-alert"),
        pytest.param(
            [(0, 235), (6, 236)], [("level", "fire", "blue")], id="blue-after-holding-near-warning"
        ),
        pytest.param([(0, 235), (4, 236), (5, 200)], [], id="too-short-to-hold-no-alert"),
        pytest.param(
            [(0, 240), (5, 240), (10, 255), (15, 256), (20, 305), (25, 306), (30, 360), (40, 361)],
            [
                ("level", "fire", "blue"),
                ("level", "update", "yellow"),
                ("level", "update", "orange"),
                ("level", "update", "red"),
            ],
            id="rising-flood-blue-yellow-orange-red-one-alert",
        ),
        pytest.param(
            [
                (0, 255),
                (6, 255),
                (7, 251),
                (8, 249),
                (9, 252),
                (10, 248),
                (11, 251),
                (12, 249),
                (13, 246),
            ],
            [("level", "fire", "yellow")],
            id="flapping-around-warning-within-deadband-one-alert",
        ),
        pytest.param(
            [(0, 255), (6, 255), (10, 244), (20, 244), (30, 214), (40, 100)],
            [("level", "fire", "yellow"), ("level", "update", "blue"), ("level", "clear", "blue")],
            id="falling-steps-down-past-deadband-then-clears-once",
        ),
        pytest.param(
            [(0, 310), (2, 310), (6, 310)],
            [("level", "fire", "orange")],
            id="jump-straight-to-orange-held",
        ),
        pytest.param(
            [(0, 255), (6, 255), (5, 400), (7, 254)],
            [("level", "fire", "yellow")],
            id="out-of-order-reading-ignored",
        ),
    ],
)
def test_water_level_bands(
    points: list[tuple[float, float]], expected: list[tuple[str, str, str]]
) -> None:
    assert run_levels(points) == expected


def test_water_level_ignores_suspect_and_other_metrics() -> None:
    detector = WaterLevel(LEVELS, village="v", device="wl-1", label="g")
    suspect = Flags(suspect=frozenset({"level_cm"}))
    assert detector.reading(reading(0, level_cm=400), suspect) == []
    assert detector.reading(reading(10, level_cm=400), suspect) == []
    assert detector.reading(reading(20, battery=50), CLEAN) == []
    assert not detector.firing()


def test_water_level_messages_say_where_what_and_which_level() -> None:
    detector = WaterLevel(LEVELS, village="v", device="wl-1", label="Bridge gauge")
    detector.reading(reading(0, level_cm=256), CLEAN)
    (t,) = detector.reading(reading(6, level_cm=257), CLEAN)
    assert t.message == "Bridge gauge: water at 257 cm, above the warning level (警戒水位) (250 cm)"
    assert t.details["threshold"] == 250 and t.at_ms == reading(6).device_ts_ms


def test_water_level_state_survives_snapshot_restore() -> None:
    first = WaterLevel(LEVELS, village="v", device="wl-1", label="g")
    first.reading(reading(0, level_cm=256), CLEAN)
    first.reading(reading(6, level_cm=257), CLEAN)
    second = WaterLevel(LEVELS, village="v", device="wl-1", label="g")
    second.restore(first.snapshot())
    assert second.firing()
    assert second.reading(reading(7, level_cm=258), CLEAN) == []  # no re-fire
    assert summary(second.reading(reading(8, level_cm=100), CLEAN)) == [
        ("level", "clear", "yellow")
    ]


def test_levels_must_rise() -> None:
    with pytest.raises(ValueError, match="levels must rise"):
        LevelConfig(warning_cm=300, guaranteed_cm=250)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param(
            [(0, 100), (10, 110), (20, 120), (30, 125)], [], id="steady-rise-below-threshold"
        ),
        pytest.param(
            [(0, 100), (10, 115), (20, 131)], [("rise", "fire", "orange")], id="31cm-in-20min-fires"
        ),
        pytest.param(
            [(0, 100), (10, 135), (20, 136), (40, 137), (70, 138)],
            [("rise", "fire", "orange"), ("rise", "clear", "orange")],
            id="fires-then-clears-when-rise-slows",
        ),
        pytest.param([(0, 100), (40, 135)], [], id="35cm-over-40min-is-outside-the-30min-window"),
    ],
)
def test_water_rise(
    points: list[tuple[float, float]], expected: list[tuple[str, str, str]]
) -> None:
    detector = WaterRise(
        RiseConfig(window_s=1800, rise_cm=30), village="v", device="wl-1", label="g"
    )
    out = []
    for minute, level in points:
        out += detector.reading(reading(minute, level_cm=level), CLEAN)
    assert summary(out) == expected


RAIN = RainConfig(
    tiers=[
        RainTier(window_h=1, mm=30, severity=Severity.YELLOW),
        RainTier(window_h=3, mm=50, severity=Severity.ORANGE),
    ]
)


@pytest.mark.parametrize(
    ("mm_per_5min", "expected"),
    [
        pytest.param([1.0] * 12, [], id="12mm-per-hour-no-alert"),
        pytest.param([3.0] * 12, [("rain", "fire", "yellow")], id="36mm-in-an-hour-yellow"),
        pytest.param(
            [3.0] * 18 + [0.0] * 40,
            [("rain", "fire", "yellow"), ("rain", "update", "orange"), ("rain", "clear", "orange")],
            id="54mm-in-90min-orange-then-clears-when-the-3h-window-empties",
        ),
    ],
)
def test_rain_accumulation_tiers(
    mm_per_5min: list[float], expected: list[tuple[str, str, str]]
) -> None:
    detector = RainAccumulation(RAIN, village="v", device="rain-1", label="g")
    out = []
    for i, mm in enumerate(mm_per_5min):
        out += detector.reading(reading(5 * (i + 1), device="rain-1", mm=mm), CLEAN)
    assert summary(out) == expected


# --- running windows against a plain re-count --------------------------------------------

_RAIN_ALL = RainConfig(
    tiers=[
        RainTier(window_h=1, mm=10, severity=Severity.YELLOW),
        RainTier(window_h=3, mm=20, severity=Severity.ORANGE),
        RainTier(window_h=24, mm=40, severity=Severity.RED),
    ]
)


def _recount(history: list[tuple[int, float]], now: int) -> dict[str, float]:
    return {
        f"{h}h": round(sum(mm for t, mm in history if t > now - h * 3_600_000), 2)
        for h in (1, 3, 24)
    }


@given(
    steps=st.lists(
        st.tuples(st.integers(1, 240), st.sampled_from([0.0, 0.0, 0.1, 0.5, 2.0, 7.3])),
        min_size=1,
        max_size=300,
    ),
    restore_at=st.integers(0, 300),
)
def test_rain_running_sums_equal_a_recount(steps: list[tuple[int, float]], restore_at: int) -> None:
    """Whatever the rain and the gaps (minutes), and across a snapshot/restore at any point,
    every alert reports the sums a re-count of the whole history gives."""
    detector = RainAccumulation(_RAIN_ALL, village="v", device="rain-1", label="g")
    history: list[tuple[int, float]] = []
    minute = 0
    for i, (gap, mm) in enumerate(steps):
        if i == restore_at:
            detector_state = detector.snapshot()
            detector = RainAccumulation(_RAIN_ALL, village="v", device="rain-1", label="g")
            detector.restore(detector_state)
        minute += gap
        r = reading(minute, device="rain-1", mm=mm)
        history.append((r.device_ts_ms, mm))
        for t in detector.reading(r, CLEAN):
            assert t.details == _recount(history, r.device_ts_ms)
        assert {f"{w}h": round(v, 2) for w, v in detector._sums.items()} == _recount(
            history, r.device_ts_ms
        )


@given(
    steps=st.lists(
        st.tuples(st.integers(1, 20), st.floats(0, 500, allow_nan=False)), min_size=1, max_size=200
    ),
    restore_at=st.integers(0, 200),
)
def test_rise_window_minimum_equals_a_recount(
    steps: list[tuple[int, float]], restore_at: int
) -> None:
    """The rise alert is on exactly when a plain look at the window says it should be."""
    config = RiseConfig(window_s=1800, rise_cm=30)
    detector = WaterRise(config, village="v", device="wl-1", label="g")
    history: list[tuple[int, float]] = []
    on = False
    minute = 0
    for i, (gap, level) in enumerate(steps):
        if i == restore_at:
            state = detector.snapshot()
            detector = WaterRise(config, village="v", device="wl-1", label="g")
            detector.restore(state)
        minute += gap
        r = reading(minute, level_cm=level)
        history.append((r.device_ts_ms, level))
        low = min(v for t, v in history if t >= r.device_ts_ms - 1_800_000)
        if not on and level - low >= 30:
            on = True
        elif on and level - low < 15:
            on = False
        detector.reading(r, CLEAN)
        assert detector.firing() == on
