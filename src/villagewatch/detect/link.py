"""Where detect's messages come from: its own persistent MQTT session (Mosquitto, the
default), or — when the deployment's bus is NATS — JetStream, through one durable pull consumer
per village (``detect-<village>``, the same in every detect process).

Why not an MQTT session on NATS: on nats-server 2.9.10 a session silently missed seconds of
messages when a node died (most likely the loss of docs/scale.md, "Lost readings"); and a
durable consumer named alike in every detect process lets a take-over bind to what the dead
one never acknowledged, which is delivered again.

Both links hand a message to the service as ``(mid, qos, topic, payload)`` and are told
``acknowledge([(mid, generation)])`` once its commit is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as paho
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from villagewatch.config import Deployment
from villagewatch.config.bus import NatsBus
from villagewatch.detect.sources import subscriptions
from villagewatch.ingest.natsource import NatsSource
from villagewatch.ingest.natsubjects import Consumer, subject_channel
from villagewatch.mqtt import AsyncLink, FastClient, make_client

__all__ = ["DetectLink", "detect_link"]

log = logging.getLogger(__name__)

MessageHandler = Callable[[int, int, bytes, bytes], None]
Up = Callable[[bool], None]
"""Told True once the link takes messages (subscribed, or bound), False when it lost them."""


class DetectLink(Protocol):
    """What the service needs of its source of messages."""

    @property
    def generation(self) -> int:
        """Changes when the link reconnects: acks of an older generation are not sent."""

    def open(self) -> None:
        """Read the credentials (ConfigError); before :meth:`run`."""

    async def run(self, stop: asyncio.Event) -> None:
        """Take messages until ``stop``, then send the last acks and leave."""

    def pause_reading(self) -> None:
        """Take no more messages (stopping)."""

    def acknowledge(self, acks: list[tuple[int, int]]) -> None:
        """These messages' effects are durable."""


def detect_link(
    deployment: Deployment, villages: list[str], on_message: MessageHandler, up: Up
) -> DetectLink:
    """NATS when the deployment's bus is NATS capturing what the MQTT listener takes (the
    stream then holds statuses too); otherwise detect's MQTT session."""
    bus = deployment.settings.ingest.bus
    if isinstance(bus, NatsBus) and bus.capture == "mqtt":
        return NatsLink(bus, villages, on_message, up)
    return MqttLink(deployment, villages, on_message, up)


def _detect_channel(subject: str) -> bool:
    """``vw.v1.<village>.<device>.telemetry|event|status``: what detect subscribes to."""
    return subject_channel(subject) in ("telemetry", "event", "status")


class NatsLink:
    """One durable pull consumer per village: a partition's villages move consumer by consumer."""

    generation = 0  # a reconnect keeps the consumers: every ack still counts

    def __init__(self, bus: NatsBus, villages: list[str], on_message: MessageHandler, up: Up):
        # in order: a take-over waits ack_wait for the dead holder's messages to come first
        consumers = [
            Consumer(f"detect-{v}", f"vw.v1.{v}.>", redelivered_first=True) for v in villages
        ]
        self._source = NatsSource(
            bus=bus, consumers=consumers, wanted=_detect_channel, on_message=on_message,
            on_connected=up,
        )  # fmt: skip

    def open(self) -> None:
        """Nothing to read before connecting: the password and TLS files are read then."""

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and bind (BusUnavailable when NATS cannot be used), then pull."""
        try:
            await self._source.connect(stop)
            await self._source.run(stop)
        finally:
            await self._source.close()

    def pause_reading(self) -> None:
        self._source.pause_reading()

    def acknowledge(self, acks: list[tuple[int, int]]) -> None:
        self._source.acknowledge(acks)


class MqttLink:
    """Detect's own persistent MQTT session: plain subscriptions (QoS 1) to its villages'
    telemetry, event and status topics."""

    def __init__(
        self, deployment: Deployment, villages: list[str], on_message: MessageHandler, up: Up
    ) -> None:
        self._mqtt, self._detect = deployment.settings.mqtt, deployment.settings.detect
        self._villages, self._on_message, self._up = villages, on_message, up
        self._link = AsyncLink(
            self._new_client,
            host=self._mqtt.host,
            port=self._mqtt.port,
            keepalive=self._mqtt.keepalive_s,
        )
        self._generation = 0
        self._subscribing = -1  # the mid of the SUBSCRIBE whose SUBACK means "connected"

    @property
    def generation(self) -> int:
        """A message id names a message only within one connection."""
        return self._generation

    def open(self) -> None:
        """Build the client (reads the broker password and TLS files: ConfigError)."""
        self._link.open()

    async def run(self, stop: asyncio.Event) -> None:
        await self._link.run(stop)

    def pause_reading(self) -> None:
        self._link.pause_reading()

    def acknowledge(self, acks: list[tuple[int, int]]) -> None:
        generation = self._generation
        self._link.client.ack_many(mid for mid, gen in acks if gen == generation)

    def _new_client(self) -> tuple[FastClient, Properties | None]:
        det = self._detect
        client, props = make_client(
            self._mqtt,
            client_id=det.client_id,
            persistent=True,
            session_expiry_s=det.session_expiry_s,
            receive_maximum=det.receive_maximum,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_fast_message = self._on_message
        return client, props

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
        log.info("Connected (session %s)", "resumed" if flags.session_present else "new")
        _, mid = client.subscribe(subscriptions(self._villages, self._mqtt.protocol))
        self._subscribing = -1 if mid is None else mid

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, mid: int, codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:  # fmt: skip
        # Connected once subscribed: on a broker that makes a new session's subscription
        # slowly (NATS creates a JetStream consumer), what is sent before the SUBACK is not
        # queued for detect, so nothing may count on it before then.
        if mid != self._subscribing:
            return
        if refused := [str(c) for c in codes if c.is_failure]:
            log.error("Broker refused detect's subscriptions: %s", ", ".join(refused))
        self._up(True)

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._generation += 1
        self._up(False)
        if reason.is_failure:
            log.warning("Lost the broker (%s); reconnecting", reason)
