"""A port whose last server stopped is free again at once: its connections in TIME_WAIT do
not count as "in use" (the demo's restart after Ctrl-C with a console open)."""

from __future__ import annotations

import socket

from villagewatch.runtime.ports import free_port, port_in_use


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


def test_ports_picked_before_anything_listens_are_all_different() -> None:
    """A NATS cluster picks twelve ports before it starts a node: the kernel hands the same
    free port out again (10 times in 500 calls here), and two nodes were given one client
    port in a CI run (the third died: address already in use)."""
    ports = [free_port() for _ in range(600)]
    assert len(set(ports)) == len(ports)
