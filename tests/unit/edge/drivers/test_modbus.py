"""The Modbus driver: decoding registers into a level."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from villagewatch.edge.drivers import ModbusConfig
from villagewatch.edge.drivers.modbus import ModbusWaterLevel, decode_registers, level_cm
from villagewatch.runtime.ports import free_port


def _f32(value: float) -> list[int]:
    hi, lo = struct.unpack(">2H", struct.pack(">f", value))
    return [hi, lo]


@pytest.mark.parametrize(
    ("registers", "data_type", "word_order", "value"),
    [
        pytest.param([0xFFFF], "uint16", "big", 65535.0, id="uint16-max"),
        pytest.param([0xFFFF], "int16", "big", -1.0, id="int16-minus-one"),
        pytest.param([0x8000], "int16", "big", -32768.0, id="int16-min"),
        pytest.param([0x0001, 0x0000], "uint32", "big", 65536.0, id="uint32-high-word-first"),
        pytest.param([0x0000, 0x0001], "uint32", "little", 65536.0, id="uint32-low-word-first"),
        pytest.param([0xFFFF, 0xFFFE], "int32", "big", -2.0, id="int32-big"),
        pytest.param([0xFFFE, 0xFFFF], "int32", "little", -2.0, id="int32-little"),
        pytest.param(_f32(123.5), "float32", "big", 123.5, id="float32-big"),
        pytest.param(_f32(123.5)[::-1], "float32", "little", 123.5, id="float32-little"),
        pytest.param(_f32(-0.25), "float32", "big", -0.25, id="float32-negative"),
    ],
)
def test_decode_registers(
    registers: list[int], data_type: Any, word_order: Any, value: float
) -> None:
    assert decode_registers(registers, data_type, word_order) == value


@pytest.mark.parametrize(
    ("registers", "data_type"),
    [
        pytest.param([1], "int32", id="too-few-registers"),
        pytest.param([1, 2], "uint16", id="too-many-registers"),
        pytest.param([0x10000], "uint16", id="not-a-16-bit-word"),
        pytest.param([-1], "int16", id="negative-word"),
    ],
)
def test_decode_registers_refuses_what_the_type_cannot_hold(
    registers: list[int], data_type: Any
) -> None:
    with pytest.raises(ValueError, match="register"):
        decode_registers(registers, data_type, "big")


def _modbus(**fields: Any) -> ModbusConfig:
    return ModbusConfig.model_validate(
        {"driver": "modbus", "device": "wl-1", "host": "127.0.0.1", "address": 0} | fields
    )


@pytest.mark.parametrize(
    ("fields", "registers", "level"),
    [
        pytest.param({}, [1234], 1234.0, id="raw-by-default"),
        pytest.param({"scale": 0.1}, [1234], 123.4, id="mm-to-cm"),
        pytest.param(
            {"scale": 100.0, "offset": -50.0, "data_type": "float32"},
            _f32(1.25),
            75.0,
            id="m-to-cm-below-datum",
        ),
        pytest.param(
            {"data_type": "int16", "offset": 300.0}, [0xFF9C], 200.0, id="signed-with-offset"
        ),
        pytest.param(
            {"data_type": "uint32", "word_order": "little", "scale": 0.01},
            [0x86A0, 0x0001],
            1000.0,
            id="uint32-little-scaled",
        ),
    ],
)
def test_modbus_level_is_raw_times_scale_plus_offset(
    fields: dict[str, Any], registers: list[int], level: float
) -> None:
    assert level_cm(registers, _modbus(**fields)) == pytest.approx(level)


def test_modbus_read_against_nothing_fails_quietly_and_counts() -> None:
    """No server on the port: no reading, no exception, one failure counted."""
    drv = ModbusWaterLevel(_modbus(port=free_port(), timeout_s=0.5))

    async def scenario() -> tuple[float | None, float | None]:
        return await drv.read_level(), await drv.read_level()

    assert asyncio.run(scenario()) == (None, None)
    assert drv.failures == 2
