"""A water-level sensor that writes ASCII lines on a serial port (pyserial).

Many ultrasonic and pressure gauges print a line per reading (``L=123.4cm``, ``+0123.4``).
:func:`parse_line` picks the number out with a regex whose named group ``value`` matches it,
and the driver emits telemetry ``level_cm = value * scale + offset`` for each good line.
Malformed lines are counted and logged at most once a minute, never echoed (they may be
anything). Reads block, so each ``readline`` runs in a worker thread with a short port timeout:
``stop`` is noticed within half a second. If the port can't be opened or goes away (a USB
adapter unplugged) the driver logs it and reopens every ``reopen_s``. pyserial is imported
when the driver runs, so configs load without it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.runtime.waiting import sleep_or_stop

if TYPE_CHECKING:
    import serial

__all__ = ["SerialLineConfig", "SerialLineWaterLevel", "parse_line"]

log = logging.getLogger(__name__)

_READ_TIMEOUT_S = 0.5
_MAX_LINE = 1024  # longer than any gauge's line: a stuck or wrong-baud port, dropped as malformed
_MALFORMED_LOG_EVERY_S = 60.0


class SerialLineConfig(StrictModel):
    """A water-level gauge that prints one ASCII line per reading (`driver: serial_line`)."""

    driver: Literal["serial_line"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The gauge's device id in the village config.")
    port: str = Field(description="Serial device, e.g. `/dev/ttyUSB0` or `/dev/ttyAMA0`.")
    baudrate: int = Field(9600, gt=0, description="Bits per second (8 data bits, no parity).")
    pattern: str = Field(
        r"(?P<value>[-+]?\d+(?:\.\d+)?)",
        description="Regex searched in each line; its named group `value` is the number. "
        "The default takes the first number on the line.",
    )
    scale: float = Field(1.0, allow_inf_nan=False, description="level_cm = value * scale + offset.")
    offset: float = Field(
        0.0, allow_inf_nan=False, description="level_cm = value * scale + offset."
    )
    reopen_s: float = Field(5.0, gt=0, description="Seconds between attempts to (re)open the port.")

    @field_validator("pattern")
    @classmethod
    def _has_value_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "value" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group `value`, e.g. (?P<value>[0-9.]+)")
        return pattern


def parse_line(line: bytes, pattern: re.Pattern[str], scale: float, offset: float) -> float | None:
    """The level in cm that one line from the gauge states, or None when it is malformed."""
    text = line.decode("ascii", errors="replace").strip()
    found = pattern.search(text)
    if found is None or found.group("value") is None:
        return None
    try:
        value = float(found.group("value"))
    except ValueError:
        return None
    level = value * scale + offset
    return level if math.isfinite(level) else None


class SerialLineWaterLevel:
    """Reads lines from the port and emits one reading per good line."""

    def __init__(self, cfg: SerialLineConfig, *, clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.devices = [cfg.device]
        self.malformed = 0
        """Malformed lines since the start."""
        self._pattern = re.compile(cfg.pattern)
        self._clock = clock
        self._unreported = 0
        self._reported_at: float | None = None
        self._port_missing = False

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read lines until ``stop``, reopening the port whenever it fails."""
        while not stop.is_set():
            try:
                port = await asyncio.to_thread(self._open)
            except OSError as exc:  # serial.SerialException is an OSError
                # a warning when the port goes missing; the repeats only at debug level
                log.log(
                    logging.DEBUG if self._port_missing else logging.WARNING,
                    "serial gauge %s: cannot open %s (%s); retrying every %g s",
                    self.cfg.device,
                    self.cfg.port,
                    exc,
                    self.cfg.reopen_s,
                )
                self._port_missing = True
                await sleep_or_stop(stop, self.cfg.reopen_s)
                continue
            if self._port_missing:
                log.info("serial gauge %s: %s open again", self.cfg.device, self.cfg.port)
                self._port_missing = False
            try:
                await self._read_lines(port, emit, stop)
            except OSError as exc:  # serial.SerialException is an OSError
                log.warning(
                    "serial gauge %s: %s failed (%s); reopening in %g s",
                    self.cfg.device,
                    self.cfg.port,
                    exc,
                    self.cfg.reopen_s,
                )
            finally:
                await asyncio.to_thread(port.close)
            if not stop.is_set():
                await sleep_or_stop(stop, self.cfg.reopen_s)

    def _open(self) -> serial.Serial:
        import serial

        return serial.Serial(self.cfg.port, self.cfg.baudrate, timeout=_READ_TIMEOUT_S)

    async def _read_lines(self, port: serial.Serial, emit: Emit, stop: asyncio.Event) -> None:
        pending = b""  # a line the read timeout cut in two
        while not stop.is_set():
            chunk = await asyncio.to_thread(port.readline)
            pending += chunk
            if not pending.endswith(b"\n"):
                if len(pending) > _MAX_LINE:
                    pending = b""
                    self._count_malformed()
                continue
            line, pending = pending, b""
            level = parse_line(line, self._pattern, self.cfg.scale, self.cfg.offset)
            if level is None:
                if line.strip():  # blank lines (CR LF pairs, keep-alives) aren't errors
                    self._count_malformed()
                continue
            emit(Measurement(self.cfg.device, "telemetry", {"level_cm": level}))

    def _count_malformed(self) -> None:
        self.malformed += 1
        self._unreported += 1
        now = self._clock()
        if self._reported_at is None or now - self._reported_at >= _MALFORMED_LOG_EVERY_S:
            log.warning(
                "serial gauge %s: %d malformed line(s) since the last report (%d in all)",
                self.cfg.device,
                self._unreported,
                self.malformed,
            )
            self._reported_at = now
            self._unreported = 0
