"""A camera's vision config (``config/cameras/*.yaml``): zones, privacy masks, what to detect.

Polygons are in ``coordinates: pixel`` of a ``frame`` of the given size, or in
``coordinates: normalised`` (0-1 of the width and height); either way they are
scaled to whatever size the camera delivers. Times of day (``hours``,
``collection``) are ``"HH:MM-HH:MM"`` in the camera's local time
(``utc_offset_h``) and may wrap midnight (``"22:00-06:00"``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_serializer, model_validator

from villagewatch.config.paths import ConfigPath, PathContext
from villagewatch.config.yamlfile import read_yaml
from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.vision.capturetime import CaptureSettings
from villagewatch.edge.vision.lots import Lot, lot_problems
from villagewatch.edge.vision.model_settings import ModelSettings

__all__ = [
    "CameraVision",
    "GaugeSettings",
    "Mask",
    "MotionSettings",
    "ParkingSettings",
    "TimeWindow",
    "Zone",
    "ZoneKind",
    "load_camera",
    "outside_the_picture",
]

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")

Point = tuple[float, float]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=64)]


class ZoneKind(StrEnum):
    """What a zone is for; it decides which detector watches it."""

    NO_PARKING = "no_parking"
    """Fire lanes, tactile paths, junctions: a vehicle-sized object staying → illegal_parking."""
    BIN_AREA = "bin_area"
    """Around the bins: an object staying outside collection times → exposed_garbage."""
    ROAD = "road"
    """A road or square: objects staying within ``hours`` → street_vending."""
    WATER = "water"
    """River surface: floating objects drifting or piling up → river_debris."""
    GAUGE = "gauge"
    """A staff gauge with a bow-tie target: the water level → ``level_cm`` telemetry."""
    SPACE = "space"
    """One marked parking space: occupied/free → ``free_spaces``/``occupied_spaces``."""


class TimeWindow(StrictModel):
    """``"HH:MM-HH:MM"`` local time; end before start wraps midnight; ``24:00`` ends the day."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """``"07:30-22:00"`` → a window; ValueError names the text otherwise."""
        m = _WINDOW.match(text)
        if m is None:
            raise ValueError(f"{text!r} is not a time window like '07:30-22:00'")
        start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
        if end > 24 * 60:
            raise ValueError(f"{text!r}: the end is after 24:00")
        if start == end:
            raise ValueError(f"{text!r}: start and end are the same time")
        return cls(start_min=start, end_min=end)

    @model_serializer
    def _as_written(self) -> str:
        # dumped as written, so a dumped view (the remote config, a zones version) reads back
        def hhmm(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"

        return f"{hhmm(self.start_min)}-{hhmm(self.end_min)}"

    def contains(self, minute_of_day: int) -> bool:
        """Whether the minute of the day (0-1439) falls inside the window."""
        if self.start_min < self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min


def _windows(value: object) -> object:
    if isinstance(value, list):
        return [TimeWindow.parse(v) if isinstance(v, str) else v for v in value]
    return value


class Zone(StrictModel):
    """A polygon of the picture with a kind and the kind's settings."""

    id: Identifier = Field(description="Zone id, sent with every event of the zone.")
    kind: ZoneKind = Field(description="What the zone is for (which detector watches it).")
    polygon: Polygon = Field(description="Corners, in the camera's `coordinates`.")
    dwell_s: float = Field(
        300, gt=0, description="How long an object must stay before it is an alert."
    )
    hours: list[TimeWindow] = Field(
        default_factory=list,
        description="road: `HH:MM-HH:MM` windows when vending is an offence (empty: always).",
    )
    collection: list[TimeWindow] = Field(
        default_factory=list,
        description="bin_area: `HH:MM-HH:MM` collection times (things beside the bins expected).",
    )
    near_px: float = Field(
        0, ge=0, description="bin_area: how far outside the polygon still counts as near (px)."
    )
    min_object: float = Field(
        0.002,
        gt=0,
        lt=1,
        description="Smallest object that counts, as a fraction of the frame area "
        "(no_parking: set it to a vehicle's size where the zone is).",
    )
    covered_min: float = Field(
        0.05, gt=0, le=1, description="water: covered fraction of the zone that is debris."
    )

    _hours = field_validator("hours", "collection", mode="before")(_windows)


class Mask(StrictModel):
    """A privacy mask: blacked out of every frame before anything looks at it."""

    id: Identifier = Field(description="Mask id (for the snapshot legend).")
    polygon: Polygon = Field(description="Corners, in the camera's `coordinates`.")


def outside_the_picture(zones: list[Zone], masks: list[Mask]) -> str | None:
    """What is wrong with zones and masks in normalised coordinates (a corner outside 0-1, or
    an id twice); None when nothing is."""
    ids = [z.id for z in zones]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        return f"zone ids must be unique: {', '.join(dup)}"
    for where, poly in [(f"zone {z.id}", z.polygon) for z in zones] + [
        (f"mask {m.id}", m.polygon) for m in masks
    ]:
        for x, y in poly:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                return (
                    f"{where}: corner ({x:g}, {y:g}) is outside the picture (0..1, 0..1 in "
                    "normalised coordinates)"
                )
    return None


class MotionSettings(StrictModel):
    """The background models that find objects that stay."""

    width: int = Field(320, ge=64, le=1280, description="Processing width (px); height follows.")
    short_s: float = Field(
        10, gt=0, description="Short-term background time constant: how fast a new object joins."
    )
    long_s: float = Field(
        1800, gt=0, description="Long-term background time constant: lighting the scene drifts."
    )
    threshold: float = Field(
        25, gt=0, lt=255, description="Grey-level difference that counts as changed."
    )
    same_ncc: float = Field(
        0.5,
        gt=-1,
        lt=1,
        description="Crop correlation above which an object is still the same thing, and "
        "above which a changed area that correlates with the background is only lighting.",
    )
    grace_s: float = Field(
        20, ge=0, description="An object unseen for this long (occlusion, noise) has left."
    )
    forget_s: float = Field(
        86400, gt=0, description="An object staying this long becomes background (cleared)."
    )

    @model_validator(mode="after")
    def _order(self) -> MotionSettings:
        if self.long_s <= self.short_s:
            raise ValueError("long_s must be longer than short_s")
        return self


class GaugeSettings(StrictModel):
    """The bow-tie target on the staff gauge (GaugeCam style)."""

    target_cm: list[Point] = Field(
        min_length=2,
        description="Bow-tie centres on the target, cm; their y is the water-level datum.",
    )
    interval_s: float = Field(60, gt=0, description="How often a level is read and sent.")


class ParkingSettings(StrictModel):
    """Marked spaces (zones of kind `space`) compared with frames of the empty lot."""

    references: ConfigPath | None = Field(
        None,
        description="Folder of frames of the empty lot (relative to this file); "
        "`vision eval --references` overrides it.",
    )
    interval_s: float = Field(60, gt=0, description="How often free/occupied is sent.")
    threshold: float | None = Field(
        None, gt=0, description="Occupancy threshold override: odds of a car (default 1)."
    )
    refresh: bool = Field(
        False,
        description="Learn each space's look when it is confidently free (bounded, never a "
        "car the references see); off by default (docs/vision.md).",
    )


class CameraVision(StrictModel):
    """One camera's view: where things are and what to look for."""

    camera: Identifier = Field(description="A name for this view (logs, snapshots).")
    coordinates: str = Field(
        "pixel", pattern="^(pixel|normalised)$", description="`pixel` (of `frame`) or `normalised`."
    )
    frame: tuple[int, int] = Field(
        (1280, 720), description="Width and height the pixel coordinates refer to."
    )
    utc_offset_h: float = Field(
        8, ge=-12, le=14, description="Local time of the camera, for `hours` and `collection`."
    )
    masks: list[Mask] = Field(default_factory=list, description="Privacy masks, applied first.")
    zones: list[Zone] = Field(default_factory=list, description="The zones watched.")
    motion: MotionSettings = Field(
        default_factory=MotionSettings, description="The background models (see docs/vision.md)."
    )
    stills: bool = Field(
        False,
        description="The camera sends still pictures minutes apart, not video: each picture "
        "is searched on its own (single-frame detectors) and an object seen at the same place "
        "in two pictures in a row is reported, in place of the background models' objects "
        "(docs/vision.md).",
    )
    look_at_start: bool = Field(
        False,
        description="Video camera: for its first `motion.long_s`, also look at a picture a "
        "minute on its own, so that objects already lying in the zones when it starts (which "
        "the backgrounds learn as background) are reported after their `dwell_s`. Off by "
        "default: fixtures in a zone (the bins themselves) would be reported at every start.",
    )
    gauge: GaugeSettings | None = Field(None, description="Needed by a `gauge` zone.")
    parking: ParkingSettings | None = Field(None, description="Settings of `space` zones.")
    lots: list[Lot] = Field(
        default_factory=list,
        description="Parking lots: `space` zones counted together and sent per lot "
        "(empty: one count of all spaces).",
    )
    model: ModelSettings | None = Field(
        None, description="A detection model that tells what objects are (docs/vision.md)."
    )
    capture: CaptureSettings = Field(
        default_factory=CaptureSettings,
        description="When stills were taken: a time in their file names, how far the camera's "
        "clock may be off (see docs/vision.md).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CameraVision:
        ids = [z.id for z in self.zones]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"zone ids must be unique: {', '.join(dup)}")
        limit = (1.0, 1.0) if self.coordinates == "normalised" else self.frame
        for where, poly in [(f"zone {z.id}", z.polygon) for z in self.zones] + [
            (f"mask {m.id}", m.polygon) for m in self.masks
        ]:
            for x, y in poly:
                if not (0 <= x <= limit[0] and 0 <= y <= limit[1]):
                    raise ValueError(
                        f"{where}: corner ({x:g}, {y:g}) is outside the frame "
                        f"(0..{limit[0]:g}, 0..{limit[1]:g} in {self.coordinates} coordinates)"
                    )
        kinds = {z.kind for z in self.zones}
        if ZoneKind.GAUGE in kinds and self.gauge is None:
            raise ValueError("a gauge zone needs the `gauge` settings (target_cm)")
        problems = lot_problems(self.lots, [z.id for z in self.zones_of(ZoneKind.SPACE)])
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def scaled(self, polygon: list[Point], width: int, height: int) -> list[Point]:
        """A polygon of this config in pixels of a ``width`` x ``height`` frame."""
        fx, fy = (
            (width, height)
            if self.coordinates == "normalised"
            else (width / self.frame[0], height / self.frame[1])
        )
        return [(x * fx, y * fy) for x, y in polygon]

    def with_zones(self, *, zones: list[Zone] | None, masks: list[Mask] | None) -> CameraVision:
        """This view with ``zones`` and ``masks`` (normalised; None: keep this view's) in its
        place, in this view's coordinates; ValueError says why the result is not a valid view
        (a gauge zone without `gauge` settings, …)."""

        def mine(poly: list[Point]) -> list[Point]:
            if self.coordinates == "normalised":
                return poly
            return [(x * self.frame[0], y * self.frame[1]) for x, y in poly]

        update = self.model_dump()
        if zones is not None:
            update["zones"] = [{**z.model_dump(), "polygon": mine(z.polygon)} for z in zones]
        if masks is not None:
            update["masks"] = [{**m.model_dump(), "polygon": mine(m.polygon)} for m in masks]
        try:
            return CameraVision.model_validate(update)
        except ValidationError as exc:
            msg = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise ValueError(
                f"the zones from the centre do not fit camera {self.camera}: {msg}"
            ) from None

    def zones_of(self, kind: ZoneKind) -> list[Zone]:
        """The zones of one kind, in config order."""
        return [z for z in self.zones if z.kind is kind]


def load_camera(path: Path) -> CameraVision:
    """Read and validate a camera file; relative ``parking.references`` are relative to it.

    Raises :class:`~villagewatch.errors.ConfigError` listing every problem with its line.
    """
    return read_yaml(path).validate(CameraVision, context=PathContext(path.parent))
