"""``villagewatch detect``: the messages of some villages through the detectors.

Its own link (:mod:`villagewatch.detect.link`): a persistent MQTT session (QoS 1, plain
subscriptions to the telemetry, event and status topics of *its* villages — never a shared
subscription: detectors keep per-device state, so one process owns a village), or on a NATS
bus one durable JetStream consumer per village.
Each message is decoded with the same contract as the ingester and fed to the
:class:`~villagewatch.detect.engine.DetectEngine`; every ``flush_interval_s``
(at once when there is a transition) the changed detector states and the
transitions they produced are committed to the
:class:`~villagewatch.detect.store.DetectStore` in one transaction, and only
then are the messages acknowledged. Every ``tick_s`` the engine is
told the time (offline devices, windows that empty).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from villagewatch.cluster.leases import Fence
from villagewatch.config import Deployment
from villagewatch.contract import (
    DeadLetter,
    RejectReason,
    decode_status,
)
from villagewatch.db.sqlite import SQLITE_METRICS
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.follow import VillageFollower
from villagewatch.detect.link import detect_link
from villagewatch.detect.metrics import DetectMetrics
from villagewatch.detect.sources import data_folders, decoder_for
from villagewatch.detect.store import DetectStore, dump_states
from villagewatch.detectors.events import RegisteredCredential
from villagewatch.errors import ConfigError, ConfigIssue, StoreUnavailable, VillagewatchError
from villagewatch.registry import RegistryStore
from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.diskspace import export_free_space, measure_filesystems
from villagewatch.runtime.metrics_http import joined, metrics_served
from villagewatch.runtime.steadyclock import SteadyClock
from villagewatch.runtime.waiting import sleep_or_stop
from villagewatch.transitions import Transition

__all__ = ["DetectService"]

log = logging.getLogger(__name__)


class DetectService:
    """One detect process: its villages, its link, its state file."""

    def __init__(
        self,
        *,
        deployment: Deployment,
        store: DetectStore,
        metrics: DetectMetrics | None = None,
        registry: RegistryStore | None = None,
        fence: Fence | None = None,
    ) -> None:
        """``registry``: the rental registry the lock detectors follow; None: the village
        files' houses, fixed. ``fence``: the lease its villages are held under (a partition,
        :mod:`villagewatch.detect.claim`): a commit once it is lost raises LeaseLost."""
        settings = deployment.settings
        self._settings = det = settings.detect
        wanted = det.villages
        villages = [v for v in deployment.villages if wanted is None or v.id in wanted]
        missing = sorted(set(wanted or ()) - {v.id for v in villages})
        if missing:
            raise ConfigError(
                [ConfigIssue("settings", "detect.villages", f"no village {', '.join(missing)}")]
            )
        self._villages = [v.id for v in villages]
        self.metrics = metrics or DetectMetrics()
        self._store, self._fence = store, fence
        self.clock = SteadyClock()
        self.metrics.clock_skew.set_function(lambda: self.clock.check() / 1000)
        self.engine = DetectEngine(
            villages, now_ms=self.clock.now_ms(), disk_low_share=det.disk_low_percent / 100,
            disk_critical_share=det.disk_critical_percent / 100,
        )  # fmt: skip
        self._disks = data_folders(deployment)
        export_free_space(self.metrics.registry, "detect", [det.state_path.parent])
        self._max_ahead_ms = int(settings.ingest.max_clock_ahead_s * 1000)
        self._village_models, self._registry = villages, registry
        self._registry_generation: int | None = None
        self._registry_poll_s = settings.registry.poll_s
        self._decoder = decoder_for(deployment, self._villages)
        self._follower = VillageFollower(
            deployment=deployment, villages=self._villages, engine=self.engine,
            clock=self.clock, metrics=self.metrics, applied=self._applied)  # fmt: skip
        self._link = detect_link(deployment, self._villages, self._on_message, self._up)
        self._pending: list[Transition] = []
        self._dead: list[DeadLetter] = []
        self._acks: list[tuple[int, int]] = []
        self._failures_logged = 0
        self._full = asyncio.Event()
        self._opened = False
        self.connected = asyncio.Event()

    async def open(self) -> None:
        """Open the link (the MQTT client: ConfigError when the broker password or TLS files
        cannot be read; on NATS they are read when it connects), restore the saved detector
        states and load the rental registry (seeding it from the village files); once, before
        :meth:`run`."""
        self._link.open()
        restored = self.engine.restore(
            await asyncio.to_thread(self._store.load_states),
            now_ms=self.clock.now_ms(), max_ahead_ms=self._max_ahead_ms,
        )  # fmt: skip
        if restored:
            log.info("Detector state restored for %d devices and villages", restored)
        if self.engine.counts.unrestorable:
            self.metrics.failed.labels("restore").inc(self.engine.counts.unrestorable)
            log.error(
                "%d saved detector states could not be restored (damaged, or from an "
                "incompatible version); those devices start afresh",
                self.engine.counts.unrestorable,
            )
        self.engine.open_alerts.seed(await self._store.firing())
        self._pending += self.engine.settle(self.clock.now_ms())  # config changed while down
        if self._registry is not None:
            registry, villages = self._registry, self._village_models
            await asyncio.to_thread(registry.seed, villages, self.clock.now_ms())
            generation = await asyncio.to_thread(registry.generation)
            self._reload_registry(generation, await asyncio.to_thread(self._read_registry))
        self._opened = True

    async def run(self, stop: asyncio.Event) -> None:
        """Detect until ``stop``; then commit and acknowledge what was processed, and leave.
        :meth:`open` first."""
        if not self._opened:
            raise RuntimeError("DetectService.open() must come before run()")
        link_stop = asyncio.Event()
        log.info("Watching villages %s", ", ".join(self._villages))
        served = joined(self.metrics.registry, SQLITE_METRICS)  # its state and the registry
        with metrics_served(served, self._settings.metrics_port), _said_in_words():
            async with asyncio.TaskGroup() as tg:
                link = tg.create_task(self._link.run(link_stop))
                ticking = tg.create_task(self._tick(stop))
                flushing = tg.create_task(self._flush_loop(stop))
                tg.create_task(self._follower.run(stop))
                if self._registry is not None:
                    tg.create_task(self._follow_registry(stop))
                await stop.wait()
                self._link.pause_reading()
                await ticking
                await flushing  # the last commit, then the last acks
                link_stop.set()
                await link

    # --- messages (event loop thread) -------------------------------------------

    def _on_message(self, mid: int, qos: int, topic_bytes: bytes, payload: bytes) -> None:
        self.metrics.messages.inc()
        received_ns = self.clock.now_ns()
        topic = topic_bytes.decode("utf-8", "replace")
        try:
            self._detect(topic, payload, received_ns)
        except Exception as exc:  # noqa: BLE001 - supervisor: poison must never stall the stream
            self._failed("message", exc, topic)
            self._dead.append(
                DeadLetter.of(
                    received_ns, topic, RejectReason.INTERNAL_ERROR,
                    f"detect failed: {type(exc).__name__}: {exc}", payload,
                )
            )  # fmt: skip
        if qos:
            self._acks.append((mid, self._link.generation))
        if self._pending or len(self._acks) >= self._settings.batch_max_messages:
            self._full.set()  # an alert does not wait for the flush timer

    def _detect(self, topic: str, payload: bytes, received_ns: int) -> None:
        if topic.endswith("/status"):
            status = decode_status(topic, payload, received_ns)
            if isinstance(status, DeadLetter):  # the ingester keeps the dead letters; we count
                self.metrics.rejected.labels(status.reason.value).inc()
            else:
                counts = self.engine.counts
                unknown, not_owned = counts.unknown, counts.not_owned
                self._pending += self.engine.status(status[0], status[1], received_ns // 1_000_000)
                if counts.unknown > unknown:
                    self.metrics.status_ignored.labels("unknown_agent").inc()
                self.metrics.status_ignored.labels("not_its_device").inc(
                    counts.not_owned - not_owned
                )
            return
        decoded = self._decoder.decode(topic, payload, received_ns)
        if isinstance(decoded, DeadLetter):
            self.metrics.rejected.labels(decoded.reason.value).inc()
            return
        before = self.engine.counts.duplicates
        self._pending += self.engine.handle(decoded, received_ns // 1_000_000)
        self.metrics.duplicates.inc(self.engine.counts.duplicates - before)

    def _applied(self, deployment: Deployment, transitions: list[Transition]) -> None:
        """A changed village file is in force: decode its devices; commit what it decided."""
        self._decoder = decoder_for(deployment, self._villages)
        self._pending += transitions
        self._full.set()

    def _failed(self, stage: str, exc: Exception, where: str) -> None:
        """Count a failure of our own; log it (the first ones, then every 1000th)."""
        self.metrics.failed.labels(stage).inc()
        self._failures_logged += 1
        if self._failures_logged <= 10 or self._failures_logged % 1000 == 0:
            log.error(
                "Detectors failed on %s %.100s (%d failures so far); that one is skipped (a "
                "message is kept as a dead letter), the rest go on",
                stage, where, self._failures_logged, exc_info=exc,
            )  # fmt: skip

    # --- committing ---------------------------------------------------------------

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        interval = self._settings.flush_interval_s
        while not stop.is_set():
            self._full.clear()
            waiters = [asyncio.ensure_future(self._full.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            await self._commit()
        await self._commit()

    async def _commit(self) -> None:
        transitions, self._pending = self._pending, []
        acks, self._acks = self._acks, []
        dead, self._dead = self._dead, []
        states = dump_states(self.engine.dirty_states())
        if not (transitions or acks or states or dead):
            return
        backoff = Backoff(initial_s=0.2, max_s=10)
        started = time.monotonic()
        failures = 0
        while True:
            try:
                await self._store.commit(states, transitions, dead, self._fence)
                break
            except StoreUnavailable as exc:
                failures += 1
                delay = backoff.next_delay()
                self.metrics.unsaved.set(time.monotonic() - started)
                level = logging.ERROR if failures == 1 or failures % 20 == 0 else logging.DEBUG
                log.log(
                    level,
                    "CANNOT SAVE detector state and %d alert transitions for %.0f s (%s): "
                    "%d messages held unacknowledged at the broker (nothing is lost); "
                    "retrying in %.1f s",
                    len(transitions), time.monotonic() - started, exc, len(acks), delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
        if failures:
            log.warning("Detector state saved again after %.0f s", time.monotonic() - started)
            self.metrics.unsaved.set(0)
        self.metrics.commit_seconds.observe(time.monotonic() - started)
        for t in transitions:
            self.metrics.transitions.labels(t.action).inc()
            log.info("%s %s: %s", t.action, t.key, t.message)
        self._link.acknowledge(acks)

    async def _tick(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._settings.tick_s)
            except TimeoutError:
                now = self.clock.now_ms()
                self._pending += self.engine.tick(now)
                failures, self.engine.failures = self.engine.failures, []
                for owner, exc in failures:
                    self._failed("tick", exc, owner)
                await self._watch_disks(now)
                if self._pending:
                    self._full.set()

    async def _watch_disks(self, now_ms: int) -> None:
        """The deployment's data disks on this machine: ``disk_low`` when filling up; and
        the state file's disk reserve made again once there is room."""
        try:
            measured = await asyncio.to_thread(measure_filesystems, self._disks)
            await self._store.maintain()
        except OSError as exc:
            log.warning("Cannot measure the data disks: %s", exc)
            return
        for filesystem, folders, space in measured:
            self._pending += self.engine.disk(filesystem, folders, space.free, space.total, now_ms)

    # --- the rental registry ------------------------------------------------------------

    def _read_registry(self) -> dict[str, dict[str, list[RegisteredCredential]]]:
        assert self._registry is not None
        return {v: self._registry.lock_credentials(v) for v in self._villages}

    def _reload_registry(
        self, generation: int, found: dict[str, dict[str, list[RegisteredCredential]]]
    ) -> None:
        for village, credentials in found.items():
            self.engine.use_registry(village, credentials)
        self._registry_generation = generation
        log.info("Rental registry generation %d in use", generation)

    async def _follow_registry(self, stop: asyncio.Event) -> None:
        """Operators change the registry in the console: pick it up within ``poll_s``."""
        assert self._registry is not None
        while not await sleep_or_stop(stop, self._registry_poll_s):
            try:
                generation = await asyncio.to_thread(self._registry.generation)
                if generation == self._registry_generation:
                    continue
                found = await asyncio.to_thread(self._read_registry)
            except StoreUnavailable as exc:
                log.warning("Cannot read the rental registry: %s; keeping the last one", exc)
                continue
            self._reload_registry(generation, found)  # on the loop, between messages

    # --- connection -----------------------------------------------------------------

    def _up(self, up: bool) -> None:
        """The link takes messages (subscribed, or bound to its consumers), or lost them."""
        if up:
            self.connected.set()
        else:
            self.connected.clear()
        self.metrics.connected.set(int(up))


@contextmanager
def _said_in_words() -> Iterator[None]:
    """A villagewatch error of one of the service's tasks (the bus refused, say) leaves as
    itself, not inside the task group's ExceptionGroup: the entry point then prints its
    message, not a traceback."""
    try:
        yield
    except ExceptionGroup as group:
        ours, _ = group.split(VillagewatchError)
        if ours is None:
            raise
        first: BaseException = ours
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from group
