"""Batched write rate of one writer into VictoriaMetrics and into InfluxDB, in the same run
(prints figures; not a test).

One process writes the same readings (DEVICES devices, one reading a minute each, two metrics
per reading, like a water-level sensor with its battery) through ``Store.write`` in batches,
awaiting each batch as the ingester does, to a fresh VictoriaMetrics (``VictoriaStore``, with
its relational part on a temp SQLite file) and to a fresh influxd 1.x (``InfluxStore``), one
after the other. Reports readings/s and samples/s, the writer's CPU seconds, and checks that
every reading is stored (VictoriaMetrics: samples of the ``seq`` series).

    .venv/bin/python bench/victoria.py
    .venv/bin/python bench/victoria.py --readings 300000 --batch 10000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from villagewatch.config import InfluxSettings, VictoriaSettings
from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.contract.records import boot_salt
from villagewatch.store import Batch, InfluxStore, Store, VictoriaStore
from villagewatch_dev.servers import Influxd, VictoriaMetrics

DEVICES = 1000
T0 = 1_795_000_000_000  # ms


def readings(n: int) -> list[Reading]:
    """``n`` readings: DEVICES devices, one a minute each."""
    salt = boot_salt("b1")
    out = []
    for i in range(n):
        seq, device = divmod(i, DEVICES)
        ms = T0 + seq * 60_000 + device
        reading = Reading(
            "dongcun", "g1", f"wl-{device}", "water_level", point_time_ns(ms, "b1", seq, salt),
            seq, "b1", {"level_cm": 100.0 + (i % 97), "battery_pct": 90.0},
            Clock.SYNCED, False, False, ms,
        )  # fmt: skip
        out.append(reading)
    return out


async def write_all(store: Store, items: list[Reading], batch: int) -> tuple[float, float]:
    """Wall and CPU seconds to write ``items`` in batches, one batch at a time."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(items), batch):
        await store.write(Batch(items[i : i + batch]))
    return time.perf_counter() - wall, time.process_time() - cpu


def report(name: str, n: int, seconds: float, cpu: float, stored: int) -> None:
    print(
        f"{name:16s} {n / seconds:>10,.0f} readings/s  {2 * n / seconds:>10,.0f} values/s  "
        f"writer CPU {cpu:5.1f} s  stored {stored:,}/{n:,}"
    )


def run_store(make: Callable[[], Store], items: list[Reading], batch: int) -> tuple[float, float]:
    async def go() -> tuple[float, float]:
        store = make()
        try:
            return await write_all(store, items, batch)
        finally:
            await store.close()

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000, help="readings per Store.write")
    args = parser.parse_args()
    items = readings(args.readings)
    print(f"{args.readings:,} readings of {DEVICES} devices, batches of {args.batch:,}")
    with tempfile.TemporaryDirectory() as tmp:
        vm = VictoriaMetrics(Path(tmp) / "vm").start()
        try:
            settings, rel = VictoriaSettings(url=vm.url), Path(tmp) / "rel.db"
            seconds, cpu = run_store(
                lambda: VictoriaStore(settings, relational=rel), items, args.batch
            )
            vm.settle()
            stored = sum(len(s["values"]) for s in vm.export("readings_seq"))
            report("VictoriaMetrics", args.readings, seconds, cpu, stored)
        finally:
            vm.kill()
        influx = Influxd(Path(tmp) / "influxd").start()
        try:
            influx.query('CREATE DATABASE "bench"')
            isettings = InfluxSettings(url=influx.url, database="bench")
            seconds, cpu = run_store(lambda: InfluxStore(isettings), items, args.batch)
            (row,) = influx.rows("SELECT count(seq) FROM readings", db="bench")
            report("InfluxDB 1.x", args.readings, seconds, cpu, int(row["count"]))
        finally:
            influx.kill()


if __name__ == "__main__":
    main()
