"""paho-mqtt with a receive path fit for an ingester (see AsyncLink for running it in asyncio).

paho-mqtt 2.2 handles the protocol for us — connect, keepalive, subscribe,
persistent sessions, TLS — but its receive path reads each packet
with three or more ``recv`` calls after a ``select``, parses MQTT 5 properties
with ~30 string operations each, builds two locks per message, and sends every
PUBACK as its own write. Measured on this project's 2-core machine, draining a
persistent session that way managed ~7,300 messages/s.

:class:`FastClient` keeps all of paho but the hot path. It overrides or reads private
members of that exact release — every one is named at the pin in ``pyproject.toml``;
``tests/integration/test_mqtt_client.py`` exercises each against Mosquitto, and runs the
same tests on the stock-paho fallback (``fast=False``) that uses none of them:

* ``loop_read`` reads up to 256 KiB with one ``recv`` and frames every
  complete packet in it itself, keeping an incomplete tail for the next read;
* a PUBLISH (QoS 0 or 1) is sliced into topic, packet id and payload and
  handed to :attr:`FastClient.on_fast_message` (its retain flag, if set, to
  :attr:`FastClient.on_retained`) — no ``MQTTMessage``, and the
  MQTT 5 publish properties are skipped (an ingester needs none; topic aliases
  towards us stay off because we never raise Topic Alias Maximum);
* every other packet (CONNACK, SUBACK, PINGRESP, DISCONNECT, QoS 2) goes to
  paho's own ``_packet_handle`` exactly as paho would have framed it;
* ``_create_socket`` clears the buffer for each new connection;
* ``_handle_pubackcomp`` reads a PUBACK whose reason code MQTT 5 does not list for
  PUBACK (Mosquitto 2.0 answers a publish over its ``message_size_limit`` with
  0x95, *packet too large*) as the refusal it is: paho would call the packet
  malformed and drop the connection, and a sender would resend the same message
  forever.

:meth:`FastClient.ack_many` sends a whole batch of PUBACKs as one write.
Together these drain the same session at ~100,000 messages/s.
"""

from __future__ import annotations

import logging
import ssl
import struct
from collections.abc import Callable, Iterable
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.client import time_func
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from villagewatch.config import MqttSettings, read_secret

__all__ = ["FastClient", "FastMessageHandler", "make_client"]

log = logging.getLogger(__name__)

FastMessageHandler = Callable[[int, int, bytes, bytes], None]
"""(packet id, qos, topic bytes, payload) → None; runs on paho's network thread."""

_PUBLISH = 0x30
_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")
_READ_SIZE = 1 << 18


class FastClient(paho.Client):
    """A paho client whose receive path is built for throughput (see module doc).

    ``fast=False`` is the stock-paho fallback: none of the private hooks is used, messages
    reach :attr:`on_fast_message` through paho's own ``on_message`` and :meth:`ack_many`
    acknowledges one by one with paho's ``ack`` — slower, and a PUBACK with a reason code
    MQTT 5 does not list for PUBACK drops the connection as paho does, but it works on a
    paho release whose internals changed (the same integration test runs both ways).
    """

    on_fast_message: FastMessageHandler | None = None
    on_retained: Callable[[bytes, bytes], None] | None = None
    """Called with the topic and payload of a PUBLISH that carries the retain flag, before
    :attr:`on_fast_message` (MQTT 5 subscriptions with Retain As Published show it on live
    messages too)."""
    _fast_rest: bytes = b""

    def __init__(self, *args: Any, fast: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast = fast
        if not fast:
            self.on_message = self._stock_message

    def _stock_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        """The fallback's delivery: paho's message handed on as the fast path would."""
        handler = self.on_fast_message
        if handler is None:
            return
        topic, payload = msg.topic.encode(), bytes(msg.payload)
        try:
            if msg.retain and self.on_retained is not None:
                self.on_retained(topic, payload)
            handler(msg.mid if msg.qos else 0, msg.qos, topic, payload)
        except Exception:  # supervisor: the network thread must survive a handler bug
            log.exception("Message handler failed; the message stays unacknowledged")

    def _create_socket(self) -> Any:
        self._fast_rest = b""  # a new connection starts with an empty buffer
        return super()._create_socket()

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        if not self.fast:
            return super()._handle_pubackcomp(cmd)
        try:
            return super()._handle_pubackcomp(cmd)
        except MalformedPacket:
            packet = self._in_packet["packet"]
            if cmd != "PUBACK" or self._protocol != paho.MQTTv5 or len(packet) < 3:
                raise
            try:  # DISCONNECT's table names every failure code a broker may send
                reason = ReasonCode(PacketTypes.DISCONNECT, identifier=packet[2])
            except (KeyError, ValueError):
                raise MalformedPacket(f"PUBACK reason code {packet[2]:#04x}") from None
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, reason, Properties(PacketTypes.PUBACK))  # type: ignore[no-untyped-call]
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if not self.fast:
            return super().loop_read(max_packets)
        sock = self._sock
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        try:
            data = sock.recv(_READ_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        except ssl.SSLWantWriteError:
            self._call_socket_register_write()
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        except OSError as exc:
            log.info("MQTT connection lost while reading: %s", exc)
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if not data:
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        with self._msgtime_mutex:
            self._last_bytes_received = time_func()
        rc = self._handle_buffer(self._fast_rest + data if self._fast_rest else data)
        return self._loop_rc_handle(rc) if rc else rc

    def _handle_buffer(self, buf: bytes) -> MQTTErrorCode:
        """Handle every complete packet in ``buf``; keep the incomplete tail for the next read."""
        pos, size = 0, len(buf)
        while size - pos >= 2:
            header = buf[pos]
            try:
                remaining = _varint(buf, pos + 1, size)
            except MalformedPacket:
                return MQTTErrorCode.MQTT_ERR_PROTOCOL
            if remaining is None:
                break
            length, start = remaining
            end = start + length
            if end > size:
                break
            if (
                header & 0xF0 == _PUBLISH
                and self.on_fast_message is not None
                and header & 0x06 != 0x04
            ):
                rc = self._fast_publish(header, buf, start, end)
            else:
                rc = self._paho_packet(header, buf[start:end])
            if rc or self._sock is None:
                return rc
            pos = end
        self._fast_rest = buf[pos:]
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _fast_publish(self, header: int, buf: bytes, start: int, end: int) -> MQTTErrorCode:
        qos = (header & 0x06) >> 1
        if end - start < 2:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        pos = start + 2 + ((buf[start] << 8) | buf[start + 1])
        topic = buf[start + 2 : pos]
        mid = 0
        if qos:
            mid = (buf[pos] << 8) | buf[pos + 1] if pos + 2 <= end else 0
            pos += 2
        if self._protocol == paho.MQTTv5:
            try:
                properties = _varint(buf, pos, end)  # the publish properties: skipped
            except MalformedPacket:
                properties = None
            if properties is None:
                return MQTTErrorCode.MQTT_ERR_PROTOCOL
            length, pos = properties
            pos += length
        if pos > end or (qos and not mid):
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        handler = self.on_fast_message
        assert handler is not None
        try:
            payload = buf[pos:end]
            if header & 0x01 and self.on_retained is not None:
                self.on_retained(topic, payload)
            handler(mid, qos, topic, payload)
        except Exception:  # supervisor: the network thread must survive a handler bug
            log.exception("Message handler failed; the message stays unacknowledged")
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _paho_packet(self, header: int, body: bytes) -> MQTTErrorCode:
        """Let paho handle a packet that is not a plain PUBLISH (CONNACK, SUBACK, PINGRESP, …)."""
        self._in_packet = _packet_state(header, body)
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            log.warning("Malformed MQTT packet from the broker: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = _packet_state(0, b"")
        return rc

    def ack_many(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages with one write for all their PUBACKs."""
        if not self.fast:
            for mid in mids:
                self.ack(mid, 1)
            return
        data = b"".join(_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids)
        if data:
            self._packet_queue(_PUBACK, data, 0, 1)


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """The MQTT variable byte integer at ``pos``: (value, position after it), None if cut off."""
    value, shift = 0, 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise MalformedPacket("variable byte integer longer than 4 bytes")
    return None


def _packet_state(command: int, body: bytes) -> Any:
    """paho's record of the packet being read, as its handlers expect it."""
    return {
        "command": command,
        "have_remaining": 1 if command else 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": len(body),
        "packet": bytearray(body),
        "to_process": 0,
        "pos": 0,
    }


def make_client(
    settings: MqttSettings,
    *,
    client_id: str,
    persistent: bool,
    session_expiry_s: int = 0,
    receive_maximum: int | None = None,
    manual_ack: bool = False,
    fast: bool = True,
) -> tuple[FastClient, Properties | None]:
    """A configured (not yet connected) client and the CONNECT properties to use with it
    (``fast=False``: the stock-paho fallback, see :class:`FastClient`).

    It never reconnects by itself: :class:`~villagewatch.mqtt.AsyncLink` or the edge link
    does, waiting what :class:`~villagewatch.runtime.backoff.Backoff` says. It signs in as
    ``settings.login(client_id)`` says: with ``mqtt.credentials_dir``, as its client id (the
    shipped broker binds client ids to user names, so no other credential can take this
    client's session over). Building it reads the password and TLS files.
    """
    v5 = settings.protocol == "5"
    client = FastClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        clean_session=None if v5 else not persistent,
        manual_ack=manual_ack,
        # reconnecting is the owner's, with the one retry policy (runtime.backoff): were a
        # client ever run by paho's own loop, it would stop at a lost connection rather than
        # retry on paho's schedule
        reconnect_on_failure=False,
        fast=fast,
    )
    login = settings.login(client_id)
    if login is not None:
        username, password_file = login
        client.username_pw_set(username, read_secret(password_file) if password_file else None)
    if settings.tls is not None:
        client.tls_set(
            ca_certs=str(settings.tls.ca_file),
            certfile=str(settings.tls.cert_file) if settings.tls.cert_file else None,
            keyfile=str(settings.tls.key_file) if settings.tls.key_file else None,
        )
    props: Properties | None = None
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = session_expiry_s
        if receive_maximum is not None:
            props.ReceiveMaximum = receive_maximum
    return client, props
