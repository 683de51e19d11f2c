"""The agent's MQTT connection to the centre: one fresh paho client per connection.

Each client is driven by a :class:`~villagewatch.mqtt.ClientInLoop` in the agent's event
loop, like every villagewatch client; unlike :class:`~villagewatch.mqtt.AsyncLink` (one
client for the link's life), the edge link builds a new one for every connection.

MQTT 5 (or 3.1.1), QoS 1, TLS and a per-agent user from the settings. On every
connect the agent's **birth** (retained ``online`` status listing its devices) is
published and its ``…/config`` topic subscribed (the retained desired config arrives at
once); its **last will** (retained ``offline``) tells the centre when the link dies.
A new client per connection means nothing stale is resent by paho: after a reconnect
the agent sends again, from its outbox, whatever was not acknowledged.

Each acknowledgement reaches the agent with the PUBACK's reason code (0 under MQTT 3.1.1),
so a refused publish is not taken for a delivered one (``refusals.py``). A message larger than
the Maximum Packet Size the broker announced is not sent at all (:class:`TooLargeForBroker`):
the broker would drop the connection over it, and the agent would send it again forever.

Reconnecting waits what :class:`~villagewatch.runtime.backoff.Backoff` says (a jittered,
doubling delay capped at 60 s) — but a cheap TCP probe every 2 s cuts the wait short as soon
as the broker answers again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from villagewatch.config import MqttSettings
from villagewatch.contract import Channel, encode_status, topic_for
from villagewatch.edge.refusals import refusal_of
from villagewatch.errors import VillagewatchError
from villagewatch.mqtt import ClientInLoop, FastClient, make_client
from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.waiting import first, sleep_or_stop

__all__ = ["EdgeLink", "TooLargeForBroker"]

log = logging.getLogger(__name__)

_PROBE_S = 2.0
_CONNECT_TIMEOUT_S = 10.0


class TooLargeForBroker(VillagewatchError):
    """A message larger than the Maximum Packet Size the broker announced: not sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes as a packet, the broker takes at most {limit}")
        self.size, self.limit = size, limit


class EdgeLink:
    """Keeps one agent connected; calls ``on_ack(mid, reason_code)`` for each acknowledged
    publish (a reason code of 0x80 or more is a refusal)."""

    def __init__(
        self,
        mqtt: MqttSettings,
        *,
        agent: str,
        village: str,
        boot: str,
        devices: list[str],
        on_ack: Callable[[int, int], None],
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        on_config: Callable[[bytes], None],
        max_inflight: int,
    ) -> None:
        self._mqtt = mqtt
        self._agent, self._boot, self._devices = agent, boot, devices
        self.status_topic = topic_for(village, agent, Channel.STATUS)
        self.config_topic = topic_for(village, agent, Channel.CONFIG)
        self.reported_topic = topic_for(village, agent, Channel.CONFIG_REPORTED)
        self._on_ack, self._on_up, self._on_down = on_ack, on_up, on_down
        self._on_config = on_config
        self._max_inflight = max_inflight
        self._client: paho.Client | None = None
        self.connected = asyncio.Event()
        self.last_ack_s: float | None = None
        self._backoff = Backoff(initial_s=1.0, max_s=60.0)
        self._max_packet: int | None = None  # announced by the broker in its CONNACK
        self._own: dict[int, str] = {}  # our own publishes (birth, reports) waiting for a PUBACK
        self._told: set[tuple[str, str]] = set()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """Publish at QoS 1; the message id, or None when not connected. Raises
        TooLargeForBroker, sending nothing, when the broker announced it would not take it."""
        client = self._client
        if client is None or not self.connected.is_set():
            return None
        size = _packet_size(topic, payload, v5=self._mqtt.protocol == "5")
        if self._max_packet is not None and size > self._max_packet:
            raise TooLargeForBroker(size, self._max_packet)
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def publish_own(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish a message of the agent's own (birth, config report): not an outbox record,
        so nothing is resent, but a refusal is logged (once per topic and reason)."""
        try:
            mid = self.publish(topic, payload, retain=retain)
        except TooLargeForBroker as exc:
            log.warning("Not sent to %s: %s", topic, exc)
            return
        if mid is not None:
            self._own[mid] = topic

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, and again after every loss, until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            lost = asyncio.Event()
            conn = self._new_connection(loop, lost)
            try:
                await conn.connect()
                await asyncio.wait_for(self.connected.wait(), _CONNECT_TIMEOUT_S)
            except (OSError, ssl.SSLError, TimeoutError, ValueError) as exc:
                await conn.disconnect()
                delay = self._backoff.next_delay()
                log.warning(
                    "Cannot reach the broker %s:%d (%s); retrying within %.0f s",
                    self._mqtt.host, self._mqtt.port, exc or "no answer", delay,
                )  # fmt: skip
                # the network was down: come back as soon as it is up; refused: wait it out
                await self._wait_or_probe(stop, delay, probe=isinstance(exc, OSError))
                continue
            started = time.monotonic()
            self._client = conn.client
            log.info("Connected to %s:%d", self._mqtt.host, self._mqtt.port)
            self._birth()
            self._on_up()
            await first(stop.wait(), lost.wait())
            if stop.is_set():
                self._say_goodbye(conn.client)
            self.connected.clear()
            self._client = None
            self._own.clear()  # a new client numbers its messages anew
            self._on_down()
            await conn.disconnect()
            if not stop.is_set():
                if time.monotonic() - started > 30:
                    self._backoff.reset()
                delay = self._backoff.next_delay()
                log.warning("Lost the broker; reconnecting within %.0f s", delay)
                await self._wait_or_probe(stop, delay)

    # --- plumbing --------------------------------------------------------------------------

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        return encode_status(
            device=self._agent, state=state, boot=self._boot, ts_ms=time.time_ns() // 1_000_000,
            devices=self._devices,
        )  # fmt: skip

    def _new_connection(
        self, loop: asyncio.AbstractEventLoop, lost: asyncio.Event
    ) -> ClientInLoop[FastClient]:
        """A fresh client (its callbacks run in the event loop) for one connection."""
        client, props = make_client(self._mqtt, client_id=self._agent, persistent=False)
        client.max_inflight_messages_set(self._max_inflight)
        client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)

        # paho's callbacks run in the event loop (ClientInLoop); what they start is put after
        # them, so that the agent's reaction (an ack frees an outbox slot and the next record
        # is published) never runs inside paho's own packet handling
        def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, props: Any = None) -> None:
            if not getattr(reason, "is_failure", False):
                self._max_packet = getattr(props, "MaximumPacketSize", None)
                c.subscribe(self.config_topic, qos=1)  # retained: the desired config comes now
                loop.call_soon(self.connected.set)
            else:
                log.error("The broker refused the connection: %s", reason)

        def on_disconnect(*_args: Any) -> None:
            loop.call_soon(lost.set)

        def on_publish(_c: Any, _u: Any, mid: int, reason: Any = None, _p: Any = None) -> None:
            loop.call_soon(self._acked, mid, int(getattr(reason, "value", 0)))

        def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
            if msg.topic == self.config_topic:
                loop.call_soon(self._on_config, bytes(msg.payload))

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        return ClientInLoop(
            client, host=self._mqtt.host, port=self._mqtt.port, keepalive=self._mqtt.keepalive_s,
            clean_start=True, properties=props,
        )  # fmt: skip

    def _acked(self, mid: int, code: int) -> None:
        self.last_ack_s = time.time()
        topic = self._own.pop(mid, None)
        if topic is None:
            self._on_ack(mid, code)
            return
        refusal = refusal_of(code)
        if refusal is not None and (topic, refusal.reason) not in self._told:
            self._told.add((topic, refusal.reason))
            log.warning("The broker refused the agent's own %s: %s", topic, refusal.says)

    def _birth(self) -> None:
        self.publish_own(self.status_topic, self._status("online"), retain=True)

    def _say_goodbye(self, client: paho.Client) -> None:
        """A clean stop: the offline status ourselves (a clean disconnect sends no will)."""
        client.publish(self.status_topic, self._status("offline"), qos=1, retain=True)

    async def _wait_or_probe(
        self, stop: asyncio.Event, delay: float, *, probe: bool = True
    ) -> None:
        """Wait ``delay``, or less once the broker's port answers again."""
        deadline = time.monotonic() + delay
        while not stop.is_set() and time.monotonic() < deadline:
            await sleep_or_stop(stop, min(_PROBE_S, deadline - time.monotonic()))
            if probe and await asyncio.to_thread(self._probe):
                return

    def _probe(self) -> bool:
        try:
            with socket.create_connection((self._mqtt.host, self._mqtt.port), timeout=1):
                return True
        except OSError:
            return False


def _packet_size(topic: str, payload: bytes, *, v5: bool) -> int:
    """Bytes of a QoS 1 PUBLISH packet without properties, as the broker counts them."""
    body = 2 + len(topic.encode()) + 2 + (1 if v5 else 0) + len(payload)
    length_bytes = 1 if body < 128 else 2 if body < 16_384 else 3 if body < 2_097_152 else 4
    return 1 + length_bytes + body
