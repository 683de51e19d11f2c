"""``villagewatch simulate``: publish a simulated village over a real MQTT connection.

Messages go out at ``rate`` per second (QoS 1). Simulated time runs ``speed``
times faster than real time; so that no device clock runs into the future, a
sped-up run needs a duration, and its simulated time is placed to end at the
real end of the run.

The connection is an :class:`~villagewatch.mqtt.AsyncLink` in the run's event loop, built
when the run starts: paho keeps each QoS 1 message it could not send yet (up to
``max_queued``) and sends it once the link has (re)connected.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from paho.mqtt.client import MQTT_ERR_NO_CONN, MQTT_ERR_QUEUE_SIZE, MQTT_ERR_SUCCESS
from paho.mqtt.properties import Properties

from villagewatch.config import MqttSettings, SimulateSettings, Village
from villagewatch.mqtt import AsyncLink, FastClient, make_client
from villagewatch.sim.village import VillageSimulator

__all__ = ["PublishStats", "SimulationPublisher"]

log = logging.getLogger(__name__)

_TICK_S = 0.01


@dataclass(slots=True)
class PublishStats:
    """What a simulation run published."""

    published: int = 0
    acknowledged: int = 0
    dropped: int = 0
    """Messages paho refused because its outgoing queue was full (broker unreachable for long)."""


class SimulationPublisher:
    """Paces a :class:`VillageSimulator` onto a broker."""

    def __init__(
        self,
        *,
        mqtt: MqttSettings,
        village: Village,
        settings: SimulateSettings,
        devices: int | None = None,
        client_id: str | None = None,
        max_queued: int = 100_000,
    ) -> None:
        self._settings = settings
        self._sim = VillageSimulator(
            village, settings, boot=f"sim-{secrets.token_hex(4)}", devices=devices
        )
        self._client_id = client_id or f"vw-sim-{secrets.token_hex(4)}"
        self._max_queued = max_queued
        self._mqtt = mqtt
        self._link = AsyncLink(
            self._new_client, host=mqtt.host, port=mqtt.port, keepalive=mqtt.keepalive_s,
            retry_max_s=30.0,
        )  # fmt: skip
        self.stats = PublishStats()

    async def run(
        self,
        stop: asyncio.Event,
        *,
        duration_s: float | None = None,
        count: int | None = None,
    ) -> PublishStats:
        """Publish until ``stop``, ``duration_s`` or ``count``; then await acks (at most 10 s)."""
        speed = self._settings.speed
        if speed != 1 and duration_s is None:
            raise ValueError(
                "a sped-up simulation needs a duration: device clocks must not run ahead"
            )
        client = self._link.open()
        link_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._link.run(link_stop))
            try:
                await self._publish(client, stop, duration_s=duration_s, count=count)
            finally:
                link_stop.set()  # after the acks: the link disconnects once its writes are out
        if self.stats.dropped:
            log.warning("Simulator dropped %d messages: broker unreachable", self.stats.dropped)
        return self.stats

    async def _publish(
        self, client: FastClient, stop: asyncio.Event, *, duration_s: float | None,
        count: int | None,
    ) -> None:  # fmt: skip
        speed, rate = self._settings.speed, self._settings.rate
        real_start = time.time()
        sim_start_ms = int((real_start - (duration_s or 0) * (speed - 1)) * 1000)
        sent = 0
        while not stop.is_set():
            elapsed = time.time() - real_start
            if duration_s is not None and elapsed >= duration_s:
                break
            due = int(elapsed * rate) + 1 - sent
            if count is not None:
                due = min(due, count - sent)
            for _ in range(max(0, due)):
                sim_ms = sim_start_ms + int((sent / rate) * speed * 1000)
                msg = self._sim.next_message(sim_ms, sim_start_ms)
                rc = client.publish(msg.topic, msg.payload, qos=1).rc
                sent += 1
                # NO_CONN: paho keeps a QoS 1 message and sends it once connected
                if rc in (MQTT_ERR_SUCCESS, MQTT_ERR_NO_CONN):
                    self.stats.published += 1
                elif rc == MQTT_ERR_QUEUE_SIZE:
                    self.stats.dropped += 1
            if count is not None and sent >= count:
                break
            await asyncio.sleep(_TICK_S)
        deadline = time.monotonic() + 10
        while self.stats.acknowledged < self.stats.published and time.monotonic() < deadline:  # noqa: ASYNC110 - counted by a callback, not an event
            await asyncio.sleep(0.05)

    def _new_client(self) -> tuple[FastClient, Properties | None]:
        client, props = make_client(self._mqtt, client_id=self._client_id, persistent=False)
        client.max_queued_messages_set(self._max_queued)
        client.max_inflight_messages_set(1000)
        client.on_publish = self._on_publish
        return client, props

    def _on_publish(self, *_args: object) -> None:
        # in the event loop (the link reads there), once per PUBACK
        self.stats.acknowledged += 1
