"""What a decoded message becomes: the records every store and detector consumes.

Readings and events are ``NamedTuple``\\ s rather than frozen dataclasses because
the ingester builds one per reading at up to ~10⁵/s, and a tuple is several
times cheaper to make; they are just as immutable.

Stored time
    A record's ``time_ns`` is its device time truncated to the millisecond, and
    its last six digits carry ``(seq + crc32(boot)) mod 10⁶``. Two readings of
    one device in the same millisecond therefore never overwrite each other in
    InfluxDB (whose point identity is series + time), while a redelivered
    reading lands on exactly the same point. When the device time was
    implausible the receive time takes its place (``rescued``), and
    ``device_ts_ms`` keeps what the device said. An item that came without a
    device time (``age_ms``, or none) is ``rescued`` too: its time is the
    centre's, receive time less ``age_ms``, and ``device_ts_ms`` is that time.
    Detectors go by the stored time (``at_ms``), never by ``device_ts_ms``: one
    reading stamped a year ahead must not make every later reading look out of
    order.
"""

from __future__ import annotations

import zlib
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from villagewatch.contract.payloads import Clock
from villagewatch.contract.topics import Channel, topic_for

__all__ = [
    "DeadLetter",
    "DedupeKey",
    "Event",
    "EventValue",
    "Reading",
    "RejectReason",
    "boot_salt",
    "point_time_ns",
]


class RejectReason(StrEnum):
    """Why a message was dead-lettered; a bounded set, used as a metric label."""

    TOO_LARGE = "too_large"
    BAD_TOPIC = "bad_topic"
    BAD_JSON = "bad_json"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_PAYLOAD = "invalid_payload"
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_DEVICE = "unknown_device"
    UNEXPECTED_CHANNEL = "unexpected_channel"
    STORE_REJECTED = "store_rejected"
    NO_SPACE = "no_space"
    """An evidence picture that could not be kept without eating the space readings need."""
    INTERNAL_ERROR = "internal_error"
    """A bug of ours while decoding; the payload is kept so it can be replayed once fixed."""


DedupeKey = tuple[str, str, str, int]
"""(village, device, boot, seq): identifies one reading or event for its whole life."""

EventValue = str | float | int | bool


class Reading(NamedTuple):
    """One reading of one device, ready to store."""

    village: str
    grid: str
    device: str
    kind: str
    time_ns: int
    seq: int
    boot: str
    values: dict[str, float]
    clock: Clock
    historical: bool
    rescued: bool
    device_ts_ms: int
    lot: str = ""
    """The parking lot a camera's ``free_spaces`` / ``occupied_spaces`` are of; empty for
    every other reading (and for a camera's count of all its spaces)."""

    @property
    def key(self) -> DedupeKey:
        """The dedupe key of this reading."""
        return (self.village, self.device, self.boot, self.seq)

    @property
    def at_ms(self) -> int:
        """When it happened as far as anyone downstream knows: the stored time in ms."""
        return self.time_ns // 1_000_000


class Event(NamedTuple):
    """One discrete event (lock, camera detection, SOS), ready to store."""

    village: str
    grid: str
    device: str
    kind: str
    time_ns: int
    seq: int
    boot: str
    type: str
    attrs: dict[str, EventValue]
    clock: Clock
    historical: bool
    rescued: bool
    device_ts_ms: int

    @property
    def key(self) -> DedupeKey:
        """The dedupe key of this event."""
        return (self.village, self.device, self.boot, self.seq)

    @property
    def at_ms(self) -> int:
        """When it happened as far as anyone downstream knows: the stored time in ms."""
        return self.time_ns // 1_000_000


class DeadLetter(NamedTuple):
    """A message (or a stored point) that was refused, kept with the reason."""

    received_ns: int
    topic: str
    reason: RejectReason
    detail: str
    payload: bytes

    @classmethod
    def of(
        cls, received_ns: int, topic: str, reason: RejectReason, detail: str, payload: bytes
    ) -> DeadLetter:
        """Build a dead letter, bounding every part: topic 256 chars, detail 300, payload 512 B."""
        return cls(received_ns, topic[:256], reason, detail[:300], bytes(payload[:512]))

    @classmethod
    def of_record(
        cls,
        record: Reading | Event,
        received_ns: int,
        reason: RejectReason,
        detail: str,
        payload: bytes,
    ) -> DeadLetter:
        """The dead letter of one decoded reading or event that a store refused or failed on,
        under the topic it came on (its record: the message may have carried more)."""
        channel = Channel.TELEMETRY if isinstance(record, Reading) else Channel.EVENT
        topic = topic_for(record.village, record.device, channel)
        return cls.of(received_ns, topic, reason, detail, payload)


@lru_cache(maxsize=65536)
def boot_salt(boot: str) -> int:
    """The part of the dedupe digits that comes from the boot id."""
    return zlib.crc32(boot.encode())


def point_time_ns(ms: int, boot: str, seq: int, salt: int | None = None) -> int:
    """Stored time of an item: ``ms`` at millisecond precision plus the dedupe digits.

    ``salt`` is ``boot_salt(boot)``, passed by callers stamping many items of one boot.
    """
    return ms * 1_000_000 + (seq + (boot_salt(boot) if salt is None else salt)) % 1_000_000
