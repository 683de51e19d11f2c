"""One paho client's connection driven by the running asyncio event loop.

paho's own ``loop_start`` gives every client a network thread. For the ingester
that thread and the asyncio task that writes batches then take turns on the
GIL; measured here, with both busy the process used only ~75 % of a core, the
rest lost in hand-overs. :class:`ClientInLoop` instead registers the client's
socket with the event loop (paho's "external loop" callbacks): reads, writes
and keepalive all run in the loop's thread, as aiomqtt does — and so do the
client's callbacks. Only the TCP (and TLS) handshake runs in a worker thread.

It connects once; reconnecting is its owner's (:class:`~villagewatch.mqtt.AsyncLink`, or the
edge link with a fresh client per connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any, Generic, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties

__all__ = ["ClientInLoop"]

_MISC_INTERVAL_S = 1.0
_DISCONNECT_WAIT_S = 5.0

C = TypeVar("C", bound=paho.Client)


class ClientInLoop(Generic[C]):
    """Drives ``client``'s socket from the running event loop; :meth:`connect` may be called
    again after the connection closed (paho then resends its unacknowledged messages)."""

    def __init__(
        self,
        client: C,
        *,
        host: str,
        port: int,
        keepalive: int,
        clean_start: bool = False,
        properties: Properties | None = None,
    ) -> None:
        self.client = client
        self.closed = asyncio.Event()
        """Set while there is no connection (after a loss, or before the first connect)."""
        self.closed.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: Any = None
        self._paused = False
        self._misc: asyncio.Task[None] | None = None
        # stores where to connect; no I/O until connect()
        client.connect_async(
            host, port, keepalive=keepalive, clean_start=clean_start, properties=properties
        )
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    async def connect(self) -> None:
        """Open the connection (CONNECT sent; the CONNACK comes to ``on_connect``). Raises
        OSError, ssl.SSLError or ValueError when the broker cannot be reached."""
        loop = self._loop = asyncio.get_running_loop()
        self.closed.clear()
        try:
            # the TCP (and TLS) handshake blocks: not on the loop's thread
            await loop.run_in_executor(None, self.client.reconnect)
        except BaseException:
            self.closed.set()
            raise
        if self._misc is None or self._misc.done():
            self._misc = asyncio.create_task(self._keep_alive())

    async def disconnect(self) -> None:
        """Disconnect cleanly (pending writes first, at most 5 s), then close the socket."""
        if self._sock is not None:
            self.client.disconnect()  # queued after any pending writes, so those go out first
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), timeout=_DISCONNECT_WAIT_S)
        if self._sock is not None:  # the broker did not take our writes: close it ourselves
            reset = getattr(self.client, "_reset_sockets", None)
            if reset is not None:
                with contextlib.suppress(OSError):
                    reset()
        if self._misc is not None:
            self._misc.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._misc
            self._misc = None
        self.closed.set()

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

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(_MISC_INTERVAL_S)
            if self._sock is not None:
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
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)
        # else: a client collected after its loop ended (paho closes its socket in __del__):
        # there is no reader left to remove, and raising there breaks whoever runs the GC

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
        self.closed.set()

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
