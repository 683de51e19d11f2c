"""Benchmark of the edge agent (prints figures; not a test).

accept — measurements through ``EdgeAgent.accept`` (stamp, encode, append to the
  outbox) with an fsync per batch of 1,000, as the agent syncs: readings per
  second. Target ≥ 20,000.

drain — 200,000 readings waiting in the outbox after an outage; a real
  Mosquitto on loopback comes back and the agent sends them as backlog
  (``drain_rate`` unlimited here): readings acknowledged by the broker per
  second until the outbox is empty. Target ≥ 10,000.

rss — ``villagewatch edge`` as its own process with 20 simulated devices (one
  reading a second each) and a live broker, after 20 s: resident memory.
  Target ≤ 60 MB.

    .venv/bin/python bench/edge.py
    .venv/bin/python bench/edge.py --only drain
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

from villagewatch.config import MqttSettings
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.measurement import Measurement
from villagewatch.edge.settings import ClockSettings, EdgeSettings, OutboxSettings
from villagewatch.runtime.ports import free_port
from villagewatch_dev.servers import Mosquitto


def settings(directory: Path, port: int, **extra: object) -> EdgeSettings:
    return EdgeSettings.model_validate(
        {
            "id": "edge-bench", "village": "bench", "mqtt": MqttSettings(port=port),
            "outbox": OutboxSettings(path=directory / "outbox", budget_mb=4096),
            "clock": ClockSettings(require_sync=False), **extra,
        }
    )  # fmt: skip


def fill(agent: EdgeAgent, n: int) -> float:
    """Accept ``n`` readings from 20 gauges, an fsync per 1,000; returns seconds taken."""
    ms = [Measurement(f"wl-{i:02d}", "telemetry", {"level_cm": 100.0 + i}) for i in range(20)]
    start = time.perf_counter()
    for i in range(n):
        agent.accept(ms[i % 20])
        if i % 1000 == 999:
            agent.outbox.sync()
    agent.outbox.sync()
    return time.perf_counter() - start


def bench_accept(tmp: Path) -> None:
    agent = EdgeAgent(settings(tmp / "accept", free_port()), [])
    agent.open()
    n = 200_000
    took = fill(agent, n)
    size = agent.outbox.size_bytes()
    agent.outbox.close()
    print(
        f"accept: {n:,} readings in {took:.2f} s = {n / took:,.0f} readings/s "
        f"(fsync per 1,000; {size / n:.0f} B per reading on disk)"
    )


def bench_drain(tmp: Path) -> None:
    broker = Mosquitto(tmp / "mosquitto")
    agent = EdgeAgent(
        settings(tmp / "drain", broker.port, drain_rate=10_000_000, max_inflight=200), []
    )
    agent.open()
    n = 200_000
    fill(agent, n)
    broker.start()

    async def run() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await asyncio.wait_for(agent.link.connected.wait(), 20)
        start = time.perf_counter()
        while any(s.pending for s in agent.outbox.stats().values()):  # noqa: ASYNC110 - polling a figure
            await asyncio.sleep(0.01)
        took = time.perf_counter() - start
        stop.set()
        await task
        return took

    try:
        cpu0 = time.process_time()
        took = asyncio.run(run())
        cpu = time.process_time() - cpu0
    finally:
        broker.stop()
    print(
        f"drain: {n:,} backlog readings acknowledged in {took:.2f} s = {n / took:,.0f} "
        f"readings/s (agent CPU {cpu:.1f} s; messages of 500)"
    )


def bench_rss(tmp: Path) -> None:
    broker = Mosquitto(tmp / "mosquitto-rss").start()
    config = tmp / "edge.json"
    devices = [
        {"driver": "simulated_water_level", "device": f"wl-{i:02d}", "interval_s": 1.0, "seed": i}
        for i in range(20)
    ]
    config.write_bytes(
        orjson.dumps(
            {
                "id": "edge-rss", "village": "bench",
                "mqtt": {"host": "127.0.0.1", "port": broker.port},
                "outbox": {"path": str(tmp / "rss-outbox")},
                "clock": {"require_sync": False}, "devices": devices,
            }
        )
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "villagewatch", "edge", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(20)
        rss = psutil.Process(proc.pid).memory_info().rss
        status = orjson.loads((tmp / "rss-outbox" / "status.json").read_bytes())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        broker.stop()
    print(
        f"rss: `villagewatch edge` with 20 simulated devices after 20 s: {rss / 1e6:.1f} MB "
        f"(link {status['link']}, telemetry waiting {status['lanes']['telemetry']['pending']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["accept", "drain", "rss"])
    args = parser.parse_args()
    print(f"edge agent benchmark, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, fn in (("accept", bench_accept), ("drain", bench_drain), ("rss", bench_rss)):
            if args.only in (None, name):
                fn(tmp)


if __name__ == "__main__":
    main()
