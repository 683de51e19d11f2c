"""A client driven by the event loop that outlives its loop: paho closes the socket when the
client is collected, and that must not raise into whoever runs the garbage collector (it
failed an unrelated test once, as an unraisable exception in paho's ``__del__``)."""

from __future__ import annotations

import asyncio
import socket

from villagewatch.config import MqttSettings
from villagewatch.mqtt import make_client
from villagewatch.mqtt.inloop import ClientInLoop


def test_a_client_closed_after_its_loop_ended_raises_nothing() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        client, _ = make_client(MqttSettings(port=port), client_id="t", persistent=False)
        driven = ClientInLoop(client, host="127.0.0.1", port=port, keepalive=30)

        async def connect_and_leave() -> None:
            await driven.connect()  # the TCP connection is up; the loop ends without a goodbye

        asyncio.run(connect_and_leave())
        client._reset_sockets()  # what paho's __del__ does
