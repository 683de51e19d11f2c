"""Messages from a NATS JetStream stream, through durable pull consumers: the ingester's and
detect's.

Devices and edge agents keep speaking MQTT: NATS's MQTT listener turns
``vw/v1/<village>/<device>/telemetry`` into the subject ``vw.v1.<village>.<device>.telemetry``,
and a replicated stream captures the contract's subjects (:func:`contract_subjects`). Every
ingester pulls from the one durable consumer (``bus.durable``), so any number share the load
and each message goes to one of them. A message is acknowledged only once the batch holding
it is durably written (:meth:`NatsSource.acknowledge`, called by the writer); one not
acknowledged within ``ack_wait_s`` — its ingester crashed — is delivered again, to whichever
ingester pulls next, and the stores' idempotence makes the second write harmless. While a
slow store holds messages, progress acks keep them from being redelivered meanwhile.

Flow control: the server hands out at most ``max_ack_pending`` unacknowledged messages over
all ingesters; each ingester also stops pulling while its intake is full (``pause_reading``).

Detect pulls the same stream through one durable consumer per village (:class:`Consumer`),
named alike in every detect process, so the one that takes a partition over binds to them and
gets what the dead one never acknowledged. One consumer hands out its village's messages in
stream order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from villagewatch.config.bus import NatsBus
from villagewatch.errors import BusUnavailable
from villagewatch.ingest.natsauth import sign_in_options, why_unavailable
from villagewatch.ingest.natsubjects import Consumer, contract_subjects, covers
from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["MQTT_STORE", "NatsSource"]

log = logging.getLogger(__name__)

MessageHandler = Callable[[int, int, bytes, bytes], None]
"""(message id, QoS, MQTT topic, payload): the service's decode path, as for MQTT."""


_NATS_ERRORS = (nats.errors.Error, nats.js.errors.Error, OSError)
MQTT_STORE = "$MQTT_msgs"
"""NATS's own stream of the QoS 1 messages its MQTT listener took (``capture: mqtt``)."""
_MQTT_PREFIX = "$MQTT.msgs."
_ELECTION_S = 30.0
"""How long the stream may not answer at start (a leader elected after a node died)."""
OLDEST_SERVER = (2, 11, 0)
"""The oldest nats-server trusted with the stream: 2.9.10 (Debian 12's) was measured dropping
messages from NATS's MQTT store before the ingesters' consumer had them, once several consumers
read it (docs/scale.md, "Lost readings"); 2.11 and later were not."""


def server_refused(version: str, url: str) -> str | None:
    """Why the NATS server at ``url`` reporting ``version`` is not used; None when it is."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match and tuple(int(g) for g in match.groups()) >= OLDEST_SERVER:
        return None
    oldest = ".".join(map(str, OLDEST_SERVER))
    return (
        f"the NATS server at {url} is version {version or 'unknown'}; villagewatch needs "
        f"nats-server {oldest} or newer on every node of ingest.bus.servers, as older ones were "
        "measured losing messages that several consumers read"
    )


def _refusal(nc: NatsClient) -> str | None:
    """:func:`server_refused` for the server ``nc`` is connected to."""
    url, found = nc.connected_url, nc.connected_server_version
    try:
        version = f"{found.major}.{found.minor}.{found.patch}"
    except ValueError:
        version = ""
    return server_refused(version, f"{url.hostname}:{url.port}" if url else "(none)")


class NatsSource:
    """Pulls messages from JetStream through ``consumers`` and acknowledges them when told.
    ``wanted``: whether a subject (``vw.v1.…``) goes to ``on_message``; the rest are
    acknowledged at once. Message ids are unique over all the consumers."""

    def __init__(
        self,
        *,
        bus: NatsBus,
        consumers: list[Consumer],
        wanted: Callable[[str], bool],
        on_message: MessageHandler,
        on_connected: Callable[[bool], None],
        retry_initial_s: float = 0.5,
        retry_max_s: float = 10,
    ) -> None:
        self._bus, self._consumers, self._wanted = bus, consumers, wanted
        self._on_message = on_message
        self._on_connected = on_connected
        self._retry = (retry_initial_s, retry_max_s)
        self._held: dict[int, Msg] = {}
        """Messages taken in and not yet acknowledged, by the id the intake knows them by."""
        self._next_id = 0
        self._room = asyncio.Event()
        self._room.set()
        self._acking: set[asyncio.Task[None]] = set()
        self._nc: NatsClient | None = None
        self._stream = MQTT_STORE if bus.capture == "mqtt" else bus.stream
        self._subs: list[tuple[JetStreamContext.PullSubscription, float]] = []
        """Each consumer's subscription, and when it may first pull (``time.monotonic``)."""

    def pause_reading(self) -> None:
        """Stop pulling (the intake is full); what was pulled stays held."""
        self._room.clear()

    def resume_reading(self) -> None:
        """Pull again."""
        self._room.set()

    def acknowledge(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge these messages (their batch is durable). The acks go out in a task; one
        lost with a dying server only means a redelivery, written idempotently."""
        msgs = [msg for mid, _ in acks if (msg := self._held.pop(mid, None)) is not None]
        if msgs:
            task = asyncio.create_task(_ack_all(msgs))
            self._acking.add(task)
            task.add_done_callback(self._acking.discard)

    async def connect(self, stop: asyncio.Event) -> None:
        """Connect, make sure of the stream and bind to the durable consumer. Raises
        BusUnavailable when no server answers, or the stream is missing (and may not be
        created) or does not capture the contract's subjects. With ``capture: mqtt`` it waits
        (until ``stop``) for NATS to make its MQTT store, which it does when the first MQTT
        client connects."""
        self._nc = nc = await self._connect()
        try:
            js = nc.jetstream(timeout=self._bus.connect_timeout_s)
            if not await self._stream_bound(js, stop):
                return
        except BaseException:
            await self.close()
            raise
        self._on_connected(True)
        log.info(
            "Pulling stream %s as %s from %s", self._stream,
            ", ".join(c.durable for c in self._consumers), ", ".join(self._bus.servers),
        )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Pull until ``stop`` is set (after :meth:`connect`), then send the last acks and
        close."""
        if not self._subs:
            return  # stopped while connecting
        try:
            async with asyncio.TaskGroup() as tg:
                keeper = tg.create_task(self._keep_alive(stop))
                # one loop per consumer: each hands out its messages in order
                await asyncio.gather(*(self._pull(sub, at, stop) for sub, at in self._subs))
                keeper.cancel()
        finally:
            await self.close()

    async def _stream_bound(self, js: JetStreamContext, stop: asyncio.Event) -> bool:
        """Make sure of the stream and bind to the durable; False when stopped first. A stream
        whose leader was on a node that just died answers nothing until the others elect one
        (seconds): its time-outs are waited out for ``_ELECTION_S``, then are an error."""
        deadline = time.monotonic() + _ELECTION_S
        while True:
            try:
                if self._bus.capture == "stream":
                    await self._ensure_stream(js)
                elif not await self._mqtt_store_made(js, stop):
                    return False
                self._subs = [await self._bind(js, c) for c in self._consumers]
            except (BusUnavailable, nats.errors.TimeoutError) as exc:
                cause = exc if isinstance(exc, nats.errors.TimeoutError) else exc.__cause__
                if not isinstance(cause, nats.errors.TimeoutError) or time.monotonic() > deadline:
                    raise
                log.warning("NATS does not answer yet (%s; a node down?): again in 1 s", exc)
            else:
                return True
            if await sleep_or_stop(stop, 1):
                return False

    async def _connect(self) -> NatsClient:
        bus = self._bus

        refusals: list[Exception] = []

        async def error(exc: Exception) -> None:
            if not self._subs:  # the first connect: said once, in its error, if it fails
                refusals.append(exc)
                return
            log.warning("NATS: %s", exc)

        async def disconnected() -> None:
            if not self._subs:
                return  # a failed first connect, or our own close: nothing was lost
            self._on_connected(False)
            log.warning("Lost the NATS server; reconnecting, unacknowledged messages stay held")

        async def reconnected() -> None:
            self._on_connected(True)
            log.info("Reconnected to NATS at %s", nc.connected_url)
            if why := _refusal(nc):
                log.error("%s: upgrade it", why)

        nc = NatsClient()
        # nats-py tries the servers forever when reconnects are unlimited, also at the first
        # connect: a bound of its own, so that a wrong URL is an error at start, not a hang
        bound = bus.connect_timeout_s * (len(bus.servers) + 1)
        sign_in = sign_in_options(bus)  # reads the password and TLS files: ConfigError
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=bus.servers,
                    connect_timeout=bus.connect_timeout_s,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    error_cb=error,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                    **sign_in,
                ),
                bound,
            )
        except (TimeoutError, *_NATS_ERRORS) as exc:
            with contextlib.suppress(TimeoutError, *_NATS_ERRORS):
                await nc.close()
            raise why_unavailable(bus, exc, refusals, bound) from exc
        if why := _refusal(nc):
            await nc.close()
            raise BusUnavailable(why)
        return nc

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        bus, subjects = self._bus, contract_subjects()
        try:
            info = await js.stream_info(bus.stream)
        except nats.js.errors.NotFoundError:
            if not bus.create_stream:
                raise BusUnavailable(
                    f"NATS has no stream {bus.stream!r} (ingest.bus.stream) and "
                    "ingest.bus.create_stream is off"
                ) from None
            config = StreamConfig(
                name=bus.stream,
                subjects=subjects,
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                num_replicas=bus.replicas,
                max_age=bus.max_age_days * 86400,
            )
            try:
                await js.add_stream(config)
            except _NATS_ERRORS as exc:
                raise BusUnavailable(f"cannot create NATS stream {bus.stream!r}: {exc}") from exc
            log.info("Created stream %s (%d replicas) for %s", bus.stream, bus.replicas, subjects)
            return
        except _NATS_ERRORS as exc:
            raise BusUnavailable(f"cannot read NATS stream {bus.stream!r}: {exc}") from exc
        captured = list(info.config.subjects or [])
        if missing := [s for s in subjects if not covers(captured, s)]:
            raise BusUnavailable(
                f"NATS stream {bus.stream!r} captures {captured}, not {missing}: "
                "the ingester would never see those messages"
            )

    async def _mqtt_store_made(self, js: JetStreamContext, stop: asyncio.Event) -> bool:
        """Wait until NATS's MQTT store exists; False when stopped first."""
        told = False
        while not stop.is_set():
            try:
                await js.stream_info(MQTT_STORE)
            except nats.js.errors.NotFoundError:
                if not told:
                    log.info("Waiting for the first MQTT client: NATS makes %s then", MQTT_STORE)
                    told = True
            except _NATS_ERRORS as exc:
                raise BusUnavailable(f"cannot read NATS stream {MQTT_STORE}: {exc}") from exc
            else:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
        return False

    async def _bind(
        self, js: JetStreamContext, consumer: Consumer
    ) -> tuple[JetStreamContext.PullSubscription, float]:
        bus = self._bus
        mqtt = bus.capture == "mqtt"
        config = ConsumerConfig(
            durable_name=consumer.durable,
            # the MQTT store keeps (interest retention) what a consumer like this one wants
            filter_subject=f"{_MQTT_PREFIX}{consumer.subjects}" if mqtt else consumer.subjects,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=bus.ack_wait_s,
            max_ack_pending=bus.max_ack_pending,
            max_deliver=-1,  # a message is never given up on: poison is dead-lettered, not lost
        )
        name = consumer.durable
        try:
            await js.add_consumer(self._stream, config)
        except nats.js.errors.BadRequestError as exc:
            # it exists with other settings (another process's version): used as it is
            log.warning("Consumer %s exists with other settings, used as is: %s", name, exc)
        except _NATS_ERRORS as exc:
            raise BusUnavailable(f"cannot create NATS consumer {name!r}: {exc}") from exc
        sub = await js.pull_subscribe_bind(name, self._stream)
        if not consumer.redelivered_first:
            return sub, 0.0
        try:
            info = await js.consumer_info(self._stream, name)
        except _NATS_ERRORS as exc:
            raise BusUnavailable(f"cannot read NATS consumer {name!r}: {exc}") from exc
        if not info.num_ack_pending:
            return sub, 0.0
        wait_s = (info.config.ack_wait or bus.ack_wait_s) + 1
        log.warning(
            "Consumer %s holds %d messages a previous reader never acknowledged: pulling in "
            "%.0f s (ack_wait), when they come again first, in order",
            name, info.num_ack_pending, wait_s,
        )  # fmt: skip
        return sub, time.monotonic() + wait_s

    async def _pull(
        self, sub: JetStreamContext.PullSubscription, not_before: float, stop: asyncio.Event
    ) -> None:
        if await sleep_or_stop(stop, max(0.0, not_before - time.monotonic())):
            return
        bus, backoff = self._bus, Backoff(initial_s=self._retry[0], max_s=self._retry[1])
        while not stop.is_set():
            if not self._room.is_set():
                await _first(self._room, stop)
                continue
            try:
                msgs = await sub.fetch(bus.fetch_batch, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                # nothing to take in this second (nats-py raises a plain asyncio timeout when
                # the server's "no messages" answer comes just before its timer: once in a CI run)
                continue
            except _NATS_ERRORS as exc:
                delay = backoff.next_delay()
                log.warning("Pulling from NATS failed (%s); again in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            backoff.reset()
            for msg in msgs:
                mid = self._next_id = self._next_id + 1
                self._held[mid] = msg
                subject = msg.subject.removeprefix(_MQTT_PREFIX)
                if not self._wanted(subject):
                    self.acknowledge([(mid, 0)])  # e.g. status, config: not the ingester's
                    continue
                # NATS subjects of MQTT topics: `/` became `.` (identifiers have no dots)
                self._on_message(mid, 1, subject.replace(".", "/").encode(), msg.data)

    async def _keep_alive(self, stop: asyncio.Event) -> None:
        """Progress acks, every third of ``ack_wait``, for every message held: a slow store
        must not make the server deliver them again to another ingester meanwhile. All of
        them, not only the old ones: a pull returns messages up to a second after the server
        delivered them, and the server's clock is the one that counts."""
        period = self._bus.ack_wait_s / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)
            for msg in list(self._held.values()):
                with contextlib.suppress(*_NATS_ERRORS):
                    await msg.in_progress()

    async def close(self) -> None:
        """Send the last acks and disconnect (again: nothing). Messages taken in but never
        accepted (pulled while the ingester was stopping) are given back at once rather than
        after ``ack_wait``."""
        nc, self._nc, self._subs = self._nc, None, []
        if nc is None:
            return
        self._on_connected(False)
        if self._acking:
            await asyncio.gather(*self._acking, return_exceptions=True)
        for msg in self._held.values():
            with contextlib.suppress(*_NATS_ERRORS):
                await msg.nak()
        self._held.clear()
        with contextlib.suppress(TimeoutError, *_NATS_ERRORS):
            await nc.flush(timeout=2)
        with contextlib.suppress(TimeoutError, *_NATS_ERRORS):
            await nc.close()


async def _ack_all(msgs: list[Msg]) -> None:
    for msg in msgs:
        try:
            await msg.ack()
        except _NATS_ERRORS as exc:
            log.info("An ack was not sent (%s); the message comes again, written once", exc)
            return


async def _first(*events: asyncio.Event) -> Any:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
