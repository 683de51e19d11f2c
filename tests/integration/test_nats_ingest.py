"""The ingester on a three-node NATS JetStream cluster: devices publish over MQTT 3.1.1 to
NATS's MQTT listener, a replicated stream keeps the contract's subjects, ingesters share one
durable pull consumer and acknowledge after the durable write (SQLite here)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import nats
import nats.errors
import orjson
import paho.mqtt.client as paho

from villagewatch.config import load_deployment
from villagewatch.config.mqtt import MqttSettings
from villagewatch.edge.link import EdgeLink
from villagewatch.ingest.natsource import MQTT_STORE
from villagewatch.ingest.service import IngestService
from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import free_port
from villagewatch_dev.testing import MemoryStore

from .helpers import (
    IngesterProcess,
    publish_through_outages,
    reading,
    wait_until,
    write_deployment,
)

DEVICES = 10


def _deployment(tmp_path: Path, nats_cluster: NatsCluster, **bus: Any) -> tuple[Path, Path]:
    db = tmp_path / "store.db"
    settings = write_deployment(
        tmp_path,
        mqtt_port=nats_cluster.nodes[0].mqtt_port,
        protocol="3.1.1",  # NATS's MQTT listener has no MQTT 5
        store={"kind": "sqlite", "path": str(db)},
        devices=DEVICES,
        ingest={
            "bus": {"kind": "nats", "servers": nats_cluster.urls, "ack_wait_s": 5, **bus},
            "metrics_port": free_port(),
            "batch_max_messages": 200,
            "flush_interval_s": 0.05,
        },
    )
    return settings, db


def _ingester(settings: Path) -> IngesterProcess:
    port = orjson.loads(settings.read_bytes())["ingest"]["metrics_port"]
    return IngesterProcess(settings, port).start()


def _counts(db: Path) -> tuple[int, int]:
    """(readings stored, distinct (device, seq) among them)."""
    if not db.exists():
        return 0, 0
    with sqlite3.connect(db, timeout=10) as con:
        rows, distinct = con.execute(
            "SELECT count(*), count(DISTINCT device || '/' || seq) FROM readings"
        ).fetchone()
    return int(rows), int(distinct)


def _dead_letters(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db, timeout=10) as con:
        return [(r, t) for r, t in con.execute("SELECT reason, topic FROM dead_letters")]


def _readings(n: int, boot: str = "b1") -> list[tuple[str, bytes]]:
    return [
        reading(f"wl-{i % DEVICES:03d}", i // DEVICES, level=float(i), boot=boot) for i in range(n)
    ]


def _stream_leader(nats_cluster: NatsCluster, stream: str = MQTT_STORE) -> str:
    async def ask() -> str:
        nc = await nats.connect(servers=nats_cluster.urls)
        try:
            info = await nc.jetstream().stream_info(stream)
            assert info.cluster is not None and info.cluster.leader
            return info.cluster.leader
        finally:
            await nc.close()

    return asyncio.run(ask())


def test_a_reading_over_mqtt_is_stored_once(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    settings, db = _deployment(tmp_path, nats_cluster)
    ingester = _ingester(settings)
    try:
        publish_through_outages(
            nats_cluster.nodes[1].mqtt_port, _readings(1), pace=100, protocol=paho.MQTTv311
        )
        wait_until(lambda: _counts(db)[0] >= 1, timeout=15, what="the reading stored")
        time.sleep(0.5)  # a second copy would have arrived by now
        assert _counts(db) == (1, 1)
        assert ingester.terminate() == 0
    finally:
        ingester.kill()


def test_a_node_killed_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    settings, db = _deployment(tmp_path, nats_cluster)
    ingester = _ingester(settings)
    leader = _stream_leader(nats_cluster)
    # the devices speak to a node that stays; the leader of the stream the ingester reads
    # (NATS's MQTT store) dies under them
    entry = next(n for n in nats_cluster.nodes if n.name != leader)
    n = 3000
    publishing = threading.Thread(
        target=publish_through_outages,
        args=(entry.mqtt_port, _readings(n)),
        kwargs={"pace": 400, "protocol": paho.MQTTv311, "timeout": 60},
    )
    publishing.start()
    try:
        wait_until(lambda: _counts(db)[0] >= n // 4, timeout=20, what="a quarter stored")
        nats_cluster.node(leader).kill()
        publishing.join(timeout=60)
        wait_until(lambda: _counts(db)[0] >= n, timeout=30, what=f"{n} readings")
        time.sleep(1)
        assert _counts(db) == (n, n)
        assert ingester.terminate() == 0
    finally:
        ingester.kill()
        publishing.join(timeout=5)


def test_two_ingesters_share_the_durable_and_a_killed_one_loses_nothing(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    settings, db = _deployment(tmp_path, nats_cluster)
    first, second = _ingester(settings), None
    n = 3000
    publishing = threading.Thread(
        target=publish_through_outages,
        args=(nats_cluster.nodes[0].mqtt_port, _readings(n)),
        kwargs={"pace": 400, "protocol": paho.MQTTv311, "timeout": 60},
    )
    try:
        second = _ingester(_second_settings(settings))
        publishing.start()
        wait_until(lambda: _counts(db)[0] >= n // 3, timeout=20, what="a third stored")
        first.kill()  # mid-batch: what it held unacknowledged goes to the other after ack_wait
        publishing.join(timeout=60)
        wait_until(lambda: _counts(db)[0] >= n, timeout=30, what=f"{n} readings")
        time.sleep(1)
        assert _counts(db) == (n, n)
        assert second.terminate() == 0
    finally:
        first.kill()
        if second is not None:
            second.kill()
        publishing.join(timeout=5)


def _second_settings(settings: Path) -> Path:
    """The same deployment for a second ingester process (its own metrics port)."""
    doc = orjson.loads(settings.read_bytes())
    doc["ingest"]["metrics_port"] = free_port()
    other = settings.with_name("settings-2.yaml")
    other.write_bytes(orjson.dumps(doc))
    return other


def test_poison_and_foreign_messages_do_not_stall_the_stream(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    settings, db = _deployment(tmp_path, nats_cluster)
    ingester = _ingester(settings)
    hostile = [
        ("vw/v1/testvil/wl-000/telemetry", b"\xff\xfe not json"),
        ("vw/v1/testvil/wl-000/telemetry", b'{"v": 1, "device": "wl-000", "reading": 5}'),
        ("vw/v1/testvil/nobody/telemetry", reading("nobody", 1)[1]),
        ("vw/v1/TestVil/wl-000/telemetry", reading("wl-000", 2)[1]),
        ("vw/v1/testvil/wl-000/evidence/ev-1", b"not a jpeg"),  # and not a camera
        ("vw/v1/testvil/wl-000/status", b'{"v": 1}'),  # outside what the stream keeps
        ("elsewhere/entirely", b"x"),
    ]
    try:
        publish_through_outages(
            nats_cluster.nodes[2].mqtt_port,
            [*hostile, *_readings(50)],
            pace=500,
            protocol=paho.MQTTv311,
        )
        wait_until(lambda: _counts(db)[0] >= 50, timeout=15, what="the good readings")
        wait_until(lambda: len(_dead_letters(db)) >= 5, timeout=10, what="dead letters")
        letters = _dead_letters(db)
        assert sorted(reason for reason, _ in letters) == [
            "bad_json", "bad_topic", "invalid_payload", "unexpected_channel", "unknown_device",
        ]  # fmt: skip
        assert not any(topic.endswith("/status") for _, topic in letters), "not in the stream"
        assert _counts(db) == (50, 50)
        assert ingester.terminate() == 0
    finally:
        ingester.kill()


def test_the_stream_survives_a_restart_of_all_three_nodes(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    settings, db = _deployment(tmp_path, nats_cluster)
    ingester = _ingester(settings)  # creates the stream and the durable
    assert ingester.terminate() == 0
    n = 500
    publish_through_outages(
        nats_cluster.nodes[0].mqtt_port, _readings(n), pace=1000, protocol=paho.MQTTv311
    )
    for node in nats_cluster.nodes:
        node.kill()
    nats_cluster.start()
    ingester = _ingester(settings)
    try:
        wait_until(lambda: _counts(db)[0] >= n, timeout=30, what=f"{n} readings")
        time.sleep(0.5)
        assert _counts(db) == (n, n)
        assert ingester.terminate() == 0
    finally:
        ingester.kill()


def test_a_stalled_store_holds_at_most_max_ack_pending_and_nothing_is_redelivered(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    # published with JetStream (no MQTT): into a stream of our own
    settings, _ = _deployment(
        tmp_path, nats_cluster, max_ack_pending=400, ack_wait_s=2, capture="stream"
    )
    store = MemoryStore()
    n = 2000

    async def scenario() -> tuple[int, int, int]:
        store.gate = asyncio.Event()  # every write waits: a store that hangs
        stop = asyncio.Event()
        service = IngestService(deployment=load_deployment(settings), store=store)
        running = asyncio.create_task(service.run(stop))
        await asyncio.wait_for(service.connected.wait(), 20)
        nc = await nats.connect(servers=nats_cluster.urls)
        try:
            js = nc.jetstream()
            for topic, payload in _readings(n):
                await js.publish(topic.replace("/", "."), payload)
            await asyncio.sleep(5)  # over two ack_waits: held messages get progress acks
            held = await js.consumer_info("VW", "vw-ingest")
            # another member of the durable would be handed any held message that expired
            other = await js.pull_subscribe_bind("vw-ingest", "VW")
            try:
                taken = len(await other.fetch(10, timeout=1))
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either, by timing
                taken = 0
            store.gate.set()
            while len(store.readings) < n:  # noqa: ASYNC110 - the store has no event to await
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(running, 20)
            return held.num_ack_pending, held.num_pending, taken
        finally:
            await nc.close()

    ack_pending, waiting, redelivered = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert 0 < ack_pending <= 400, "the server stops handing out at max_ack_pending"
    assert waiting >= n - 400, "the rest waits in the stream"
    assert redelivered == 0, "progress acks keep held messages from coming again"
    assert len(store.readings) == n
    assert sum(len(w.readings) for w in store.writes) == n, "each reading written once"


def test_the_edge_agents_link_speaks_mqtt_3_1_1_to_nats(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """The agent's own client as it runs on an edge box (protocol 3.1.1): it connects with its
    will and retained birth, subscribes to its desired config, and gets each QoS 1 publish
    acknowledged; the ingester stores it."""
    settings, db = _deployment(tmp_path, nats_cluster)
    ingester = _ingester(settings)
    acks: list[tuple[int, int]] = []

    async def scenario() -> int | None:
        mqtt = MqttSettings(port=nats_cluster.nodes[1].mqtt_port, protocol="3.1.1")
        up = asyncio.Event()
        link = EdgeLink(
            mqtt, agent="edge-1", village="testvil", boot="b9", devices=["wl-000"],
            on_ack=lambda mid, code: acks.append((mid, code)), on_up=up.set,
            on_down=lambda: None, on_config=lambda _: None, max_inflight=20,
        )  # fmt: skip
        stop = asyncio.Event()
        running = asyncio.create_task(link.run(stop))
        await asyncio.wait_for(up.wait(), 15)  # as the agent: its outbox sends once up
        mid = link.publish(*reading("wl-000", 1, boot="b9"))
        while not acks:  # noqa: ASYNC110 - the link reports acks by callback
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(running, 15)
        return mid

    try:
        mid = asyncio.run(asyncio.wait_for(scenario(), 30))
        assert (mid, 0) in acks
        wait_until(lambda: _counts(db)[0] >= 1, timeout=15, what="the agent's reading stored")
        assert _counts(db) == (1, 1)
        assert ingester.terminate() == 0
    finally:
        ingester.kill()
