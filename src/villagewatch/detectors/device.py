"""Everything that watches one device: the registry of detector families and their defaults."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from villagewatch.contract import DeviceKind, Event, Reading
from villagewatch.detectors.anomaly import Anomaly
from villagewatch.detectors.base import CLEAN, Detector
from villagewatch.detectors.config import (
    MAIN_METRICS,
    AnomalyConfig,
    CameraDetectionsConfig,
    FamilyConfigs,
    HealthConfig,
    LevelConfig,
    LockConfig,
    OfflineConfig,
    RainConfig,
    RiseConfig,
)
from villagewatch.detectors.events import (
    CameraDetections,
    RegisteredCredential,
    SmartLock,
    SosButton,
)
from villagewatch.detectors.health import SensorHealth
from villagewatch.detectors.water import RainAccumulation, WaterLevel, WaterRise
from villagewatch.transitions import Transition

__all__ = ["DeviceDetectors", "DeviceInfoForDetect", "FamilyConfig", "build", "device_detectors"]

FamilyConfig = (
    LevelConfig
    | RiseConfig
    | RainConfig
    | HealthConfig
    | LockConfig
    | CameraDetectionsConfig
    | AnomalyConfig
)

# What runs when a village configures nothing. Rain is bursty and often zero for
# days, so a rain gauge's health is its range only: no spike or flat-line test.
_DEFAULTS: dict[DeviceKind, dict[str, FamilyConfig]] = {
    DeviceKind.WATER_LEVEL: {"health": HealthConfig()},
    DeviceKind.RAIN_GAUGE: {"health": HealthConfig(spike=None, flat_s=None), "rain": RainConfig()},
    DeviceKind.SMART_LOCK: {"lock": LockConfig()},
    DeviceKind.CALL_BUTTON: {},
    DeviceKind.CAMERA: {"camera": CameraDetectionsConfig()},
}
_FAMILIES = ("health", "level", "rise", "rain", "lock", "camera", "anomaly")


@dataclass(frozen=True, slots=True)
class DeviceInfoForDetect:
    """What the detectors need to know of a device."""

    village: str
    id: str
    kind: DeviceKind
    label: str
    interval_s: float
    credentials: Sequence[RegisteredCredential] | None = None
    """Lock: its house's registered credentials; None when it is in no house."""


def build(cfg: FamilyConfig, device: DeviceInfoForDetect) -> Detector:
    """The detector one family's config describes, for ``device``."""
    common: dict[str, Any] = {"village": device.village, "device": device.id, "label": device.label}
    match cfg:
        case LevelConfig():
            return WaterLevel(cfg, **common)
        case RiseConfig():
            return WaterRise(cfg, **common)
        case RainConfig():
            return RainAccumulation(cfg, **common)
        case HealthConfig():
            return SensorHealth(
                cfg,
                metrics=MAIN_METRICS.get(device.kind, []),
                interval_s=device.interval_s,
                **common,
            )
        case LockConfig():
            return SmartLock(cfg, credentials=device.credentials, **common)
        case CameraDetectionsConfig():
            return CameraDetections(cfg, **common)
        case AnomalyConfig():
            return Anomaly(cfg, metrics=MAIN_METRICS.get(device.kind, []), **common)
        case _:
            assert_never(cfg)


def resolve(kind: DeviceKind, *layers: FamilyConfigs | None) -> dict[str, FamilyConfig]:
    """Per family, the first setting found in the device, then the kind, then the defaults."""
    chosen: dict[str, FamilyConfig] = {}
    for family in _FAMILIES:
        value: FamilyConfig | bool | None = None
        for layer in layers:
            value = getattr(layer, family) if layer is not None else None
            if value is not None:
                break
        if value is None:
            value = _DEFAULTS[kind].get(family)
        if value is not None and value is not False:
            assert not isinstance(value, bool)
            chosen[family] = value
    return chosen


def offline_config(
    kind_cfg: FamilyConfigs | None, device_cfg: FamilyConfigs | None
) -> OfflineConfig | None:
    """The device's offline settings; None when offline detection is turned off for it."""
    for layer in (device_cfg, kind_cfg):
        value = layer.offline if layer is not None else None
        if value is False:
            return None
        if value is not None:
            return value
    return OfflineConfig()


class DeviceDetectors:
    """Runs one device's detectors: health first, so value detectors skip suspect readings."""

    def __init__(self, info: DeviceInfoForDetect, detectors: list[Detector]) -> None:
        self.info = info
        self._health = next((d for d in detectors if isinstance(d, SensorHealth)), None)
        self._others = [d for d in detectors if not isinstance(d, SensorHealth)]
        self._ticking = [d for d in detectors if type(d).tick is not Detector.tick]
        self.detectors = detectors
        self.ticks = bool(self._ticking)
        """Whether time passing alone can move any of them (the base ``tick`` does nothing)."""

    def reading(self, r: Reading) -> list[Transition]:
        """Health check, then every value detector with the health flags."""
        out: list[Transition] = []
        flags = CLEAN
        if self._health is not None:
            out, flags = self._health.check(r)
        for d in self._others:
            out += d.reading(r, flags)
        return out

    def event(self, e: Event) -> list[Transition]:
        """Every detector that reacts to events."""
        return [t for d in self._others for t in d.event(e)]

    def tick(self, now_ms: int) -> list[Transition]:
        """Time passes for every detector that reacts to it."""
        return [t for d in self._ticking for t in d.tick(now_ms)]

    def snapshot(self) -> dict[str, Any]:
        """Each detector's state by its name."""
        return {d.name: d.snapshot() for d in self.detectors}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot` (detectors added since start fresh)."""
        for d in self.detectors:
            if d.name in state:
                d.restore(state[d.name])

    def forget_future(self, limit_ms: int) -> None:
        """Every detector forgets its times later than ``limit_ms``."""
        for d in self.detectors:
            d.forget_future(limit_ms)


def device_detectors(
    info: DeviceInfoForDetect, kind_cfg: FamilyConfigs | None, device_cfg: FamilyConfigs | None
) -> DeviceDetectors:
    """Everything that watches ``info``'s device, from its village's settings."""
    families = resolve(info.kind, device_cfg, kind_cfg)
    detectors = [build(cfg, info) for cfg in families.values()]
    if info.kind is DeviceKind.CALL_BUTTON:
        detectors.append(SosButton(village=info.village, device=info.id, label=info.label))
    return DeviceDetectors(info, detectors)
