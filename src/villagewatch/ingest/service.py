"""``villagewatch ingest``: MQTT in, validated, batched, durably written, then acknowledged.

One thread, one event loop: :class:`~villagewatch.mqtt.AsyncLink` reads the
broker's socket in the loop, each message is decoded (``_on_fast_message``)
and handed to the :class:`~villagewatch.ingest.intake.Intake`, and the
:class:`~villagewatch.ingest.writer.BatchWriter` task writes due batches and
acknowledges each with one PUBACK write.

Evidence pictures (``…/evidence/<id>``, raw JPEG) are checked at receipt
(:func:`~villagewatch.ingest.evidence.decode_evidence`) and ride in the same
batches; the writer saves them (to ``ingest.evidence_dir``, or PostgreSQL's
``evidence`` schema) in a worker thread before the batch is acknowledged.
Mosquitto 2.0 cannot stop a device from publishing evidence *retained* (each
picture has a topic of its own, so the broker would keep every one in memory), so
the ingester removes each retained copy it sees
(:meth:`IngestService._clear_retained`; docs/broker.md).

Acknowledgements and reconnects: after a reconnect the broker redelivers every
unacknowledged message with its old packet id, and may reuse an id as soon as
it is acknowledged. An ack left over from the previous connection could then
acknowledge a *different*, unwritten message. So each message remembers the
connection generation it arrived on, a disconnect starts a new generation, and
acks of an older generation are dropped: those messages come again and are
written (idempotently) and acknowledged then.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from villagewatch.config import Deployment, local_store_file
from villagewatch.config.bus import NatsBus
from villagewatch.contract import (
    Channel,
    DeadLetter,
    Decoded,
    Decoder,
    RejectReason,
    TimePolicy,
    subscription,
)
from villagewatch.ingest.evidence import EvidenceMessage, decode_evidence
from villagewatch.ingest.intake import Intake
from villagewatch.ingest.metrics import IngestMetrics
from villagewatch.ingest.natsource import NatsSource
from villagewatch.ingest.natsubjects import Consumer, contract_channel
from villagewatch.ingest.writer import BatchWriter
from villagewatch.mqtt import AsyncLink, FastClient, make_client
from villagewatch.runtime.diskspace import export_free_space
from villagewatch.runtime.follow import ConfigFollower
from villagewatch.runtime.metrics_http import metrics_served
from villagewatch.runtime.steadyclock import SteadyClock
from villagewatch.store import Store
from villagewatch.store.evidence import EvidenceFolder, open_evidence

__all__ = ["IngestService"]

log = logging.getLogger(__name__)


class IngestService:
    """One ingester: a persistent MQTT session (or a share of a NATS JetStream durable
    consumer, ``ingest.bus``) feeding one store."""

    def __init__(
        self, *, deployment: Deployment, store: Store, metrics: IngestMetrics | None = None
    ) -> None:
        settings = deployment.settings
        self._mqtt = settings.mqtt
        self._ingest = ing = settings.ingest
        self._store = store
        self.evidence = open_evidence(settings)
        self.metrics = metrics or IngestMetrics()
        folders = [ing.evidence_dir] if isinstance(self.evidence, EvidenceFolder) else []
        if (store_file := local_store_file(settings.store)) is not None:
            folders.append(store_file.parent)
        export_free_space(self.metrics.registry, "ingest", folders)
        self._use(deployment)
        self._follower = ConfigFollower(
            deployment, apply=self._follow, refused=lambda _: self.metrics.config_refused.inc(),
            service="the ingester",
        )  # fmt: skip
        self._retaining: set[str] = set()
        """Devices already reported as retaining evidence (once each, then only counted)."""
        self._link = AsyncLink(
            self._new_client,
            host=self._mqtt.host,
            port=self._mqtt.port,
            keepalive=self._mqtt.keepalive_s,
            clean_start=False,
        )
        # with NATS the link is never opened: messages come from the stream, in the same
        # decode path (_on_fast_message), and are acknowledged to it
        self._nats = (
            NatsSource(
                bus=ing.bus,
                consumers=[Consumer(ing.bus.durable, "vw.v1.>")],
                wanted=contract_channel,
                on_message=self._on_fast_message,
                on_connected=self._nats_up,
            )
            if isinstance(ing.bus, NatsBus)
            else None
        )
        source = self._nats or self._link
        self._intake = Intake(
            max_messages=ing.batch_max_messages,
            max_items=ing.batch_max_readings,
            max_pending=ing.bus.max_ack_pending
            if isinstance(ing.bus, NatsBus)
            else ing.receive_maximum,
            dedupe_window=ing.dedupe_window,
            pause=source.pause_reading,
            resume=source.resume_reading,
        )
        self.metrics.acks_pending.set_function(lambda: self._intake.pending)
        self._generation = 0
        self._clock = SteadyClock()
        self._last_received_ns = 0
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set; then write and acknowledge what was accepted, and leave.
        Raises ConfigError, before anything else, when the broker password or TLS files
        cannot be read, or BusUnavailable when the NATS bus cannot be reached or used."""
        if self._nats is not None:
            await self._nats.connect(stop)
            source: NatsSource | AsyncLink[FastClient] = self._nats
            acknowledge = self._nats.acknowledge
            where = ", ".join(self._nats_servers())
        else:
            self._link.open()
            source, acknowledge = self._link, self._acknowledge
            where = f"{self._mqtt.host}:{self._mqtt.port}"
        writer = BatchWriter(
            store=self._store,
            intake=self._intake,
            acknowledge=acknowledge,
            metrics=self.metrics,
            flush_interval_s=self._ingest.flush_interval_s,
            retry_initial_s=self._ingest.retry_initial_s,
            retry_max_s=self._ingest.retry_max_s,
            in_flight=self._ingest.batches_in_flight,
            evidence=self.evidence,
        )
        link_stop = asyncio.Event()
        log.info("Ingesting from %s into %s", where, type(self._store).__name__)
        try:
            with metrics_served(self.metrics.registry, self._ingest.metrics_port):
                async with asyncio.TaskGroup() as tg:
                    link = tg.create_task(source.run(link_stop))
                    writing = tg.create_task(writer.run(stop))
                    tg.create_task(self._follower.run(stop))
                    await stop.wait()
                    self._intake.close()
                    # what comes now stays with the broker, unacknowledged
                    source.pause_reading()
                    await writing  # writes and acknowledges what was taken in
                    link_stop.set()  # the last PUBACKs go out before the DISCONNECT
                    await link
        finally:
            if self._nats is not None:
                await self._nats.close()
            self.evidence.close()
            log.info("Ingester stopped; everything acknowledged was written")

    def _nats_servers(self) -> list[str]:
        bus = self._ingest.bus
        return bus.servers if isinstance(bus, NatsBus) else []

    def _nats_up(self, up: bool) -> None:
        self.metrics.connected.set(int(up))
        if up:
            self.connected.set()
        else:
            self.connected.clear()

    def _use(self, deployment: Deployment) -> None:
        """Check messages against the devices of ``deployment`` (one reference each: the
        network thread sees the old registry or the new one, never a mix)."""
        ing = self._ingest
        self._devices = deployment.device_registry()
        self._decoder = Decoder(
            devices=self._devices,
            max_bytes=ing.max_message_bytes,
            time_policy=TimePolicy(ing.earliest_ms, int(ing.max_clock_ahead_s * 1000)),
        )

    def _follow(self, deployment: Deployment) -> None:
        """A changed config: a device added to a village file is accepted from now on, one
        removed is dead-lettered as unknown (kept, not lost)."""
        before = self._devices.keys()
        self._use(deployment)
        self.metrics.config_applied.inc()
        log.info(
            "Config followed: %d devices added, %d removed",
            len(self._devices.keys() - before), len(before - self._devices.keys()),
        )  # fmt: skip

    def _new_client(self) -> tuple[FastClient, Properties | None]:
        """The ingester's persistent session (reads the password and TLS files)."""
        ing = self._ingest
        client, connect_props = make_client(
            self._mqtt,
            client_id=ing.client_id,
            persistent=True,
            session_expiry_s=ing.session_expiry_s,
            receive_maximum=ing.receive_maximum,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_fast_message = self._on_fast_message
        client.on_retained = self._clear_retained
        return client, connect_props

    # --- paho callbacks (event loop thread) ------------------------------------

    def _on_fast_message(self, mid: int, qos: int, topic_bytes: bytes, payload: bytes) -> None:
        # unique (a dead letter's time), and on the clock detect also uses: a stepped system
        # clock must not make good device times look implausible, nor bad ones plausible
        received_ns = max(self._clock.now_ns(), self._last_received_ns + 1)
        self._last_received_ns = received_ns
        self.metrics.received += 1
        topic = topic_bytes.decode("utf-8", "replace")
        if "/evidence/" in topic and _is_evidence(topic):
            self._on_evidence(mid, qos, topic, payload, received_ns)
            return
        decoded: Decoded | DeadLetter
        try:
            decoded = self._decoder.decode(topic, payload, received_ns)
        except Exception:  # supervisor: a bug of ours must not stop the stream or lose the payload
            log.exception("Decoder failed on a message on %.100s; dead-lettered", topic)
            decoded = DeadLetter.of(
                received_ns, topic, RejectReason.INTERNAL_ERROR, "decoder error", payload
            )
        self._take(mid, qos, decoded, topic=topic, payload=payload, received_ns=received_ns)

    def _take(
        self,
        mid: int,
        qos: int,
        decoded: Decoded | DeadLetter | EvidenceMessage,
        *,
        topic: str,
        payload: bytes,
        received_ns: int,
    ) -> None:
        """Hand a message to the intake; if that fails (a bug of ours), its dead letter."""
        try:
            if isinstance(decoded, EvidenceMessage):
                self._intake.add_evidence(mid, qos, self._generation, decoded)
            else:
                self._intake.add(mid, qos, self._generation, decoded)
        except Exception:  # supervisor: as for the decoder
            log.exception("Intake failed on a message on %.100s; dead-lettered", topic)
            letter = DeadLetter.of(
                received_ns, topic, RejectReason.INTERNAL_ERROR, "intake error", payload
            )
            self._intake.add(mid, qos, self._generation, letter)

    def _on_evidence(
        self, mid: int, qos: int, topic: str, payload: bytes, received_ns: int
    ) -> None:
        if not payload:
            self._pass_over(mid, qos)
            return
        try:
            evidence = decode_evidence(topic, payload, received_ns, self._devices)
        except Exception:  # supervisor: as for the decoder
            log.exception("Evidence check failed on %.100s; dead-lettered", topic)
            evidence = DeadLetter.of(
                received_ns, topic, RejectReason.INTERNAL_ERROR, "evidence check error", payload
            )
        self._take(mid, qos, evidence, topic=topic, payload=payload, received_ns=received_ns)

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("Broker refused the connection: %s", reason)
            return
        self._generation += 1
        log.info(
            "Connected to %s:%d (session %s)",
            self._mqtt.host,
            self._mqtt.port,
            "resumed" if flags.session_present else "new",
        )
        group = self._ingest.share_group
        villages = self._ingest.only_villages or ["+"]
        filters = [
            subscription(channel, village=village, group=group)
            for village in villages
            for channel in (Channel.TELEMETRY, Channel.EVENT, Channel.EVIDENCE)
        ]
        if self._mqtt.protocol == "5":
            client.subscribe([(f, self._subscribe_options(f)) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])
        self.metrics.connected.set(1)
        self.connected.set()

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._generation += 1
        self.metrics.connected.set(0)
        self.connected.clear()
        if reason.is_failure:
            log.warning(
                "Lost the broker (%s); reconnecting, unacknowledged messages will come again",
                reason,
            )

    def _on_subscribe(
        self,
        _client: paho.Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        for reason in reasons:
            if reason.is_failure:
                log.error("Broker refused a subscription: %s", reason)

    # --- retained evidence (MQTT 5) -------------------------------------------------

    def _subscribe_options(self, topic_filter: str) -> SubscribeOptions:
        """Readings and events without the retained copies a subscribe would bring. Evidence is
        subscribed with Retain As Published, so that a picture a device retained
        arrives with the flag and its copy can be cleared; and with No Local where the
        subscription allows it (not a shared one), so the clear does not come back to us."""
        if not topic_filter.endswith("/evidence/+"):
            # readings a device retained would come again at every subscribe: never send those
            return SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        shared = topic_filter.startswith("$share/")
        return SubscribeOptions(qos=1, retainAsPublished=True, noLocal=not shared)

    def _clear_retained(self, topic_bytes: bytes, payload: bytes) -> None:
        """A device published evidence retained: publish an empty retained message on its topic,
        which removes the broker's copy (the message itself is stored and acknowledged as
        usual). QoS 0 is enough: a clear that is lost comes back as a retained copy at the next
        subscribe, and is cleared then. An empty one is a clear already (ours, come back
        through a shared subscription): clearing it again would never end."""
        topic = topic_bytes.decode("utf-8", "replace")
        if not payload or not _is_evidence(topic):
            return
        self._link.client.publish(topic, b"", qos=0, retain=True)
        self.metrics.retained_cleared.inc()
        device = topic.split("/", 4)[3]
        if device not in self._retaining and len(self._retaining) < len(self._devices):
            self._retaining.add(device)
            log.warning(
                "Device %.64s publishes its evidence retained; the broker's copies are removed "
                "(villagewatch_ingest_retained_cleared_total counts them): its agent should "
                "publish evidence without the retain flag",
                device,
            )

    def _pass_over(self, mid: int, qos: int) -> None:
        """An empty evidence message — the clear of a retained copy, come back through a shared
        subscription — holds nothing: acknowledged in turn, stored as nothing, not counted."""
        self._intake.add(mid, qos, self._generation, Decoded([], [], 0))

    # --- acknowledgements (writer task) -----------------------------------------

    def _acknowledge(self, acks: list[tuple[int, int]]) -> None:
        generation = self._generation
        mids = [mid for mid, gen in acks if gen == generation]
        self._link.client.ack_many(mids)
        if len(mids) < len(acks):
            log.info(
                "%d acks belong to an earlier connection; the broker redelivers those messages",
                len(acks) - len(mids),
            )


def _is_evidence(topic: str) -> bool:
    """``vw/v1/<village>/<device>/evidence/…``: the channel level, not just the word (a village
    may be called ``evidence``)."""
    parts = topic.split("/", 5)
    return len(parts) == 6 and parts[4] == "evidence"
