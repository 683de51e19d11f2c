"""FastClient's own packet framing: packets split anywhere across reads, malformed input refused."""

from __future__ import annotations

import random
import struct

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from villagewatch.mqtt import FastClient
from villagewatch_dev.mqttload import remaining_length as varint


def publish(
    topic: bytes, payload: bytes, *, qos: int, mid: int, v5: bool, props: bytes = b""
) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    if v5:
        body += varint(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


class _Open:
    """Stands in for a connected socket; paho closes it when the client is collected."""

    def close(self) -> None:
        pass


def client(v5: bool) -> tuple[FastClient, list[tuple[int, int, bytes, bytes]]]:
    got: list[tuple[int, int, bytes, bytes]] = []
    c = FastClient(
        CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5 if v5 else paho.MQTTv311, manual_ack=True
    )
    c.on_fast_message = lambda *m: got.append(m)
    c._sock = _Open()  # type: ignore[assignment]  # "connected": the framing stops when a handler closes the socket
    return c, got


def feed(c: FastClient, data: bytes) -> MQTTErrorCode:
    return c._handle_buffer(c._fast_rest + data)


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt311"])
@pytest.mark.parametrize("seed", range(5))
def test_packets_split_at_any_byte_arrive_whole_and_in_order(v5: bool, seed: int) -> None:
    rng = random.Random(seed)
    sent = []
    stream = b""
    for i in range(200):
        size = rng.choice([0, 1, 126, 127, 128, 16_383, 16_384, 70_000])
        payload, qos = rng.randbytes(size), rng.choice([0, 1])
        topic = f"vw/v1/a/d-{i}/telemetry".encode()
        props = b"\x02\x00\x00\x0e\x10" if v5 and i % 3 == 0 else b""  # message expiry
        sent.append((i + 1 if qos else 0, qos, topic, payload))
        stream += publish(topic, payload, qos=qos, mid=i + 1, v5=v5, props=props)
    c, got = client(v5)
    pos = 0
    while pos < len(stream):
        step = rng.choice([1, 2, 3, 7, 100, 4096, 300_000])
        assert feed(c, stream[pos : pos + step]) == MQTTErrorCode.MQTT_ERR_SUCCESS
        pos += step
    assert got == sent
    assert c._fast_rest == b""


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(b"\x32\xff\xff\xff\xff\x01", id="remaining-length-over-4-bytes"),
        pytest.param(b"\x32\x01\x00", id="publish-shorter-than-its-topic-length"),
        pytest.param(b"\x32\x05\x00\x09abc", id="topic-length-beyond-packet"),
        pytest.param(b"\x32\x03\x00\x01a", id="qos1-without-packet-id"),
        pytest.param(b"\x32\x05\x00\x01a\x00\x00", id="packet-id-zero"),
    ],
)
def test_malformed_packets_are_a_protocol_error_not_a_crash(packet: bytes) -> None:
    c, got = client(v5=False)
    assert feed(c, packet) == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert got == []


def test_cut_off_mqtt5_properties_are_a_protocol_error() -> None:
    c, got = client(v5=True)
    body = b"\x00\x01a" + b"\x00\x07"  # topic "a", packet id 7, and no property length
    assert feed(c, bytes([0x32, len(body)]) + body) == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert got == []


def test_other_packets_go_to_paho() -> None:
    c, got = client(v5=False)
    seen: list[tuple[int, bytes]] = []

    def handle() -> MQTTErrorCode:
        seen.append((c._in_packet["command"], bytes(c._in_packet["packet"])))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    c._packet_handle = handle  # type: ignore[method-assign]
    assert (
        feed(c, b"\xd0\x00" + publish(b"t", b"x", qos=0, mid=0, v5=False))
        == MQTTErrorCode.MQTT_ERR_SUCCESS
    )
    assert seen == [(0xD0, b"")]  # PINGRESP
    assert got == [(0, 0, b"t", b"x")]
    assert c._in_packet["command"] == 0, "paho's read state is left clean"


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt311"])
def test_the_retain_flag_reaches_on_retained_before_the_message(v5: bool) -> None:
    c, got = client(v5)
    retained: list[tuple[bytes, bytes, int]] = []
    c.on_retained = lambda topic, payload: retained.append((topic, payload, len(got)))
    plain = publish(b"vw/v1/v/cam/evidence/e1", b"jpeg", qos=1, mid=1, v5=v5)
    kept = bytearray(publish(b"vw/v1/v/cam/evidence/e2", b"jpeg", qos=1, mid=2, v5=v5))
    kept[0] |= 0x01  # RETAIN
    assert feed(c, plain + bytes(kept)) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [m[0] for m in got] == [1, 2]
    assert retained == [(b"vw/v1/v/cam/evidence/e2", b"jpeg", 1)]  # once, before its message
