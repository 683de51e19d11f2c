"""A power cut leaves one outbox file with its last bytes cut off and another with random bytes
flipped: the next agent opens it by itself, counts the damaged records in status and metrics,
and delivers every good one through a real broker."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.faults import Campaign
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.measurement import Measurement
from villagewatch.runtime.ports import free_port
from villagewatch_dev.servers import Mosquitto

from .edge_world import Collector, edge_settings, scrape_metrics


@pytest.mark.campaign
def test_damaged_outbox_files_cost_the_damaged_records_only(
    tmp_path: Path, mosquitto: Mosquitto, campaign: Campaign
) -> None:
    before = EdgeAgent(edge_settings(tmp_path, mosquitto.port))  # never connects: all stays queued
    before.open()
    made: list[tuple[str, str, int]] = []
    for i in range(300):
        m = (
            Measurement("sos-1", "event", {"type": "sos"}) if i % 3 == 0
            else Measurement("wl-1", "telemetry", {"level_cm": float(i)})
        )  # fmt: skip
        made.append((m.device, before.boot, before._seq))
        before.accept(m)
    before.outbox.sync()
    before.outbox.close()
    outbox = tmp_path / "outbox"
    (telemetry,) = (outbox / "telemetry").glob("*.seg")
    telemetry.write_bytes(telemetry.read_bytes()[:-9])  # the power went mid-write
    (alarm,) = (outbox / "alarm").glob("*.seg")
    damaged = bytearray(alarm.read_bytes())
    rng = random.Random(3)
    for pos in rng.sample(range(len(damaged)), 5):
        damaged[pos] ^= 0x5A
    alarm.write_bytes(bytes(damaged))

    collector = Collector(mosquitto.port, "v")
    port = free_port()
    agent = EdgeAgent(edge_settings(tmp_path, mosquitto.port, metrics_port=port))
    agent.open()  # the damaged records are found here
    seen: dict[str, object] = {}

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        for _ in range(200):
            if not any(s.pending for s in agent.outbox.stats().values()):
                break
            await asyncio.sleep(0.05)
        seen["status"] = agent.status()
        seen["metrics"] = await asyncio.to_thread(scrape_metrics, port)
        await asyncio.sleep(0.5)
        stop.set()
        await task

    try:
        asyncio.run(run())
    finally:
        collector.close()
    corrupt = agent.outbox.corrupt
    assert 2 <= corrupt <= 6, "the torn record, and one to five hit by the flips"
    status = seen["status"]
    assert isinstance(status, dict)
    assert status["corrupt"] == corrupt
    assert f"villagewatch_edge_outbox_corrupt_total {float(corrupt)}" in str(seen["metrics"])
    got = collector.keys()
    campaign.row(
        f"a power cut tore the outbox and 5 bytes flipped: {corrupt} records damaged on disk "
        "(counted, the only ones not sent)",
        offered=len(made) - corrupt, stored=len(got), lost=len(made) - corrupt - len(got),
    )  # fmt: skip
    assert got <= set(made), "nothing invented"
    assert len(got) == len(made) - corrupt, "every good record delivered"
    assert made[-1] not in got  # (the last one made was telemetry: the torn one)
    assert all(s.pending == 0 for s in agent.outbox.stats().values())
