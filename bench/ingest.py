"""Benchmark of one ingester process against real Mosquitto and InfluxDB (prints figures; not a test).

For single-reading messages and for messages of 50 readings, two runs each:

* sustained — a publisher (this process) and the ingester run at once and
  compete for the 2 cores with mosquitto and influxd;
* drain — the ingester's persistent session is filled while it is stopped,
  then it is started and timed until the backlog is stored;
* paced — the publisher holds a fixed rate below capacity (--single-rate,
  --batch-rate), to read the publish→stored latency of an ingester that keeps
  up (in the sustained run the backlog's queueing dominates it).

Reports readings/s stored, publish→stored latency (p50/p99, from the
ingester's store-lag histogram, interpolated within its buckets), the
ingester's CPU and peak RSS, and lost / duplicated readings counted in InfluxDB
by (device, seq). Everything listens on 127.0.0.1 and the load is bounded by
--messages.

    .venv/bin/python bench/ingest.py                # all four runs
    .venv/bin/python bench/ingest.py --shape batch50 --mode drain
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil

from villagewatch.contract import Channel, encode_items, topic_for
from villagewatch_dev.mqttload import publish
from villagewatch_dev.servers import Influxd, Mosquitto, free_port

DEVICES = 1000


@dataclass
class Run:
    shape: str
    mode: str
    messages: int
    readings: int
    seconds: float
    cpu_percent: float
    rss_mb: float
    p50_ms: float
    p99_ms: float
    lost: int
    duplicated: int
    broker_cpu: float
    influx_cpu: float

    def line(self) -> str:
        return (
            f"{self.shape:8} {self.mode:9} {self.messages:>9,} msgs {self.readings:>10,} readings "
            f"{self.messages / self.seconds:>9,.0f} msg/s {self.readings / self.seconds:>9,.0f} readings/s "
            f"p50 {self.p50_ms:>7.1f} ms p99 {self.p99_ms:>7.1f} ms  CPU {self.cpu_percent:>4.0f}%  "
            f"RSS {self.rss_mb:>5.0f} MB  lost {self.lost}  dup {self.duplicated}  "
            f"(mosquitto {self.broker_cpu:.0f}%, influxd {self.influx_cpu:.0f}%)"
        )


def payload_maker(
    per_message: int,
) -> tuple[Callable[[int], tuple[bytes, bytes]], Callable[[int], int]]:
    """make(i) for the publisher, and the total readings for n messages."""
    topics = [topic_for("bench", f"wl-{d:04d}", Channel.TELEMETRY).encode() for d in range(DEVICES)]

    def make(i: int) -> tuple[bytes, bytes]:
        device = i % DEVICES
        seq0 = (i // DEVICES) * per_message
        now = int(time.time() * 1000)
        items = [
            {"seq": seq0 + k, "ts": now - per_message + k, "clock": "synced", "level_cm": float(k)}
            for k in range(per_message)
        ]
        payload = encode_items(
            device=f"wl-{device:04d}", boot="bench", channel=Channel.TELEMETRY, items=items
        )
        return topics[device], payload

    return make, lambda n: n * per_message


def write_settings(
    directory: Path,
    mqtt_port: int,
    influx: Influxd,
    metrics_port: int,
    per_message: int,
    name: str,
    share: bool,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    village = {
        "id": "bench", "name": "bench", "town": "t", "grids": [{"id": "g", "name": "g"}],
        "devices": [{"id": f"wl-{d:04d}", "kind": "water_level", "grid": "g"} for d in range(DEVICES)],
    }  # fmt: skip
    (directory / "village.yaml").write_bytes(orjson.dumps(village))
    ingest = {
        "client_id": name, "metrics_port": metrics_port, "share_group": "bench" if share else None, "receive_maximum": 40_000,
        "batch_max_messages": 10_000 if per_message == 1 else 400, "batch_max_readings": 20_000,
        "flush_interval_s": 0.1,
    }  # fmt: skip
    settings = {
        "mqtt": {"port": mqtt_port}, "ingest": ingest, "villages": ["village.yaml"],
        "store": {"kind": "influx", "url": influx.url, "database": "bench", "gzip": False},
    }  # fmt: skip
    path = directory / "settings.yaml"
    path.write_bytes(orjson.dumps(settings))
    return path


class Ingester:
    def __init__(self, settings: Path, metrics_port: int) -> None:
        self.settings, self.metrics_port = settings, metrics_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.settings.parent / "ingest.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "villagewatch", "ingest", "--config", str(self.settings), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        while self.metric("villagewatch_ingest_broker_connected") != 1:
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.proc = None

    def metrics_text(self) -> str:
        try:
            # identity: the exporter would otherwise gzip on the ingester's own CPU
            headers = {"Accept-Encoding": "identity"}
            return httpx.get(
                f"http://127.0.0.1:{self.metrics_port}/metrics", headers=headers, timeout=5
            ).text
        except httpx.HTTPError:
            return ""

    def metric(self, name: str) -> float | None:
        for line in self.metrics_text().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def lag_quantiles(self) -> tuple[float, float]:
        buckets: list[tuple[float, float]] = []
        for line in self.metrics_text().splitlines():
            if line.startswith("villagewatch_ingest_store_lag_seconds_bucket"):
                le = line.split('le="')[1].split('"')[0]
                buckets.append(
                    (float("inf") if le == "+Inf" else float(le), float(line.split()[-1]))
                )
        total = buckets[-1][1] if buckets else 0
        if not total:
            return float("nan"), float("nan")

        def quantile(q: float) -> float:
            rank, lower, below = q * total, 0.0, 0.0
            for upper, count in buckets:
                if count >= rank:
                    if upper == float("inf"):
                        return lower * 1000
                    share = (rank - below) / (count - below) if count > below else 1
                    return (lower + (upper - lower) * share) * 1000
                lower, below = upper, count
            return lower * 1000

        return quantile(0.5), quantile(0.99)


class Sampler(threading.Thread):
    """Peak RSS of a process, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return


def count_in_influx(influx: Influxd) -> tuple[int, int]:
    rows = influx.rows(
        "SELECT count(seq) AS points, count(distinct(seq)) AS seqs FROM readings GROUP BY device",
        db="bench",
    )
    return sum(int(r["points"]) for r in rows), sum(int(r["seqs"]) for r in rows)


def one_run(shape: str, mode: str, messages: int, workdir: Path, rate: float, count: int) -> Run:
    per_message = 1 if shape == "single" else 50
    make, readings_of = payload_maker(per_message)
    expected = readings_of(messages)
    broker = Mosquitto(workdir / "mosquitto").start()
    influx = Influxd(workdir / "influxd").start()
    influx.query("CREATE DATABASE bench")
    ingesters = []
    for k in range(count):
        port = free_port()
        settings = write_settings(
            workdir / f"ingest-{k}",
            broker.port,
            influx,
            port,
            per_message,
            f"bench-ingest-{k}",
            share=count > 1,
        )
        ingesters.append(Ingester(settings, port))

    def stored() -> float:
        return sum(i.metric("villagewatch_ingest_readings_stored_total") or 0 for i in ingesters)

    try:
        for ingester in ingesters:
            ingester.start()  # creates the persistent session and its (shared) subscription
        if mode == "drain":
            for ingester in ingesters:
                ingester.stop()
            asyncio.run(publish(broker.port, messages, make))
        started = time.perf_counter()
        for ingester in ingesters:
            if ingester.proc is None:
                ingester.start()
        assert broker.proc is not None
        assert influx.proc is not None
        procs = [psutil.Process(i.proc.pid) for i in ingesters if i.proc is not None]
        others = [psutil.Process(broker.proc.pid), psutil.Process(influx.proc.pid)]
        cpu_before = sum(sum(p.cpu_times()[:2]) for p in procs)
        others_before = [sum(o.cpu_times()[:2]) for o in others]
        samplers = [Sampler(p.pid) for p in procs]
        for sampler in samplers:
            sampler.start()
        if mode == "sustained":
            asyncio.run(publish(broker.port, messages, make))
        elif mode == "paced":
            asyncio.run(publish(broker.port, messages, make, rate=rate))
        while stored() < expected:
            time.sleep(0.1)  # each look costs the ingesters CPU: not too often
        seconds = time.perf_counter() - started
        cpu = sum(sum(p.cpu_times()[:2]) for p in procs) - cpu_before
        broker_cpu, influx_cpu = (
            100 * (sum(o.cpu_times()[:2]) - b) / seconds
            for o, b in zip(others, others_before, strict=True)
        )
        for sampler in samplers:
            sampler.done.set()
        first = ingesters[0]
        p50, p99 = first.lag_quantiles() if mode != "drain" else (float("nan"), float("nan"))
        if os.environ.get("VW_BENCH_DEBUG"):
            batches = first.metric("villagewatch_ingest_batch_write_seconds_count") or 0
            write_s = first.metric("villagewatch_ingest_batch_write_seconds_sum") or 0
            print(f"  {batches:.0f} batches, {write_s:.2f} s writing ({write_s / seconds:.0%})")
        for ingester in ingesters:
            ingester.stop()
        points, distinct = count_in_influx(influx)
        return Run(
            shape, mode, messages, expected, seconds, 100 * cpu / seconds,
            max(s.peak for s in samplers) / 2**20, p50, p99,
            lost=expected - distinct, duplicated=points - distinct,
            broker_cpu=broker_cpu, influx_cpu=influx_cpu,
        )  # fmt: skip
    finally:
        for ingester in ingesters:
            if ingester.proc is not None and ingester.proc.poll() is None:
                ingester.proc.kill()
        broker.kill()
        influx.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["single", "batch50", "all"], default="all")
    parser.add_argument("--mode", choices=["sustained", "drain", "paced", "all"], default="all")
    parser.add_argument("--single-messages", type=int, default=300_000)
    parser.add_argument("--batch-messages", type=int, default=20_000)
    parser.add_argument("--single-rate", type=float, default=10_000, help="paced: messages/s")
    parser.add_argument("--batch-rate", type=float, default=800, help="paced: messages/s")
    parser.add_argument("--ingesters", type=int, default=1, help="processes in one share group")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    shapes = ["single", "batch50"] if args.shape == "all" else [args.shape]
    modes = ["sustained", "drain", "paced"] if args.mode == "all" else [args.mode]
    print(
        f"villagewatch ingest benchmark — {os.cpu_count()} CPUs, {DEVICES} devices, "
        f"{args.ingesters} ingester process(es), QoS 1, ack after write"
    )
    runs = []
    for shape in shapes:
        for mode in modes:
            n = args.single_messages if shape == "single" else args.batch_messages
            rate = args.single_rate if shape == "single" else args.batch_rate
            if mode == "paced":
                n = min(n, int(rate * 20))  # 20 s of paced load
            with tempfile.TemporaryDirectory(prefix="vw-bench-") as tmp:
                run = one_run(shape, mode, n, Path(tmp), rate, args.ingesters)
            print(run.line(), flush=True)
            runs.append(run)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in runs], indent=2))


if __name__ == "__main__":
    main()
