"""Serving a Prometheus registry on 127.0.0.1 for the life of a service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["metrics_served"]


@contextmanager
def metrics_served(registry: CollectorRegistry, port: int | None) -> Iterator[None]:
    """Serve ``registry`` on 127.0.0.1:``port`` (None: don't) until the block ends; then stop
    the server and close its listening socket (``shutdown`` alone leaves it open)."""
    if port is None:
        yield
        return
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
