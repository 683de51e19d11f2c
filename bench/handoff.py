"""Detect → alert engine hand-off latency through PostgreSQL's ``detect`` schema: from detect's
commit to the alert in the alert store, with the ``NOTIFY`` wake-up and with polling alone
(prints figures; not a test).

A fresh PostgreSQL (villagewatch_dev.servers) holds detect's schema; an
:class:`~villagewatch.alerts.engine.AlertEngine` runs over a temp SQLite alert store with
``poll_s`` (default 2 s). Detect's store commits one new transition at a time, at a random
moment of the poll interval, and the time until the engine has applied it is measured
(p50, p99, max). ``--no-notify`` stops the listener: the engine then finds each one at its
next poll (about ``poll_s / 2`` on average).

    .venv/bin/python bench/handoff.py
    .venv/bin/python bench/handoff.py --count 100 --poll 2 --no-notify
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.engine import AlertEngine
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.config import AlertsSettings
from villagewatch.db.database import PostgresLocation
from villagewatch.detect.store import DetectStore
from villagewatch.transitions import AlertKey, Severity, Transition
from villagewatch_dev.servers import Postgres

T0 = 1_795_000_000_000


async def run(directory: Path, count: int, poll_s: float) -> list[float]:
    """Seconds from each commit to its transition applied."""
    server = Postgres(directory / "pg").start()
    try:
        where = PostgresLocation(server.create_database("bench"), "detect")
        detect = DetectStore(where)
        settings = AlertsSettings(state_path=directory / "alerts.db", poll_s=poll_s)
        store = AlertDatabase(settings.state_path)
        metrics = AlertMetrics(store)
        engine = AlertEngine(settings=settings, store=store, sources=[where], metrics=metrics)

        def applied() -> float:
            return metrics.registry.get_sample_value("villagewatch_alerts_transitions_total") or 0

        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        await asyncio.sleep(1)  # listening
        out: list[float] = []
        for i in range(count):
            await asyncio.sleep(random.uniform(0, poll_s))
            before = applied()
            key = AlertKey("water_level", "v", f"wl-{i}", "level")
            started = time.perf_counter()
            await detect.commit({}, [Transition(key, "fire", Severity.BLUE, T0 + i, "up")])
            while applied() == before:  # noqa: ASYNC110 - the counter is what is timed
                await asyncio.sleep(0.001)
            out.append(time.perf_counter() - started)
        stop.set()
        await task
        await detect.close()
        store.close()
        return out
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--poll", type=float, default=2.0, help="the engine's poll_s")
    parser.add_argument("--no-notify", action="store_true", help="polling alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.no_notify:
            with mock.patch("villagewatch.db.wakeup.listen", mock.AsyncMock()):
                got = asyncio.run(run(Path(tmp), args.count, args.poll))
        else:
            got = asyncio.run(run(Path(tmp), args.count, args.poll))
    ms = sorted(x * 1000 for x in got)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{'polling alone' if args.no_notify else 'NOTIFY wake-up'}, poll_s {args.poll:g}, "
        f"{len(ms)} transitions: commit → applied p50 {statistics.median(ms):.1f} ms, "
        f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
