"""Detect on a three-node NATS cluster, its villages pulled from JetStream: SIGKILL of the
node that leads a detect consumer mid-stream, or of detect itself (restarted), and detect
decides the same transitions as one in-order pass, each once. (Through an MQTT session on
NATS's listener, detect silently missed seconds of messages when a node died.)"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from villagewatch.config import load_deployment
from villagewatch.ingest.natsource import MQTT_STORE
from villagewatch_dev.natscluster import NatsCluster, NatsNode
from villagewatch_dev.servers import free_port

from .helpers import (
    DetectProcess,
    IngesterProcess,
    publish_through_outages,
    wait_until,
    write_deployment,
)
from .test_detect_partitions import as_villages, committed, expected_ids, recorded_ids, stream
from .test_detect_service import GAUGE_LEVELS

VILLAGES = ("va", "vb")
N = 900


def write_settings(tmp_path: Path, nats_cluster: NatsCluster, entry: NatsNode) -> Path:
    """Two villages with one gauge each; detect on NATS (``ack_wait_s`` short: a killed
    detect's messages come again soon), MQTT clients entering at ``entry``."""
    base = write_deployment(
        tmp_path, mqtt_port=entry.mqtt_port, protocol="3.1.1",
        store={"kind": "sqlite", "path": "readings.db"}, devices=1,
        ingest={"bus": {"kind": "nats", "servers": nats_cluster.urls, "ack_wait_s": 3},
                "metrics_port": free_port()},
        detect={"flush_interval_s": 0.25, "batch_max_messages": 100_000,
                "metrics_port": free_port()},
        village_detect={"devices": {"wl-000": {"level": GAUGE_LEVELS}}},
    )  # fmt: skip
    base.write_bytes(orjson.dumps(as_villages(base, VILLAGES)))
    return base


def leaders(nats_cluster: NatsCluster) -> dict[str, str]:
    """``$MQTT_msgs`` and each of its consumers → the node leading it, as the running nodes
    report."""
    return {name: leader for name, (leader, _) in _jsz(nats_cluster).items()}


def unfinished(nats_cluster: NatsCluster) -> dict[str, int]:
    """Detect's consumers → messages not yet delivered or not yet acknowledged."""
    return {
        name: detail.get("num_pending", 0) + detail.get("num_ack_pending", 0)
        for name, (_, detail) in _jsz(nats_cluster).items()
        if name.startswith("detect-")
    }


def _jsz(nats_cluster: NatsCluster) -> dict[str, tuple[str, dict[str, Any]]]:
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for node in nats_cluster.nodes:
        if not node.running:
            continue
        with contextlib.suppress(httpx.HTTPError, ValueError):
            body: dict[str, Any] = httpx.get(
                f"http://127.0.0.1:{node.monitor_port}/jsz",
                params={"accounts": "true", "streams": "true", "consumers": "true"}, timeout=2,
            ).json()  # fmt: skip
            for account in body.get("account_details") or []:
                for st in account.get("stream_detail") or []:
                    if st.get("name") != MQTT_STORE:
                        continue
                    if leader := (st.get("cluster") or {}).get("leader"):
                        out[MQTT_STORE] = leader, st
                    for c in st.get("consumer_detail") or []:
                        if (leader := (c.get("cluster") or {}).get("leader")) == node.name:
                            out[c["name"]] = leader, c  # the leader's figures
    return out


@pytest.mark.parametrize("fault", ["nats_node", "detect"])
def test_detect_on_nats_decides_as_the_in_order_pass_through_a_sigkill(
    tmp_path: Path, nats_cluster: NatsCluster, fault: str
) -> None:
    # the node to kill leads $MQTT_msgs (where the old path, an MQTT session, lost messages
    # in a run of three); devices and detect's MQTT settings use another
    victim = nats_cluster.node(
        wait_until(lambda: leaders(nats_cluster).get(MQTT_STORE, ""), timeout=30)
    )
    entry = next(n for n in nats_cluster.nodes if n is not victim)
    settings = write_settings(tmp_path, nats_cluster, entry)
    db = tmp_path / "var" / "detect.db"
    messages = stream(VILLAGES, N)
    want = expected_ids(settings, messages, VILLAGES)
    # poison on a village's subjects, mid-stream: dead letters (the ingester's), never a stall
    poison = [
        ("vw/v1/va/wl-000/telemetry", b"\xff{not json"),
        ("vw/v1/vb/wl-000/telemetry", orjson.dumps({"v": 1, "device": "wl-000"})),
        ("vw/v1/va/nobody/event", b"{}"),
        ("vw/v1/vb/wl-000/config", b"{}"),
    ]
    half = len(messages) // 2
    published = messages[:half] + poison + messages[half:]
    assert all(len(ids) >= 6 for ids in want.values()), "each gauge should cross the bands"
    port = load_deployment(settings).settings.detect.metrics_port
    ingest_port = load_deployment(settings).settings.ingest.metrics_port
    assert port is not None and ingest_port is not None
    # the ingester's consumer is there, as in every deployment: NATS keeps (interest
    # retention) what it or detect's consumers have not acknowledged
    ingester = IngesterProcess(settings, ingest_port).start()
    detect = DetectProcess(settings, port).start()
    publisher = threading.Thread(
        target=publish_through_outages, args=(entry.mqtt_port, published),
        kwargs={"pace": 150, "protocol": MQTTProtocolVersion.MQTTv311},
    )  # fmt: skip
    publisher.start()
    try:
        wait_until(
            lambda: min(committed(db).get(v, -1) for v in VILLAGES) > N // 4,
            timeout=60, what="detect mid-stream",
        )  # fmt: skip
        if fault == "nats_node":
            print("leaders", leaders(nats_cluster), "killing", victim.name)  # noqa: T201
            victim.kill()
        else:
            detect.kill()
            detect = DetectProcess(settings, port).start()
        publisher.join()
        wait_until(
            lambda: all(committed(db).get(v) == N - 1 for v in VILLAGES), timeout=90,
            what="the whole stream committed",
        )  # fmt: skip
        wait_until(
            lambda: set(unfinished(nats_cluster).values()) == {0}, timeout=30,
            what="every message of detect's consumers acknowledged, poison too",
        )  # fmt: skip
    finally:
        publisher.join()
        detect.terminate()
        ingester.kill()
    assert recorded_ids(db, VILLAGES) == want, (
        "each village's transitions exactly once, none missing"
    )
