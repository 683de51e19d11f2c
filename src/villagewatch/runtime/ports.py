"""Loopback port helpers for the demo, the tests and the benchmarks."""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_in_use"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
