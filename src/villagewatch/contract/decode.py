"""Decode one MQTT message into records, or into a dead letter that says why not.

Shared by every consumer of the stream (ingest, detect), so all of them accept
and refuse exactly the same messages. Nothing here raises on bad input: a
refusal is returned as a :class:`DeadLetter`, which the caller counts, keeps and
acknowledges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import orjson
from pydantic import BaseModel, ValidationError

from villagewatch.contract.control import StatusMessage
from villagewatch.contract.fastpath import FastItem, FastTelemetry, fast_telemetry
from villagewatch.contract.payloads import (
    LOT,
    DeviceKind,
    EventMessage,
    ItemBase,
    TelemetryMessage,
    event_model,
    telemetry_model,
    ts_to_ms,
)
from villagewatch.contract.records import (
    DeadLetter,
    Event,
    EventValue,
    Reading,
    RejectReason,
    boot_salt,
    point_time_ns,
)
from villagewatch.contract.topics import Channel, TopicError, parse_topic

__all__ = ["Decoded", "Decoder", "DeviceInfo", "TimePolicy", "decode_status"]

_ITEM_FIELDS = frozenset(ItemBase.model_fields)
_new_tuple = tuple.__new__
_EVENT_SKIP = _ITEM_FIELDS | {"type"}
_NOT_METRICS = _ITEM_FIELDS | {LOT}
_MS = 1_000_000


class DeviceInfo(NamedTuple):
    """What the village config says about a device."""

    grid: str
    kind: DeviceKind


class Decoded(NamedTuple):
    """The records one valid message carried."""

    readings: list[Reading]
    events: list[Event]
    rescued: int
    """How many items the centre gave their time: an implausible device time (stamped on
    receipt), or none (receipt less ``age_ms``)."""


class TimePolicy(NamedTuple):
    """Which device timestamps are plausible."""

    earliest_ms: int = 1_577_836_800_000  # 2020-01-01T00:00:00Z
    max_future_ms: int = 300_000
    """How far ahead of the receive time a device clock may run."""


class Decoder:
    """Validates topic and payload against the contract and the device registry."""

    def __init__(
        self,
        *,
        devices: Mapping[tuple[str, str], DeviceInfo],
        max_bytes: int = 262_144,
        time_policy: TimePolicy | None = None,
        fast_path: bool = True,
    ) -> None:
        self._devices = devices
        self._fast = fast_path
        self._max_bytes = max_bytes
        self._time = time_policy or TimePolicy()

    def decode(self, topic: str, payload: bytes, received_ns: int) -> Decoded | DeadLetter:
        """Decode a telemetry or event message received at ``received_ns``."""

        def reject(reason: RejectReason, detail: str) -> DeadLetter:
            return DeadLetter.of(received_ns, topic, reason, detail, payload)

        if len(payload) > self._max_bytes:
            return reject(RejectReason.TOO_LARGE, f"{len(payload)} bytes, limit {self._max_bytes}")
        parts = topic.split("/")
        info = None
        if len(parts) == 5 and parts[0] == "vw" and parts[1] == "v1":
            info = self._devices.get((parts[2], parts[3]))
        if info is None or parts[4] not in ("telemetry", "event"):
            return reject(*_topic_refusal(topic))
        village, device, channel = parts[2], parts[3], parts[4]
        if channel == "telemetry":
            if self._fast:
                fast = fast_telemetry(info.kind, device, payload)
                if fast is not None:
                    return self._readings(village, device, info, fast, received_ns)
            model: type[TelemetryMessage[ItemBase]] | type[EventMessage[ItemBase]] | None
            model = telemetry_model(info.kind)
        else:
            model = event_model(info.kind)
            if model is None:
                return reject(
                    RejectReason.UNEXPECTED_CHANNEL, f"{info.kind} devices send no events"
                )
        try:
            message = model.model_validate_json(payload)
        except ValidationError as exc:
            return reject(*_classify(exc))
        if message.device != device:
            return reject(
                RejectReason.DEVICE_MISMATCH,
                f"payload device {message.device!r} is not topic device {device!r}",
            )
        if channel == "event":
            return self._events(village, device, info, message, received_ns)
        return self._validated_readings(village, device, info, message, received_ns)

    def _validated_readings(
        self,
        village: str,
        device: str,
        info: DeviceInfo,
        message: TelemetryMessage[ItemBase] | EventMessage[ItemBase],
        received_ns: int,
    ) -> Decoded:
        """Readings from a message pydantic validated (any form the contract allows)."""
        received_ms = received_ns // _MS
        items: list[FastItem] = []
        centre = []  # indices of readings that carried no device time
        lots: list[tuple[int, str]] = []  # a camera's per-lot space counts: (index, lot)
        for i, item in enumerate(message.items()):
            if item.ts is None:
                centre.append(i)
            fields = item.__dict__
            if fields.get(LOT) is not None:
                lots.append((i, fields[LOT]))
            values = {
                k: float(v) for k, v in fields.items() if v is not None and k not in _NOT_METRICS
            }
            items.append((item.seq, self._device_ms(item, received_ms), item.clock, values))
        decoded = self._readings(
            village, device, info, FastTelemetry(message.boot, message.historical, items),
            received_ns,
        )  # fmt: skip
        for i in centre:
            decoded.readings[i] = decoded.readings[i]._replace(rescued=True)
        for i, lot in lots:
            decoded.readings[i] = decoded.readings[i]._replace(lot=lot)
        return decoded._replace(rescued=decoded.rescued + len(centre))

    def _device_ms(self, item: ItemBase, received_ms: int) -> int:
        """The item's time: its ``ts``, or the centre's (receive time less ``age_ms``, the
        receive time when that would be before the earliest plausible time)."""
        if item.ts is not None:
            return ts_to_ms(item.ts)
        centre_ms = received_ms - (item.age_ms or 0)
        return centre_ms if centre_ms >= self._time.earliest_ms else received_ms

    def _stamp(
        self, device_ms: int, received_ns: int, boot: str, seq: int, salt: int
    ) -> tuple[int, bool]:
        """Stored time and whether the device time was implausible (then receipt time is used)."""
        received_ms = received_ns // _MS
        if self._time.earliest_ms <= device_ms <= received_ms + self._time.max_future_ms:
            return point_time_ns(device_ms, boot, seq, salt), False
        return point_time_ns(received_ms, boot, seq, salt), True

    def _readings(
        self, village: str, device: str, info: DeviceInfo, message: FastTelemetry, received_ns: int
    ) -> Decoded:
        boot, historical, grid, kind = message.boot, message.historical, info.grid, info.kind.value
        salt = boot_salt(boot)
        earliest = self._time.earliest_ms
        latest = received_ns // _MS + self._time.max_future_ms
        readings = []
        rescued = 0
        for seq, ts_ms, clock, values in message.items:
            if earliest <= ts_ms <= latest:  # the common case, inline: this loop is hot
                time_ns, was_rescued = point_time_ns(ts_ms, boot, seq, salt), False
            else:
                time_ns, was_rescued = self._stamp(ts_ms, received_ns, boot, seq, salt)
                rescued += 1
            # tuple.__new__ skips the NamedTuple's Python-level __new__: a third of the cost
            readings.append(
                _new_tuple(Reading, (
                    village, grid, device, kind, time_ns, seq, boot, values, clock, historical,
                    was_rescued, ts_ms, "",
                ))
            )  # fmt: skip
        return Decoded(readings, [], rescued)

    def _events(
        self,
        village: str,
        device: str,
        info: DeviceInfo,
        message: TelemetryMessage[ItemBase] | EventMessage[ItemBase],
        received_ns: int,
    ) -> Decoded:
        boot, historical, grid, kind = message.boot, message.historical, info.grid, info.kind.value
        events = []
        rescued = 0
        for item in message.items():
            device_ms = self._device_ms(item, received_ns // _MS)
            time_ns, was_rescued = self._stamp(
                device_ms, received_ns, boot, item.seq, boot_salt(boot)
            )
            was_rescued = was_rescued or item.ts is None  # the centre gave it its time
            rescued += was_rescued
            attrs: dict[str, EventValue] = {
                name: _attr(value)
                for name, value in item.__dict__.items()
                if value is not None and name not in _EVENT_SKIP
            }
            events.append(
                Event(
                    village, grid, device, kind, time_ns, item.seq, boot, item.__dict__["type"],
                    attrs, item.clock, historical, was_rescued, device_ms,
                )
            )  # fmt: skip
        return Decoded([], events, rescued)


def _attr(value: object) -> EventValue:
    """An event field as a store keeps it: a box as ``"x,y,w,h"``, a list of objects as
    compact JSON (a store's event fields are scalars)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, list):
        return orjson.dumps(
            [v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v
             for v in value]
        ).decode()  # fmt: skip
    assert isinstance(value, str | float | int | bool)
    return value


def decode_status(
    topic: str, payload: bytes, received_ns: int
) -> tuple[str, StatusMessage] | DeadLetter:
    """An edge agent's ``…/status`` message (birth, or its last will): (village, message)."""

    def reject(reason: RejectReason, detail: str) -> DeadLetter:
        return DeadLetter.of(received_ns, topic, reason, detail, payload)

    try:
        parsed = parse_topic(topic)
    except TopicError as exc:
        return reject(RejectReason.BAD_TOPIC, str(exc))
    if parsed.channel is not Channel.STATUS:
        return reject(RejectReason.UNEXPECTED_CHANNEL, f"{parsed.channel} is not a status topic")
    if len(payload) > 65_536:
        return reject(RejectReason.TOO_LARGE, f"{len(payload)} bytes, limit 65536")
    try:
        message = StatusMessage.model_validate_json(payload)
    except ValidationError as exc:
        return reject(*_classify(exc))
    if message.device != parsed.device:
        return reject(
            RejectReason.DEVICE_MISMATCH,
            f"payload device {message.device!r} is not topic device {parsed.device!r}",
        )
    return parsed.village, message


def _topic_refusal(topic: str) -> tuple[RejectReason, str]:
    """Why a topic that is not a known device's telemetry or event topic is refused."""
    try:
        parsed = parse_topic(topic)
    except TopicError as exc:
        return RejectReason.BAD_TOPIC, str(exc)
    if parsed.channel not in (Channel.TELEMETRY, Channel.EVENT):
        return RejectReason.UNEXPECTED_CHANNEL, f"{parsed.channel} is not ingested as data"
    return (
        RejectReason.UNKNOWN_DEVICE,
        f"no device {parsed.device!r} in village {parsed.village!r}",
    )


def _classify(exc: ValidationError) -> tuple[RejectReason, str]:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    detail = f"{loc or 'payload'}: {first['msg']}{more}"
    if first["type"] == "json_invalid":
        return RejectReason.BAD_JSON, first["msg"]
    if first["loc"][:1] == ("v",):
        return RejectReason.UNSUPPORTED_VERSION, detail
    return RejectReason.INVALID_PAYLOAD, detail
