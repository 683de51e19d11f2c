"""The simulated and camera drivers."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from tests.unit.edge.drivers.helpers import assert_contract, until
from villagewatch.contract import DeviceKind
from villagewatch.edge.drivers import (
    SimulatedLockConfig,
    SimulatedSosConfig,
    SimulatedWaterLevelConfig,
)
from villagewatch.edge.drivers.simulated import SimulatedLock, SimulatedSos, SimulatedWaterLevel
from villagewatch.edge.measurement import Measurement


def test_simulated_water_level_is_seeded_and_floods_on_time() -> None:
    def levels(**fields: Any) -> list[float]:
        cfg = SimulatedWaterLevelConfig(
            driver="simulated_water_level", device="wl-1", interval_s=60, **fields
        )
        sim = SimulatedWaterLevel(cfg)
        return [sim.sample(step)["level_cm"] for step in range(50)]

    assert levels(seed=1) == levels(seed=1)
    assert levels(seed=1) != levels(seed=2)
    flat = levels(noise_cm=0, amplitude_cm=0, flood_at_s=600, flood_rate_cm_per_min=3)
    assert flat[:11] == [120.0] * 11  # up to and including t = 600 s
    assert flat[11:14] == [123.0, 126.0, 129.0]


def test_simulated_lock_is_seeded_and_speaks_the_contract() -> None:
    def events(seed: int) -> list[dict[str, Any]]:
        sim = SimulatedLock(
            SimulatedLockConfig(driver="simulated_lock", device="lock-1", seed=seed, activity=0.8)
        )
        out = [m for step in range(300) for m in sim.sample(step)]
        for m in out:
            assert_contract(DeviceKind.SMART_LOCK, m)
        return [m.data for m in out]

    first = events(7)
    assert first == events(7)
    assert first != events(8)
    kinds = [e["type"] for e in first if "type" in e]
    assert {"unlock", "lock", "wrong_code"} <= set(kinds)
    doors = [k for k in kinds if k != "wrong_code"]
    assert all(a != b for a, b in itertools.pairwise(doors))  # unlock, lock, unlock …


@pytest.mark.parametrize(
    ("press_every_s", "presses"),
    [
        pytest.param(0.05, True, id="pressed-on-schedule"),
        pytest.param(None, False, id="never-pressed"),
    ],
)
def test_simulated_sos(press_every_s: float | None, presses: bool) -> None:
    cfg = SimulatedSosConfig(
        driver="simulated_sos", device="sos-1", interval_s=60, press_every_s=press_every_s
    )
    drv = SimulatedSos(cfg)
    got: list[Measurement] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        if presses:
            await until(lambda: sum(m.channel == "event" for m in got) >= 3, what="three presses")
        else:
            await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [m.data for m in got if m.channel == "telemetry"] == [
        {"battery": pytest.approx(100, abs=0.1)}
    ]
    assert all(m.data == {"type": "sos"} for m in got if m.channel == "event")
    assert any(m.channel == "event" for m in got) is presses
    for m in got:
        assert_contract(DeviceKind.CALL_BUTTON, m)
