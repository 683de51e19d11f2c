"""Serving Prometheus registries on 127.0.0.1 for the life of a service."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["joined", "metrics_served"]


class _Joined(Collector):
    """The metrics of several registries, collected as one."""

    def __init__(self, registries: Iterable[CollectorRegistry]) -> None:
        self._registries = tuple(registries)

    def collect(self) -> Iterator[Metric]:
        """Every metric of every registry, in order."""
        for registry in self._registries:
            yield from registry.collect()


def joined(*registries: CollectorRegistry) -> CollectorRegistry:
    """One registry that shows the metrics of all of ``registries`` (a service's own and the
    shared ones, such as the SQLite files'); each stays usable on its own."""
    out = CollectorRegistry(auto_describe=False)
    out.register(_Joined(registries))
    return out


@contextmanager
def metrics_served(registry: CollectorRegistry, port: int | None) -> Iterator[None]:
    """Serve ``registry`` (several: :func:`joined`) on 127.0.0.1:``port`` (None: don't) until
    the block ends; then stop the server and close its listening socket (``shutdown`` alone
    leaves it open)."""
    if port is None:
        yield
        return
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
