"""Benchmark: a city slice on this machine — villagewatch beside a paho + orjson loop and
Node-RED on the same load, in the same run (prints figures; not a test).

The load (one process, villagewatch_dev/mqttload.py's pipelined publisher, two MQTT 3.1.1 connections at
QoS 1 to two nodes of a 3-node NATS JetStream cluster): ``--rate`` readings/s for
``--duration`` s, ``--singles`` single-reading messages/s from as many gauges plus edge
batches of 50 readings (one a second from each batch device), every reading stamped with its
publish time; ``--floods`` gauges jump over their warning level once each, spread over the run.

Consumers, one after the other, each on a fresh NATS cluster and a fresh VictoriaMetrics:

* villagewatch — 2 ingesters (``ingest.bus: nats``, one shared durable) into VictoriaMetrics
  (``store.kind: victoria``), 2 detect processes (one village each, pulling its village's
  durable consumer of the same stream)
  and PostgreSQL as ``relational`` (what is ported to it; detect's own store is wherever the
  settings put it);
* paho — bench/cityrivals.py's plain loop into VictoriaMetrics;
* nodered — Node-RED with its InfluxDB node into VictoriaMetrics (installed once into
  /tmp/vw-bench-nodered; without npm or its registry that part is skipped and said so).

Figures: offered and stored readings/s; publish→stored p50/p99, measured by VictoriaMetrics's
count of inserted rows over time against the publisher's count over time (first in, first
out; VictoriaMetrics counts a row when it takes it, before its ~1 s flush to disk);
publish→transition p50/p99 (the time detect recorded the flood's transition minus the
reading's publish stamp: the alert engine's input); CPU seconds and peak RSS per process; lost
and duplicated readings by unique (device, seq) exported from VictoriaMetrics at the end. And
first, the batched write rate of one ingester's store into VictoriaMetrics alone
(bench/victoria.py). Everything on 127.0.0.1; every process is killed at the end, Ctrl-C too.

    .venv/bin/python bench/city.py                                    # the full run (~35 min)
    .venv/bin/python bench/city.py --duration 30 --rate 5500 --singles 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson

from cityrivals import NodeRed, install_node_red
from citystats import (
    BATCH,
    LoadPlan,
    histogram_quantile,
    latencies,
    lost_and_duplicated,
    percentile,
)
from citywatch import Role, Watch, ingest_counts, stored_seqs, transitions, vm_rows
from victoria import readings as victoria_readings
from victoria import report as victoria_report
from victoria import run_store
from villagewatch.config import VictoriaSettings
from villagewatch.ingest.natsource import MQTT_STORE
from villagewatch.store import VictoriaStore
from villagewatch_dev.mqttload import publish
from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import Postgres, VictoriaMetrics, free_port

VILLAGES = ("city-a", "city-b")
WARNING_CM = 200.0


def devices(plan: LoadPlan) -> list[str]:
    """Every device: gauges ``s-…`` (single readings), edge devices ``e-…`` (batches)."""
    return [f"s-{i:05d}" for i in range(plan.singles)] + [f"e-{i:05d}" for i in range(plan.batches)]


def village_of(device: str) -> str:
    """The village a device is in (devices alternate between the two)."""
    return VILLAGES[int(device[2:]) % len(VILLAGES)]


def write_settings(work: Path, plan: LoadPlan, *, mqtt_port: int, nats: list[str], vm: str,
                   pg_dsn: str) -> dict[str, Path]:  # fmt: skip
    """Settings files of the four villagewatch processes, by name."""
    by_village: dict[str, list[dict[str, str]]] = {v: [] for v in VILLAGES}
    for d in devices(plan):
        by_village[village_of(d)].append({"id": d, "kind": "water_level", "grid": "g1"})
    level = {"health": False, "level": {"warning_cm": WARNING_CM, "hold_s": 0, "deadband_cm": 5}}
    for v, devs in by_village.items():
        village = {"id": v, "name": v, "town": "city", "grids": [{"id": "g1", "name": "one"}],
                   "devices": devs, "detect": {"kinds": {"water_level": level}}}  # fmt: skip
        (work / f"{v}.yaml").write_bytes(orjson.dumps(village))
    common: dict[str, Any] = {
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "protocol": "3.1.1"},
        "relational": {"kind": "postgres", "dsn": pg_dsn},
        "registry": {"path": str(work / "registry.db")},
        "villages": [f"{v}.yaml" for v in VILLAGES],
    }
    out = {}
    for k in (1, 2):
        store = {"kind": "victoria", "url": vm}  # its relational part: the `readings` schema
        ingest = {"client_id": f"city-ingest-{k}", "metrics_port": free_port(),
                  "evidence_min_free_percent": 0, "bus": {"kind": "nats", "servers": nats}}  # fmt: skip
        out[f"ingest-{k}"] = {**common, "store": store, "ingest": ingest}
        detect = {"client_id": f"city-detect-{k}", "metrics_port": free_port(),
                  "villages": [VILLAGES[k - 1]], "state_path": str(work / f"detect{k}.db")}  # fmt: skip
        # the bus named: detect pulls its village's consumer, as in config/production/scale-out
        bus = {"bus": {"kind": "nats", "servers": nats}}
        out[f"detect-{k}"] = {**common, "store": store, "ingest": bus, "detect": detect}
    paths = {}
    for name, settings in out.items():
        paths[name] = work / f"{name}.yaml"
        paths[name].write_bytes(orjson.dumps(settings))
    return paths


class Load:
    """The publisher: payloads made as they are sent; a count of readings sent."""

    def __init__(self, plan: LoadPlan, duration: int, floods: int) -> None:
        self.plan, self.duration = plan, duration
        self.sent = 0
        self.messages = 0
        self.expected = dict.fromkeys(devices(plan), 0)
        self.last_ms: dict[str, int] = {}
        step = max(1, duration // (floods + 1))
        # flood f: gauge s-f jumps at its ((f+1)·step)-th reading, and falls back at the next
        self.flood_at = {f"s-{f:05d}": (f + 1) * step for f in range(min(floods, plan.singles))}

    def _message(self, device: str, k: int, n: int) -> tuple[bytes, bytes]:
        # A device's readings never share a millisecond: a publisher that fell behind makes a
        # device's next message within the same ms, and VictoriaMetrics keeps one sample per
        # series and ms (docs/ingest.md) — a "lost" reading that only the bench made.
        now = max(time.time_ns() // 1_000_000, self.last_ms.get(device, 0) + n)
        self.last_ms[device] = now
        level = 260.0 if self.flood_at.get(device) == k else 150.0
        items = b",".join(
            b'{"seq":%d,"ts":%d,"clock":"synced","level_cm":%.1f}' % (k * n + j, now - (n - 1 - j), level)
            for j in range(n)
        )  # fmt: skip
        key = b"reading" if n == 1 else b"readings"
        body = b'{"v":1,"device":"%s","boot":"b","historical":false,"%s":%s}' % (
            device.encode(), key, items if n == 1 else b"[" + items + b"]")  # fmt: skip
        self.sent += n
        self.messages += 1
        self.expected[device] += n
        return f"vw/v1/{village_of(device)}/{device}/telemetry".encode(), body

    def maker(self, prefix: str, per_second: int, n: int) -> Callable[[int], tuple[bytes, bytes]]:
        """``make(i)`` for mqttload.publish: message i of ``per_second`` devices ``prefix-…``
        sending ``n`` readings a second each."""
        return lambda i: self._message(f"{prefix}-{i % per_second:05d}", i // per_second, n)

    async def run(self, ports: list[int]) -> None:
        """Publish the whole load: singles to ``ports[0]``, batches to ``ports[1]``, at once."""
        p, d = self.plan, self.duration
        jobs = []
        if p.singles:
            jobs.append(publish(ports[0], p.singles * d, self.maker("s", p.singles, 1),
                                rate=p.singles, client_id="city-singles"))  # fmt: skip
        if p.batches:
            jobs.append(publish(ports[1], p.batches * d, self.maker("e", p.batches, BATCH),
                                rate=p.batches, client_id="city-batches", window=2000))  # fmt: skip
        await asyncio.gather(*jobs)


async def drive(load: Load, ports: list[int], stored: Callable[[], float], watch: Watch,
                drain_s: float) -> tuple[list[tuple[float, int]], list[tuple[float, int]], float]:  # fmt: skip
    """Publish and sample both counts every 0.1 s until all is stored and quiet for 3 s, or
    nothing moves for ``drain_s``; (published timeline, stored timeline, publishing seconds)."""
    pub: list[tuple[float, int]] = []
    got: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    task = asyncio.create_task(load.run(ports))
    published_s = 0.0
    moved = time.perf_counter()
    told = 0.0
    while True:
        await asyncio.sleep(0.1)
        now = time.perf_counter() - t0
        if now - told >= 15:  # a long run shows it is moving
            told = now
            print(f"    {now:4.0f} s: published {load.sent:,} readings, stored "
                  f"{got[-1][1] if got else 0:,}", flush=True)  # fmt: skip
        pub.append((now, load.sent))
        n = int(await asyncio.to_thread(stored))
        if not got or n > got[-1][1]:
            moved = time.perf_counter()
        got.append((now, n))
        await asyncio.to_thread(watch.sample)
        if task.done():
            task.result()
            published_s = published_s or now
            # a count reached is not yet every reading stored (a redelivered copy counts
            # too): wait until it stops moving
            quiet = time.perf_counter() - moved
            if (n >= load.sent and quiet > 3) or quiet > drain_s:
                return pub, got, published_s


def figures(name: str, load: Load, pub: list[tuple[float, int]], got: list[tuple[float, int]],
            published_s: float, vm: VictoriaMetrics) -> float:  # fmt: skip
    """Print a consumer's figures; its stored readings/s."""
    lat = latencies(pub, got)
    stored_n = got[-1][1]
    span = min(t for t, n in got if n == stored_n) or 1.0
    first = next((t for t, n in got if n > 0), 0.0)
    rate = stored_n / max(span - first, 1e-9)
    lost, dup, missing = lost_and_duplicated(load.expected, stored_seqs(vm))
    print(f"  {name}: offered {load.sent / published_s:,.0f} readings/s ({load.sent:,} in "
          f"{published_s:.0f} s), stored {rate:,.0f} readings/s; publish→stored p50 "
          f"{percentile(lat, 0.5) * 1000:,.0f} ms p99 {percentile(lat, 0.99) * 1000:,.0f} ms; "
          f"lost {lost:,}, duplicated {dup:,}", flush=True)  # fmt: skip
    if missing:
        print(f"  {name}: lost for example (device, seq): {missing}")
    return rate


def stream_state(servers: list[str]) -> str:
    """What NATS's MQTT stream took: its last sequence number counts every message it stored
    (acknowledged and removed ones included), so a gap to the messages published means NATS
    acknowledged a publish it never stored."""

    async def ask() -> str:
        nc = await nats.connect(servers=servers)
        try:
            info = await nc.jetstream().stream_info(MQTT_STORE)
            st = info.state
            return f"$MQTT_msgs took {st.last_seq:,} messages, holds {st.messages:,}"
        finally:
            await nc.close()

    return asyncio.run(ask())


def run_consumer(
    kind: str, args: argparse.Namespace, plan: LoadPlan, work: Path
) -> tuple[float, float]:
    """One consumer on a fresh NATS cluster and VictoriaMetrics; its stored readings/s and
    its own CPU seconds per reading (servers excluded)."""
    load = Load(plan, args.duration, args.floods if kind == "villagewatch" else 0)
    watch = Watch()
    with contextlib.ExitStack() as stack:
        cluster = NatsCluster(work / "nats").start()
        stack.callback(cluster.close)
        vm = VictoriaMetrics(work / "vm").start()
        stack.callback(vm.kill)
        for node in cluster.nodes:
            watch.add(f"nats-{node.name}", node.proc.pid)  # type: ignore[union-attr]
        watch.add("victoria", vm.proc.pid)  # type: ignore[union-attr]
        per_reading = 2
        paths: dict[str, Path] = {}
        roles: list[Role] = []
        if kind == "villagewatch":
            per_reading = 3  # the value, seq and ns
            pg = Postgres(work / "pg").start()
            stack.callback(pg.close)
            watch.add("postgres", pg.proc.pid)  # type: ignore[union-attr]
            paths = write_settings(work, plan, mqtt_port=cluster.nodes[2].mqtt_port,
                                   nats=cluster.urls, vm=vm.url,
                                   pg_dsn=pg.create_database("villagewatch"))  # fmt: skip
            roles = [Role(name, path) for name, path in paths.items()]
            for role in roles:
                stack.callback(role.kill)
            for role in roles:
                role.wait_ready()
                watch.add(role.name, role.proc.pid)
            time.sleep(1)  # detect's subscriptions
        elif kind == "paho":
            proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cityrivals.py")),
                                     "--mqtt-port", str(cluster.nodes[2].mqtt_port), "--vm", vm.url])  # fmt: skip
            stack.callback(proc.wait)  # after the kill below (callbacks run last first)
            stack.callback(proc.kill)
            watch.add("paho-loop", proc.pid)
            time.sleep(2)
        else:
            red = NodeRed(work / "nodered", mqtt_port=cluster.nodes[2].mqtt_port, vm_port=vm.port)
            stack.callback(red.kill)
            watch.add("node-red", red.start().pid)
        ports = [cluster.nodes[0].mqtt_port, cluster.nodes[1].mqtt_port]
        pub, got, published_s = asyncio.run(
            drive(load, ports, lambda: vm_rows(vm) / per_reading, watch, args.drain)
        )
        rate = figures(kind, load, pub, got, published_s, vm)
        if kind == "villagewatch":
            texts = [
                httpx.get(f"http://127.0.0.1:{r.port}/metrics").text
                for r in roles
                if r.role == "ingest"
            ]
            lag = [histogram_quantile(texts, "villagewatch_ingest_store_lag_seconds", q) * 1000
                   for q in (0.5, 0.99)]  # fmt: skip
            print(
                f"  {kind}: the ingesters' own publish→stored histogram (bucket bounds): "
                f"p50 ≤ {lag[0]:,.0f} ms p99 ≤ {lag[1]:,.0f} ms"
            )
            print(f"  {kind}: the ingesters counted {ingest_counts(texts)}")
            print(f"  {kind}: {stream_state(cluster.urls)} (published {load.messages:,} messages)")
            lat = transitions(paths, set(load.flood_at))
            print(f"  {kind}: publish→transition p50 {percentile(lat, 0.5) * 1000:,.0f} ms "
                  f"p99 {percentile(lat, 0.99) * 1000:,.0f} ms ({len(lat)} transitions of "
                  f"{len(load.flood_at)} floods; a raise and a clear each)")  # fmt: skip
        print("\n".join(watch.lines()), flush=True)
        servers = ("nats-", "victoria", "postgres")
        cpu = sum(v for n, v in watch.cpu.items() if not n.startswith(servers))
        ingest = sum(v for n, v in watch.cpu.items() if n.startswith("ingest"))
        print(
            f"  {kind}: consumer CPU {cpu / max(load.sent, 1) * 1e5:.2f} s per 100,000 "
            f"readings"
            + (f" (the ingesters alone {ingest / load.sent * 1e5:.2f} s)" if ingest else "")
        )
        return rate, cpu / max(load.sent, 1)


def victoria_alone(n: int, batch: int, work: Path) -> None:
    """One ingester's batched writes into VictoriaMetrics alone (bench/victoria.py's code)."""
    items = victoria_readings(n)
    vm = VictoriaMetrics(work / "vm-alone").start()
    try:
        settings = VictoriaSettings(url=vm.url)
        seconds, cpu = run_store(
            lambda: VictoriaStore(settings, relational=work / "rel.db"), items, batch
        )
        vm.settle()
        stored = sum(len(s["values"]) for s in vm.export("readings_seq"))
        victoria_report("VictoriaMetrics", n, seconds, cpu, stored)
    finally:
        vm.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of load per consumer")
    parser.add_argument("--rate", type=int, default=41_000, help="readings/s offered")
    parser.add_argument("--singles", type=int, default=2_000, help="single-reading messages/s")
    parser.add_argument("--floods", type=int, default=6, help="flood jumps injected")
    parser.add_argument(
        "--drain", type=float, default=60, help="give up after this many s without progress"
    )
    parser.add_argument("--only", nargs="+", default=["victoria", "villagewatch", "paho", "nodered"],
                        choices=["victoria", "villagewatch", "paho", "nodered"])  # fmt: skip
    parser.add_argument("--victoria-readings", type=int, default=300_000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    args = parser.parse_args()
    try:
        plan = LoadPlan(args.rate, args.singles)
    except ValueError as exc:
        parser.error(str(exc))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # unwinds: every process is killed
    print(f"load: {plan.rate:,} readings/s = {plan.singles:,} single + {plan.batches:,} batch "
          f"messages/s, {args.duration} s per consumer, {len(devices(plan)):,} devices")  # fmt: skip
    results: dict[str, tuple[float, float]] = {}
    with contextlib.ExitStack() as keep:
        work = Path(tempfile.mkdtemp(prefix="vw-bench-city-"))
        if args.keep:
            print(f"work directory (kept): {work}")
        else:
            keep.callback(shutil.rmtree, work, ignore_errors=True)
        if "victoria" in args.only:
            print("one ingester's store, batched writes into VictoriaMetrics alone "
                  "(target ≥ 150,000 readings/s):")  # fmt: skip
            victoria_alone(args.victoria_readings, 5_000, work)
        for kind in ("villagewatch", "paho", "nodered"):
            if kind not in args.only:
                continue
            if kind == "nodered" and (why := install_node_red()) is not None:
                print(f"nodered: skipped — {why}")
                continue
            print(f"{kind}:", flush=True)
            results[kind] = run_consumer(kind, args, plan, work / kind)
    if "villagewatch" in results:
        vw_rate, vw_cpu = results["villagewatch"]
        for kind in ("paho", "nodered"):
            if kind in results:
                rate, cpu = results[kind]
                print(
                    f"villagewatch : {kind} — stored readings/s {vw_rate / rate:.2f}, "
                    f"consumer CPU per reading {vw_cpu / cpu:.2f}"
                )


if __name__ == "__main__":
    main()
