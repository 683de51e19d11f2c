"""Anomaly: learnt online; changes flagged within a bounded delay, a clean cycle and a slow
trend not; sensor faults left to health; state bounded and carried over a restart."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from villagewatch.detectors import Anomaly, AnomalyConfig, Flags
from villagewatch.detectors.base import CLEAN

from .helpers import reading

STEP_MIN = 5
CHANGE_AT = 2500
"""Readings of normal behaviour before the change (almost nine days at 5 minutes)."""
READINGS = 3000
DATA = Path(__file__).parent / "data"


def daily(i: int) -> float:
    return 10 * math.sin(2 * math.pi * i * STEP_MIN / 1440)


Series = Callable[[int, random.Random], float]

CHANGES: dict[str, Series] = {
    "level-shift": lambda i, r: 50 + r.gauss(0, 1) + (8 if i >= CHANGE_AT else 0),
    "spike": lambda i, r: 50 + r.gauss(0, 1) + (15 if i == CHANGE_AT else 0),
    "variance-change": lambda i, r: 50 + r.gauss(0, 1 if i < CHANGE_AT else 4),
    "frozen-sensor": lambda i, r: 50 + r.gauss(0, 1) if i < CHANGE_AT else 50.3,
    "daily-cycle-breaks": lambda i, r: (
        50 + daily(i) * (1 if i < CHANGE_AT else 0.2) + r.gauss(0, 0.5)
    ),
}
NORMAL: dict[str, Series] = {
    "clean-daily-cycle": lambda i, r: 50 + daily(i) + r.gauss(0, 0.5),
    "slow-trend": lambda i, r: 50 + i * 0.002 + r.gauss(0, 1),
}


def detector(config: AnomalyConfig | None = None) -> Anomaly:
    return Anomaly(
        config or AnomalyConfig(), village="v", device="wl-1", label="g", metrics=["level_cm"]
    )


def fires(series: Series, readings: int = READINGS, seed: int = 7) -> list[int]:
    """The reading numbers at which the anomaly alert fired."""
    d, rng, out = detector(), random.Random(seed), []
    for i in range(readings):
        transitions = d.reading(reading(i * STEP_MIN, level_cm=series(i, rng)), CLEAN)
        out += [i for t in transitions if t.action == "fire"]
    return out


@pytest.mark.parametrize("name", CHANGES)
def test_a_change_is_flagged_within_a_bounded_delay(name: str) -> None:
    fired = fires(CHANGES[name])
    assert fired, "never fired"
    assert CHANGE_AT <= fired[0] <= CHANGE_AT + 24, fired  # within two hours at 5 minutes


@pytest.mark.parametrize("name", NORMAL)
def test_normal_behaviour_is_not_flagged(name: str) -> None:
    assert fires(NORMAL[name]) == []


def test_the_alert_clears_with_hysteresis_once_the_series_is_calm_again() -> None:
    d, rng, actions = detector(), random.Random(3), []
    for i in range(CHANGE_AT + 400):
        value = 50 + rng.gauss(0, 1) + (15 if i == CHANGE_AT else 0)
        actions += [(i, t.action) for t in d.reading(reading(i * STEP_MIN, level_cm=value), CLEAN)]
    assert [a for _, a in actions] == ["fire", "clear"]
    fired, cleared = (i for i, _ in actions)
    assert fired == CHANGE_AT
    assert cleared - fired >= AnomalyConfig().clear_readings


def test_nothing_fires_while_learning() -> None:
    d = detector(AnomalyConfig(learn_readings=500))
    out = [t for i in range(400) for t in d.reading(reading(i, level_cm=i % 7 * 100.0), CLEAN)]
    assert out == []


def test_a_reading_health_flagged_neither_learns_nor_alerts() -> None:
    d, rng = detector(), random.Random(7)
    for i in range(CHANGE_AT):
        d.reading(reading(i * STEP_MIN, level_cm=50 + rng.gauss(0, 1)), CLEAN)
    before = json.dumps(d.snapshot())
    for flags in (Flags(suspect=frozenset({"level_cm"})), Flags(missing=frozenset({"level_cm"}))):
        assert d.reading(reading(CHANGE_AT * STEP_MIN, level_cm=500.0), flags) == []
    assert json.dumps(d.snapshot()) == before


def test_the_state_is_small_and_a_restored_detector_goes_on_exactly() -> None:
    series, rng = CHANGES["level-shift"], random.Random(7)
    values = [series(i, rng) for i in range(READINGS)]
    a, b = detector(), detector()
    for i, v in enumerate(values[:CHANGE_AT]):
        a.reading(reading(i * STEP_MIN, level_cm=v), CLEAN)
    state = json.loads(json.dumps(a.snapshot()))
    assert len(json.dumps(state["level_cm"])) <= 8192
    b.restore(state)
    for i, v in enumerate(values[CHANGE_AT:], start=CHANGE_AT):
        r = reading(i * STEP_MIN, level_cm=v)
        assert a.reading(r, CLEAN) == b.reading(r, CLEAN)
        assert a.report() == b.report()


def test_a_state_of_another_shape_does_not_fit() -> None:
    d = detector()
    d.reading(reading(0, level_cm=1.0), CLEAN)
    state = d.snapshot()
    state["level_cm"]["scorer"]["day"] = [None] * 3
    with pytest.raises(ValueError, match="profile slots"):
        detector().restore(state)


def test_out_of_order_readings_are_skipped() -> None:
    d = detector()
    d.reading(reading(10, level_cm=1.0), CLEAN)
    d.reading(reading(5, level_cm=99.0), CLEAN)
    assert d.snapshot()["level_cm"]["scorer"]["n"] == 1


def test_the_report_is_once_per_rise() -> None:
    d, rng, reports = detector(), random.Random(7), []
    for i in range(CHANGE_AT + 50):
        value = 50 + rng.gauss(0, 1) + (8 if i >= CHANGE_AT else 0)
        d.reading(reading(i * STEP_MIN, level_cm=value), CLEAN)
        reports.append(d.report())
    after = [r for r in reports[CHANGE_AT:] if r >= AnomalyConfig().fire_score]
    assert len(after) == 1


def test_clear_score_above_fire_score_is_refused() -> None:
    with pytest.raises(ValidationError, match="clear_score"):
        AnomalyConfig(fire_score=0.3, clear_score=0.5)


def test_the_state_of_a_wild_series_stays_within_8_kb() -> None:
    """Every profile slot filled with long floats, values over twelve orders of magnitude."""
    d, rng, largest = detector(), random.Random(1), 0
    for i in range(12_000):
        value = rng.gauss(0, 1) * 10 ** rng.uniform(-3, 3) + (
            rng.uniform(-1e6, 1e6) if i % 977 == 0 else 0
        )
        d.reading(reading(i * 37, level_cm=value), CLEAN)
        if i % 500 == 0:
            largest = max(largest, len(json.dumps(d.snapshot()["level_cm"])))
    assert largest <= 8192


def test_readings_too_large_for_the_math_neither_crash_nor_poison_the_state() -> None:
    d, rng = detector(), random.Random(5)
    for i in range(600):
        value = 1e308 * (-1) ** i if i % 50 == 0 else 50 + rng.gauss(0, 1)
        d.reading(reading(i * STEP_MIN, level_cm=value), CLEAN)
    state = json.dumps(d.snapshot(), allow_nan=False)  # every number still finite
    restored = detector()
    restored.restore(json.loads(state))
    assert restored.snapshot() == d.snapshot()


def test_a_series_that_went_silent_and_came_back_is_flagged_when_it_comes_back() -> None:
    """Readings every 5 minutes (with jitter), then none for 12 hours, then as before."""
    d, rng, fired, minutes = detector(), random.Random(7), [], 0.0
    for i in range(CHANGE_AT + 50):
        minutes += rng.uniform(4, 6) + (12 * 60 if i == CHANGE_AT else 0)
        transitions = d.reading(reading(minutes, level_cm=50 + rng.gauss(0, 1)), CLEAN)
        fired += [i for t in transitions if t.action == "fire"]
    assert fired[:1] == [CHANGE_AT]


def test_readings_at_jittered_intervals_are_not_flagged() -> None:
    d, rng, fired, minutes = detector(), random.Random(7), [], 0.0
    for i in range(READINGS):
        minutes += rng.uniform(2, 8)
        transitions = d.reading(reading(minutes, level_cm=50 + rng.gauss(0, 1)), CLEAN)
        fired += [i for t in transitions if t.action == "fire"]
    assert fired == []


def test_two_spikes_a_reading_apart_are_one_episode_and_one_report() -> None:
    d, rng, reports = detector(), random.Random(7), []
    for i in range(CHANGE_AT + 50):
        spike = {CHANGE_AT: 15, CHANGE_AT + 2: 30}.get(i, 0)
        d.reading(reading(i * STEP_MIN, level_cm=50 + rng.gauss(0, 1) + spike), CLEAN)
        reports.append(d.report())
    after = [(i, r) for i, r in enumerate(reports) if r >= AnomalyConfig().fire_score]
    assert len(after) == 1, after
    assert CHANGE_AT + 2 < after[0][0] <= CHANGE_AT + 8, "the peak, a few readings later"


def test_a_state_saved_before_the_silence_expert_is_upgraded_and_keeps_what_it_learnt() -> None:
    """The state of 2,500 readings of the level-shift series at 5 minutes (seed 7), saved by
    the version without the silence expert: restored, it goes on without starting over."""
    saved = json.loads((DATA / "anomaly-state-before-silence.json").read_text())
    d = detector()
    d.restore({"level_cm": {"scorer": saved, "last_ms": None, "firing": False, "quiet": 0}})
    scorer = d.snapshot()["level_cm"]["scorer"]
    assert scorer["n"] == saved["n"]
    assert scorer["day"] == saved["day"], "the daily profile is kept"
    series, rng, fired = CHANGES["level-shift"], random.Random(7), []
    for i in range(READINGS):
        value = series(i, rng)  # the same draws as the saved run, then the shift
        if i < CHANGE_AT:
            continue
        transitions = d.reading(reading(i * STEP_MIN, level_cm=value), CLEAN)
        fired += [i for t in transitions if t.action == "fire"]
    assert fired, "never fired"
    assert CHANGE_AT <= fired[0] <= CHANGE_AT + 24, fired
