"""Run a paho client inside the asyncio event loop and keep it connected.

paho's own ``loop_start`` gives every client a network thread. For the ingester
that thread and the asyncio task that writes batches then take turns on the
GIL; measured here, with both busy the process used only ~75 % of a core, the
rest lost in hand-overs. :class:`AsyncLink` instead registers the client's
socket with the event loop (paho's "external loop" callbacks): reads, writes
and keepalive all run in the loop's thread, as aiomqtt does.

It also owns reconnecting (paho only does that in its own loop): capped,
jittered backoff, reset once a connection has lasted a while; and it can pause
reading — TCP then pushes back on the broker — while the consumer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties

from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.waiting import first, sleep_or_stop

__all__ = ["AsyncLink"]

log = logging.getLogger(__name__)

_MISC_INTERVAL_S = 1.0
_STABLE_S = 30.0
"""A connection that lasted this long resets the reconnect backoff."""


class AsyncLink:
    """Connects ``client`` from within the running event loop and keeps it connected."""

    def __init__(
        self,
        client: paho.Client,
        *,
        host: str,
        port: int,
        keepalive: int,
        clean_start: bool = False,
        properties: Properties | None = None,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 60.0,
    ) -> None:
        self._client = client
        self._host, self._port = host, port
        self._keepalive = keepalive
        self._clean_start = clean_start
        self._properties = properties
        self._backoff = Backoff(initial_s=retry_initial_s, max_s=retry_max_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: Any = None
        self._closed = asyncio.Event()
        self._paused = False
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set; then disconnect cleanly (pending writes first)."""
        loop = self._loop = asyncio.get_running_loop()
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=self._keepalive,
            clean_start=self._clean_start,
            properties=self._properties,
        )
        try:
            while not stop.is_set():
                self._closed.clear()
                try:
                    # the TCP (and TLS) handshake blocks: not on the loop's thread
                    await loop.run_in_executor(None, self._client.reconnect)
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
        self._client.disconnect()  # queued after any pending PUBACKs, so those go out first
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout=5)

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(_MISC_INTERVAL_S)
            self._client.loop_misc()  # keepalive pings, and noticing a dead broker

    def _readable(self) -> None:
        self._client.loop_read()
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
