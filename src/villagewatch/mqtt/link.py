"""Run a paho client inside the asyncio event loop and keep it connected.

paho's own ``loop_start`` gives every client a network thread. For the ingester
that thread and the asyncio task that writes batches then take turns on the
GIL; measured here, with both busy the process used only ~75 % of a core, the
rest lost in hand-overs. :class:`AsyncLink` instead registers the client's
socket with the event loop (paho's "external loop" callbacks): reads, writes
and keepalive all run in the loop's thread, as aiomqtt does.

It also owns reconnecting (paho only does that in its own loop, and
``make_client`` turns that off): :class:`~villagewatch.runtime.backoff.Backoff`,
reset once a connection has lasted a while; and it can pause reading — TCP then
pushes back on the broker — while the consumer is full.

The client is built by the ``new_client`` function it is given, at :meth:`AsyncLink.open`
(or when :meth:`AsyncLink.run` starts), never in the constructor: building one reads the
broker password and TLS files, and a service's constructor does no I/O. One client lasts
the link's life; paho keeps its unacknowledged QoS 1 messages and sends them again after
a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties

from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.waiting import first, sleep_or_stop

__all__ = ["AsyncLink", "NewClient"]

log = logging.getLogger(__name__)

_MISC_INTERVAL_S = 1.0
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
        self._built: tuple[C, Properties | None] | None = None
        self._host, self._port = host, port
        self._keepalive = keepalive
        self._clean_start = clean_start
        self._backoff = Backoff(initial_s=retry_initial_s, max_s=retry_max_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: Any = None
        self._closed = asyncio.Event()
        self._paused = False

    def open(self) -> C:
        """Build the client (reading the broker password and TLS files); once — later calls
        return the same client. Raises what ``new_client`` raises (ConfigError)."""
        if self._built is None:
            client, properties = self._new_client()
            client.on_socket_open = self._on_socket_open
            client.on_socket_close = self._on_socket_close
            client.on_socket_register_write = self._on_register_write
            client.on_socket_unregister_write = self._on_unregister_write
            self._built = client, properties
        return self._built[0]

    @property
    def client(self) -> C:
        """The link's client; :meth:`open` (or :meth:`run`) first."""
        if self._built is None:
            raise RuntimeError("AsyncLink.open() must come first")
        return self._built[0]

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set; then disconnect cleanly (pending writes first).
        Opens the link first if :meth:`open` was not called."""
        self.open()
        assert self._built is not None
        client, properties = self._built
        loop = self._loop = asyncio.get_running_loop()
        client.connect_async(
            self._host,
            self._port,
            keepalive=self._keepalive,
            clean_start=self._clean_start,
            properties=properties,
        )
        try:
            while not stop.is_set():
                self._closed.clear()
                try:
                    # the TCP (and TLS) handshake blocks: not on the loop's thread
                    await loop.run_in_executor(None, client.reconnect)
                except (OSError, ssl.SSLError, ValueError) as exc:
                    delay = self._backoff.next_delay()
                    log.warning(
                        "Cannot reach the MQTT broker %s:%d (%s); retrying in %.1f s",
                        self._host, self._port, exc, delay,
                    )  # fmt: skip
                    await sleep_or_stop(stop, delay)
                    continue
                opened = time.monotonic()
                misc = asyncio.create_task(self._misc())
                await first(self._closed.wait(), stop.wait())
                misc.cancel()
                if stop.is_set():
                    break
                if time.monotonic() - opened > _STABLE_S:
                    self._backoff.reset()
                await sleep_or_stop(stop, self._backoff.next_delay())
        finally:
            await self._disconnect()

    def pause_reading(self) -> None:
        """Stop reading from the broker (TCP pushes back) until :meth:`resume_reading`."""
        if not self._paused:
            self._paused = True
            if self._sock is not None and self._loop is not None:
                self._loop.remove_reader(self._sock)

    def resume_reading(self) -> None:
        """Read from the broker again."""
        if self._paused:
            self._paused = False
            if self._sock is not None and self._loop is not None:
                self._loop.add_reader(self._sock, self._readable)

    async def _disconnect(self) -> None:
        if self._sock is None:
            return
        self.client.disconnect()  # queued after any pending PUBACKs, so those go out first
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout=5)

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(_MISC_INTERVAL_S)
            self.client.loop_misc()  # keepalive pings, and noticing a dead broker

    def _readable(self) -> None:
        self.client.loop_read()
        sock = self._sock
        # TLS may hold decrypted bytes the OS socket no longer signals
        if isinstance(sock, ssl.SSLSocket) and sock.pending() and self._loop is not None:
            self._loop.call_soon(self._readable)

    # paho's external-loop callbacks; socket open may be called from the executor's thread

    def _in_loop(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._opened, sock)

    def _opened(self, sock: Any) -> None:
        assert self._loop is not None
        self._sock = sock
        if not self._paused:
            self._loop.add_reader(sock, self._readable)

    def _on_socket_close(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._gone, sock)

    def _gone(self, sock: Any) -> None:
        assert self._loop is not None
        if sock is not self._sock:
            return  # an older socket, long unregistered
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._sock = None
        self._closed.set()

    def _on_register_write(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._want_write, client, sock)

    def _want_write(self, client: paho.Client, sock: Any) -> None:
        assert self._loop is not None
        if sock is self._sock:
            self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._no_write, sock)

    def _no_write(self, sock: Any) -> None:
        assert self._loop is not None
        if sock is self._sock:
            self._loop.remove_writer(sock)
