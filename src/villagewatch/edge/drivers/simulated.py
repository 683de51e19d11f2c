"""Simulated devices for trying an agent without hardware: a water gauge, a lock, an SOS button.

Each is seeded: the same seed gives the same sequence of measurements, one per ``interval_s``
(the SOS button presses on its own schedule). The values are a pure function of the step
number, so :meth:`sample` can be tested without waiting for the clock.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any, Literal

from pydantic import Field

from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = [
    "SimulatedLock",
    "SimulatedLockConfig",
    "SimulatedSos",
    "SimulatedSosConfig",
    "SimulatedWaterLevel",
    "SimulatedWaterLevelConfig",
]


class SimulatedWaterLevelConfig(StrictModel):
    """A simulated water gauge: a slow sine plus noise, and an optional flood ramp."""

    driver: Literal["simulated_water_level"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The gauge's device id in the village config.")
    interval_s: float = Field(10.0, gt=0, description="Seconds between readings.")
    seed: int = Field(0, description="Seed of the noise; the same seed, the same readings.")
    base_cm: float = Field(120.0, description="Mean level, cm.")
    amplitude_cm: float = Field(15.0, ge=0, description="Half the daily swing, cm.")
    period_s: float = Field(86_400.0, gt=0, description="Period of the swing, seconds.")
    noise_cm: float = Field(0.5, ge=0, description="Standard deviation of the noise, cm.")
    flood_at_s: float | None = Field(
        None, ge=0, description="Seconds after the start when a flood begins; unset: none."
    )
    flood_rate_cm_per_min: float = Field(2.0, ge=0, description="How fast the flood rises.")


class SimulatedLockConfig(StrictModel):
    """A simulated smart lock: tenants unlock and lock it, and sometimes mistype a code."""

    driver: Literal["simulated_lock"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The lock's device id in the village config.")
    interval_s: float = Field(30.0, gt=0, description="Seconds between chances of an event.")
    seed: int = Field(0, description="Seed of the choices; the same seed, the same events.")
    activity: float = Field(
        0.3, ge=0, le=1, description="Chance that something happens in an interval."
    )
    wrong_code: float = Field(
        0.1, ge=0, le=1, description="Chance that an attempt to unlock is a wrong code."
    )


class SimulatedSosConfig(StrictModel):
    """A simulated SOS button: reports its battery, and is pressed on a schedule or never."""

    driver: Literal["simulated_sos"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The button's device id in the village config.")
    interval_s: float = Field(3600.0, gt=0, description="Seconds between battery readings.")
    seed: int = Field(0, description="Seed of the battery's drift.")
    press_every_s: float | None = Field(
        None, gt=0, description="Press the button this often, seconds; unset: never."
    )


class SimulatedWaterLevel:
    """Emits ``level_cm`` every interval."""

    def __init__(self, cfg: SimulatedWaterLevelConfig) -> None:
        self.cfg = cfg
        self.devices = [cfg.device]
        self._rng = random.Random(cfg.seed)  # noqa: S311 - simulated noise, not cryptography

    def sample(self, step: int) -> dict[str, Any]:
        """The reading of step ``step`` (call with 0, 1, 2 … in order)."""
        cfg = self.cfg
        t = step * cfg.interval_s
        level = cfg.base_cm + cfg.amplitude_cm * math.sin(2 * math.pi * t / cfg.period_s)
        level += self._rng.gauss(0, cfg.noise_cm)
        if cfg.flood_at_s is not None and t > cfg.flood_at_s:
            level += cfg.flood_rate_cm_per_min * (t - cfg.flood_at_s) / 60
        return {"level_cm": round(level, 1)}

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """One reading per interval until ``stop``."""
        step = 0
        while not stop.is_set():
            emit(Measurement(self.cfg.device, "telemetry", self.sample(step)))
            step += 1
            await sleep_or_stop(stop, self.cfg.interval_s)


class SimulatedLock:
    """Emits unlock / lock / wrong_code events, and its battery once per hundred intervals."""

    _CREDENTIALS = ("c-1", "c-2", "c-3", "c-4", "c-5")
    _METHODS = ("code", "card", "fingerprint")

    def __init__(self, cfg: SimulatedLockConfig) -> None:
        self.cfg = cfg
        self.devices = [cfg.device]
        self._rng = random.Random(cfg.seed)  # noqa: S311 - simulated behaviour, not cryptography
        self._locked = True
        self._battery = 100.0

    def sample(self, step: int) -> list[Measurement]:
        """What happens at step ``step`` (call with 0, 1, 2 … in order)."""
        cfg, rng = self.cfg, self._rng
        out: list[Measurement] = []
        if step % 100 == 0:
            self._battery = max(0.0, self._battery - rng.uniform(0, 1))
            out.append(Measurement(cfg.device, "telemetry", {"battery": round(self._battery, 1)}))
        if rng.random() >= cfg.activity:
            return out
        if not self._locked:
            self._locked = True
            out.append(Measurement(cfg.device, "event", {"type": "lock", "method": "key"}))
            return out
        who = {"credential": rng.choice(self._CREDENTIALS), "method": rng.choice(self._METHODS)}
        if rng.random() < cfg.wrong_code:
            out.append(Measurement(cfg.device, "event", {"type": "wrong_code", **who}))
        else:
            self._locked = False
            out.append(Measurement(cfg.device, "event", {"type": "unlock", **who}))
        return out

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Until ``stop``: one chance of an event per interval."""
        step = 0
        while not stop.is_set():
            for m in self.sample(step):
                emit(m)
            step += 1
            await sleep_or_stop(stop, self.cfg.interval_s)


class SimulatedSos:
    """Emits its battery every interval and ``{"type": "sos"}`` every ``press_every_s``."""

    def __init__(self, cfg: SimulatedSosConfig) -> None:
        self.cfg = cfg
        self.devices = [cfg.device]
        self._rng = random.Random(cfg.seed)  # noqa: S311 - simulated drift, not cryptography
        self._battery = 100.0

    def battery(self) -> dict[str, Any]:
        """The next battery reading: a slow, seeded decline."""
        self._battery = max(0.0, self._battery - self._rng.uniform(0, 0.05))
        return {"battery": round(self._battery, 2)}

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Until ``stop``: the battery on its interval, presses on theirs."""
        loop = asyncio.get_running_loop()
        battery_at = loop.time()
        press_every = self.cfg.press_every_s
        press_at = loop.time() + press_every if press_every is not None else math.inf
        while not stop.is_set():
            now = loop.time()
            if now >= battery_at:
                emit(Measurement(self.cfg.device, "telemetry", self.battery()))
                battery_at = _next(battery_at, self.cfg.interval_s, now)
            if now >= press_at and press_every is not None:
                emit(Measurement(self.cfg.device, "event", {"type": "sos"}))
                press_at = _next(press_at, press_every, now)
            await sleep_or_stop(stop, min(battery_at, press_at) - loop.time())


def _next(due: float, every: float, now: float) -> float:
    """The next due time after ``due``; after a stall, one period from now (no burst)."""
    due += every
    return due if due > now else now + every
