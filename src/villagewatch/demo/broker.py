"""The demo's embedded MQTT broker: amqtt on 127.0.0.1.

For the demo only. amqtt speaks MQTT 3.1.1 (no shared subscriptions, no flow
control), keeps no queue for a disconnected anonymous client, and gives up on
a QoS 1 delivery its subscriber hasn't acknowledged within 5 s — fine for a
simulated village in one process, not for real data: production runs Mosquitto
with ``config/mosquitto/``.
"""

from __future__ import annotations

import logging

from amqtt.broker import Broker

__all__ = ["EmbeddedBroker"]


class EmbeddedBroker:
    """An in-process MQTT 3.1.1 broker bound to 127.0.0.1 (amqtt binds 0.0.0.0 unless told)."""

    def __init__(self, *, port: int) -> None:
        self.port = port
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        # amqtt logs every unknown PUBACK (we acknowledge a batch at a time) as a warning
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        logging.getLogger("transitions").setLevel(logging.WARNING)  # amqtt's state machine

    async def start(self) -> None:
        """Listen on 127.0.0.1:port."""
        await self._broker.start()

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        await self._broker.shutdown()
