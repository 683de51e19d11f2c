"""MQTT for villagewatch processes: paho-mqtt with a fast receive path, run in asyncio.

Every client comes from the one factory, :func:`make_client`, and never reconnects by
itself; every reconnect waits what :class:`~villagewatch.runtime.backoff.Backoff` says. Every
client runs in its process's event loop, driven by a :class:`ClientInLoop` (reads, writes,
keepalive and paho's callbacks in the loop's thread; no paho network thread). Two
lifecycles, for two needs:

* :class:`AsyncLink` — one client for the link's life, reconnected by the link; paho keeps
  unacknowledged QoS 1 messages and sends them again after a reconnect. The ingester and
  detect (persistent sessions, manual acks, reading paused while full), the simulator's
  publisher and the Zigbee2MQTT driver's subscription to its bridge.
* :class:`~villagewatch.edge.link.EdgeLink` — a fresh client per connection, for the edge
  agent's acknowledged publishing: nothing stale is resent by paho, the agent's outbox sends
  again whatever was not acknowledged; it also waits for the CONNACK and probes the
  broker's port to come back sooner.

Either builds its client when it starts, never in a constructor: building one reads the
broker password and TLS files.
"""

from villagewatch.mqtt.client import FastClient, FastMessageHandler, make_client
from villagewatch.mqtt.inloop import ClientInLoop
from villagewatch.mqtt.link import AsyncLink, NewClient

__all__ = [
    "AsyncLink",
    "ClientInLoop",
    "FastClient",
    "FastMessageHandler",
    "NewClient",
    "make_client",
]
