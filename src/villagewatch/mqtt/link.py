"""Keep one paho client connected from within the asyncio event loop.

:class:`AsyncLink` drives its client with a :class:`~villagewatch.mqtt.inloop.ClientInLoop`
(reads, writes, keepalive and callbacks in the loop's thread) and owns reconnecting —
paho only does that in its own loop, and ``make_client`` turns that off: it waits what
:class:`~villagewatch.runtime.backoff.Backoff` says, reset once a connection has lasted a
while. It can pause reading — TCP then pushes back on the broker — while the consumer is full.

The client is built by the ``new_client`` function it is given, at :meth:`AsyncLink.open`
(or when :meth:`AsyncLink.run` starts), never in the constructor: building one reads the
broker password and TLS files, and a service's constructor does no I/O. One client lasts
the link's life; paho keeps its unacknowledged QoS 1 messages and sends them again after
a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties

from villagewatch.mqtt.inloop import ClientInLoop
from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.waiting import first, sleep_or_stop

__all__ = ["AsyncLink", "NewClient"]

log = logging.getLogger(__name__)

_STABLE_S = 30.0
"""A connection that lasted this long resets the reconnect backoff."""

C = TypeVar("C", bound=paho.Client)

NewClient = Callable[[], tuple[C, Properties | None]]
"""Builds a configured, unconnected client and its CONNECT properties (``make_client`` plus
the owner's callbacks)."""


class AsyncLink(Generic[C]):
    """Connects a client from within the running event loop and keeps it connected."""

    def __init__(
        self,
        new_client: NewClient[C],
        *,
        host: str,
        port: int,
        keepalive: int,
        clean_start: bool = False,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 60.0,
    ) -> None:
        self._new_client = new_client
        self._conn: ClientInLoop[C] | None = None
        self._host, self._port = host, port
        self._keepalive = keepalive
        self._clean_start = clean_start
        self._backoff = Backoff(initial_s=retry_initial_s, max_s=retry_max_s)
        self._paused = False

    def open(self) -> C:
        """Build the client (reading the broker password and TLS files); once — later calls
        return the same client. Raises what ``new_client`` raises (ConfigError)."""
        if self._conn is None:
            client, properties = self._new_client()
            self._conn = ClientInLoop(
                client, host=self._host, port=self._port, keepalive=self._keepalive,
                clean_start=self._clean_start, properties=properties,
            )  # fmt: skip
            if self._paused:
                self._conn.pause_reading()
        return self._conn.client

    @property
    def client(self) -> C:
        """The link's client; :meth:`open` (or :meth:`run`) first."""
        if self._conn is None:
            raise RuntimeError("AsyncLink.open() must come first")
        return self._conn.client

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set; then disconnect cleanly (pending writes first).
        Opens the link first if :meth:`open` was not called."""
        self.open()
        conn = self._conn
        assert conn is not None
        try:
            while not stop.is_set():
                try:
                    await conn.connect()
                except (OSError, ssl.SSLError, ValueError) as exc:
                    delay = self._backoff.next_delay()
                    log.warning(
                        "Cannot reach the MQTT broker %s:%d (%s); retrying in %.1f s",
                        self._host, self._port, exc, delay,
                    )  # fmt: skip
                    await sleep_or_stop(stop, delay)
                    continue
                opened = time.monotonic()
                await first(conn.closed.wait(), stop.wait())
                if stop.is_set():
                    break
                if time.monotonic() - opened > _STABLE_S:
                    self._backoff.reset()
                await sleep_or_stop(stop, self._backoff.next_delay())
        finally:
            await conn.disconnect()

    def pause_reading(self) -> None:
        """Stop reading from the broker (TCP pushes back) until :meth:`resume_reading`."""
        self._paused = True
        if self._conn is not None:
            self._conn.pause_reading()

    def resume_reading(self) -> None:
        """Read from the broker again."""
        self._paused = False
        if self._conn is not None:
            self._conn.resume_reading()
