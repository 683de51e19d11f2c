"""FastClient's overridden paho hooks against a real broker: buffered reads, lean PUBLISH decode,
packed PUBACKs — and the same tests on the stock-paho fallback (``fast=False``), so a paho
upgrade that breaks the hooks is caught and the fallback is known to work."""

from __future__ import annotations

import os
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from villagewatch.mqtt import FastClient
from villagewatch_dev.servers import Mosquitto

from .helpers import wait_until


@pytest.fixture(params=[True, False], ids=["fast", "stock-paho"])
def fast(request: pytest.FixtureRequest) -> bool:
    """Every test runs on the fast receive path and on the stock-paho fallback."""
    return bool(request.param)


def connect(
    port: int, protocol: MQTTProtocolVersion, client_id: str = "fast", *, fast: bool
) -> tuple[FastClient, list[tuple[int, int, bytes, bytes]]]:
    got: list[tuple[int, int, bytes, bytes]] = []
    client = FastClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        manual_ack=True,
        clean_session=False if protocol == paho.MQTTv311 else None,
        fast=fast,
    )
    client.on_fast_message = lambda mid, qos, topic, payload: got.append((mid, qos, topic, payload))
    props = None
    if protocol == paho.MQTTv5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        client.connect("127.0.0.1", port, clean_start=False, properties=props)
    else:
        client.connect("127.0.0.1", port)
    client.loop_start()
    return client, got


def publisher(port: int) -> paho.Client:
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="pub", protocol=paho.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    return pub


@pytest.mark.parametrize("protocol", [paho.MQTTv5, paho.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_payloads_of_every_size_arrive_intact_and_in_order(
    mosquitto: Mosquitto, protocol: MQTTProtocolVersion, fast: bool
) -> None:
    sub, got = connect(mosquitto.port, protocol, fast=fast)
    sub.subscribe("vw/#", qos=1)
    time.sleep(0.3)
    sizes = [0, 1, 127, 128, 16_383, 16_384, 100_000, 262_143, 262_144, 262_145, 700_000, 5, 3]
    payloads = [os.urandom(n) for n in sizes] + [f"small-{i}".encode() for i in range(3000)]
    pub = publisher(mosquitto.port)
    for i, p in enumerate(payloads):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = ("k", "v" * (i % 7))
        props.MessageExpiryInterval = 3600
        pub.publish(f"vw/t/{i % 5}", p, qos=1, properties=props)
    wait_until(lambda: len(got) >= len(payloads), timeout=30, what="all messages")
    assert [p for _, _, _, p in got] == payloads
    assert [t for _, _, t, _ in got] == [f"vw/t/{i % 5}".encode() for i in range(len(payloads))]
    assert all(qos == 1 and mid > 0 for mid, qos, _, _ in got)
    pub.loop_stop()
    sub.loop_stop()


def test_packed_pubacks_acknowledge_exactly_the_given_messages(
    mosquitto: Mosquitto, fast: bool
) -> None:
    sub, got = connect(mosquitto.port, paho.MQTTv5, "acker", fast=fast)
    sub.subscribe("vw/#", qos=1)
    time.sleep(0.3)
    pub = publisher(mosquitto.port)
    for i in range(200):
        pub.publish("vw/x", str(i).encode(), qos=1)
    wait_until(lambda: len(got) == 200, timeout=10, what="200 messages")
    acked = {mid for mid, _, _, p in got if int(p) % 2 == 0}
    sub.ack_many(sorted(acked))
    time.sleep(0.5)
    sub.disconnect()
    sub.loop_stop()
    again, redelivered = connect(mosquitto.port, paho.MQTTv5, "acker", fast=fast)
    wait_until(lambda: len(redelivered) >= 100, timeout=10, what="redelivery")
    time.sleep(0.5)
    assert sorted(int(p) for _, _, _, p in redelivered) == list(range(1, 200, 2))
    again.loop_stop()
    pub.loop_stop()


def test_qos0_messages_are_delivered_without_acks(mosquitto: Mosquitto, fast: bool) -> None:
    sub, got = connect(mosquitto.port, paho.MQTTv5, "qos0", fast=fast)
    sub.subscribe("vw/#", qos=1)
    time.sleep(0.3)
    pub = publisher(mosquitto.port)
    for i in range(50):
        pub.publish("vw/q0", str(i).encode(), qos=0)
    wait_until(lambda: len(got) == 50, timeout=10, what="qos 0 messages")
    assert {(mid, qos) for mid, qos, _, _ in got} == {(0, 0)}
    sub.loop_stop()
    pub.loop_stop()
