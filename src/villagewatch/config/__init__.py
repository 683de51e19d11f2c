"""Typed settings and the village model (villages, grids, devices), and their loader."""

from villagewatch.config.alerting import AlertKindSettings, AlertsSettings
from villagewatch.config.load import (
    Deployment,
    load_deployment,
    load_settings,
    load_village,
    read_secret,
)
from villagewatch.config.mqtt import MqttSettings, TlsSettings, identity_password_file
from villagewatch.config.settings import (
    ApiSettings,
    DetectSettings,
    FloodScenario,
    IngestSettings,
    RegistrySettings,
    Settings,
    SimulateSettings,
)
from villagewatch.config.stores import (
    InfluxSettings,
    SQLiteSettings,
    StoreSettings,
    VictoriaSettings,
    local_store_file,
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
    "RegistrySettings",
    "SQLiteSettings",
    "Settings",
    "SimulateSettings",
    "StoreSettings",
    "TlsSettings",
    "VictoriaSettings",
    "Village",
    "identity_password_file",
    "load_deployment",
    "load_settings",
    "load_village",
    "local_store_file",
    "read_secret",
]
