"""For edge-agent tests: a subscriber that keeps everything the agent delivered (a persistent
MQTT session, so it misses nothing across a broker restart), a steady test source, the agent's
settings and a metrics scrape."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from villagewatch.config import MqttSettings
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.edge.settings import ClockSettings, EdgeSettings, OutboxSettings

from .helpers import close_threaded


@dataclass(frozen=True, slots=True)
class Got:
    topic: str
    body: dict[str, Any]
    received_ns: int = 0
    """When the collector got it (wall clock)."""
    retained: bool = False
    """A retained copy the broker replayed on (re)subscribing, not a new publish."""

    @property
    def items(self) -> list[dict[str, Any]]:
        b = self.body
        one = b.get("reading") or b.get("event")
        return [one] if one is not None else b.get("readings") or b.get("events") or []


class Collector:
    """Subscribes to ``vw/v1/<village>/#`` with a persistent session."""

    def __init__(self, port: int, village: str, client_id: str = "collector") -> None:
        self.got: list[Got] = []
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(f"vw/v1/{village}/#", qos=1)
        self.subscribed = threading.Event()
        """Set once the broker confirmed the subscription (the session then keeps messages)."""
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        if msg.topic.endswith(("/status", "/config")):  # not the agent's to say
            return
        body = (  # an evidence snapshot is the JPEG itself
            {"jpeg": bytes(msg.payload)} if "/evidence/" in msg.topic else orjson.loads(msg.payload)
        )
        with self._lock:
            self.got.append(Got(msg.topic, body, time.time_ns(), bool(msg.retain)))

    def messages(self) -> list[Got]:
        with self._lock:
            return list(self.got)

    def keys(self) -> set[tuple[str, str, int]]:
        return {
            (g.body["device"], g.body["boot"], i["seq"]) for g in self.messages() for i in g.items
        }

    def close(self) -> None:
        close_threaded(self.client)


@dataclass
class Ticker:
    """``rate`` water-level readings a second, round robin over ``devices``; an SOS on call."""

    devices: list[str]
    rate: float
    emitted: int = 0
    log: list[str] = field(default_factory=list)
    """Devices in the order their measurements were emitted (the agent's seq order)."""
    _sos: list[str] = field(default_factory=list)
    _paused: bool = False

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        names = itertools.cycle(self.devices)
        while not stop.is_set():
            due = int((loop.time() - start) * self.rate)
            while self.emitted < due and not self._paused:
                device = next(names)
                emit(Measurement(device, "telemetry", {"level_cm": 100.0 + self.emitted % 7}))
                self.log.append(device)
                self.emitted += 1
            while self._sos:
                device = self._sos.pop()
                emit(Measurement(device, "event", {"type": "sos"}))
                self.log.append(device)
            if self._paused:
                start = loop.time() - self.emitted / self.rate
            await asyncio.sleep(0.01)

    def sos(self, device: str) -> None:
        self._sos.append(device)

    def pause(self) -> None:
        self._paused = True


def edge_settings(tmp_path: Path, port: int, **extra: object) -> EdgeSettings:
    """Agent ``edge-1`` of village ``v`` on the broker at ``port``, outbox in ``tmp_path``,
    clock trusted; ``extra`` sets or overrides keys."""
    return EdgeSettings.model_validate(
        {
            "id": "edge-1", "village": "v",
            "mqtt": MqttSettings(port=port), "outbox": OutboxSettings(path=tmp_path / "outbox"),
            "clock": ClockSettings(require_sync=False), **extra,
        }
    )  # fmt: skip


def scrape_metrics(port: int) -> str:
    """The Prometheus text an agent serves on 127.0.0.1:``port``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as reply:
        return str(reply.read().decode())
