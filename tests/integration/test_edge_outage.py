"""The edge agent through a broker outage: 100 readings/s while the broker is down for 120 s;
afterwards every reading arrives (by its dedupe key), in per-device order, the backlog marked
historical, and an SOS raised during the outage ahead of the backlog."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from villagewatch.edge.agent import EdgeAgent
from villagewatch_dev.servers import Mosquitto

from .edge_world import Collector, Ticker, edge_settings

OUTAGE_S = float(os.environ.get("VW_EDGE_OUTAGE_S", "120"))
GAUGES = [f"wl-{i}" for i in range(5)]


def test_a_broker_outage_loses_nothing_and_the_sos_goes_first(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    collector = Collector(mosquitto.port, "v")
    ticker = Ticker([*GAUGES, "sos-1"], rate=100)
    ticker.devices = GAUGES  # round robin over the gauges; sos-1 only presses
    agent = EdgeAgent(edge_settings(tmp_path, mosquitto.port, drain_rate=2000), [ticker])
    marks: dict[str, int] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await asyncio.wait_for(agent.link.connected.wait(), 20)
        await asyncio.sleep(3)
        marks["down"] = agent._seq
        await asyncio.to_thread(mosquitto.stop)
        await asyncio.sleep(OUTAGE_S / 2)
        ticker.sos("sos-1")
        await asyncio.sleep(OUTAGE_S / 2)
        marks["up"] = agent._seq
        marks["up_ms"] = int(time.time() * 1000)  # nothing is sent before the broker is back
        await asyncio.to_thread(mosquitto.start)
        await asyncio.sleep(3)
        ticker.pause()
        for _ in range(600):  # the backlog drains at 2,000 readings/s: ~6 s
            if len(collector.keys()) >= agent._seq and not any(
                s.pending for s in agent.outbox.stats().values()
            ):  # delivered, and the broker's acknowledgements back at the agent
                break
            await asyncio.sleep(0.1)
        stop.set()
        await task

    try:
        asyncio.run(scenario())
    finally:
        collector.close()
    msgs = collector.messages()
    assert len(ticker.log) == agent._seq
    expected = {(device, agent.boot, seq) for seq, device in enumerate(ticker.log)}
    assert collector.keys() == expected, f"missing {len(expected - collector.keys())}"
    # per-device order: first arrivals of each device's seqs increase
    first_seen: dict[str, list[int]] = {}
    seen: set[tuple[str, int]] = set()
    for m in msgs:
        for item in m.items:
            key = (m.body["device"], item["seq"])
            if key not in seen:
                seen.add(key)
                first_seen.setdefault(m.body["device"], []).append(item["seq"])
    for device, seqs in first_seen.items():
        assert seqs == sorted(seqs), device
    # what was made during the outage came back as backlog (all but its last live_window_s)
    outage = range(marks["down"] + 5, marks["up"])
    # "all but its last live_window_s" by the readings' own times, not by counting seqs at 100/s:
    # a ticker that stalled on a loaded machine catches up in a burst just before the end
    made_long_before_up = 0
    for m in msgs:
        old = [
            i for i in m.items
            if i["seq"] in outage and i["ts"] < marks["up_ms"] - 11_000
        ]  # fmt: skip
        if old:
            made_long_before_up += len(old)
            assert m.body["historical"] is True, m.body
    assert made_long_before_up > 0, "some of the outage's readings are older than live_window_s"
    # the SOS pressed mid-outage arrived before the backlog it was part of
    sos_at = next(i for i, m in enumerate(msgs) if m.topic.endswith("/sos-1/event"))
    first_backlog = next(
        i for i, m in enumerate(msgs)
        if m.topic.endswith("/telemetry") and any(it["seq"] in outage for it in m.items)
    )  # fmt: skip
    assert sos_at < first_backlog
    assert all(s.pending == 0 for s in agent.outbox.stats().values()), "nothing left behind"
