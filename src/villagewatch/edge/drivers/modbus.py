"""A water-level gauge read over Modbus (TCP, or RTU on a serial line) with pymodbus.

Every ``interval_s`` the driver reads one value — one register for the 16-bit types, two for
the 32-bit ones — decodes it (:func:`decode_registers`) and emits telemetry
``level_cm = raw * scale + offset``. A read that fails (no connection, a timeout, an exception
response, a NaN) emits nothing: the driver logs once when reads start failing, drops the
connection, connects afresh at the next interval, and logs again when reads work again.

pymodbus ≥ 3.10 is needed: that release renamed the unit keyword ``slave=`` to ``device_id=``.
It is imported when the driver runs, so configs load without it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field, model_validator

from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.errors import VillagewatchError
from villagewatch.runtime.waiting import sleep_or_stop

if TYPE_CHECKING:
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

__all__ = [
    "DataType",
    "ModbusConfig",
    "ModbusWaterLevel",
    "decode_registers",
    "level_cm",
    "register_count",
]

log = logging.getLogger(__name__)

DataType = Literal["int16", "uint16", "int32", "uint32", "float32"]
WordOrder = Literal["big", "little"]

# struct format of the value and how many 16-bit registers carry it
_FORMATS: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
}


class ModbusConfig(StrictModel):
    """A water-level gauge read over Modbus TCP or RTU (`driver: modbus`)."""

    driver: Literal["modbus"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The gauge's device id in the village config.")
    host: str | None = Field(
        None, description="Modbus TCP: address of the gauge or gateway; set this or `serial_port`."
    )
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP: port.")
    serial_port: str | None = Field(
        None, description="Modbus RTU: serial device, e.g. `/dev/ttyUSB0`; set this or `host`."
    )
    baudrate: int = Field(9600, gt=0, description="Modbus RTU: bits per second.")
    parity: Literal["N", "E", "O"] = Field("N", description="Modbus RTU: none, even or odd.")
    stopbits: Literal[1, 2] = Field(1, description="Modbus RTU: stop bits.")
    unit: int = Field(1, ge=0, le=255, description="Unit (slave) id of the gauge on the bus.")
    address: int = Field(
        ge=0,
        le=65535,
        description="Register address as sent on the wire, zero-based (register 40001 or "
        "30001 in a datasheet is address 0).",
    )
    register_type: Literal["holding", "input"] = Field(
        "holding", description="Holding registers (function 3) or input registers (function 4)."
    )
    data_type: DataType = Field("uint16", description="How the register(s) encode the value.")
    word_order: WordOrder = Field(
        "big",
        description="32-bit types: `big` = high word at `address` (the Modbus convention), "
        "`little` = low word first. Bytes within a register are always big-endian.",
    )
    scale: float = Field(1.0, allow_inf_nan=False, description="level_cm = raw * scale + offset.")
    offset: float = Field(0.0, allow_inf_nan=False, description="level_cm = raw * scale + offset.")
    interval_s: float = Field(10.0, gt=0, description="Seconds between reads.")
    timeout_s: float = Field(3.0, gt=0, description="Seconds to connect, and to get an answer.")

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if (self.host is None) == (self.serial_port is None):
            raise ValueError("set exactly one of `host` (Modbus TCP) and `serial_port` (RTU)")
        return self


def register_count(data_type: DataType) -> int:
    """How many 16-bit registers hold a value of ``data_type``."""
    return _FORMATS[data_type][1]


def decode_registers(registers: Sequence[int], data_type: DataType, word_order: WordOrder) -> float:
    """The number that ``registers`` (16-bit words as read) encode; ValueError if they can't."""
    fmt, count = _FORMATS[data_type]
    if len(registers) != count:
        raise ValueError(f"{data_type} needs {count} registers, got {len(registers)}")
    words = list(registers) if word_order == "big" else list(reversed(registers))
    try:
        raw = struct.pack(f">{count}H", *words)
    except struct.error as exc:
        raise ValueError(f"not 16-bit register values: {list(registers)}") from exc
    value: float = struct.unpack(f">{fmt}", raw)[0]
    return float(value)


def level_cm(registers: Sequence[int], cfg: ModbusConfig) -> float:
    """The level that ``registers`` (as read at ``cfg.address``) state: raw * scale + offset."""
    return decode_registers(registers, cfg.data_type, cfg.word_order) * cfg.scale + cfg.offset


class _ReadFailed(VillagewatchError):
    """One poll got no usable value (the reason is the message)."""


class ModbusWaterLevel:
    """Polls one register of one gauge; see the module docstring for the failure policy."""

    def __init__(self, cfg: ModbusConfig) -> None:
        self.cfg = cfg
        self.devices = [cfg.device]
        self.failures = 0
        """Failed reads since the last good one."""
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read every ``interval_s`` until ``stop``; a failed read is skipped, never raised."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while not stop.is_set():
                level = await self.read_level()
                if level is not None:
                    emit(Measurement(self.cfg.device, "telemetry", {"level_cm": level}))
                next_at += self.cfg.interval_s
                if next_at < loop.time():  # a slow read: skip the missed slots, don't burst
                    next_at = loop.time() + self.cfg.interval_s
                await sleep_or_stop(stop, next_at - loop.time())
        finally:
            self.close()

    async def read_level(self) -> float | None:
        """One poll: the level in cm, or None (logged) when the read failed."""
        from pymodbus import ModbusException

        cfg = self.cfg
        try:
            # connect + request, each bounded by pymodbus's own timeout; this is the backstop
            async with asyncio.timeout(2 * cfg.timeout_s + 1):
                registers = await self._read()
            level = level_cm(registers, cfg)
        except (_ReadFailed, ModbusException, OSError, TimeoutError, ValueError) as exc:
            self.close()
            self._failed(str(exc) or type(exc).__name__)
            return None
        if not math.isfinite(level):
            self._failed("the register holds no finite number")
            return None
        if self.failures:
            log.info(
                "modbus gauge %s: reads work again after %d failures", cfg.device, self.failures
            )
            self.failures = 0
        return level

    def _failed(self, reason: str) -> None:
        # one warning when reads start failing; the repeats only at debug level
        self.failures += 1
        log.log(
            logging.WARNING if self.failures == 1 else logging.DEBUG,
            "modbus gauge %s: read failed (%s); retrying every %g s until it works",
            self.cfg.device,
            reason,
            self.cfg.interval_s,
        )

    async def _read(self) -> list[int]:
        cfg = self.cfg
        client = self._client
        if client is None or not client.connected:
            self.close()
            client = self._client = self._new_client()
            if not await client.connect():
                raise _ReadFailed("cannot connect")
        read = (
            client.read_holding_registers
            if cfg.register_type == "holding"
            else client.read_input_registers
        )
        reply = await read(cfg.address, count=register_count(cfg.data_type), device_id=cfg.unit)
        if reply.isError():
            raise _ReadFailed(f"the gauge answered with an error: {reply}")
        return list(reply.registers)

    def _new_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        from pymodbus import FramerType
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        cfg = self.cfg
        # retries=0 and reconnect_delay=0: the poll loop is the one place that retries
        if cfg.host is not None:
            return AsyncModbusTcpClient(
                cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0, reconnect_delay=0
            )
        assert cfg.serial_port is not None
        return AsyncModbusSerialClient(
            cfg.serial_port,
            framer=FramerType.RTU,
            baudrate=cfg.baudrate,
            parity=cfg.parity,
            stopbits=cfg.stopbits,
            timeout=cfg.timeout_s,
            retries=0,
            reconnect_delay=0,
        )

    def close(self) -> None:
        """Drop the connection, if any (``run`` does this when it returns)."""
        if self._client is not None:
            self._client.close()
            self._client = None
