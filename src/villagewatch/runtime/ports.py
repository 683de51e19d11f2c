"""Loopback port helpers for the demo, the tests and the benchmarks."""

from __future__ import annotations

import socket
from collections import deque

__all__ = ["free_port", "port_in_use"]

_GIVEN: deque[int] = deque(maxlen=2000)
"""Ports this process handed out lately: the kernel gives the same free port again (10 in 500
calls here), and a caller that picks several before starting anything (a NATS cluster's
nodes) must not get one twice."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and that this process did not
    hand out in its last 2,000 calls."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.append(port)
            return port


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:port. Connections of a stopped server
    that linger in TIME_WAIT do not count: the servers we start bind with SO_REUSEADDR (as
    asyncio's do), so the check does too."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
