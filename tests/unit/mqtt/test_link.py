"""Every reconnect is the owner's: make_client's clients never retry on paho's schedule, and
an AsyncLink builds its client only when opened."""

from __future__ import annotations

import socket
import threading

import pytest
from paho.mqtt.properties import Properties

from villagewatch.config import MqttSettings
from villagewatch.mqtt import AsyncLink, FastClient, make_client

_CONNACK_311 = bytes([0x20, 0x02, 0x00, 0x00])


def test_a_client_from_the_factory_does_not_reconnect_by_itself() -> None:
    """A broker that accepts and then hangs up: paho's own loop returns instead of retrying."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    accepted: list[socket.socket] = []

    def broker() -> None:
        try:
            while True:
                conn, _ = server.accept()
                accepted.append(conn)
                conn.recv(1024)  # the CONNECT
                conn.sendall(_CONNACK_311)
                conn.close()  # the connection is lost
        except OSError:
            return

    threading.Thread(target=broker, daemon=True).start()
    settings = MqttSettings(port=server.getsockname()[1], protocol="3.1.1")
    client, _ = make_client(settings, client_id="t", persistent=False)
    client.connect("127.0.0.1", settings.port)
    looping = threading.Thread(target=client.loop_forever, daemon=True)
    looping.start()
    looping.join(timeout=4)  # paho's schedule would have reconnected after 1 s
    try:
        assert not looping.is_alive(), "paho's loop kept reconnecting"
        assert len(accepted) == 1
    finally:
        client.disconnect()
        server.close()
        looping.join(timeout=5)


def test_a_link_builds_its_client_when_opened_and_only_once() -> None:
    built: list[FastClient] = []

    def new_client() -> tuple[FastClient, Properties | None]:
        client, props = make_client(MqttSettings(), client_id="t", persistent=False)
        built.append(client)
        return client, props

    link = AsyncLink(new_client, host="127.0.0.1", port=1883, keepalive=30)
    assert built == [], "nothing built (no password or TLS file read) in the constructor"
    with pytest.raises(RuntimeError):
        _ = link.client
    client = link.open()
    assert link.open() is client and link.client is client and built == [client]
