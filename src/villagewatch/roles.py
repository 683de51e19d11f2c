"""The roles of a deployment, each run one way: ingest, detect, alerts and the API.

Every role has the same shape: ``await run_<role>(deployment, stop, ...)`` opens what the
role needs (its stores, its service), runs until ``stop`` is set, finishes in order and
closes what it opened — in reverse order, also when it fails. ``started``, when given, is
set once the role serves: connected to the broker (ingest, detect), engine and sender
running (alerts), listening (API). What a caller passes in — an open store, metrics to
share — stays the caller's to close.

The CLI runs one role per process (``villagewatch ingest`` …); ``villagewatch demo`` runs
all of them in one process, through these same functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack

import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.engine import notifier_for
from villagewatch.alerts.service import AlertService
from villagewatch.api.app import create_app
from villagewatch.api.context import open_context
from villagewatch.config import Deployment
from villagewatch.db import configured
from villagewatch.detect.claim import PartitionClaimer
from villagewatch.detect.service import DetectService
from villagewatch.detect.store import open_detect_store
from villagewatch.ingest import IngestMetrics, IngestService
from villagewatch.registry import RegistryStore
from villagewatch.runtime.follow import ConfigFollower
from villagewatch.runtime.gctuning import tune_gc_for_throughput
from villagewatch.store import Store, open_store

__all__ = ["run_alerts", "run_api", "run_detect", "run_ingest"]


async def run_ingest(
    deployment: Deployment,
    stop: asyncio.Event,
    *,
    store: Store | None = None,
    metrics: IngestMetrics | None = None,
    started: asyncio.Event | None = None,
    tune_gc: bool = False,
) -> None:
    """Consume telemetry and events into ``store`` (None: open ``settings.store``) until
    ``stop``; then write and acknowledge what was taken in. ``tune_gc``: the process is
    the ingester's alone (:func:`~villagewatch.runtime.gctuning.tune_gc_for_throughput`)."""
    async with AsyncExitStack() as opened:
        if store is None:
            store = open_store(deployment.settings)
            opened.push_async_callback(store.close)
        service = IngestService(deployment=deployment, store=store, metrics=metrics)
        if tune_gc:
            tune_gc_for_throughput()
        await _announced(service.run(stop), service.connected, started)


async def run_detect(
    deployment: Deployment,
    stop: asyncio.Event,
    *,
    started: asyncio.Event | None = None,
    tune_gc: bool = False,
) -> None:
    """Run the detectors of the configured villages (or of the partitions this process
    claims, ``detect.claim``) until ``stop``; then commit and acknowledge what was processed.
    A state store that cannot be opened yet (a full disk, a database server down) is retried
    until it can, or until ``stop``. ``tune_gc`` as for :func:`run_ingest`."""
    det = deployment.settings.detect
    reserve = int(det.disk_reserve_mb * 1e6)
    store = await open_detect_store(
        configured.detect_location(deployment.settings),
        busy_timeout_s=configured.busy_timeout_s(deployment.settings),
        reserve_bytes=reserve, stop=stop,
    )  # fmt: skip
    if store is None:
        return
    async with AsyncExitStack() as opened:
        opened.push_async_callback(store.close)
        registry = RegistryStore(
            configured.registry_location(deployment.settings),
            busy_timeout_s=configured.busy_timeout_s(deployment.settings),
        )
        opened.callback(registry.close)
        if det.claim is not None:
            claimer = PartitionClaimer(deployment=deployment, store=store, registry=registry)
            await _announced(claimer.run(stop), claimer.connected, started)
            return
        service = DetectService(deployment=deployment, store=store, registry=registry)
        await service.open()
        if tune_gc:  # after the detectors are built and restored: they live as long
            tune_gc_for_throughput()
        await _announced(service.run(stop), service.connected, started)


async def run_alerts(
    deployment: Deployment, stop: asyncio.Event, *, started: asyncio.Event | None = None
) -> None:
    """Turn detect's transitions into alerts, escalate them, and send notifications until
    ``stop``."""
    settings = deployment.settings.alerts
    async with AsyncExitStack() as opened:
        store = AlertDatabase(
            configured.alerts_location(deployment.settings), notifier=notifier_for(deployment),
            busy_timeout_s=configured.busy_timeout_s(deployment.settings),
            reserve_bytes=int(settings.disk_reserve_mb * 1e6),
        )  # fmt: skip
        opened.callback(store.close)
        service = AlertService(deployment=deployment, store=store)
        await _announced(service.run(stop), service.running, started)


async def run_api(
    deployment: Deployment,
    stop: asyncio.Event,
    *,
    store: Store | None = None,
    registries: Sequence[CollectorRegistry] = (REGISTRY,),
    log_level: str = "info",
    started: asyncio.Event | None = None,
) -> None:
    """Serve the HTTP API and the console over the deployment's stores (the readings in
    ``store``; None: open ``settings.store``) until ``stop``; /metrics shows ``registries``
    too. The API follows the config files as the other roles do
    (:mod:`villagewatch.runtime.follow`)."""
    api = deployment.settings.api
    async with AsyncExitStack() as opened:
        if store is None:
            store = open_store(deployment.settings)
            opened.push_async_callback(store.close)
        ctx = open_context(deployment, store, registries=registries)
        opened.callback(ctx.close)
        server = _Server(
            uvicorn.Config(
                create_app(ctx), host=api.host, port=api.port, log_level=log_level.lower(),
                timeout_graceful_shutdown=3,  # open consoles' live streams never end by themselves
            ),
            stop=stop,
            closing=ctx.feed.close,
        )  # fmt: skip
        follower = ConfigFollower(deployment, apply=ctx.follow, service="the API")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(follower.run(stop))
            await _announced(server.serve(), server.listening, started)


class _Server(uvicorn.Server):
    """uvicorn in our event loop, stopped by the role's ``stop`` (the process's signals set
    it, so that roles stop in order), not by signals of its own."""

    def __init__(
        self, config: uvicorn.Config, *, stop: asyncio.Event, closing: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self._stop = stop
        self._closing = closing
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # endless responses (the consoles' live streams) end first, so that the shutdown
        # waits for nothing and cancels nothing
        self._closing()
        await super().shutdown(sockets)

    async def on_tick(self, counter: int) -> bool:
        # uvicorn asks every 0.1 s whether to shut down
        should_exit = await super().on_tick(counter)
        return should_exit or self._stop.is_set()


async def _announced(
    running: Awaitable[None], up: asyncio.Event, started: asyncio.Event | None
) -> None:
    """Await ``running``; set ``started`` once ``up`` is set, if that happens meanwhile."""
    if started is None:
        await running
        return

    async def announce() -> None:
        await up.wait()
        started.set()

    announcing = asyncio.ensure_future(announce())
    try:
        await running
    finally:
        announcing.cancel()
