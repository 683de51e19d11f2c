"""The config reference (``docs/config.md``), rendered from the models' field descriptions.

``villagewatch config reference`` prints it; a test fails when the committed
file and the models disagree, so the reference can't go stale.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from villagewatch.config import (
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
    TlsSettings,
    VictoriaSettings,
)
from villagewatch.config.bus import MqttBus, NatsBus
from villagewatch.config.relational import PostgresSettings, SQLiteFilesSettings
from villagewatch.config.teams import (
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    Member,
    Team,
    WebhookChannel,
    WeComChannel,
)
from villagewatch.config.village import (
    Credential,
    DeviceSpec,
    Grid,
    House,
    Position,
    Tenant,
    Village,
)
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
    RainTier,
    RiseConfig,
)
from villagewatch.edge.drivers import (
    BridgedDevice,
    CameraConfig,
    ModbusConfig,
    SerialLineConfig,
    SimulatedLockConfig,
    SimulatedSosConfig,
    SimulatedWaterLevelConfig,
    TippingBucketConfig,
    Zigbee2MqttConfig,
)
from villagewatch.edge.remote import RemoteConfig
from villagewatch.edge.settings import ClockSettings, EdgeSettings, OutboxSettings
from villagewatch.edge.vision.capturetime import CaptureSettings
from villagewatch.edge.vision.config import (
    CameraVision,
    GaugeSettings,
    Mask,
    MotionSettings,
    ParkingSettings,
    Zone,
)

__all__ = ["SECTIONS", "render_reference"]

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("Settings file", Settings),
    ("mqtt", MqttSettings),
    ("mqtt.tls", TlsSettings),
    ("store (kind: influx)", InfluxSettings),
    ("store (kind: victoria)", VictoriaSettings),
    ("store (kind: sqlite)", SQLiteSettings),
    ("ingest", IngestSettings),
    ("ingest.bus (kind: mqtt)", MqttBus),
    ("ingest.bus (kind: nats)", NatsBus),
    ("detect", DetectSettings),
    ("alerts", AlertsSettings),
    ("alerts.kinds.<kind>", AlertKindSettings),
    ("alerts.channels.<id> (kind: webhook)", WebhookChannel),
    ("alerts.channels.<id> (kind: dingtalk)", DingTalkChannel),
    ("alerts.channels.<id> (kind: wecom)", WeComChannel),
    ("alerts.channels.<id> (kind: feishu)", FeishuChannel),
    ("alerts.channels.<id> (kind: email)", EmailChannel),
    ("team (of a grid, a village, a town)", Team),
    ("team.members[]", Member),
    ("api", ApiSettings),
    ("simulate", SimulateSettings),
    ("simulate.flood", FloodScenario),
    ("relational (kind: sqlite)", SQLiteFilesSettings),
    ("relational (kind: postgres)", PostgresSettings),
    ("Village file", Village),
    ("grids[]", Grid),
    ("devices[]", DeviceSpec),
    ("devices[].position", Position),
    ("houses[] (rental registry)", House),
    ("houses[].tenants[]", Tenant),
    ("houses[].tenants[].credentials[]", Credential),
    ("detect (village file)", DetectSection),
    ("detect.kinds.<kind> / detect.devices.<device>", FamilyConfigs),
    ("… level", LevelConfig),
    ("… rise", RiseConfig),
    ("… rain", RainConfig),
    ("… rain.tiers[]", RainTier),
    ("… health", HealthConfig),
    ("… offline", OfflineConfig),
    ("… lock", LockConfig),
    ("… camera", CameraDetectionsConfig),
    ("… anomaly", AnomalyConfig),
    ("edge.yaml (one edge agent)", EdgeSettings),
    ("edge.yaml: outbox", OutboxSettings),
    ("edge.yaml: clock", ClockSettings),
    ("edge.yaml: devices[] (driver: modbus)", ModbusConfig),
    ("edge.yaml: devices[] (driver: serial_line)", SerialLineConfig),
    ("edge.yaml: devices[] (driver: zigbee2mqtt)", Zigbee2MqttConfig),
    ("edge.yaml: devices[] (driver: zigbee2mqtt) devices[]", BridgedDevice),
    ("edge.yaml: devices[] (driver: tipping_bucket)", TippingBucketConfig),
    ("edge.yaml: devices[] (driver: simulated_water_level)", SimulatedWaterLevelConfig),
    ("edge.yaml: devices[] (driver: simulated_lock)", SimulatedLockConfig),
    ("edge.yaml: devices[] (driver: simulated_sos)", SimulatedSosConfig),
    ("edge.yaml: devices[] (driver: camera)", CameraConfig),
    ("Camera file (`camera:` of a camera driver; config/cameras/)", CameraVision),
    ("camera file: masks[]", Mask),
    ("camera file: zones[]", Zone),
    ("camera file: motion", MotionSettings),
    ("camera file: gauge", GaugeSettings),
    ("camera file: parking", ParkingSettings),
    ("camera file: capture", CaptureSettings),
    ("Remote config (`config` of the retained `vw/v1/<village>/<agent>/config`)", RemoteConfig),
]
"""Every model of every config file, under the title of its part of the reference."""

_INTRO = """\
# Config reference

Generated from the models by `villagewatch config reference` (a test keeps it
current). Check a file with `villagewatch config check FILE…`: every problem is
printed as `file:line: path: reason`, and the exit code is 1. A file's name says
what it is: `villagewatch.yaml` or `settings.yaml` a settings file, `edge.yaml`
an edge agent's, a file in a `cameras/` folder a camera file, and any other a
village file; `--kind settings|village|edge|camera` says it for other names.

A deployment has one **settings file** (broker, store, ingester, API,
simulator) naming one **village file** per village. Relative paths in the
settings file are relative to that file; absolute ones are kept. Secrets are
never written in either: `password_file`, `token_file` and `secret_file` name
files holding them, and a service refuses to start when one of them (or a TLS
certificate or key) cannot be read. `config check` leaves that out, since it
often runs where the secrets are not; `config check --files` checks it too.
Examples: `config/demo/` (the demo) and `config/production/`.

An **edge agent** has its own `edge.yaml` (example: `config/edge/edge.yaml`;
relative paths are relative to it); the centre may change parts of it with a
**remote config** (docs/edge.md). `config check` given an edge.yaml together
with the settings or village file of its village checks that they agree: the
village names the agent as the `agent` of each device it lists, and the agent
signs in as its id (docs/broker.md).
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_type_name(a) for a in args))
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " / ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "see below"
    if field.default is PydanticUndefined:
        return "**required**"
    value = field.default
    if isinstance(value, Enum):
        value = value.value
    return f"`{value}`" if value is not None else "unset"


def render_reference() -> str:
    """The whole reference as Markdown."""
    out = [_INTRO]
    for title, model in SECTIONS:
        doc = (model.__doc__ or "").strip().splitlines()[0]
        out.append(
            f"\n## {title}\n\n{doc}\n\n| key | type | default | meaning |\n|---|---|---|---|"
        )
        for name, field in model.model_fields.items():
            meaning = (field.description or "").replace("|", "\\|")
            out.append(
                f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |"
            )
    return "\n".join(out) + "\n"
