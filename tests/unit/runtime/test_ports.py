"""A port whose last server stopped is free again at once: its connections in TIME_WAIT do
not count as "in use" (the demo's restart after Ctrl-C with a console open)."""

from __future__ import annotations

import socket

from villagewatch.runtime.ports import port_in_use


def test_a_port_with_only_time_wait_connections_is_free_one_that_listens_is_not() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers do
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert port_in_use(port)
    accepted.close()  # the server closes first: its side lingers in TIME_WAIT
    server.close()
    client.close()
    assert not port_in_use(port)
