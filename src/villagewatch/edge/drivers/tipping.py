"""A tipping-bucket rain gauge, from a cumulative tip counter kept in a file.

The counter itself is kept by something that sees the reed switch — a GPIO counter daemon or
a sysfs counter — and this driver reads the file (one decimal integer) every ``interval_s``.
:class:`TipCounter` turns the cumulative count into tips since the previous reading; a count
smaller than the last one means the counter restarted (a reboot, a wrap), and the new value is
taken as the tips since then. Each interval emits telemetry ``{"mm": tips * mm_per_tip}``,
``0.0`` included (no rain is a reading too). The first successful read is the baseline and
emits nothing; a failed read emits nothing and the next good one covers the gap.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import Field

from villagewatch.config.paths import ConfigPath
from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["TipCounter", "TippingBucket", "TippingBucketConfig"]

log = logging.getLogger(__name__)


class TippingBucketConfig(StrictModel):
    """A tipping-bucket rain gauge read from a tip counter file (`driver: tipping_bucket`)."""

    driver: Literal["tipping_bucket"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The rain gauge's device id in the village config.")
    counter_file: ConfigPath = Field(
        description="File holding the cumulative tip count as a decimal integer."
    )
    mm_per_tip: float = Field(
        0.2, gt=0, allow_inf_nan=False, description="Rain per tip of the bucket, mm."
    )
    interval_s: float = Field(60.0, gt=0, description="Seconds between readings.")


class TipCounter:
    """Tips between successive values of a cumulative counter that may restart from zero."""

    def __init__(self) -> None:
        self._last: int | None = None

    def tips(self, count: int) -> int | None:
        """Tips since the previous count; None for the first count (the baseline)."""
        if count < 0:
            raise ValueError(f"a tip count is never negative: {count}")
        last, self._last = self._last, count
        if last is None:
            return None
        return count if count < last else count - last


class TippingBucket:
    """Reads the counter file each interval and emits the rain since the previous reading."""

    def __init__(self, cfg: TippingBucketConfig) -> None:
        self.cfg = cfg
        self.devices = [cfg.device]
        self._counter = TipCounter()
        self._failing = False

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read, emit, sleep — until ``stop``."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            count = await self._read()
            if count is not None:
                tips = self._counter.tips(count)
                if tips is not None:
                    mm = round(tips * self.cfg.mm_per_tip, 6)  # 3 * 0.2 is 0.6, not 0.6000…01
                    emit(Measurement(self.cfg.device, "telemetry", {"mm": mm}))
            next_at += self.cfg.interval_s
            if next_at < loop.time():
                next_at = loop.time() + self.cfg.interval_s
            await sleep_or_stop(stop, next_at - loop.time())

    async def _read(self) -> int | None:
        try:
            text = await asyncio.to_thread(self.cfg.counter_file.read_text, encoding="ascii")
            count = _parse_count(text)
        except (OSError, ValueError) as exc:
            if not self._failing:
                log.warning(
                    "rain gauge %s: cannot read the tip count from %s (%s)",
                    self.cfg.device,
                    self.cfg.counter_file,
                    exc,
                )
                self._failing = True
            return None
        if self._failing:
            log.info("rain gauge %s: the tip count reads again", self.cfg.device)
            self._failing = False
        return count


def _parse_count(text: str) -> int:
    count = int(text.strip())
    if count < 0:
        raise ValueError(f"a tip count is never negative: {count}")
    return count
