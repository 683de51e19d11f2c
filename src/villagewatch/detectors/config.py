"""Typed settings of every detector, as they appear in a village file's ``detect:`` section.

Each detector family has one model; a village sets them per device kind
(``detect.kinds``) and per device (``detect.devices``). A device's entry for a
family replaces the kind's entry for that family as a whole; ``false`` turns a
family off. What runs when nothing is configured is listed in
``docs/detectors.md``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from villagewatch.contract import DeviceKind, Identifier, StrictModel
from villagewatch.transitions import Severity

__all__ = [
    "AnomalyConfig",
    "CameraDetectionsConfig",
    "DetectSection",
    "FamilyConfigs",
    "HealthConfig",
    "LevelConfig",
    "LockConfig",
    "OfflineConfig",
    "RainConfig",
    "RainTier",
    "RiseConfig",
]


class LevelConfig(StrictModel):
    """Water level against a gauge's warning (警戒), guaranteed (保证) and record levels."""

    metric: str = Field("level_cm", description="The reading's metric that is the water level.")
    warning_cm: float = Field(description="警戒水位: at or above it the alert is yellow.")
    guaranteed_cm: float | None = Field(None, description="保证水位: at or above it, orange.")
    historical_max_cm: float | None = Field(
        None, description="The highest level on record: at or above it, red."
    )
    blue_margin_cm: float = Field(
        20, ge=0, description="Blue when within this margin below the warning level."
    )
    hold_s: float = Field(
        300, ge=0, description="A level must hold this long before its alert fires or rises."
    )
    deadband_cm: float = Field(
        5, ge=0, description="An alert only steps down once the water is this far below the level."
    )

    @model_validator(mode="after")
    def _ordered(self) -> LevelConfig:
        levels = [self.warning_cm, self.guaranteed_cm, self.historical_max_cm]
        present = [v for v in levels if v is not None]
        if present != sorted(present) or len(set(present)) != len(present):
            raise ValueError("levels must rise: warning_cm < guaranteed_cm < historical_max_cm")
        return self


class RiseConfig(StrictModel):
    """A fast rise of the water (水位陡升), whatever the level."""

    metric: str = Field("level_cm", description="The reading's metric that is the water level.")
    window_s: float = Field(1800, gt=0, description="Look back this far…")
    rise_cm: float = Field(30, gt=0, description="…for a rise of at least this much.")


class RainTier(StrictModel):
    """One tier: this much rain within this window raises this severity."""

    window_h: Literal[1, 3, 6, 12, 24] = Field(description="Accumulation window, hours.")
    mm: float = Field(gt=0, description="Rain in the window, mm, at or above which it fires.")
    severity: Severity = Field(description="Severity of this tier.")


class RainConfig(StrictModel):
    """Rain accumulated over sliding windows, against tiers."""

    tiers: list[RainTier] = Field(
        default_factory=lambda: [
            RainTier(window_h=24, mm=50, severity=Severity.BLUE),
            RainTier(window_h=6, mm=50, severity=Severity.YELLOW),
            RainTier(window_h=1, mm=30, severity=Severity.YELLOW),
            RainTier(window_h=3, mm=50, severity=Severity.ORANGE),
            RainTier(window_h=3, mm=100, severity=Severity.RED),
        ],
        min_length=1,
        description="The tiers; the highest one met sets the alert's severity.",
    )
    clear_ratio: float = Field(
        0.8, gt=0, le=1, description="A tier ends when its sum falls below this share of it."
    )


class HealthConfig(StrictModel):
    """Sensor health of a numeric series (the QARTOD tests)."""

    metrics: list[str] | None = Field(
        None, description="Metrics to check; unset: the kind's main metric (level_cm, mm)."
    )
    sentinels: list[float] = Field(
        [-9999.0, -99999.0], description="Values that mean 'no measurement', not a value."
    )
    sensor_min: float | None = Field(None, description="Below what the sensor can report: fail.")
    sensor_max: float | None = Field(None, description="Above what the sensor can report: fail.")
    plausible_min: float | None = Field(None, description="Below what is plausible here: suspect.")
    plausible_max: float | None = Field(None, description="Above what is plausible here: suspect.")
    spike: float | None = Field(
        12,
        gt=0,
        description="A reading this far from the median of the last spike_window good ones "
        "starts a spike (metric units); unset: no spike test.",
    )
    spike_noise_factor: float | None = Field(
        30,
        gt=0,
        description="The spike threshold rises to this many times the typical change between "
        "good readings (a running mean), so a lively river in flood is not all spikes; "
        "unset: the threshold stays fixed.",
    )
    spike_window: int = Field(8, ge=3, description="Good readings the spike median is taken over.")
    spike_max_s: float = Field(
        3600,
        gt=0,
        description="An excursion that lasts longer is a real change of level, not a spike: "
        "its readings count as good from then on.",
    )
    spike_settle_readings: int | None = Field(
        5,
        ge=1,
        description="An excursion whose readings hold together (each within `spike` of the one "
        "before) for this many readings is a real change of level — a flood rising faster than "
        "the median follows, or a history that was wrong — not a spike: its readings count as "
        "good from then on; unset: only spike_max_s ends it.",
    )
    rate_max_per_s: float | None = Field(
        None, gt=0, description="Faster change between readings is suspect (no alert of its own)."
    )
    flat_tolerance: float = Field(
        0.0, ge=0, description="Readings within this of each other count as unchanged."
    )
    flat_s: float | None = Field(
        21600, gt=0, description="Unchanged this long: the sensor is stuck; unset: no test."
    )
    gap_factor: float | None = Field(
        3,
        gt=1,
        description="A gap longer than this many expected intervals raises a data-gap alert; "
        "unset: no test.",
    )


class OfflineConfig(StrictModel):
    """A device that stops sending, and whole links that go down."""

    factor: float = Field(3, gt=1, description="Offline after this many expected intervals.")
    link_down_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="When this share of a village's devices goes offline within group_s, "
        "one link_down alert stands for them all.",
    )
    link_down_min_devices: int = Field(3, ge=2, description="…and at least this many.")
    group_s: float = Field(
        60, ge=0, description="How long device-offline alerts wait to be grouped."
    )


class LockConfig(StrictModel):
    """Smart-lock rules."""

    wrong_codes: int = Field(5, ge=1, description="This many wrong codes…")
    wrong_window_s: float = Field(60, gt=0, description="…within this window raise an alert.")
    door_ajar_s: float = Field(300, gt=0, description="A door open longer than this: alert.")
    low_battery_pct: float = Field(20, ge=0, le=100, description="Battery below this: alert.")


class CameraDetectionsConfig(StrictModel):
    """Detections reported by cameras at the edge."""

    severity: dict[str, Severity] = Field(
        default_factory=lambda: {
            "illegal_parking": Severity.YELLOW,
            "exposed_garbage": Severity.BLUE,
            "street_vending": Severity.BLUE,
            "river_debris": Severity.YELLOW,
        },
        description="Severity per detection type.",
    )


MAIN_METRICS: dict[DeviceKind, list[str]] = {
    DeviceKind.WATER_LEVEL: ["level_cm"],
    DeviceKind.RAIN_GAUGE: ["mm"],
    DeviceKind.CAMERA: ["level_cm"],
}
"""The series a kind's value detectors watch when none is named (health, anomaly)."""


class AnomalyConfig(StrictModel):
    """A series that behaves unlike its own past: learnt online, for any numeric metric."""

    metrics: list[str] | None = Field(
        None,
        description="Metrics to watch, each its own series (e.g. battery_pct, rssi_dbm); "
        "unset: the kind's main metric (level_cm, mm).",
    )
    learn_readings: int = Field(
        200,
        ge=0,
        description="Readings a series learns from before it may raise an alert "
        "(it goes on learning after).",
    )
    fire_score: float = Field(
        0.35,
        gt=0,
        le=1,
        description="A score (0..1: -log10 of how rare the reading is for this series, "
        "corrected for the number of measures asked, / 12; 0.25 is one in 1,000, 0.5 one in a "
        "million) at or above it fires the series' alert.",
    )
    clear_score: float = Field(
        0.175, ge=0, le=1, description="The alert clears once the score stays below this…"
    )
    clear_readings: int = Field(12, ge=1, description="…for this many readings in a row.")
    severity: Severity = Field(Severity.BLUE, description="Severity of the anomaly alert.")

    @model_validator(mode="after")
    def _hysteresis(self) -> AnomalyConfig:
        if self.clear_score > self.fire_score:
            raise ValueError("clear_score must not be above fire_score")
        return self


class FamilyConfigs(StrictModel):
    """Detector families for a device kind or one device; ``false`` turns one off."""

    level: LevelConfig | Literal[False] | None = Field(
        None, description="Water level against warning levels (needs the gauge's levels)."
    )
    rise: RiseConfig | Literal[False] | None = Field(None, description="Fast rise of the water.")
    rain: RainConfig | Literal[False] | None = Field(
        None, description="Rain accumulations (on by default for rain gauges)."
    )
    health: HealthConfig | Literal[False] | None = Field(
        None, description="Sensor health (on by default for water and rain gauges)."
    )
    offline: OfflineConfig | Literal[False] | None = Field(
        None, description="Silent devices and link-down (on by default for every device)."
    )
    lock: LockConfig | Literal[False] | None = Field(
        None, description="Smart-lock rules (on by default for smart locks)."
    )
    camera: CameraDetectionsConfig | Literal[False] | None = Field(
        None, description="Camera detections (on by default for cameras)."
    )
    anomaly: AnomalyConfig | Literal[False] | None = Field(
        None, description="Anomalies no threshold names, learnt per series (off by default)."
    )


class DetectSection(StrictModel):
    """A village file's ``detect:`` section."""

    kinds: dict[DeviceKind, FamilyConfigs] = Field(
        default_factory=dict, description="Settings for every device of a kind."
    )
    devices: dict[Identifier, FamilyConfigs] = Field(
        default_factory=dict, description="Settings for one device; replace its kind's, per family."
    )
