"""Device drivers of the edge agent, one small module each (the interface: ``edge/measurement.py``).

``edge.yaml`` lists a site's devices as :data:`DriverSettings` — one config model per driver,
told apart by its ``driver`` key — and :func:`build_driver` makes the driver for one of them.

=========================  ==============================================================
``modbus``                 water level from a Modbus TCP/RTU register (``modbus``)
``serial_line``            water level from ASCII lines on a serial port (``serialline``)
``zigbee2mqtt``            smart locks and SOS buttons behind Zigbee2MQTT (``zigbee2mqtt``)
``tipping_bucket``         rain from a tipping-bucket counter file (``tipping``)
``simulated_*``            a simulated gauge, lock or SOS button (``simulated``)
``camera``                 camera vision: events, gauge level, spaces, evidence (``camera``)
=========================  ==============================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, assert_never

from pydantic import Field

from villagewatch.edge.drivers.camera import CameraConfig, CameraDriver
from villagewatch.edge.drivers.modbus import ModbusConfig, ModbusWaterLevel
from villagewatch.edge.drivers.serialline import SerialLineConfig, SerialLineWaterLevel
from villagewatch.edge.drivers.simulated import (
    SimulatedLock,
    SimulatedLockConfig,
    SimulatedSos,
    SimulatedSosConfig,
    SimulatedWaterLevel,
    SimulatedWaterLevelConfig,
)
from villagewatch.edge.drivers.tipping import TippingBucket, TippingBucketConfig
from villagewatch.edge.drivers.zigbee2mqtt import BridgedDevice, Zigbee2Mqtt, Zigbee2MqttConfig
from villagewatch.edge.measurement import Driver

__all__ = [
    "BridgedDevice",
    "CameraConfig",
    "DriverSettings",
    "ModbusConfig",
    "SerialLineConfig",
    "SimulatedLockConfig",
    "SimulatedSosConfig",
    "SimulatedWaterLevelConfig",
    "TippingBucketConfig",
    "Zigbee2MqttConfig",
    "build_driver",
]

DriverSettings = Annotated[
    ModbusConfig
    | SerialLineConfig
    | Zigbee2MqttConfig
    | TippingBucketConfig
    | SimulatedWaterLevelConfig
    | SimulatedLockConfig
    | SimulatedSosConfig
    | CameraConfig,
    Field(discriminator="driver"),
]
"""One entry of ``edge.yaml``'s ``devices``: the config of one driver, chosen by ``driver``."""


def build_driver(cfg: DriverSettings, state_dir: Path | None = None) -> Driver:
    """The driver that ``cfg`` configures (not started: the agent calls its ``run``); a driver
    that keeps a position across restarts keeps it in ``state_dir``."""
    match cfg:
        case ModbusConfig():
            return ModbusWaterLevel(cfg)
        case SerialLineConfig():
            return SerialLineWaterLevel(cfg)
        case Zigbee2MqttConfig():
            return Zigbee2Mqtt(cfg)
        case TippingBucketConfig():
            return TippingBucket(cfg)
        case SimulatedWaterLevelConfig():
            return SimulatedWaterLevel(cfg)
        case SimulatedLockConfig():
            return SimulatedLock(cfg)
        case SimulatedSosConfig():
            return SimulatedSos(cfg)
        case CameraConfig():
            return CameraDriver(cfg, state_dir)
        case _:
            assert_never(cfg)
