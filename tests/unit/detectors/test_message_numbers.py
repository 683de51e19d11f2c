"""Every alert text against its detector's config: for each detector and each transition it
makes, the numbers the text shows — in Chinese and in English — are the configured levels and
the reading, and nothing else (issue 18: a blue alert said "near the warning level (180 cm)"
while the warning level was 200 cm and the water already above it)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from villagewatch.catalogue import LOCALES, Locale, render
from villagewatch.detectors import (
    CLEAN,
    HealthConfig,
    LevelConfig,
    OfflineConfig,
    OfflineWatch,
    RainConfig,
    RiseConfig,
    SensorHealth,
    WatchedDevice,
)
from villagewatch.detectors.config import CameraDetectionsConfig, LockConfig, RainTier
from villagewatch.detectors.disk import DiskWatch
from villagewatch.detectors.events import CameraDetections, SmartLock
from villagewatch.detectors.water import RainAccumulation, WaterLevel, WaterRise
from villagewatch.transitions import Transition

from .helpers import event, reading

LEVELS = LevelConfig(
    warning_cm=200, guaranteed_cm=250, historical_max_cm=300, blue_margin_cm=20, hold_s=300,
    deadband_cm=5,
)  # fmt: skip


def levels(*points: tuple[float, float]) -> list[Transition]:
    d = WaterLevel(LEVELS, village="v", device="wl-1", label="Stone bridge gauge")
    return [t for minute, cm in points for t in d.reading(reading(minute, level_cm=cm), CLEAN)]


def rise(*points: tuple[float, float]) -> list[Transition]:
    d = WaterRise(
        RiseConfig(window_s=1800, rise_cm=30), village="v", device="wl-1", label="Stone bridge"
    )
    return [t for minute, cm in points for t in d.reading(reading(minute, level_cm=cm), CLEAN)]


def rain(*points: tuple[float, float]) -> list[Transition]:
    tiers = [RainTier(window_h=1, mm=20, severity="yellow"),  # type: ignore[arg-type]
             RainTier(window_h=3, mm=50, severity="orange")]  # type: ignore[arg-type]  # fmt: skip
    d = RainAccumulation(RainConfig(tiers=tiers), village="v", device="rg-1", label="Rain gauge")
    return [t for minute, mm in points for t in d.reading(reading(minute, mm=mm), CLEAN)]


def lock(*events: tuple[float, str, dict[str, float]] | float) -> list[Transition]:
    d = SmartLock(
        LockConfig(wrong_codes=5, wrong_window_s=60, door_ajar_s=300, low_battery_pct=20),
        village="v", device="lock-1", label="House A", credentials=None,
    )  # fmt: skip
    out: list[Transition] = []
    for i, e in enumerate(events):
        if isinstance(e, float):  # a battery reading
            out += d.reading(reading(i, device="lock-1", battery=e), CLEAN)
        else:
            minute, type_, attrs = e
            out += d.event(event(minute, type_, **attrs))  # type: ignore[arg-type]
    return out


def disk(*free_shares: float) -> list[Transition]:
    d = DiskWatch(village="v", low_share=0.1, critical_share=0.03)
    total = 100_000_000_000
    out: list[Transition] = []
    for i, share in enumerate(free_shares):
        out += d.measured("/var", ["alerts", "evidence"], int(total * share), total, i * 60_000)
    return out


def offline() -> list[Transition]:
    cfg = OfflineConfig(factor=3, link_down_share=0.5, link_down_min_devices=3, group_s=60)
    names = ["Gate lock", "East lock", "West lock", "North gauge", "South gauge"]
    w = OfflineWatch("v", [WatchedDevice(n, n, 60, cfg) for n in names], config=cfg)
    w.start(0)
    out: list[Transition] = []
    for minute in range(7):
        for n in names[1:] if minute < 6 else names:
            out += w.seen(n, minute * 60_000)
        out += w.tick(minute * 60_000)
    return out


def health(*values: float, spike: float | None = None) -> list[Transition]:
    d = SensorHealth(
        HealthConfig(sensor_max=500, flat_s=3600, spike=spike), village="v", device="wl-1", label="Gauge",
        metrics=["level_cm"], interval_s=900,
    )  # fmt: skip
    return [t for i, v in enumerate(values) for t in d.check(reading(i * 15, level_cm=v))[0]]


def camera(dwell_s: float) -> list[Transition]:
    d = CameraDetections(CameraDetectionsConfig(), village="v", device="cam", label="Market")
    attrs = {"detection": "illegal_parking", "zone": "lane", "dwell_s": dwell_s}
    fired = d.event(event(0, "detection", device="cam", **attrs))  # type: ignore[arg-type]
    return fired + d.event(event(1, "cleared", device="cam", **attrs))  # type: ignore[arg-type]


WRONG: list[tuple[float, str, dict[str, float]]] = [(0.1 * i, "wrong_code", {}) for i in range(5)]

# (the transitions, what each says: its message key and the numbers in its text)
CASES: dict[str, tuple[Callable[[], list[Transition]], list[tuple[str, set[str]]]]] = {
    "level-blue-below-warning": (
        lambda: levels((0, 185), (6, 186)),
        [("water_level.below_warning", {"186", "14", "200"})],
    ),
    "level-blue-while-already-above-warning": (  # the bug of issue 18
        lambda: levels((0, 190), (5, 205)),
        [("water_level.above_warning", {"205", "200"})],
    ),
    "level-yellow-orange-red": (
        lambda: levels((0, 205), (5, 206), (10, 255), (15, 256), (20, 305), (25, 306)),
        [
            ("water_level.above_warning", {"206", "200"}),
            ("water_level.above_guaranteed", {"256", "250"}),
            ("water_level.above_record", {"306", "300"}),
        ],
    ),
    "level-steps-down-inside-the-deadband": (
        lambda: levels((0, 255), (5, 256), (6, 247), (7, 240)),
        [
            ("water_level.above_guaranteed", {"256", "250"}),
            ("water_level.above_warning", {"240", "200"}),
        ],
    ),
    "level-clears": (
        lambda: levels((0, 205), (5, 206), (6, 150)),
        [("water_level.above_warning", {"206", "200"}), ("water_level.down", {"150", "200"})],
    ),
    "rise-fires-and-clears": (
        lambda: rise((0, 100), (10, 120), (20, 134.5), (60, 136)),
        [("water_rise.fire", {"34.5", "30", "134.5"}), ("water_rise.clear", {"136"})],
    ),
    "rain-yellow-then-orange": (
        lambda: rain((0, 0), (10, 12), (20, 10), (60, 15), (90, 16)),
        [("rain.fire", {"22", "1"}), ("rain.fire", {"53", "3"})],
    ),
    "lock-wrong-codes": (
        lambda: lock(*WRONG),
        [("lock.wrong_codes", {"5", "60"})],
    ),
    "lock-door-ajar": (
        lambda: lock((0, "door_ajar", {"duration_s": 600})),
        [("lock.door_ajar", {"10"})],
    ),
    "lock-battery": (
        lambda: lock(15.0, 90.0),
        [("lock.battery_at", {"15"}), ("lock.battery_at", {"90"})],
    ),
    "disk-low-critical-free": (
        lambda: disk(0.08, 0.02, 0.5),
        [
            ("disk.filling", {"8.0", "8"}),
            ("disk.filling", {"2.0", "2"}),
            ("disk.free_again", {"50"}),
        ],
    ),
    "offline-device-and-back": (
        offline,
        [("offline.device", {"5"}), ("offline.back", set())],
    ),
    "health-range": (
        lambda: health(100, 600, 101),
        [("health.range", {"600"}), ("health.range_passes", set())],
    ),
    "health-flat": (
        lambda: health(100, 100, 100, 100, 100, 120),
        [("health.flat", {"1"}), ("health.flat_passes", set())],
    ),
    "health-spike": (
        lambda: health(100, 100.5, 101, 100.5, 140, 100.6, spike=12),
        [("health.spike", {"140", "100.5"}), ("health.spike_back", {"100.6"})],
    ),
    "camera-dwell": (
        lambda: camera(900),
        [("camera.fire_dwell", {"15"}), ("camera.clear", set())],
    ),
}

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


def numbers(text: str, path: str = "") -> set[str]:
    """The numbers of ``text``, leaving out those of a file system path."""
    return set(_NUMBER.findall(text.replace(path, "")))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("case", list(CASES))
def test_each_text_shows_the_configured_levels_and_the_reading(case: str, locale: Locale) -> None:
    make, expected = CASES[case]
    out = make()
    assert [t.message_key for t in out] == [key for key, _ in expected]
    for t, (_, want) in zip(out, expected, strict=True):
        text = render(t.message_key, t.params, locale)
        assert numbers(text, "/var") == want, text
        assert t.message == render(t.message_key, t.params, "en"), "the stored text is English"
