"""The agent's MQTT connection to the centre: one fresh paho client per connection.

MQTT 5 (or 3.1.1), QoS 1, TLS and a per-agent user from the settings. On every
connect the agent's **birth** (retained ``online`` status listing its devices) is
published and its ``…/config`` topic subscribed (the retained desired config arrives at
once); its **last will** (retained ``offline``) tells the centre when the link dies.
A new client per connection means nothing stale is resent by paho: after a reconnect
the agent sends again, from its outbox, whatever was not acknowledged.

Reconnecting waits a jittered, doubling delay capped at 60 s — but a cheap TCP
probe every 2 s cuts the wait short as soon as the broker answers again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from villagewatch.backoff import Backoff
from villagewatch.config import MqttSettings
from villagewatch.mqtt import close_threaded, make_client
from villagewatch.waiting import first, sleep_or_stop

__all__ = ["EdgeLink"]

log = logging.getLogger(__name__)

_PROBE_S = 2.0
_CONNECT_TIMEOUT_S = 10.0


class EdgeLink:
    """Keeps one agent connected; calls ``on_ack(mid)`` for each acknowledged publish."""

    def __init__(
        self,
        mqtt: MqttSettings,
        *,
        agent: str,
        village: str,
        boot: str,
        devices: list[str],
        on_ack: Callable[[int], None],
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        on_config: Callable[[bytes], None],
        max_inflight: int,
    ) -> None:
        self._mqtt = mqtt
        self._agent, self._boot, self._devices = agent, boot, devices
        self.status_topic = f"vw/v1/{village}/{agent}/status"
        self.config_topic = f"vw/v1/{village}/{agent}/config"
        self._on_ack, self._on_up, self._on_down = on_ack, on_up, on_down
        self._on_config = on_config
        self._max_inflight = max_inflight
        self._client: paho.Client | None = None
        self.connected = asyncio.Event()
        self.last_ack_s: float | None = None
        self._backoff = Backoff(initial_s=1.0, max_s=60.0)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """Publish at QoS 1; the message id, or None when not connected."""
        client = self._client
        if client is None or not self.connected.is_set():
            return None
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, and again after every loss, until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            lost = asyncio.Event()
            client = self._new_client(loop, lost)
            try:
                await loop.run_in_executor(None, self._connect, client)
                client.loop_start()
                await asyncio.wait_for(self.connected.wait(), _CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                self._drop(client)
                delay = self._backoff.next_delay()
                log.warning(
                    "Cannot reach the broker %s:%d (%s); retrying within %.0f s",
                    self._mqtt.host, self._mqtt.port, exc or "no answer", delay,
                )  # fmt: skip
                # the network was down: come back as soon as it is up; refused: wait it out
                await self._wait_or_probe(stop, delay, probe=isinstance(exc, OSError))
                continue
            started = time.monotonic()
            self._client = client
            log.info("Connected to %s:%d", self._mqtt.host, self._mqtt.port)
            self._birth()
            self._on_up()
            await first(stop.wait(), lost.wait())
            if stop.is_set():
                self._say_goodbye(client)
            self.connected.clear()
            self._client = None
            self._on_down()
            self._drop(client)
            if not stop.is_set():
                if time.monotonic() - started > 30:
                    self._backoff.reset()
                delay = self._backoff.next_delay()
                log.warning("Lost the broker; reconnecting within %.0f s", delay)
                await self._wait_or_probe(stop, delay)

    # --- plumbing --------------------------------------------------------------------------

    def _status(self, state: str) -> bytes:
        return orjson.dumps(
            {
                "v": 1, "device": self._agent, "state": state, "boot": self._boot,
                "ts": time.time_ns() // 1_000_000, "devices": self._devices,
            }
        )  # fmt: skip

    def _new_client(self, loop: asyncio.AbstractEventLoop, lost: asyncio.Event) -> paho.Client:
        client, props = make_client(self._mqtt, client_id=self._agent, persistent=False)
        self._props = props
        client.max_inflight_messages_set(self._max_inflight)
        client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)

        def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if not getattr(reason, "is_failure", False):
                c.subscribe(self.config_topic, qos=1)  # retained: the desired config comes now
                loop.call_soon_threadsafe(self.connected.set)
            else:
                log.error("The broker refused the connection: %s", reason)

        def on_disconnect(*_args: Any) -> None:
            loop.call_soon_threadsafe(lost.set)

        def on_publish(_c: Any, _u: Any, mid: int, *_rest: Any) -> None:
            loop.call_soon_threadsafe(self._acked, mid)

        def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
            if msg.topic == self.config_topic:
                loop.call_soon_threadsafe(self._on_config, bytes(msg.payload))

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        return client

    def _acked(self, mid: int) -> None:
        self.last_ack_s = time.time()
        self._on_ack(mid)

    def _connect(self, client: paho.Client) -> None:
        client.connect(
            self._mqtt.host, self._mqtt.port, keepalive=self._mqtt.keepalive_s,
            clean_start=True, properties=self._props,
        )  # fmt: skip

    def _birth(self) -> None:
        self.publish(self.status_topic, self._status("online"), retain=True)

    def _say_goodbye(self, client: paho.Client) -> None:
        """A clean stop: the offline status ourselves (a clean disconnect sends no will)."""
        client.publish(self.status_topic, self._status("offline"), qos=1, retain=True)

    def _drop(self, client: paho.Client) -> None:
        close_threaded(client)

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
