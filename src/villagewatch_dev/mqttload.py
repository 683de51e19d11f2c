"""A lean MQTT 3.1.1 QoS 1 publisher for benchmarks and load tests: pipelined PUBLISH packets, a
bounded window.

paho's publish path manages about 4,500 messages/s on this machine, too slow to
load an ingester; this writes pre-framed packets in chunks and counts PUBACKs.
Loopback only, bounded by the message count it is given.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable

__all__ = ["publish", "remaining_length"]


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length integer (a packet's remaining length)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _connect_packet(client_id: str) -> bytes:
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid
    return b"\x10" + remaining_length(len(body)) + body


def _publish_packet(topic: bytes, payload: bytes, mid: int) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + payload
    return b"\x32" + remaining_length(len(body)) + body


async def publish(
    port: int,
    count: int,
    make: Callable[[int], tuple[bytes, bytes]],
    *,
    window: int = 10_000,
    chunk: int = 500,
    client_id: str = "bench-load",
    rate: float | None = None,
) -> float:
    """Publish ``count`` messages ``make(i) -> (topic, payload)``; return seconds until all acked.

    ``rate`` paces the publishing (messages/s); without it, as fast as the broker acks.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_connect_packet(client_id))
    connack = await reader.readexactly(4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"broker refused the connection: {connack!r}")
    acked = 0
    room = asyncio.Event()

    async def read_acks() -> None:
        nonlocal acked
        buf = b""
        while acked < count:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("broker closed the connection")
            buf += data
            usable = len(buf) - len(buf) % 4  # PUBACK is 4 bytes in MQTT 3.1.1
            for i in range(0, usable, 4):
                if buf[i] != 0x40:
                    raise ConnectionError(f"unexpected packet {buf[i]:#x}")
            acked += usable // 4
            buf = buf[usable:]
            room.set()

    acks = asyncio.create_task(read_acks())
    started = time.perf_counter()
    sent = 0
    if rate is not None:
        chunk = max(1, min(chunk, int(rate / 100)))  # ~100 writes a second
    while sent < count:
        if rate is not None and (ahead := started + sent / rate - time.perf_counter()) > 0:
            await asyncio.sleep(ahead)
        while sent - acked >= window:
            room.clear()
            await room.wait()
        n = min(chunk, count - sent, window - (sent - acked))
        writer.write(
            b"".join(_publish_packet(*make(sent + i), (sent + i) % 65535 + 1) for i in range(n))
        )
        sent += n
        await writer.drain()
    await acks
    elapsed = time.perf_counter() - started
    writer.write(b"\xe0\x00")  # DISCONNECT
    await writer.drain()
    writer.close()
    return elapsed
