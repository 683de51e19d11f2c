"""Typed, versioned JSON payloads of the MQTT contract (``"v": 1``).

Every telemetry and event message names its device (it must match the topic)
and the device's boot id, and carries either one item (``reading`` /
``event``) or a batch (``readings`` / ``events``). Every item has its own
per-boot sequence number ``seq`` — (device, boot, seq) is the dedupe key — and
the quality of the clock that made it. Its time is the device time ``ts``; a
device that cannot trust its clock sends ``age_ms`` instead (how long before
sending the item was made, by its monotonic clock), or neither when it does not
know; the centre then stamps the item receive time less ``age_ms``. Backlog that
an edge agent replays after an outage is sent with ``"historical": true``.

Which fields a reading or event may carry depends on the device's kind, taken
from the village config, never from the payload. Validation is strict: no
string-to-number coercion, no NaN or infinity, no unknown fields, and every
number within generous physical bounds (a water level within a kilometre of
its gauge datum, not ``1e308``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from villagewatch.contract.identifiers import Identifier

__all__ = [
    "ALL_METRICS",
    "LOT",
    "MAX_AGE_MS",
    "MAX_EVIDENCE_BYTES",
    "MAX_ITEMS",
    "MAX_OBJECTS",
    "CallButtonEvent",
    "CallButtonReading",
    "CameraEvent",
    "CameraObject",
    "CameraReading",
    "Clock",
    "DeviceKind",
    "EventMessage",
    "ItemBase",
    "RainGaugeReading",
    "SmartLockEvent",
    "SmartLockReading",
    "TelemetryMessage",
    "Timestamp",
    "WaterLevelReading",
    "event_model",
    "metric_names",
    "telemetry_model",
    "ts_to_ms",
]

MAX_EVIDENCE_BYTES = 200_000
"""The largest evidence picture (JPEG) of the contract, 200 KB: the edge encodes within it
and the ingester refuses a larger one as ``too_large``."""

MAX_ITEMS = 1000
"""Most readings or events one message may carry."""

MAX_OBJECTS = 32
"""Most objects one camera event may name (``objects``)."""

_WIRE = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

_SAFE_INT = 2**53
Timestamp = Annotated[int, Field(ge=-_SAFE_INT, le=_SAFE_INT)] | AwareDatetime
"""Device time: integer milliseconds since the Unix epoch, or an RFC 3339 string with offset."""

Battery = Annotated[float, Field(ge=0, le=100, description="Battery charge, percent.")]
Fraction = Annotated[float, Field(ge=0, le=1)]

# Physical bounds: generous, so no real device is refused, yet no number a store or a detector
# chokes on (1e308 cm of water overflows every sum) is accepted.
_YEAR_S = 366 * 86400
MAX_AGE_MS = _YEAR_S * 1000
"""Oldest item an ``age_ms`` may describe: a year (an agent sends an older one without time)."""
LevelCm = Annotated[float, Field(ge=-100_000, le=100_000)]  # within 1 km of the gauge datum
Seconds = Annotated[float, Field(ge=0, le=_YEAR_S)]
Spaces = Annotated[int, Field(ge=0, le=100_000)]


def ts_to_ms(ts: int | datetime) -> int:
    """Milliseconds since the epoch of a validated :data:`Timestamp`."""
    if isinstance(ts, int):
        return ts
    # whole seconds and milliseconds apart: float seconds would round the milliseconds
    return int(ts.replace(microsecond=0).timestamp()) * 1000 + ts.microsecond // 1000


class Clock(StrEnum):
    """How far the device trusts its clock when it stamped the item."""

    SYNCED = "synced"
    UNSYNCED = "unsynced"


class DeviceKind(StrEnum):
    """Kinds of device the contract knows; a device's kind comes from the village config."""

    WATER_LEVEL = "water_level"
    RAIN_GAUGE = "rain_gauge"
    SMART_LOCK = "smart_lock"
    CAMERA = "camera"
    CALL_BUTTON = "call_button"


class ItemBase(BaseModel):
    """Fields every reading and every event carries."""

    model_config = _WIRE

    seq: int = Field(ge=0, lt=2**63, description="Per-boot sequence number; dedupe key.")
    ts: Timestamp | None = Field(
        None,
        description="Device time: epoch milliseconds or RFC 3339. Absent when the device cannot "
        "trust its clock: then `age_ms`, or neither (the centre uses its receive time).",
    )
    age_ms: int | None = Field(
        None,
        ge=0,
        le=MAX_AGE_MS,
        description="Instead of `ts`: how long before sending the item was made, in ms by the "
        "device's monotonic clock; the centre stamps it receive time less this.",
    )
    clock: Clock = Field(description="Whether the device clock was synced when stamping.")

    @model_validator(mode="after")
    def _one_time(self) -> ItemBase:
        if self.ts is not None and self.age_ms is not None:
            raise ValueError("an item carries 'ts' or 'age_ms', not both")
        return self


# --- telemetry ---------------------------------------------------------------


class WaterLevelReading(ItemBase):
    """A water-level gauge reading."""

    level_cm: LevelCm = Field(
        description="Water level above the gauge datum, cm (within ±100,000)."
    )
    battery: Battery | None = None


class RainGaugeReading(ItemBase):
    """Rain since the gauge's previous reading."""

    mm: float = Field(
        ge=0, le=2000, description="Rainfall since the previous reading, mm (at most 2,000)."
    )
    battery: Battery | None = None


class SmartLockReading(ItemBase):
    """Periodic state of a smart lock."""

    battery: Battery


class CallButtonReading(ItemBase):
    """Periodic state of an SOS call button."""

    battery: Battery


class CameraReading(ItemBase):
    """Periodic camera measurements; at least one field is present."""

    fps: float | None = Field(
        None, ge=0, le=1000, description="Frames processed per second (at most 1,000)."
    )
    level_cm: LevelCm | None = Field(
        None, description="Water level read off a staff gauge, cm (within ±100,000)."
    )
    free_spaces: Spaces | None = Field(
        None, description="Free parking spaces in view (at most 100,000)."
    )
    occupied_spaces: Spaces | None = Field(
        None, description="Occupied parking spaces (at most 100,000)."
    )
    lot: Identifier | None = Field(
        None,
        description="The parking lot `free_spaces` / `occupied_spaces` count (an id of the "
        "camera file's `lots`); absent: every space the camera watches.",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> CameraReading:
        if all(getattr(self, name) is None for name in _CAMERA_METRICS):
            raise ValueError("a camera reading needs at least one of " + ", ".join(_CAMERA_METRICS))
        if self.lot is not None and (
            self.free_spaces is None or self.occupied_spaces is None or self.fps is not None
            or self.level_cm is not None
        ):  # fmt: skip
            raise ValueError("a reading with a lot carries free_spaces and occupied_spaces only")
        return self


_CAMERA_METRICS = ("fps", "level_cm", "free_spaces", "occupied_spaces")

# --- events ------------------------------------------------------------------


class SmartLockEvent(ItemBase):
    """Something a smart lock reports."""

    type: Literal[
        "unlock",
        "lock",
        "wrong_code",
        "tamper",
        "forced_open",
        "door_ajar",
        "jammed",
        "low_battery",
    ]
    credential: Identifier | None = Field(
        None, description="Credential used (card, code slot, fingerprint id)."
    )
    method: (
        Literal["code", "card", "fingerprint", "face", "app", "key", "remote", "unknown"] | None
    ) = None
    duration_s: Seconds | None = Field(
        None, description="door_ajar: seconds open so far (at most a year)."
    )
    battery: Battery | None = None


Label = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""What a model says an object is, in our words (``person``, ``vehicle``, ``garbage``, …)."""
_EDGE = 1e-3  # rounding slack for a box that ends at the picture's edge


class CameraObject(BaseModel):
    """One object of a camera event: where it is and, when a model said, what it is."""

    model_config = _WIRE

    box: tuple[Fraction, Fraction, Fraction, Fraction] = Field(
        description="x, y, width, height as fractions of the frame; inside it, not empty."
    )
    label: Label | None = Field(None, description="Lower case, at most 32 characters.")
    score: Fraction | None = Field(None, description="The model's score for `label`, 0-1.")

    @model_validator(mode="after")
    def _in_the_picture(self) -> CameraObject:
        x, y, w, h = self.box
        if w <= 0 or h <= 0 or x + w > 1 + _EDGE or y + h > 1 + _EDGE:
            raise ValueError(f"object box {list(self.box)} is empty or outside the picture")
        return self


class CameraEvent(ItemBase):
    """A camera detection (or its end) decided at the edge. ``box`` is the object's (with
    several, the largest); ``objects`` lists each one."""

    type: Literal["detection", "cleared"]
    detection: Literal["illegal_parking", "exposed_garbage", "street_vending", "river_debris"]
    zone: Identifier
    box: tuple[Fraction, Fraction, Fraction, Fraction] | None = Field(
        None, description="x, y, width, height as fractions of the frame."
    )
    score: Fraction | None = None
    dwell_s: Seconds | None = Field(
        None, description="Seconds the object has stayed in the zone (at most a year)."
    )
    covered_fraction: Fraction | None = Field(None, description="river_debris: water covered.")
    evidence: Identifier | None = Field(None, description="Event id of the evidence JPEG.")
    label: Label | None = Field(None, description="What a model says the object of `box` is.")
    label_score: Fraction | None = Field(None, description="The model's score for `label`.")
    objects: list[CameraObject] | None = Field(
        None, min_length=1, max_length=MAX_OBJECTS, description="Each object, largest first."
    )


class CallButtonEvent(ItemBase):
    """An SOS press."""

    type: Literal["sos"]


# --- envelopes ---------------------------------------------------------------

R = TypeVar("R", bound=ItemBase)


class _Envelope(BaseModel):
    model_config = _WIRE

    v: Literal[1] = Field(description="Contract version.")
    device: Identifier = Field(description="Sending device; must match the topic.")
    boot: Identifier = Field(description="Changes at every boot of the device.")
    historical: bool = Field(False, description="Replayed backlog rather than live data.")


class TelemetryMessage(_Envelope, Generic[R]):
    """``…/telemetry``: one reading or a batch of readings."""

    reading: R | None = None
    readings: list[R] | None = Field(None, min_length=1, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _exactly_one(self) -> TelemetryMessage[R]:
        if (self.reading is None) == (self.readings is None):
            raise ValueError("exactly one of 'reading' and 'readings' is required")
        return self

    def items(self) -> list[R]:
        """The readings, whichever form carried them."""
        return [self.reading] if self.reading is not None else list(self.readings or ())


class EventMessage(_Envelope, Generic[R]):
    """``…/event``: one event or a batch of events."""

    event: R | None = None
    events: list[R] | None = Field(None, min_length=1, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _exactly_one(self) -> EventMessage[R]:
        if (self.event is None) == (self.events is None):
            raise ValueError("exactly one of 'event' and 'events' is required")
        return self

    def items(self) -> list[R]:
        """The events, whichever form carried them."""
        return [self.event] if self.event is not None else list(self.events or ())


_TELEMETRY: dict[DeviceKind, type[ItemBase]] = {
    DeviceKind.WATER_LEVEL: WaterLevelReading,
    DeviceKind.RAIN_GAUGE: RainGaugeReading,
    DeviceKind.SMART_LOCK: SmartLockReading,
    DeviceKind.CAMERA: CameraReading,
    DeviceKind.CALL_BUTTON: CallButtonReading,
}
_EVENTS: dict[DeviceKind, type[ItemBase]] = {
    DeviceKind.SMART_LOCK: SmartLockEvent,
    DeviceKind.CAMERA: CameraEvent,
    DeviceKind.CALL_BUTTON: CallButtonEvent,
}
_TELEMETRY_MESSAGES = {k: TelemetryMessage[m] for k, m in _TELEMETRY.items()}  # type: ignore[valid-type]
_EVENT_MESSAGES = {k: EventMessage[m] for k, m in _EVENTS.items()}  # type: ignore[valid-type]
_BASE_FIELDS = frozenset(ItemBase.model_fields)


def telemetry_model(kind: DeviceKind) -> type[TelemetryMessage[ItemBase]]:
    """The telemetry message model for devices of ``kind``."""
    return _TELEMETRY_MESSAGES[kind]


def event_model(kind: DeviceKind) -> type[EventMessage[ItemBase]] | None:
    """The event message model for devices of ``kind``; None when the kind has no events."""
    return _EVENT_MESSAGES.get(kind)


LOT = "lot"
"""The one non-numeric field of a reading: the parking lot a camera's space counts are of
(kept apart from the metrics, as the stores' ``lot`` tag or column)."""


def metric_names(kind: DeviceKind) -> tuple[str, ...]:
    """Names of the numeric metrics a reading of ``kind`` may carry."""
    return tuple(name for name in _TELEMETRY[kind].model_fields if name not in _BASE_FIELDS | {LOT})


ALL_METRICS: tuple[str, ...] = tuple(dict.fromkeys(m for k in DeviceKind for m in metric_names(k)))
"""Every metric name any kind may carry, each once."""
