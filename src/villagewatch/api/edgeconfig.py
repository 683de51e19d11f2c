"""The API's word with the edge agents: publish a retained desired config, read the retained
report of what an agent runs.

The API signs in as the config writer (``vw-config``, :data:`~villagewatch.broker.CONFIG_WRITER`;
its broker ACL may publish ``…/<agent>/config`` and read ``…/config/reported``) for one short
session per call: applies and looks are rare, and a session that is not kept open needs no
reconnecting. The broker binds the client id to the user name, so two sessions at once
would push each other out: one at a time per process. Blocking: call from a thread.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from paho.mqtt import client as paho
from pydantic import ValidationError

from villagewatch.broker import CONFIG_WRITER
from villagewatch.config import MqttSettings
from villagewatch.contract import Channel, topic_for
from villagewatch.contract.control import ReportedConfig
from villagewatch.errors import ConfigError, VillagewatchError
from villagewatch.mqtt import make_client

__all__ = ["BrokerUnreachable", "EdgeConfig", "EdgeConfigLink", "Reported"]

_LATE_RETAINED_S = 0.3  # a retained message follows the SUBACK at once; allow for a busy broker


class BrokerUnreachable(VillagewatchError):
    """The broker could not be reached, refused the config writer, or did not acknowledge."""


Reported = ReportedConfig | str | None
"""What an agent reported: its report, a reason it cannot be read (str), or None (nothing
reported yet)."""


class EdgeConfig(Protocol):
    """What the routes use: :class:`EdgeConfigLink`, or a fake in tests."""

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish retained, return once the broker took it; BrokerUnreachable if not."""

    def reported(self, village: str, agent: str) -> Reported:
        """The agent's retained report."""


class EdgeConfigLink:
    """Publishes desired configs and reads reports as the config writer, one session per call."""

    def __init__(self, mqtt: MqttSettings, *, timeout_s: float = 5.0) -> None:
        """Nothing is read or connected until a call."""
        self._mqtt = mqtt
        self._timeout_s = timeout_s
        self._one = threading.Lock()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` retained at QoS 1 and return once the broker acknowledged it;
        :class:`BrokerUnreachable` otherwise."""
        with self._one, self._session() as client:
            info = client.publish(topic, payload, qos=1, retain=True)
            info.wait_for_publish(self._timeout_s)
            if not info.is_published():
                raise BrokerUnreachable(
                    f"the broker at {self._where()} did not acknowledge {topic} within "
                    f"{self._timeout_s:g} s"
                )

    def reported(self, village: str, agent: str) -> Reported:
        """The agent's retained report on ``…/config/reported``."""
        topic = topic_for(village, agent, Channel.CONFIG_REPORTED)
        got: list[bytes] = []
        subscribed, arrived = threading.Event(), threading.Event()

        def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
            if msg.topic == topic:
                got.append(bytes(msg.payload))
                arrived.set()

        with self._one, self._session(on_message) as client:
            client.on_subscribe = lambda *_a: subscribed.set()
            client.subscribe(topic, qos=1)
            if not subscribed.wait(self._timeout_s):
                raise BrokerUnreachable(f"the broker at {self._where()} did not answer")
            arrived.wait(_LATE_RETAINED_S)
        if not got or not got[-1]:
            return None
        try:
            return ReportedConfig.model_validate_json(got[-1])
        except ValidationError as exc:
            return f"the agent's report cannot be read: {exc.errors()[0]['msg']}"

    def _where(self) -> str:
        return f"{self._mqtt.host}:{self._mqtt.port}"

    def _session(self, on_message: Any = None) -> _Session:
        return _Session(self, on_message)


class _Session:
    """One connected session of the config writer (a context manager)."""

    def __init__(self, link: EdgeConfigLink, on_message: Any) -> None:
        self._link = link
        self._on_message = on_message
        self._client: paho.Client | None = None

    def __enter__(self) -> paho.Client:
        link = self._link
        mqtt, timeout_s = link._mqtt, link._timeout_s
        # the stock client: a short session needs no fast receive path
        try:
            client, props = make_client(mqtt, client_id=CONFIG_WRITER, persistent=False, fast=False)
        except (ConfigError, OSError) as exc:  # its password or TLS files, read per session
            raise BrokerUnreachable(f"cannot sign in as {CONFIG_WRITER}: {exc}") from exc
        connected = threading.Event()
        refused: list[str] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if reason.is_failure:
                refused.append(str(reason))
            connected.set()

        client.on_connect = on_connect
        if self._on_message is not None:
            client.on_message = self._on_message
        try:
            client.connect(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s, properties=props)
        except (OSError, ValueError) as exc:
            raise BrokerUnreachable(f"cannot reach the broker at {link._where()}: {exc}") from exc
        client.loop_start()
        self._client = client
        if not connected.wait(timeout_s) or refused:
            self.__exit__()
            why = refused[0] if refused else f"no answer within {timeout_s:g} s"
            raise BrokerUnreachable(
                f"the broker at {link._where()} did not let {CONFIG_WRITER} in: {why}"
            )
        return client

    def __exit__(self, *_exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
