"""Benchmark of `villagewatch tune replay` (prints figures; not a test).

A month of one village — 50 water gauges reading once a minute and 600 smart locks with four
events an hour each, about 3.9 million readings and events — stored in SQLite and in a real
influxd on loopback, then replayed as `tune replay` runs it through today's config and a
candidate (a lower warning level and a tighter spike threshold). The data has a flood at
every gauge, spikes between the two thresholds and above both, an outage of one gauge and a
burst of wrong codes at every lock, so both configs raise alerts and differ. Loading a store
is setup (its batch writer, not timed); each store is loaded and replayed on its own, so the
other's server does not share the cores. Per store, items per second of each stage and of
the whole, reading included:

    read     Store.history of the range (SQLite rows, or InfluxDB's JSON pages, to records)
    detect   today's config and the candidate over the items, in steps of detect's tick_s
    diff     compare the two timelines and build the JSON report

    .venv/bin/python bench/replay.py                     # both stores, a month
    .venv/bin/python bench/replay.py --days 3 --store sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from villagewatch.config import InfluxSettings, load_deployment, load_village
from villagewatch.config.village import Village
from villagewatch.contract import Clock, Event, Reading, point_time_ns
from villagewatch.contract.records import EventValue
from villagewatch.store import Batch, InfluxStore, RelationalStore, Store
from villagewatch.tune import Plan
from villagewatch_dev.servers import Influxd

VILLAGE = "bench"
DAY_MS = 86_400_000
MIN_MS = 60_000
GAUGES = 50
LOCKS = 600
LOCK_EVENTS_PER_HOUR = 4
TICK_S = 5.0
"""detect's default step of time."""
WRITE_BATCH = 20_000
"""Items per store write while loading."""

TODAY: dict[str, float] = {"warning_cm": 200, "guaranteed_cm": 260, "spike": 12}
CANDIDATE: dict[str, float] = {"warning_cm": 180, "guaranteed_cm": 260, "spike": 8}


def write_village(path: Path, settings: dict[str, float]) -> Path:
    """The bench village with these water-level settings (JSON is YAML)."""
    devices = [
        {"id": f"wl-{i:02d}", "kind": "water_level", "grid": f"g{i % 5}", "interval_s": 60,
         "agent": f"edge-{i % 5}"}
        for i in range(GAUGES)
    ] + [
        {"id": f"lk-{j:03d}", "kind": "smart_lock", "grid": f"g{j % 5}", "interval_s": 3600,
         "agent": f"edge-{j % 5}"}
        for j in range(LOCKS)
    ]  # fmt: skip
    detect = {
        "kinds": {
            "water_level": {
                "level": {
                    "warning_cm": settings["warning_cm"],
                    "guaranteed_cm": settings["guaranteed_cm"],
                    "hold_s": 120,
                },
                "health": {"spike": settings["spike"]},
            }
        }
    }
    village = {
        "id": VILLAGE, "name": "bench", "town": "t",
        "grids": [{"id": f"g{k}", "name": f"grid {k}"} for k in range(5)],
        "devices": devices, "detect": detect,
    }  # fmt: skip
    path.write_bytes(orjson.dumps(village))
    return path


def configs(directory: Path) -> tuple[list[Village], Village]:
    """Today's villages (from a settings file, as the CLI loads them) and the candidate."""
    write_village(directory / "today.yaml", TODAY)
    settings = directory / "settings.yaml"
    settings.write_text("villages: [today.yaml]\n")
    deployment = load_deployment(settings, read_files=False)
    candidate = load_village(write_village(directory / "candidate.yaml", CANDIDATE))
    return list(deployment.villages), candidate


def gauge_day(i: int, day: int, start_ms: int, days: int) -> list[Reading]:
    """Gauge ``i``'s readings of one day: a daily tide, noise, a flood on one day of the
    range, now and then a spike; gauge 7 is silent three hours on day 2."""
    rng = random.Random(i * 1_000 + day)
    out: list[Reading] = []
    base = 90 + (i % 10)
    flood_day = (i * 3) % days
    for minute in range(1440):
        n = day * 1440 + minute
        if i == 7 and day == 2 and 600 <= minute < 780:
            continue
        ms = start_ms + n * MIN_MS + i * 997
        level = base + 15 * math.sin(2 * math.pi * minute / 1440) + rng.gauss(0, 0.1)
        if day == flood_day and 360 <= minute < 660:  # up 1.5 cm a minute for 100 min, down
            k = minute - 360
            level += 1.5 * k if k < 100 else max(150 - 0.75 * (k - 100), 0)
        if n % 997 == i:
            level += 10  # between the two spike thresholds
        elif n % 4001 == i:
            level += 25  # above both
        out.append(
            Reading(VILLAGE, f"g{i % 5}", f"wl-{i:02d}", "water_level", point_time_ns(ms, "b", n),
                    n, "b", {"level_cm": round(level, 2)}, Clock.SYNCED, False, False, ms)
        )  # fmt: skip
    return out


def lock_day(j: int, day: int, start_ms: int, days: int) -> list[Event]:
    """Lock ``j``'s events of one day: unlocks and locks at random times, four an hour, and on
    one day of the range six wrong codes within half a minute."""
    rng = random.Random(10_000_000 + j * 1_000 + day)
    times = sorted(rng.randrange(DAY_MS) for _ in range(24 * LOCK_EVENTS_PER_HOUR))
    unlock: dict[str, EventValue] = {"credential": f"c{j}"}
    kinds: list[tuple[str, dict[str, EventValue]]] = [("unlock", unlock), ("lock", {})]
    kinds *= len(times) // 2
    if day == j % days:
        at = (j % 24) * 3_600_000 + 1_800_000
        times[:6] = [at + 5_000 * k for k in range(6)]
        kinds[:6] = [("wrong_code", {})] * 6
        order = sorted(range(len(times)), key=times.__getitem__)
        times, kinds = [times[k] for k in order], [kinds[k] for k in order]
    out: list[Event] = []
    for k, (t, (type_, attrs)) in enumerate(zip(times, kinds, strict=True)):
        seq = day * 1_000 + k
        ms = start_ms + day * DAY_MS + t
        out.append(
            Event(VILLAGE, f"g{j % 5}", f"lk-{j:03d}", "smart_lock", point_time_ns(ms, "b", seq),
                  seq, "b", type_, attrs, Clock.SYNCED, False, False, ms)
        )  # fmt: skip
    return out


def days_of_data(start_ms: int, days: int) -> Iterator[tuple[list[Reading], list[Event]]]:
    """The range a day at a time (a month at once would be gigabytes of records)."""
    for day in range(days):
        readings = [r for i in range(GAUGES) for r in gauge_day(i, day, start_ms, days)]
        events = [e for j in range(LOCKS) for e in lock_day(j, day, start_ms, days)]
        yield readings, events


async def load(store: Store, start_ms: int, days: int) -> int:
    """Write the range through the store's batch writer; how many items."""
    count = 0
    for readings, events in days_of_data(start_ms, days):
        for k in range(0, max(len(readings), len(events)), WRITE_BATCH // 2):
            batch = Batch(
                readings=readings[k : k + WRITE_BATCH // 2], events=events[k : k + WRITE_BATCH // 2]
            )
            result = await store.write(batch)
            if result.rejected:
                raise SystemExit(f"the store refused {len(result.rejected)} bench items")
            count += len(batch)
    return count


async def replay_store(
    name: str, store: Store, villages: list[Village], candidate: Village, start_ms: int, days: int
) -> None:
    """Replay the range from ``store`` as `tune replay` does (the stages of
    :func:`~villagewatch.tune.try_candidate`, timed one by one) and print its row."""
    plan = Plan.of(
        villages, candidate, since_ms=start_ms, until_ms=start_ms + days * DAY_MS, tick_s=TICK_S
    )
    gc.collect()
    t0 = time.perf_counter()
    history = await plan.read(store)
    t1 = time.perf_counter()
    today, theirs = plan.replay(history)
    t2 = time.perf_counter()
    trial = plan.conclude(today, theirs)
    t3 = time.perf_counter()
    items = len(history)
    rates = "  ".join(
        f"{stage} {items / s:>9,.0f}/s ({s:5.1f} s)"
        for stage, s in (("read", t1 - t0), ("detect", t2 - t1), ("diff", t3 - t2))
    )
    summary = trial.report["summary"]
    print(
        f"  {name:7} {rates}  total {items / (t3 - t0):>9,.0f}/s ({t3 - t0:5.1f} s)  "
        f"{len(today.transitions):,}/{len(theirs.transitions):,} transitions, "
        f"added {summary['added']}, removed {summary['removed']}, "
        f"earlier {summary['earlier']}, later {summary['later']}",
        flush=True,
    )


async def sqlite_run(
    work: Path, villages: list[Village], candidate: Village, start_ms: int, days: int
) -> None:
    store = RelationalStore(work / "readings.db")
    t = time.perf_counter()
    n = await load(store, start_ms, days)
    print(f"  sqlite  loaded {n:,} items in {time.perf_counter() - t:.0f} s (setup)", flush=True)
    await replay_store("sqlite", store, villages, candidate, start_ms, days)
    await store.close()


async def influx_run(
    work: Path, villages: list[Village], candidate: Village, start_ms: int, days: int
) -> None:
    influx = Influxd(work / "influxd").start()
    try:
        influx.query("CREATE DATABASE bench")
        store = InfluxStore(InfluxSettings(url=influx.url, database="bench", gzip=False))
        t = time.perf_counter()
        n = await load(store, start_ms, days)
        print(
            f"  influx  loaded {n:,} items in {time.perf_counter() - t:.0f} s (setup)", flush=True
        )
        await replay_store("influx", store, villages, candidate, start_ms, days)
        await store.close()
    finally:
        influx.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=30, help="length of the range")
    parser.add_argument("--store", choices=["sqlite", "influx", "all"], default="all")
    args = parser.parse_args()
    # a midnight: the same data every run
    start_ms = (int(time.time() * 1000) // DAY_MS - args.days - 1) * DAY_MS
    items = args.days * (GAUGES * 1440 + LOCKS * 24 * LOCK_EVENTS_PER_HOUR)
    print(
        f"tune replay: {args.days} days of {GAUGES} gauges (one reading a minute) and {LOCKS} "
        f"locks ({LOCK_EVENTS_PER_HOUR} events an hour), about {items:,} items; today "
        f"{TODAY} vs candidate {CANDIDATE}; tick {TICK_S:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="vw-bench-replay-") as tmp:
        work = Path(tmp)
        villages, candidate = configs(work)
        if args.store in ("sqlite", "all"):
            asyncio.run(sqlite_run(work, villages, candidate, start_ms, args.days))
        if args.store in ("influx", "all"):
            asyncio.run(influx_run(work, villages, candidate, start_ms, args.days))


if __name__ == "__main__":
    main()
