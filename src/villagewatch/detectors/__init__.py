"""Detectors: pure objects that turn readings, events and time into alert transitions.

The transitions and their severities and keys are the hand-off to the alert
engine, so they live in :mod:`villagewatch.transitions`, not here.

:func:`build` makes the detector one family's config describes (the explicit
registry); :func:`device_detectors` assembles everything that watches one
device from its village's ``detect:`` settings and the built-in defaults.
"""

from villagewatch.detectors.anomaly import Anomaly
from villagewatch.detectors.base import CLEAN, Detector, Flags
from villagewatch.detectors.config import (
    AnomalyConfig,
    CameraDetectionsConfig,
    DetectSection,
    FamilyConfigs,
    HealthConfig,
    LevelConfig,
    LockConfig,
    OfflineConfig,
    RainConfig,
    RiseConfig,
)
from villagewatch.detectors.device import (
    DeviceDetectors,
    DeviceInfoForDetect,
    build,
    device_detectors,
)
from villagewatch.detectors.events import CameraDetections, SmartLock, SosButton
from villagewatch.detectors.health import SensorHealth
from villagewatch.detectors.offline import OfflineWatch, WatchedDevice
from villagewatch.detectors.water import RainAccumulation, WaterLevel, WaterRise

__all__ = [
    "CLEAN",
    "Anomaly",
    "AnomalyConfig",
    "CameraDetections",
    "CameraDetectionsConfig",
    "DetectSection",
    "Detector",
    "DeviceDetectors",
    "DeviceInfoForDetect",
    "FamilyConfigs",
    "Flags",
    "HealthConfig",
    "LevelConfig",
    "LockConfig",
    "OfflineConfig",
    "OfflineWatch",
    "RainAccumulation",
    "RainConfig",
    "RiseConfig",
    "SensorHealth",
    "SmartLock",
    "SosButton",
    "WatchedDevice",
    "WaterLevel",
    "WaterRise",
    "build",
    "device_detectors",
]
