"""Smart locks and SOS buttons from a Zigbee2MQTT bridge on the site's local broker.

The driver subscribes to ``<base_topic>/<friendly_name>`` of each configured device (again
after every reconnect) with a paho client from the one factory (``mqtt.make_client``), kept
connected by an :class:`~villagewatch.mqtt.AsyncLink` in the agent's event loop (its
reconnects wait what ``runtime.backoff`` says). Each message is normalised as it is read, in
arrival order, by :class:`Zigbee2MqttNormaliser` (the rules are in ``zigbee2mqtt_payloads``).
A lock's state change waits up to ``merge_s`` for the action that names who unlocked it, so
such an event leaves up to that much later; at stop, what still waits is emitted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal, Self

import paho.mqtt.client as paho
from pydantic import Field, model_validator

from villagewatch.config import MqttSettings
from villagewatch.config.paths import PasswordFile
from villagewatch.contract import StrictModel
from villagewatch.edge.drivers.zigbee2mqtt_payloads import BridgedDevice, Zigbee2MqttNormaliser
from villagewatch.edge.measurement import Emit
from villagewatch.mqtt import AsyncLink, make_client
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["BridgedDevice", "Zigbee2Mqtt", "Zigbee2MqttConfig"]

log = logging.getLogger(__name__)

_FLUSH_EVERY_S = 0.5


class Zigbee2MqttConfig(StrictModel):
    """Smart locks and SOS buttons behind a Zigbee2MQTT bridge (`driver: zigbee2mqtt`)."""

    driver: Literal["zigbee2mqtt"] = Field(description="Selects this driver.")
    host: str = Field("127.0.0.1", description="The local broker Zigbee2MQTT publishes to.")
    port: int = Field(1883, ge=1, le=65535, description="Its port.")
    base_topic: str = Field(
        "zigbee2mqtt", min_length=1, description="Zigbee2MQTT's `mqtt.base_topic`."
    )
    username: str | None = Field(None, description="User name, if the broker requires one.")
    password_file: PasswordFile | None = Field(None, description="File holding the password.")
    merge_s: float = Field(
        3.0,
        gt=0,
        le=60,
        description="How long a lock's state change waits for the action that says who and "
        "how (they arrive as two messages); one operation is then one event.",
    )
    devices: list[BridgedDevice] = Field(
        min_length=1, description="The bridge's devices this agent speaks for."
    )

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if "+" in self.base_topic or "#" in self.base_topic:
            raise ValueError("base_topic can't hold the MQTT wildcards `+` or `#`")
        names = [d.friendly_name for d in self.devices]
        ids = [d.device for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError("each friendly_name may appear once")
        if len(set(ids)) != len(ids):
            raise ValueError("each device id may appear once")
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self


class Zigbee2Mqtt:
    """One bridge: a paho client on the local broker feeding a normaliser."""

    def __init__(
        self, cfg: Zigbee2MqttConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cfg = cfg
        self.devices = [d.device for d in cfg.devices]
        self.normaliser = Zigbee2MqttNormaliser(cfg.devices, merge_s=cfg.merge_s)
        self._clock = clock
        self._names = {f"{cfg.base_topic}/{d.friendly_name}": d.friendly_name for d in cfg.devices}

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Follow the bridge until ``stop``; the broker may come and go meanwhile."""

        def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            name = self._names.get(msg.topic)  # read in the event loop, by the link
            if name is not None:
                for m in self.normaliser.feed(name, msg.payload, self._clock()):
                    emit(m)

        def new_client() -> tuple[paho.Client, None]:
            client = self._client()
            client.on_message = on_message
            return client, None

        cfg = self.cfg
        link = AsyncLink(new_client, host=cfg.host, port=cfg.port, keepalive=30, retry_max_s=30)
        link_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(link.run(link_stop))
                try:
                    while not await sleep_or_stop(stop, _FLUSH_EVERY_S):
                        for m in self.normaliser.flush(self._clock()):
                            emit(m)
                finally:
                    link_stop.set()
        finally:
            for m in self.normaliser.flush(self._clock(), everything=True):
                emit(m)

    def _client(self) -> paho.Client:
        cfg = self.cfg
        local = MqttSettings(
            host=cfg.host, port=cfg.port, protocol="3.1.1", username=cfg.username,
            password_file=cfg.password_file,
        )  # fmt: skip
        # the one client factory; the bridge's broker needs no fast receive path
        client, _ = make_client(
            local, client_id=f"vw-z2m-{secrets.token_hex(4)}", persistent=False, fast=False
        )
        topics = [(topic, 1) for topic in self._names]

        def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if reason.is_failure:
                log.error("zigbee2mqtt: broker %s:%d refused us: %s", cfg.host, cfg.port, reason)
                return
            log.info("zigbee2mqtt: connected to %s:%d", cfg.host, cfg.port)
            c.subscribe(topics)

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if reason.is_failure:
                log.warning(
                    "zigbee2mqtt: lost %s:%d (%s); reconnecting", cfg.host, cfg.port, reason
                )

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        return client
