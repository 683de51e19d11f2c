"""Driver configs and the registry: mistakes refused, the configured driver built, every
field described."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from villagewatch.edge.drivers import (
    BridgedDevice,
    CameraConfig,
    DriverSettings,
    ModbusConfig,
    SerialLineConfig,
    SimulatedLockConfig,
    SimulatedSosConfig,
    SimulatedWaterLevelConfig,
    TippingBucketConfig,
    Zigbee2MqttConfig,
    build_driver,
)
from villagewatch.edge.drivers.modbus import ModbusWaterLevel
from villagewatch.edge.drivers.serialline import SerialLineWaterLevel
from villagewatch.edge.drivers.simulated import SimulatedLock, SimulatedSos, SimulatedWaterLevel
from villagewatch.edge.drivers.tipping import TippingBucket

ADAPTER: TypeAdapter[DriverSettings] = TypeAdapter(DriverSettings)
Z2M_DEVICES = [{"friendly_name": "Front door", "device": "lock-1", "kind": "smart_lock"}]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "host": "h", "address": 0, "slave": 2},
            "slave",
            id="modbus-unknown-key",
        ),
        pytest.param(
            {"driver": "modbus", "device": "WL 1", "host": "h", "address": 0},
            "device",
            id="modbus-bad-identifier",
        ),
        pytest.param(
            {"driver": "modbus", "device": "wl/1", "host": "h", "address": 0},
            "device",
            id="modbus-slash-in-identifier",
        ),
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "address": 0},
            "exactly one",
            id="modbus-no-transport",
        ),
        pytest.param(
            {
                "driver": "modbus",
                "device": "wl-1",
                "host": "h",
                "serial_port": "/dev/ttyUSB0",
                "address": 0,
            },
            "exactly one",
            id="modbus-two-transports",
        ),
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "host": "h", "address": 70000},
            "address",
            id="modbus-address-out-of-range",
        ),
        pytest.param(
            {
                "driver": "modbus",
                "device": "wl-1",
                "host": "h",
                "address": 0,
                "data_type": "float64",
            },
            "data_type",
            id="modbus-unknown-type",
        ),
        pytest.param(
            {"driver": "serial_line", "device": "wl-1", "port": "/dev/ttyS0", "pattern": r"(\d+)"},
            "value",
            id="serial-pattern-without-value-group",
        ),
        pytest.param(
            {
                "driver": "serial_line",
                "device": "wl-1",
                "port": "/dev/ttyS0",
                "pattern": "(?P<value>",
            },
            "regular expression",
            id="serial-pattern-not-a-regex",
        ),
        pytest.param(
            {
                "driver": "zigbee2mqtt",
                "devices": [{"friendly_name": "a/#", "device": "lock-1", "kind": "smart_lock"}],
            },
            "wildcard|`#`",
            id="z2m-wildcard-in-friendly-name",
        ),
        pytest.param(
            {"driver": "zigbee2mqtt", "devices": Z2M_DEVICES * 2}, "once", id="z2m-duplicate-device"
        ),
        pytest.param(
            {
                "driver": "zigbee2mqtt",
                "devices": [{"friendly_name": "x", "device": "cam-1", "kind": "camera"}],
            },
            "kind",
            id="z2m-not-a-bridged-kind",
        ),
        pytest.param({"driver": "zigbee2mqtt", "devices": []}, "devices", id="z2m-no-devices"),
        pytest.param(
            {"driver": "zigbee2mqtt", "devices": Z2M_DEVICES, "password": "x"},
            "password",
            id="z2m-secret-inline-refused",
        ),
        pytest.param(
            {
                "driver": "tipping_bucket",
                "device": "rain-1",
                "counter_file": "/run/c",
                "mm_per_tip": 0,
            },
            "mm_per_tip",
            id="tipping-zero-per-tip",
        ),
        pytest.param({"driver": "camera", "device": "cam-1"}, "source", id="camera-without-source"),
        pytest.param({"driver": "lidar", "device": "x-1"}, "driver", id="unknown-driver"),
        pytest.param({"device": "wl-1"}, "driver", id="no-driver"),
    ],
)
def test_driver_configs_refuse_mistakes(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ADAPTER.validate_python(raw)


@pytest.mark.parametrize(
    ("raw", "driver_type", "devices"),
    [
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "serial_port": "/dev/ttyUSB0", "address": 3},
            ModbusWaterLevel,
            ["wl-1"],
            id="modbus",
        ),
        pytest.param(
            {"driver": "serial_line", "device": "wl-2", "port": "/dev/ttyS0"},
            SerialLineWaterLevel,
            ["wl-2"],
            id="serial-line",
        ),
        pytest.param(
            {
                "driver": "zigbee2mqtt",
                "devices": [
                    *Z2M_DEVICES,
                    {"friendly_name": "SOS", "device": "sos-1", "kind": "call_button"},
                ],
            },
            None,
            ["lock-1", "sos-1"],
            id="zigbee2mqtt",
        ),
        pytest.param(
            {"driver": "tipping_bucket", "device": "rain-1", "counter_file": "/run/c"},
            TippingBucket,
            ["rain-1"],
            id="tipping-bucket",
        ),
        pytest.param(
            {"driver": "simulated_water_level", "device": "wl-3"},
            SimulatedWaterLevel,
            ["wl-3"],
            id="simulated-water-level",
        ),
        pytest.param(
            {"driver": "simulated_lock", "device": "lock-2"},
            SimulatedLock,
            ["lock-2"],
            id="simulated-lock",
        ),
        pytest.param(
            {"driver": "simulated_sos", "device": "sos-2"},
            SimulatedSos,
            ["sos-2"],
            id="simulated-sos",
        ),
    ],
)
def test_build_driver_makes_the_configured_driver(
    raw: dict[str, Any], driver_type: type | None, devices: list[str]
) -> None:
    driver = build_driver(ADAPTER.validate_python(raw))
    if driver_type is not None:
        assert isinstance(driver, driver_type)
    assert driver.devices == devices


def test_every_config_field_has_a_description() -> None:
    """The config reference is generated from them."""
    models: list[type[Any]] = [
        ModbusConfig,
        SerialLineConfig,
        Zigbee2MqttConfig,
        BridgedDevice,
        TippingBucketConfig,
        SimulatedWaterLevelConfig,
        SimulatedLockConfig,
        SimulatedSosConfig,
        CameraConfig,
    ]
    missing = [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if not field.description
    ]
    assert missing == []
