"""tune replay reads InfluxDB as it reads SQLite: Store.history gives the same records (boot
ids aside, which InfluxDB keeps for rescued items only), across pages, and the replay report
of the same history is identical."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.tune.history import MIN, T0, flood, settings_file, village_file
from villagewatch.config import InfluxSettings, load_deployment, load_village
from villagewatch.contract import Clock, Event, point_time_ns
from villagewatch.store import Batch, InfluxStore, RelationalStore, Store
from villagewatch.store.base import History
from villagewatch.tune import try_candidate
from villagewatch_dev.servers import Influxd


def lock_events() -> list[Event]:
    return [
        Event("v", "g", "wl-2", "water_level", point_time_ns(T0 + m * MIN + 7, "e", m), m, "e",
              "note", {"who": "张三, =x", "n": m, "ok": True}, Clock.UNSYNCED, True, False,
              T0 + m * MIN + 7)
        for m in range(0, 400, 50)
    ]  # fmt: skip


def without_boot(h: History) -> tuple[list[object], list[object]]:
    return [r._replace(boot="") for r in h.readings], [e._replace(boot="") for e in h.events]


def test_influxdb_and_sqlite_give_the_same_history_and_the_same_replay(
    shared_influxd: Influxd, database: str, tmp_path: Path
) -> None:
    deployment = load_deployment(
        settings_file(tmp_path, "{warning_cm: 150, hold_s: 0}"), read_files=False
    )
    candidate = load_village(
        village_file(tmp_path / "c.yaml", "{warning_cm: 120, guaranteed_cm: 190, hold_s: 60}")
    )
    influx = InfluxStore(InfluxSettings(url=shared_influxd.url, database=database))
    sqlite = RelationalStore(tmp_path / "readings.db")

    async def go(store: Store) -> tuple[History, dict[str, object]]:
        readings = flood()
        for i in range(0, len(readings), 250):
            await store.write(Batch(readings=readings[i : i + 250], events=lock_events()))
        since, until = T0 * 1_000_000, (T0 + 400 * MIN) * 1_000_000
        history = await store.history(since_ns=since, until_ns=until)
        if isinstance(store, InfluxStore):  # pages smaller than the range, ties at a page edge
            paged = await store._reader.history(since_ns=since, until_ns=until, page=7)
            assert paged == history
        trial = await try_candidate(
            store, deployment.villages, candidate, since_ms=T0, until_ms=T0 + 400 * MIN, tick_s=5
        )
        await store.close()
        return history, trial.report

    from_influx, report_influx = asyncio.run(go(influx))
    from_sqlite, report_sqlite = asyncio.run(go(sqlite))
    assert len(from_sqlite.readings) == 800 and len(from_sqlite.events) == 8
    assert without_boot(from_influx) == without_boot(from_sqlite)
    assert report_influx == report_sqlite
    summary = report_sqlite["summary"]
    assert isinstance(summary, dict) and summary["earlier"] == 1
