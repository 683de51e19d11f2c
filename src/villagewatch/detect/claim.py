"""Detect partitions shared by identical processes: each holds some under a lease.

With ``detect.claim``, a detect process watches no fixed villages: it competes for the named
``detect.partitions`` (at most ``max_partitions``). Every ``lease_s / 3`` it renews the leases
it holds and looks at the others (:mod:`villagewatch.cluster.leases`); a partition free, or
whose lease was not renewed for ``lease_s``, it takes — one per round; and a free one only
every k+1th round while it holds k, so that processes started together spread out (an
expired one at once: that is a take-over).

A held partition runs as a :class:`DetectService` of its own: its villages, its own
persistent MQTT session (client id
:func:`~villagewatch.config.partitions.partition_client_id`, the same in every process, so
the broker keeps its messages while nobody holds it), its state loaded from the shared store
as the last holder committed it, and every commit fenced by the lease.

A partition whose lease is lost (taken over after a pause) or can no longer be trusted (its
renewal failing past the holder's deadline) is dropped at once, as if that part of the
process had crashed: nothing more is committed or acknowledged, and the next holder replays
the unacknowledged messages from the last commit — transitions have deterministic ids, so
none is recorded twice. A clean stop commits, acknowledges, and releases the leases, so that
another process takes them without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Metric
from prometheus_client.registry import Collector

from villagewatch.cluster.leases import (
    Fence,
    LeaseLost,
    LeaseRow,
    LeaseWatch,
    holder_deadline,
    read_leases,
    release,
    renew,
    take,
)
from villagewatch.config import Deployment
from villagewatch.config.partitions import partition_client_id
from villagewatch.db.database import Connection
from villagewatch.db.sqlite import SQLITE_METRICS
from villagewatch.detect.service import DetectService
from villagewatch.detect.store import DetectStore
from villagewatch.errors import StoreUnavailable
from villagewatch.registry import RegistryStore
from villagewatch.runtime.metrics_http import joined, metrics_served
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["PartitionClaimer"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Held:
    fence: Fence
    deadline: float
    stop: asyncio.Event
    task: asyncio.Task[None]


class PartitionClaimer:
    """One detect process competing for the deployment's partitions."""

    def __init__(
        self,
        *,
        deployment: Deployment,
        store: DetectStore,
        registry: RegistryStore | None = None,
        holder: str | None = None,
    ) -> None:
        """``holder``: this process's name in the leases (default: host, pid and a random
        part, so a restarted process is a new holder)."""
        det = deployment.settings.detect
        if det.claim is None or not det.partitions:
            raise ValueError("PartitionClaimer needs detect.claim and detect.partitions")
        self._deployment, self._store, self._registry = deployment, store, registry
        self._claim, self._partitions = det.claim, det.partitions
        self._metrics_port = det.metrics_port
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._watch = LeaseWatch(det.claim.lease_s)
        self._held: dict[str, _Held] = {}
        self._dropping: set[asyncio.Task[None]] = set()  # cancelled, disconnecting
        self._said: set[tuple[str, str, str]] = set()  # clashes already logged
        self._since_take = 0  # rounds
        self.connected = asyncio.Event()
        """Set once the first partition's session is connected."""
        self.registry = r = CollectorRegistry()
        self._held_gauge = Gauge(
            "villagewatch_detect_partitions_held", "Partitions this process holds.", registry=r
        )
        self._taken = Counter(
            "villagewatch_detect_partitions_taken", "Partitions taken.", registry=r
        )
        self._connected: set[str] = set()  # held, and its session connected since taken
        Gauge(
            "villagewatch_detect_partitions_connected",
            "Held partitions whose MQTT session has connected (and subscribed) since taken.",
            registry=r,
        ).set_function(lambda: len(self._connected))
        self._services = _ByPartition()
        r.register(self._services)
        self._lost = Counter(
            "villagewatch_detect_partitions_lost",
            "Partitions dropped while held (lease taken over or not renewable).",
            registry=r,
        )

    def held(self) -> list[str]:
        """The partitions held now."""
        return sorted(self._held)

    async def run(self, stop: asyncio.Event) -> None:
        """Compete until ``stop``; then stop the held partitions cleanly and release them."""
        period = self._claim.lease_s / 3
        log.info(
            "Detect %s competes for partitions %s (at most %d, lease %.0f s)",
            self.holder, ", ".join(self._partitions), self._claim.max_partitions,
            self._claim.lease_s,
        )  # fmt: skip
        with metrics_served(joined(self.registry, SQLITE_METRICS), self._metrics_port):
            try:
                while not stop.is_set():
                    self._drop_overdue()
                    await self._round()
                    self._held_gauge.set(len(self._held))
                    deadlines = [h.deadline - time.monotonic() for h in self._held.values()]
                    await sleep_or_stop(stop, min([period, *deadlines]))
            finally:
                await self._stop_all()

    # --- one round --------------------------------------------------------------------

    def _drop_overdue(self) -> None:
        """First thing after any wait (a paused process included): a lease not renewed in
        time may be someone else's by now."""
        now = time.monotonic()
        for name, held in list(self._held.items()):
            if now >= held.deadline:
                self._drop(name, "its lease could not be renewed in time")

    async def _round(self) -> None:
        names = list(self._partitions)
        fences = [h.fence for h in self._held.values()]
        started = time.monotonic()

        def renew_and_read(conn: Connection) -> tuple[list[Fence], dict[str, LeaseRow]]:
            lost = [f for f in fences if not renew(conn, f)]
            return lost, read_leases(conn)

        try:
            lost, rows = await self._store.leases(renew_and_read)
        except StoreUnavailable as exc:
            log.warning("Cannot renew or read the partition leases: %s", exc)
            return
        for fence in lost:
            if fence.name in self._held and self._held[fence.name].fence == fence:
                self._drop(fence.name, "another process holds it now")
        for held in self._held.values():
            held.deadline = holder_deadline(started, self._claim.lease_s)
        await self._reap()
        if len(self._held) >= self._claim.max_partitions:
            return
        free = [n for n in names if n not in self._held]
        clashing = self._clashing(rows)
        takeable = [n for n in self._watch.takeable(free, rows) if n not in clashing]
        self._since_take += 1
        if self._since_take <= len(self._held):  # holding k: a free one after k rounds idle
            takeable = [n for n in takeable if n in rows and rows[n].holder]  # expired only
        if takeable:
            name = random.choice(takeable)  # noqa: S311 - spreads contenders, no secret
            await self._take(name, rows.get(name))

    def _clashing(self, rows: dict[str, LeaseRow]) -> set[str]:
        """Our partitions that a live holder's settings define otherwise (a careless
        operator: processes with different ``detect.partitions``); never taken, and said."""
        out: set[str] = set()
        for row in self._watch.live(rows):
            theirs = set(filter(None, row.detail.split(",")))
            for name, villages in self._partitions.items():
                mine = set(villages)
                if name == row.name and theirs != mine:
                    clash = f"it holds {row.name!r} as {_detail(theirs)!r}"
                elif name != row.name and mine & theirs:
                    clash = f"it holds {_detail(mine & theirs)!r} in partition {row.name!r}"
                else:
                    continue
                out.add(name)
                said = (name, row.holder, clash)
                if said not in self._said:
                    self._said.add(said)
                    log.critical(
                        "NOT TAKING partition %s (%s): detect %s has other partitions in its "
                        "settings — %s. Every detect process must have the same "
                        "detect.partitions; fix the settings and restart them.",
                        name, _detail(mine), row.holder, clash,
                    )  # fmt: skip
        return out

    async def _take(self, name: str, seen: LeaseRow | None) -> None:
        started = time.monotonic()
        try:
            fence = await self._store.leases(
                lambda conn: take(conn, name, self.holder, seen, _detail(self._partitions[name]))
            )
        except StoreUnavailable as exc:
            log.warning("Cannot take partition %s: %s", name, exc)
            return
        if fence is None:
            return  # another process was quicker
        previous = "free" if seen is None or not seen.holder else f"expired, of {seen.holder}"
        log.warning(
            "Partition %s taken (generation %d; it was %s): villages %s",
            name, fence.generation, previous, ", ".join(self._partitions[name]),
        )  # fmt: skip
        self._taken.inc()
        self._since_take = 0
        stop = asyncio.Event()
        task = asyncio.create_task(self._serve(name, fence, stop), name=f"partition-{name}")
        deadline = holder_deadline(started, self._claim.lease_s)
        self._held[name] = _Held(fence, deadline, stop, task)

    async def _serve(self, name: str, fence: Fence, stop: asyncio.Event) -> None:
        service = DetectService(
            deployment=_partition_deployment(self._deployment, name, self._partitions[name]),
            store=self._store,
            registry=self._registry,
            fence=fence,
        )
        self._services.registries[name] = service.metrics.registry
        await service.open()
        running = asyncio.create_task(service.run(stop))
        connected = asyncio.ensure_future(service.connected.wait())
        await asyncio.wait([running, connected], return_when=asyncio.FIRST_COMPLETED)
        connected.cancel()
        if service.connected.is_set():
            self.connected.set()
            self._connected.add(name)
        try:
            await running
        except* LeaseLost as group:  # a commit refused, from inside the service's task group
            lost: BaseException = group
            while isinstance(lost, BaseExceptionGroup):
                lost = lost.exceptions[0]
            raise lost from None
        finally:
            self._connected.discard(name)
            if self._services.registries.get(name) is service.metrics.registry:
                del self._services.registries[name]

    async def _reap(self) -> None:
        """Partitions whose service ended by itself: a fenced commit refused (dropped), or a
        failure of its own (raised: the process fails as a fixed detect would)."""
        for name, held in list(self._held.items()):
            if not held.task.done():
                continue
            del self._held[name]
            exc = None if held.task.cancelled() else held.task.exception()
            if isinstance(exc, LeaseLost):
                self._lost.inc()
                log.warning("Partition %s dropped: %s", name, exc)
            elif exc is not None:
                raise exc

    def _drop(self, name: str, why: str) -> None:
        """Stop the partition at once: nothing more committed or acknowledged."""
        held = self._held.pop(name)
        held.task.cancel()
        self._dropping.add(held.task)
        held.task.add_done_callback(self._dropped)
        self._lost.inc()
        log.warning("Partition %s dropped (%s); the next holder goes on from its last commit",
                    name, why)  # fmt: skip

    def _dropped(self, task: asyncio.Task[None]) -> None:
        """A dropped partition's task has ended: however it ended, that was expected."""
        self._dropping.discard(task)
        if not task.cancelled():
            task.exception()

    async def _stop_all(self) -> None:
        """A clean stop: each partition commits and acknowledges, then its lease is freed."""
        await asyncio.gather(*self._dropping, return_exceptions=True)
        for held in self._held.values():
            held.stop.set()
        results = await asyncio.gather(
            *(h.task for h in self._held.values()), return_exceptions=True
        )
        done = [
            h.fence
            for h, r in zip(self._held.values(), results, strict=True)
            if not isinstance(r, BaseException)
        ]
        self._held.clear()
        if done:
            with contextlib.suppress(StoreUnavailable):  # not freed: they expire instead
                await self._store.leases(lambda conn: [release(conn, f) for f in done])
            log.info("Partitions %s released", ", ".join(f.name for f in done))


class _ByPartition(Collector):
    """The ``villagewatch_detect_*`` metrics of each held partition's service, labelled
    ``partition``."""

    def __init__(self) -> None:
        self.registries: dict[str, CollectorRegistry] = {}

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for partition, registry in list(self.registries.items()):
            for metric in registry.collect():
                out = merged.setdefault(
                    metric.name, Metric(metric.name, metric.documentation, metric.type)
                )
                for sample in metric.samples:
                    labels = {**sample.labels, "partition": partition}
                    out.add_sample(sample.name, labels, sample.value, sample.timestamp)
        yield from merged.values()


def _detail(villages: Iterable[str]) -> str:
    """A partition's villages as its lease row keeps them."""
    return ",".join(sorted(villages))


def _partition_deployment(deployment: Deployment, name: str, villages: Sequence[str]) -> Deployment:
    """The deployment as a fixed detect of the partition's villages would see it: its
    villages, the partition's session, no metrics server of its own."""
    settings = deployment.settings
    det = settings.detect.model_copy(
        update={
            "villages": list(villages),
            "client_id": partition_client_id(settings.detect.client_id, name),
            "metrics_port": None,
            "claim": None,
        }
    )
    return dataclasses.replace(deployment, settings=settings.model_copy(update={"detect": det}))
