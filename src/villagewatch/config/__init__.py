"""Typed settings and the village model (villages, grids, devices), and their loader."""

from villagewatch.config.load import (
    Deployment,
    load_deployment,
    load_village,
    read_secret,
)
from villagewatch.config.settings import (
    AlertKindSettings,
    AlertsSettings,
    ApiSettings,
    DetectSettings,
    FloodScenario,
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    Settings,
    SimulateSettings,
    SQLiteSettings,
    StoreSettings,
    TlsSettings,
    identity_password_file,
)
from villagewatch.config.village import DeviceSpec, Grid, Position, Village

__all__ = [
    "AlertKindSettings",
    "AlertsSettings",
    "ApiSettings",
    "Deployment",
    "DetectSettings",
    "DeviceSpec",
    "FloodScenario",
    "Grid",
    "InfluxSettings",
    "IngestSettings",
    "MqttSettings",
    "Position",
    "SQLiteSettings",
    "Settings",
    "SimulateSettings",
    "StoreSettings",
    "TlsSettings",
    "Village",
    "identity_password_file",
    "load_deployment",
    "load_village",
    "read_secret",
]
