"""MQTT connections for villagewatch processes: paho-mqtt with a receive path fit for an ingester.

paho-mqtt 2.2 handles the session for us — connect, keepalive, reconnect,
subscribe, persistent sessions, TLS — but its receive path reads a packet with
three or more ``recv`` calls after a ``select``, parses MQTT 5 properties with
~30 string operations each, builds two locks per message, and sends every
PUBACK as its own write. Measured on this project's 2-core machine, draining a
persistent session that way managed ~7,300 messages/s.

:class:`FastClient` keeps everything but the hot path and overrides three
private hooks of that exact release (pinned in ``pyproject.toml``; the tests in
``tests/integration/test_mqtt_client.py`` exercise each one against Mosquitto):

* ``_create_socket`` wraps the socket so that one ``recv`` pulls up to 256 KiB
  and ``pending()`` tells paho's loop that buffered bytes are waiting (the loop
  already honours ``pending()`` for TLS sockets);
* ``loop_read`` handles every complete packet in that buffer, not just one;
* ``_handle_publish`` slices topic, packet id and payload out of a PUBLISH and
  hands them to :attr:`FastClient.on_fast_message` — no ``MQTTMessage``, and
  MQTT 5 publish properties are skipped (an ingester needs none; topic aliases
  towards us stay off because we never raise Topic Alias Maximum).

:meth:`FastClient.ack_many` sends a whole batch of PUBACKs as one write.
Together these drained the same session at ~100,000 messages/s.
"""

from __future__ import annotations

import logging
import ssl
import struct
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from villagewatch.config import MqttSettings, read_secret

__all__ = ["FastClient", "FastMessageHandler", "make_client"]

log = logging.getLogger(__name__)

FastMessageHandler = Callable[[int, int, bytes, bytes], None]
"""(packet id, qos, topic bytes, payload) → None; runs on paho's network thread."""

_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")
_U16 = struct.Struct("!H")
_READ_SIZE = 1 << 18


class _BufferedSocket:
    """A socket whose ``recv`` serves from a large read buffer."""

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = self._sock.recv(_READ_SIZE)  # BlockingIOError passes through to paho
            if not buf:
                return b""
            self._buf, pos = buf, 0
        end = min(pos + bufsize, len(buf))
        self._pos = end
        return buf[pos:end]

    def pending(self) -> int:
        inner = self._sock.pending() if isinstance(self._sock, ssl.SSLSocket) else 0
        return len(self._buf) - self._pos + inner

    def send(self, data: bytes | bytearray) -> int:
        return int(self._sock.send(data))

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FastClient(paho.Client):
    """A paho client whose PUBLISH receive path is built for throughput (see module doc)."""

    on_fast_message: FastMessageHandler | None = None

    def _create_socket(self) -> Any:
        return _BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:  # noqa: ARG002 - all buffered
        while True:
            sock = self._sock
            if sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            sock = self._sock
            if sock is None or not isinstance(sock, _BufferedSocket) or sock.pending() == 0:
                return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        handler = self.on_fast_message
        if handler is None or qos == 2:
            return super()._handle_publish()
        packet: bytearray = self._in_packet["packet"]
        (topic_len,) = _U16.unpack_from(packet, 0)
        pos = 2 + topic_len
        topic = bytes(packet[2:pos])
        mid = 0
        if qos:
            (mid,) = _U16.unpack_from(packet, pos)
            pos += 2
        if self._protocol == paho.MQTTv5:
            length, shift = 0, 0
            while True:  # variable byte integer: length of the properties
                byte = packet[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            pos += length
        handler(mid, qos, topic, bytes(packet[pos:]))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages with one write for all their PUBACKs."""
        data = b"".join(_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids)
        if data:
            self._packet_queue(_PUBACK, data, 0, 1)


def make_client(
    settings: MqttSettings,
    *,
    client_id: str,
    persistent: bool,
    session_expiry_s: int = 0,
    receive_maximum: int | None = None,
    manual_ack: bool = False,
) -> tuple[FastClient, Properties | None]:
    """A configured (not yet connected) client and the CONNECT properties to use with it."""
    v5 = settings.protocol == "5"
    client = FastClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        clean_session=None if v5 else not persistent,
        manual_ack=manual_ack,
    )
    if settings.username is not None:
        password = read_secret(settings.password_file) if settings.password_file else None
        client.username_pw_set(settings.username, password)
    if settings.tls is not None:
        client.tls_set(
            ca_certs=str(settings.tls.ca_file),
            certfile=str(settings.tls.cert_file) if settings.tls.cert_file else None,
            keyfile=str(settings.tls.key_file) if settings.tls.key_file else None,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    props: Properties | None = None
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = session_expiry_s
        if receive_maximum is not None:
            props.ReceiveMaximum = receive_maximum
    return client, props
