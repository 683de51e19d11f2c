"""Benchmark of the detectors (prints figures; not a test).

throughput — a village of 10,000 devices (4,000 water gauges with health, level
  and rise detectors; 1,000 rain gauges; 4,000 smart locks; 500 call buttons;
  500 cameras), one reading per device per device-minute, 5 % of the gauges in
  a flood and some rain and wrong codes so alerts do fire. One thread (so one
  core: figures are per CPU-second), three measures over the same pre-built
  messages:
    engine            DetectEngine.handle on decoded messages;
    decode+engine     the contract's decoder, then the engine;
    +checkpoint       and, every 500 messages, the changed states serialised
                      as the service commits them (the SQLite write itself is
                      in the latency run).

anomaly — the anomaly detector alone (detectors/anomaly.py), one thread: 200 water
  gauges' level series (daily cycle and noise), 500 readings each, through
  Anomaly.reading; readings per CPU-second and the saved state per series.

latency — `villagewatch detect` as its own process against a real Mosquitto on
  loopback; a publisher sends single-reading messages at --rate readings/s
  from 1,000 gauges whose level jumps over the warning level and back now and
  then (every 100th reading of a gauge), each stamped with its publish time.
  The latency of a transition is the time detect recorded it (the start of its
  SQLite commit) minus the device time of the reading that caused it; the
  commit itself is reported beside it from detect's commit histogram.

    .venv/bin/python bench/detect.py                    # both
    .venv/bin/python bench/detect.py --only throughput --rounds 30
    .venv/bin/python bench/detect.py --only latency --rate 5000 --seconds 20
    .venv/bin/python bench/detect.py --only anomaly
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from villagewatch.config import load_deployment
from villagewatch.contract import (
    Channel,
    Clock,
    DeadLetter,
    Decoded,
    Reading,
    encode_items,
    point_time_ns,
    topic_for,
)
from villagewatch.db.sqlite import connect_reader
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.sources import decoder_for
from villagewatch.detect.store import dump_states
from villagewatch.detectors import CLEAN, Anomaly, AnomalyConfig
from villagewatch.runtime.gctuning import tune_gc_for_throughput
from villagewatch_dev.mqttload import publish
from villagewatch_dev.servers import Mosquitto, free_port

VILLAGE = "bench"
DAY_MS = 86_400_000

# --- throughput ---------------------------------------------------------------------

MIX = {
    "water_level": 4000,
    "rain_gauge": 1000,
    "smart_lock": 4000,
    "call_button": 500,
    "camera": 500,
}
PREFIX = {
    "water_level": "wl",
    "rain_gauge": "rg",
    "smart_lock": "lk",
    "call_button": "sos",
    "camera": "cam",
}


def write_village(directory: Path, devices: list[dict[str, Any]], detect: dict[str, Any]) -> Path:
    """settings.yaml and village.yaml (JSON is YAML) for one village ``bench``."""
    village = {
        "id": VILLAGE, "name": "bench", "town": "t", "grids": [{"id": "g", "name": "g"}],
        "devices": devices, "detect": detect,
    }  # fmt: skip
    (directory / "village.yaml").write_bytes(orjson.dumps(village))
    path = directory / "settings.yaml"
    path.write_bytes(orjson.dumps({"villages": ["village.yaml"]}))
    return path


def throughput_village(directory: Path) -> Path:
    devices = [
        {"id": f"{PREFIX[kind]}-{i:05d}", "kind": kind, "grid": "g"}
        for kind, n in MIX.items()
        for i in range(n)
    ]
    detect = {
        "kinds": {
            "water_level": {
                "level": {"warning_cm": 200, "guaranteed_cm": 260, "historical_max_cm": 400},
                "rise": {"window_s": 1800, "rise_cm": 30},
            }
        }
    }
    return write_village(directory, devices, detect)


def throughput_messages(rounds: int, start_ms: int) -> list[tuple[str, bytes]]:
    """Every device's reading per round (a device-minute), in round order."""
    rng = random.Random(7)
    out: list[tuple[str, bytes]] = []
    for r in range(rounds):
        ts = start_ms + r * 60_000
        for kind, n in MIX.items():
            prefix = PREFIX[kind]
            for i in range(n):
                device = f"{prefix}-{i:05d}"
                item: dict[str, Any] = {"seq": 2 * r, "ts": ts, "clock": "synced"}
                if kind == "water_level":
                    level = 100 + 30 * math.sin(2 * math.pi * ts / DAY_MS + i) + rng.gauss(0, 0.5)
                    if i % 20 == 0 and r >= 5:  # 5 % in flood: 3 cm a minute
                        level += 3 * (r - 5)
                    item["level_cm"] = round(level, 1)
                elif kind == "rain_gauge":
                    item["mm"] = 5.0 if i % 10 == 0 else 0.0
                elif kind == "camera":
                    item["fps"] = 4.0
                else:
                    item["battery"] = 80.0
                out.append(_message(device, Channel.TELEMETRY, item))
                if kind == "smart_lock" and i % 100 == 0:
                    event = {
                        "seq": 2 * r + 1,
                        "ts": ts + 1,
                        "clock": "synced",
                        "type": "wrong_code",
                    }
                    out.append(_message(device, Channel.EVENT, event))
    return out


def _message(device: str, channel: Channel, item: dict[str, Any]) -> tuple[str, bytes]:
    payload = encode_items(device=device, boot="b", channel=channel, items=[item])
    return topic_for(VILLAGE, device, channel), payload


def run_throughput(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vw-bench-detect-") as tmp:
        deployment = load_deployment(throughput_village(Path(tmp)))
    village = deployment.villages[0]
    # a midnight: the same flood every run
    start_ms = (int(time.time() * 1000) // DAY_MS - 30) * DAY_MS
    messages = throughput_messages(rounds, start_ms)
    decoder = decoder_for(deployment, [VILLAGE])
    received_ns = time.time_ns()
    items = 0
    for topic, payload in messages:
        d = decoder.decode(topic, payload, received_ns)
        if isinstance(d, DeadLetter):
            raise SystemExit(f"bench message refused: {d.reason} {d.detail}")
        items += len(d.readings) + len(d.events)
    decoded: list[Decoded] = []
    print(
        f"throughput: {sum(MIX.values()):,} devices, {rounds} device-minutes, "
        f"{len(messages):,} messages, {items:,} readings and events, one thread"
    )
    now_ms = start_ms + rounds * 60_000

    def measure(name: str, decode: bool, checkpoint: bool) -> None:
        engine = DetectEngine([village], now_ms=start_ms)
        gc.collect()
        tune_gc_for_throughput()  # as `villagewatch detect` does once its detectors are built
        transitions = 0
        saved: dict[str, int] = {}
        t0, cpu0 = time.perf_counter(), time.process_time()
        for n, (topic, payload) in enumerate(messages):
            if decode:
                d = decoder.decode(topic, payload, received_ns)
                assert not isinstance(d, DeadLetter)
            else:
                d = decoded[n]
            transitions += len(engine.handle(d, now_ms))
            if checkpoint and n % 500 == 499:
                saved.update((k, len(v)) for k, v in dump_states(engine.dirty_states()).items())
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        gc.unfreeze()
        extra = ""
        if checkpoint:
            total = sum(saved.values())
            extra = (
                f"  saved state {total / 2**20:,.1f} MB ({total / len(saved):,.0f} B per device)"
            )
        print(
            f"  {name:16} {items / cpu:>9,.0f} readings per CPU-second  "
            f"({items / elapsed:,.0f}/s wall, {elapsed:.2f} s)  "
            f"{transitions:,} transitions{extra}"
        )

    measure("decode+engine", decode=True, checkpoint=False)
    measure("+checkpoint", decode=True, checkpoint=True)
    # last: 300,000 decoded messages held at once are a heap the service never has
    decoded += (
        d for t, p in messages if not isinstance(d := decoder.decode(t, p, received_ns), DeadLetter)
    )
    measure("engine", decode=False, checkpoint=False)


def run_anomaly(series: int = 200, readings: int = 500) -> None:
    """The anomaly row: Anomaly.reading over many series, per CPU-second."""
    rng = random.Random(7)
    start_ms = 1_700_000_000_000
    detectors = [
        Anomaly(AnomalyConfig(), village=VILLAGE, device=f"wl-{i}", label="g", metrics=["level_cm"])
        for i in range(series)
    ]
    batch = []
    for r in range(readings):
        ms = start_ms + r * 300_000
        for i in range(series):
            level = 100 + 30 * math.sin(2 * math.pi * ms / DAY_MS + i) + rng.gauss(0, 0.5)
            batch.append((i, _reading(f"wl-{i}", ms, r, level)))
    gc.collect()
    transitions = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i, reading in batch:
        transitions += len(detectors[i].reading(reading, CLEAN))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    state = sum(len(orjson.dumps(d.snapshot())) for d in detectors) / series
    print(
        f"anomaly: {series} series x {readings} readings, one thread\n"
        f"  {'anomaly':16} {len(batch) / cpu:>9,.0f} readings per CPU-second  "
        f"({len(batch) / elapsed:,.0f}/s wall, {elapsed:.2f} s)  "
        f"{transitions:,} transitions  state {state:,.0f} B per series"
    )


def _reading(device: str, ms: int, seq: int, level: float) -> Reading:
    return Reading(
        VILLAGE, "g", device, "water_level", point_time_ns(ms, "b", seq), seq, "b",
        {"level_cm": round(level, 1)}, Clock.SYNCED, False, False, ms,
    )  # fmt: skip


# --- latency ---------------------------------------------------------------------------

GAUGES = 1000
JUMP_EVERY = 100


def jumps(i: int) -> bool:
    """Whether the i-th message of the latency run jumps over the warning level."""
    return (i // GAUGES + i % GAUGES) % JUMP_EVERY == 0


def latency_deployment(directory: Path, mqtt_port: int, metrics_port: int) -> Path:
    devices = [{"id": f"wl-{i:04d}", "kind": "water_level", "grid": "g"} for i in range(GAUGES)]
    detect = {
        "kinds": {
            "water_level": {
                # the jumps are the point here, so no spike test to call them suspect
                "health": False,
                "level": {"warning_cm": 200, "hold_s": 0, "deadband_cm": 5},
            }
        }
    }
    path = write_village(directory, devices, detect)
    settings = {
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "detect": {
            "client_id": "bench-detect", "metrics_port": metrics_port,
            "state_path": str(directory / "detect.db"),
        },
        "villages": ["village.yaml"],
    }  # fmt: skip
    path.write_bytes(orjson.dumps(settings))
    return path


def metric(text: str, name: str) -> float:
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    if not found:
        raise KeyError(name)
    return total


def histogram_quantile(text: str, name: str, q: float) -> float:
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            value = float(line.rsplit(" ", 1)[1])
            buckets.append((math.inf if bound == "+Inf" else float(bound), value))
    total = buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= q * total:
            if math.isinf(le):
                return prev_le
            share = (q * total - prev_count) / max(count - prev_count, 1e-9)
            return prev_le + share * (le - prev_le)
        prev_le, prev_count = le, count
    return prev_le


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_latency(rate: float, seconds: float) -> None:
    count = int(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="vw-bench-detect-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto").start()
        metrics_port = free_port()
        settings = latency_deployment(work, broker.port, metrics_port)
        log = (work / "detect.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "villagewatch", "detect", "--config", str(settings), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"detect exited: {(work / 'detect.log').read_text()[-2000:]}")
                try:
                    if metric(httpx.get(url).text, "villagewatch_detect_broker_connected") == 1:
                        break
                except (httpx.HTTPError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("detect did not connect within 60 s")
                time.sleep(0.2)
            time.sleep(0.5)  # its subscriptions
            topics = [
                topic_for(VILLAGE, f"wl-{d:04d}", Channel.TELEMETRY).encode() for d in range(GAUGES)
            ]

            def make(i: int) -> tuple[bytes, bytes]:
                device, k = i % GAUGES, i // GAUGES
                level = 260.0 if jumps(i) else 150.0
                item = {
                    "seq": k,
                    "ts": time.time_ns() // 1_000_000,
                    "clock": "synced",
                    "level_cm": level,
                }
                payload = encode_items(
                    device=f"wl-{device:04d}", boot="b", channel=Channel.TELEMETRY, items=[item]
                )
                return topics[device], payload

            ps = psutil.Process(proc.pid)
            ps.cpu_percent()
            elapsed = asyncio.run(publish(broker.port, count, make, rate=rate, window=5000))
            deadline = time.monotonic() + 60
            while metric(httpx.get(url).text, "villagewatch_detect_messages_total") < count:
                if time.monotonic() > deadline:
                    raise SystemExit("detect did not receive every message within 60 s")
                time.sleep(0.1)
            time.sleep(0.5)  # its last commit
            cpu = ps.cpu_percent()
            text = httpx.get(url).text
        finally:
            proc.terminate()
            proc.wait(30)
            broker.stop()
        with contextlib.closing(connect_reader(work / "detect.db")) as db:
            rows = db.execute(
                "SELECT recorded_ns, at_ms FROM transitions WHERE kind = 'level'"
            ).fetchall()
    lat = [recorded / 1e6 - at for recorded, at in rows]
    # a jump fires, and the gauge's next reading (if it sends one) clears
    expected = sum(1 + (i + GAUGES < count) for i in range(count) if jumps(i))
    commit_p99 = histogram_quantile(text, "villagewatch_detect_commit_seconds", 0.99) * 1000
    print(
        f"latency: {count:,} readings from {GAUGES:,} gauges at {count / elapsed:,.0f} readings/s "
        f"through Mosquitto; {len(rows):,} transitions (expected {expected:,})"
    )
    print(
        f"  publish→transition p50 {percentile(lat, 0.5):5.1f} ms  p99 {percentile(lat, 0.99):5.1f} ms  "
        f"max {max(lat):5.1f} ms;  commit p99 {commit_p99:.1f} ms;  detect CPU {cpu:.0f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["throughput", "latency", "anomaly"])
    parser.add_argument(
        "--rounds", type=int, default=30, help="device-minutes in the throughput run"
    )
    parser.add_argument("--rate", type=float, default=5000, help="readings/s in the latency run")
    parser.add_argument("--seconds", type=float, default=20, help="length of the latency run")
    args = parser.parse_args()
    if args.only in (None, "latency"):
        run_latency(args.rate, args.seconds)
    if args.only in (None, "throughput"):
        run_throughput(args.rounds)
    if args.only in (None, "anomaly"):
        run_anomaly()


if __name__ == "__main__":
    main()
