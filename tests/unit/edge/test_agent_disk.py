"""A full disk never stops the agent: syncs that fail are tried again, nothing accepted is lost
meanwhile, and free space is shown in status and metrics."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import orjson
import pytest

from villagewatch.config import MqttSettings
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.lanes import Lane
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.edge.outbox import Outbox
from villagewatch.edge.settings import ClockSettings, EdgeSettings, OutboxSettings
from villagewatch.runtime.ports import free_port


class Gauge:
    """A reading every 10 ms and an SOS every tenth."""

    def __init__(self) -> None:
        self.devices = ["wl-1", "sos-1"]
        self.made = 0

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.made += 1
            if self.made % 10:
                emit(Measurement("wl-1", "telemetry", {"level_cm": 1.0}))
            else:
                emit(Measurement("sos-1", "event", {"type": "sos"}))
            await asyncio.sleep(0.01)


def settings(tmp_path: Path) -> EdgeSettings:
    """An agent whose broker is never there (nothing listens on the port)."""
    return EdgeSettings(
        id="edge-1",
        village="v",
        mqtt=MqttSettings(port=free_port()),
        outbox=OutboxSettings(path=tmp_path / "outbox"),
        clock=ClockSettings(require_sync=False),
    )


def test_failing_fsyncs_are_retried_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gauge = Gauge()
    agent = EdgeAgent(settings(tmp_path), [gauge])
    disk = {"full": False}
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if disk["full"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await asyncio.sleep(0.5)
        disk["full"] = True
        await asyncio.sleep(1.5)
        seen["full"] = agent.status()
        disk["full"] = False
        await asyncio.sleep(0.5)
        stop.set()
        await task

    asyncio.run(scenario())
    full = seen["full"]
    assert isinstance(full, dict)
    assert full["disk"]["sync_failures"] > 0
    assert "No space left on device" in full["disk"]["last_error"]
    assert full["disk"]["free_bytes"] > 0
    # every measurement made is in the outbox, whole
    box = Outbox(tmp_path / "outbox").open()
    try:
        assert box.corrupt == 0
        records = [
            orjson.loads(e.payload)
            for lane in (Lane.ALARM, Lane.TELEMETRY)
            for e in box.read(lane, 100_000)
        ]
    finally:
        box.close()
    assert sorted(r["s"] for r in records) == list(range(gauge.made))
    status = orjson.loads((tmp_path / "outbox" / "status.json").read_bytes())
    assert status["disk"]["unwritable"] == {"alarm": 0, "telemetry": 0, "evidence": 0}
