"""Sensor health (QARTOD): sentinels, gross range, spikes vs level shifts, rate, flat line, gap."""

from __future__ import annotations

import pytest

from villagewatch.detectors import HealthConfig, SensorHealth

from .helpers import reading, summary

BASE = [60.0, 60.2, 59.9, 60.1, 60.0, 60.3, 59.8, 60.1]


def run(
    values: list[float], config: HealthConfig | None = None, step_min: float = 15
) -> tuple[list[tuple[str, str, str]], list[bool]]:
    """Feed values 15 minutes apart; (transitions, whether each value was usable)."""
    health = SensorHealth(
        config or HealthConfig(),
        village="v",
        device="wl-1",
        label="g",
        metrics=["level_cm"],
        interval_s=900,
    )
    out, usable = [], []
    for i, v in enumerate(values):
        transitions, flags = health.check(reading(i * step_min, level_cm=v))
        out += transitions
        usable.append(flags.usable("level_cm"))
    return summary(out), usable


@pytest.mark.parametrize(
    ("values", "expected", "usable_tail"),
    [
        pytest.param(BASE, [], [True] * 3, id="calm-series"),
        pytest.param(
            [*BASE, 35.2, 13.5, 13.3, 59.3, 59.0],
            [("spike:level_cm", "fire", "yellow"), ("spike:level_cm", "clear", "yellow")],
            [False, False, False, True, True],
            id="three-sample-dip-is-one-spike",
        ),
        pytest.param([*BASE, 69.4, 60.1], [], [True, True], id="nine-cm-jump-is-not-a-spike"),
        pytest.param(
            [*BASE, -9999.0, 60.0], [], [False, True], id="sentinel-is-missing-not-a-spike"
        ),
        pytest.param(
            BASE + [90.0] * 7,
            [("spike:level_cm", "fire", "yellow"), ("spike:level_cm", "clear", "yellow")],
            [False, False, False, False, False, True, True],
            id="lasting-change-of-level-is-accepted-when-it-holds-for-five-readings",
        ),
    ],
)
def test_spikes(
    values: list[float], expected: list[tuple[str, str, str]], usable_tail: list[bool]
) -> None:
    transitions, usable = run(values)
    assert transitions == expected
    assert usable[-len(usable_tail) :] == usable_tail


def test_gross_range_fails_outside_sensor_limits_and_recovers() -> None:
    config = HealthConfig(sensor_min=0, sensor_max=500, plausible_max=200, spike=None)
    transitions, usable = run([60, 61, 600, 62, 250], config)
    assert transitions == [
        ("range:level_cm", "fire", "yellow"),
        ("range:level_cm", "clear", "yellow"),
    ]
    assert usable == [True, True, False, True, False]  # 250: within the sensor, not plausible here


def test_flat_line_is_a_stuck_sensor() -> None:
    config = HealthConfig(flat_s=3600, spike=None)
    transitions, usable = run([60.0] * 6 + [60.5], config)
    assert transitions == [
        ("flat:level_cm", "fire", "yellow"),
        ("flat:level_cm", "clear", "yellow"),
    ]
    assert usable == [True, True, True, True, False, False, True]


def test_rate_of_change_flags_without_alerting() -> None:
    config = HealthConfig(rate_max_per_s=0.05, spike=None)  # 3 cm a minute
    transitions, usable = run([60, 61, 80, 81], config, step_min=1)
    assert transitions == []
    assert usable == [True, True, False, True]


def test_after_a_gap_the_median_starts_afresh() -> None:
    health = SensorHealth(
        HealthConfig(), village="v", device="wl-1", label="g", metrics=["level_cm"], interval_s=900
    )
    for i, v in enumerate(BASE):
        health.check(reading(i * 15, level_cm=v))
    transitions, flags = health.check(
        reading(8 * 15 + 600, level_cm=95.0)
    )  # 10 h later, 35 cm higher
    assert transitions == [] and flags.usable("level_cm")


def test_out_of_order_and_duplicate_readings_are_not_evidence() -> None:
    health = SensorHealth(
        HealthConfig(), village="v", device="wl-1", label="g", metrics=["level_cm"], interval_s=900
    )
    for i, v in enumerate(BASE):
        health.check(reading(i * 15, level_cm=v))
    transitions, flags = health.check(reading(30, level_cm=10.0))
    assert transitions == [] and not flags.usable("level_cm")
    transitions, flags = health.check(reading(7 * 15, level_cm=60.1))
    assert transitions == [] and not flags.usable("level_cm")


def test_score_is_one_while_firing_and_below_half_otherwise() -> None:
    health = SensorHealth(
        HealthConfig(), village="v", device="wl-1", label="g", metrics=["level_cm"], interval_s=900
    )
    for i, v in enumerate(BASE):
        health.check(reading(i * 15, level_cm=v))
    health.check(reading(120, level_cm=68.0))
    assert 0.1 < health.score() < 0.5
    health.check(reading(135, level_cm=20.0))
    assert health.score() == 1.0


def test_health_state_survives_snapshot_restore() -> None:
    first = SensorHealth(
        HealthConfig(), village="v", device="wl-1", label="g", metrics=["level_cm"], interval_s=900
    )
    for i, v in enumerate([*BASE, 20.0]):
        first.check(reading(i * 15, level_cm=v))
    second = SensorHealth(
        HealthConfig(), village="v", device="wl-1", label="g", metrics=["level_cm"], interval_s=900
    )
    second.restore(first.snapshot())
    transitions, _ = second.check(reading(9 * 15, level_cm=60.0))
    assert summary(transitions) == [("spike:level_cm", "clear", "yellow")]


def test_a_fast_steady_rise_is_a_real_rise_within_a_few_readings_not_an_hour_of_spike() -> None:
    """A quiet river, then 5 cm a minute: the median lags the rise and calls it a spike, but
    a rise whose readings hold together is let through after five readings — the level alert
    must not wait an hour (the excursion's own limit) while a flood rises."""
    quiet = [120.0 + (i % 3) * 0.3 for i in range(20)]
    rise = [120.0 + 5 * i for i in range(1, 40)]
    transitions, usable = run(quiet + rise, step_min=1)
    held = [i for i, ok in enumerate(usable) if not ok]
    assert len(held) <= 7, held
    assert transitions[-1] == ("spike:level_cm", "clear", "yellow")


def test_a_wild_reading_that_wanders_is_still_a_spike() -> None:
    """Jumps that come and go in both directions are no steady rise."""
    transitions, usable = run([*BASE, 90.0, 70.0, 95.0, 72.0, 60.1], step_min=1)
    assert transitions == [
        ("spike:level_cm", "fire", "yellow"),
        ("spike:level_cm", "clear", "yellow"),
    ]
    assert usable[-5:] == [False, False, False, False, True]


def test_a_median_built_on_wrong_readings_gives_way_to_the_real_level() -> None:
    """Two readings at 1,000 m first (one hostile message), then the river: after five that
    hold together the river is the level, not an hour of 'spike'."""
    transitions, usable = run([100_000.0, 100_000.0, *BASE, *BASE], step_min=1)
    assert usable[-8:] == [True] * 8
    assert transitions[-1] == ("spike:level_cm", "clear", "yellow")
