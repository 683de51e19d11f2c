"""Detect processes competing for partitions (no broker needed: the lease rounds go on while
the sessions retry): one started a little later still gets its share, and a clean stop
frees what was held."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson

from villagewatch.config import load_deployment
from villagewatch.detect.claim import PartitionClaimer
from villagewatch.detect.store import DetectStore
from villagewatch_dev.servers import free_port

from .test_engine_faults import VILLAGE


def test_a_process_started_later_gets_its_share_and_a_clean_stop_frees_them(
    tmp_path: Path,
) -> None:
    villages = ["va", "vb", "vc", "vd"]
    for vid in villages:
        doc = orjson.loads(VILLAGE.model_dump_json())
        (tmp_path / f"{vid}.yaml").write_bytes(orjson.dumps({**doc, "id": vid}))
    settings = {
        "mqtt": {"host": "127.0.0.1", "port": free_port()},  # nobody listens: sessions retry
        "villages": [f"{v}.yaml" for v in villages],
        "detect": {
            "client_id": "vw-detect",
            "partitions": {"p1": ["va"], "p2": ["vb"], "p3": ["vc"], "p4": ["vd"]},
            "claim": {"max_partitions": 4, "lease_s": 1},
        },
    }
    (tmp_path / "s.yaml").write_bytes(orjson.dumps(settings))
    deployment = load_deployment(tmp_path / "s.yaml")
    db = tmp_path / "var" / "detect.db"

    async def main() -> list[list[str]]:
        stores = [DetectStore(db, reserve_bytes=0) for _ in range(2)]
        first, second = (
            PartitionClaimer(deployment=deployment, store=s, holder=f"p{i}")
            for i, s in enumerate(stores)
        )
        # the rounds one after the other, as the timers would run them: the first process
        # has had three before the second starts
        for claimer in [first, first, first] + [second, first] * 4:
            await claimer._round()
        held = [first.held(), second.held()]
        for claimer in (first, second):
            await claimer._stop_all()
        for s in stores:
            await s.close()
        return held

    held = asyncio.run(main())
    assert sorted(p for h in held for p in h) == ["p1", "p2", "p3", "p4"]
    assert [len(h) for h in held] == [2, 2], held
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT holder FROM leases")} == {""}
