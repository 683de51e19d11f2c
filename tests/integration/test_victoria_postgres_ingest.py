"""Two ingesters on NATS JetStream into one VictoriaMetrics, the relational part in PostgreSQL
(the `readings` schema): events either ingester stored are read through one store object, an
event delivered again (through the other ingester, or through both at once) is stored once,
and an event that arrives while PostgreSQL is down is retried until it is stored, not
dead-lettered."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as paho

from villagewatch.config import load_settings
from villagewatch.contract import Event
from villagewatch.store import open_store
from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import Postgres, VictoriaMetrics, free_port

from .helpers import NOW_MS, IngesterProcess, publish_through_outages, wait_until, write_deployment


def lock_event(seq: int) -> tuple[str, bytes]:
    item = {"seq": seq, "ts": NOW_MS - 3_600_000 + seq, "clock": "synced", "type": "unlock",
            "method": "card", "credential": f"card-{seq}"}  # fmt: skip
    body = {"v": 1, "device": "lock-1", "boot": "b1", "event": item}
    return "vw/v1/testvil/lock-1/event", orjson.dumps(body)


def deployment(tmp_path: Path, nats_cluster: NatsCluster, vm: VictoriaMetrics, dsn: str) -> Path:
    settings = write_deployment(
        tmp_path, mqtt_port=nats_cluster.nodes[0].mqtt_port, protocol="3.1.1",
        store={"kind": "victoria", "url": vm.url, "search_latency_s": 0},
        ingest={
            "bus": {"kind": "nats", "servers": nats_cluster.urls, "ack_wait_s": 5},
            "metrics_port": free_port(), "batch_max_messages": 50, "flush_interval_s": 0.05,
        },
    )  # fmt: skip
    doc = orjson.loads(settings.read_bytes())
    doc["relational"] = {"kind": "postgres", "dsn": dsn}
    settings.write_bytes(orjson.dumps(doc))
    return settings


def second(settings: Path) -> Path:
    """The deployment as another host sees it: a directory of its own (so a relational file,
    if one were used, would be its own) and its own metrics port."""
    host = settings.parent / "host-2"
    host.mkdir()
    shutil.copy(settings.parent / "village.yaml", host / "village.yaml")
    doc = orjson.loads(settings.read_bytes())
    doc["ingest"]["metrics_port"] = free_port()
    other = host / "settings.yaml"
    other.write_bytes(orjson.dumps(doc))
    return other


def no_relational_file(settings: Path) -> bool:
    return not list(settings.parent.rglob("villagewatch-relational.db"))


def ingester(settings: Path) -> IngesterProcess:
    port = orjson.loads(settings.read_bytes())["ingest"]["metrics_port"]
    return IngesterProcess(settings, port).start()


def stored_events(settings: Path) -> list[Event]:
    """The events of the lock, read as an API node reads them: one store object."""

    async def read() -> list[Event]:
        store = open_store(load_settings(settings))
        try:
            return (await store.history(since_ns=0, until_ns=2**62, device="lock-1")).events
        finally:
            await store.close()

    return asyncio.run(read())


def seqs(settings: Path) -> list[int]:
    return sorted(e.seq for e in stored_events(settings))


def publish(nats_cluster: NatsCluster, node: int, messages: list[tuple[str, bytes]]) -> None:
    publish_through_outages(
        nats_cluster.nodes[node].mqtt_port, messages, pace=500, protocol=paho.MQTTv311, timeout=60
    )


def test_two_ingesters_share_the_relational_part_and_store_each_event_once(
    tmp_path: Path, nats_cluster: NatsCluster, shared_victoria: VictoriaMetrics, pg_dsn: str
) -> None:
    settings = deployment(tmp_path, nats_cluster, shared_victoria, pg_dsn)
    a = ingester(settings)
    b: IngesterProcess | None = None
    try:
        publish(nats_cluster, 0, [lock_event(s) for s in range(100)])
        wait_until(lambda: len(seqs(settings)) >= 100, timeout=30, what="a's 100 events")
        assert a.terminate() == 0
        b = ingester(second(settings))  # the other host: its own process, no shared file
        # 50 of a's again (a device that resent them) and 100 new ones, through b alone
        publish(nats_cluster, 1, [lock_event(s) for s in range(50, 200)])
        wait_until(lambda: len(seqs(settings)) >= 200, timeout=30, what="b's 100 events")
        a = ingester(settings)
        # the same 100 events twice at once, through two nodes: each may go to either ingester
        twice = [lock_event(s) for s in range(200, 300)]
        other = threading.Thread(target=publish, args=(nats_cluster, 2, twice))
        other.start()
        publish(nats_cluster, 0, twice)
        other.join(timeout=60)
        wait_until(lambda: len(seqs(settings)) >= 300, timeout=30, what="300 events")
        time.sleep(1)  # a second copy would have been stored by now
        assert seqs(settings) == list(range(300))
        duplicates = sum(p.metric("villagewatch_ingest_duplicates_total") or 0.0 for p in (a, b))
        assert duplicates >= 50, "b found a's events in the shared schema"
        assert no_relational_file(settings)
        assert a.terminate() == 0 and b.terminate() == 0
    finally:
        a.kill()
        if b is not None:
            b.kill()


def test_an_event_while_postgres_is_down_is_retried_not_dead_lettered(
    tmp_path: Path, nats_cluster: NatsCluster, shared_victoria: VictoriaMetrics
) -> None:
    pg = Postgres(tmp_path / "pg").start()
    try:
        dsn = pg.create_database("vw")
        settings = deployment(tmp_path, nats_cluster, shared_victoria, dsn)
        a = ingester(settings)
        try:
            publish(nats_cluster, 0, [lock_event(1)])
            wait_until(lambda: seqs(settings) == [1], timeout=30, what="the first event")
            pg.kill()
            publish(nats_cluster, 1, [lock_event(2)])
            wait_until(
                lambda: (a.metric("villagewatch_ingest_store_retries_total") or 0) >= 2,
                timeout=30, what="the write retried",
            )  # fmt: skip
            assert a.alive()
            pg.start()
            wait_until(lambda: seqs(settings) == [1, 2], timeout=60, what="the event stored")

            async def letters() -> int:
                store = open_store(load_settings(settings))
                try:
                    return len(await store.dead_letters())
                finally:
                    await store.close()

            assert asyncio.run(letters()) == 0
            assert no_relational_file(settings)
            assert a.terminate() == 0
        finally:
            a.kill()
    finally:
        pg.close()
