"""The shipped Mosquitto settings keep every queued QoS 1 message for an absent ingester; the defaults don't."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from villagewatch.mqtt import FastClient
from villagewatch_dev.servers import Mosquitto

from .helpers import publish_all

N = 20_000
TOPIC = "vw/v1/testvil/wl-000/telemetry"


def session_client(port: int) -> tuple[FastClient, Properties]:
    client = FastClient(
        CallbackAPIVersion.VERSION2,
        client_id="slow-ingester",
        protocol=paho.MQTTv5,
        manual_ack=True,
    )
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1000
    return client, props


def receive_everything(port: int, *, quiet_s: float = 2.0) -> set[bytes]:
    """Reconnect the persistent session and take what the broker kept, acking as we go."""
    got: set[bytes] = set()
    mids: list[int] = []
    last = [time.monotonic()]
    client, props = session_client(port)

    def on_message(mid: int, qos: int, topic: bytes, payload: bytes) -> None:
        got.add(payload)
        mids.append(mid)
        last[0] = time.monotonic()
        if len(mids) >= 100:
            client.ack_many(mids)
            mids.clear()

    client.on_fast_message = on_message
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    while time.monotonic() - last[0] < quiet_s:
        time.sleep(0.1)
        if mids and time.monotonic() - last[0] > 0.2:
            pending = list(mids)
            mids.clear()
            client.ack_many(pending)
    client.disconnect()
    client.loop_stop()
    return got


def fill_while_away(broker: Mosquitto) -> None:
    client, props = session_client(broker.port)
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
    client.loop_start()
    client.subscribe(TOPIC, qos=1)
    assert subscribed.wait(5)
    client.disconnect()
    client.loop_stop()
    publish_all(broker.port, ((TOPIC, str(i).encode()) for i in range(N)))


def test_shipped_settings_keep_every_message_for_an_absent_session(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "shipped", shipped_queues=True).start()
    try:
        fill_while_away(broker)
        assert len(receive_everything(broker.port)) == N
    finally:
        broker.kill()


@pytest.mark.parametrize("why", ["defaults drop beyond max_queued_messages 1000"])
def test_mosquitto_defaults_would_lose_messages(tmp_path: Path, why: str) -> None:
    broker = Mosquitto(tmp_path / "defaults", shipped_queues=False).start()
    try:
        fill_while_away(broker)
        got = len(receive_everything(broker.port))
        assert got < N, why
        assert got >= 1000, "the default queue still holds its first 1000"
    finally:
        broker.kill()
