"""One camera's pipeline: a frame in; contract events, telemetry and evidence out.

Per frame: privacy masks first (to the small grey frame that everything looks at, and
to every snapshot), the background pair, the objects that stay, the rules of the zones.
At their own intervals: the gauge level and the parking spaces, on the full-size frame.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.backgrounds import Backgrounds
from villagewatch.edge.vision.config import CameraVision, ZoneKind
from villagewatch.edge.vision.events import event_fields, frame_boxes
from villagewatch.edge.vision.evidence import evidence_id, evidence_jpeg
from villagewatch.edge.vision.lots import lot_telemetry
from villagewatch.edge.vision.objects import Tracker
from villagewatch.edge.vision.rules import Finding, Rules
from villagewatch.edge.vision.scene import Scene, blackout, draw_gauge, draw_overlay

if TYPE_CHECKING:
    from villagewatch.edge.vision.gauge import GaugeReader, GaugeReading
    from villagewatch.edge.vision.labels import Labeller
    from villagewatch.edge.vision.occupancy import SpaceOccupancy, SpaceState
    from villagewatch.edge.vision.stillwatch import StillWatch

__all__ = ["CameraPipeline", "EvidenceSnapshot", "Output"]

log = logging.getLogger(__name__)
U8 = npt.NDArray[np.uint8]
_FPS_EVERY_S = 60.0
_WARMING_LOOK_EVERY_S = 60.0  # single-frame looks while a video camera's backgrounds learn


@dataclass(frozen=True, slots=True)
class EvidenceSnapshot:
    """A snapshot for the outbox's evidence lane, referenced by an event's ``evidence``."""

    id: str
    jpeg: bytes


@dataclass(slots=True)
class Output:
    """What one frame produced."""

    events: list[dict[str, Any]] = field(default_factory=list)
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[EvidenceSnapshot] = field(default_factory=list)
    spaces: dict[str, bool] = field(default_factory=dict)
    """Occupied per space id, when the spaces were looked at in this frame."""


class CameraPipeline:
    """Frames of one camera through masks, backgrounds, objects, rules, gauge and spaces."""

    def __init__(self, cam: CameraVision, *, references: Sequence[U8] = ()) -> None:
        self.cam = cam
        self._references = list(references)
        self._gauge: GaugeReader | None = None
        if cam.gauge is not None:
            from villagewatch.edge.vision.gauge import GaugeReader

            self._gauge = GaugeReader(cam.gauge.target_cm)
        self.scene: Scene | None = None
        self._bg = Backgrounds(cam.motion)
        self._tracker: Tracker | None = None
        self._rules: Rules | None = None
        self._occupancy: SpaceOccupancy | None = None
        self._stills: StillWatch | None = None
        self._warm_until = self._next_look = -math.inf
        self.labeller: Labeller | None = None
        if cam.model is not None:  # model stage: loaded once, kept across frame-size changes
            from villagewatch.edge.vision.labels import Labeller
            from villagewatch.edge.vision.model import shared_model

            self.labeller = Labeller(shared_model(cam.model))
        self._next_gauge = self._next_parking = -math.inf
        self._fps_since: float | None = None
        self._frames = 0
        self.last_level_reason = ""
        self.last_spaces_reason = ""

    # --- per frame ----------------------------------------------------------------------------

    def process(self, frame_bgr: U8, t: float) -> Output:
        """Look at one frame taken at ``t`` (epoch seconds)."""
        scene = self._scene_for(frame_bgr)
        out = Output()
        gray = np.asarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY), np.uint8)
        small = np.asarray(
            cv2.resize(gray, (scene.small_w, scene.small_h), interpolation=cv2.INTER_AREA), np.uint8
        )
        if scene.visible_small is not None:
            small = np.asarray(cv2.bitwise_and(small, scene.visible_small), np.uint8)
        assert self._tracker is not None
        assert self._rules is not None
        self._look_at_stills(frame_bgr, t, scene, out)
        hold = self._tracker.hold_mask(small.shape[:2]) if self._tracker.objects else None
        _, changed = self._bg.update(small, t, hold)
        if self._bg.short is not None and self._bg.long is not None and not self.cam.stills:
            _, gone = self._tracker.update(changed, self._bg.short, self._bg.long_scaled(), t)
            for o in gone:
                if o.forgotten:
                    self._bg.absorb(o.box)
            minute = int((t / 60 + self.cam.utc_offset_h * 60) % 1440)
            objects = list(self._tracker.objects.values())
            labels = None
            if self.labeller is not None:  # the model stage, on the regions of these objects
                self.labeller.update(frame_bgr, objects, scene.scale, t, scene.visible)
                labels = self.labeller.labels
            findings = self._rules.objects(objects, gone, t, minute, labels)
            findings += self._rules.waters(changed, t)
            for f in findings:
                self._report(f, frame_bgr, scene, out)
        if self._gauge is not None and t >= self._next_gauge:
            self._next_gauge = t + (self.cam.gauge.interval_s if self.cam.gauge else 60)
            self._read_gauge(gray, out)
        if self._occupancy is not None and t >= self._next_parking:
            interval = self.cam.parking.interval_s if self.cam.parking else 60
            self._next_parking = t + interval
            self._look_at_spaces(frame_bgr, out)
        self._count_frame(t, out)
        return out

    def snapshot(self, frame_bgr: U8) -> tuple[U8, GaugeReading | None]:
        """The frame as a maintainer checks a camera: masks black, zones and masks drawn, and
        for a gauge camera the bow-ties and the waterline where the reader sees them (with
        the reading, so that its level or reason can be shown too)."""
        picture = draw_overlay(frame_bgr, self._scene_for(frame_bgr), label=self.cam.camera)
        if self.labeller is not None:  # the model's boxes over the whole (masked) frame
            self._draw_detections(picture, frame_bgr)
        if self._gauge is None or self.cam.gauge is None:
            return picture, None
        gray = np.asarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY), np.uint8)
        reading = self.read_level(gray)
        draw_gauge(picture, reading, self.cam.gauge.target_cm)
        return picture, reading

    def _draw_detections(self, picture: U8, frame_bgr: U8) -> None:
        from villagewatch.edge.vision.labels import tiles

        assert self.labeller is not None
        scene = self._scene_for(frame_bgr)
        h, w = frame_bgr.shape[:2]
        found = self.labeller.model.detect(blackout(frame_bgr, scene.visible), tiles((w, h)))
        for d in found:
            x, y, bw, bh = d.box
            cv2.rectangle(picture, (x, y), (x + bw, y + bh), (0, 200, 255), 2)
            cv2.putText(
                picture, f"{d.kind} {d.score:.2f}", (x, max(12, y - 4)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 255), 1,
            )  # fmt: skip

    # --- pieces -------------------------------------------------------------------------------

    def _scene_for(self, frame: U8) -> Scene:
        """The scene for frames of this one's size, rebuilt (and the state with it) if it
        differs from the last."""
        h, w = frame.shape[:2]
        if self.scene is None or self.scene.size != (w, h):
            return self._rebuild(w, h)
        return self.scene

    def _rebuild(self, w: int, h: int) -> Scene:
        if self.scene is not None:
            log.warning("camera %s: frame size is now %dx%d; starting over", self.cam.camera, w, h)
        scene = Scene(self.cam, w, h)
        self.scene = scene
        self._bg = Backgrounds(self.cam.motion)
        small_area = scene.small_w * scene.small_h
        self._rules = Rules(scene.zones, small_area, self.cam.motion.grace_s)
        self._tracker = Tracker(self.cam.motion, self._rules.min_area())
        spaces = scene.of_kind(ZoneKind.SPACE)
        self._occupancy = None
        if spaces and self._references:
            from villagewatch.edge.vision.occupancy import SpaceOccupancy

            refs = [blackout(r, scene.visible) for r in self._references]
            threshold = self.cam.parking.threshold if self.cam.parking else None
            self._occupancy = SpaceOccupancy(
                {a.zone.id: [(float(x), float(y)) for x, y in a.polygon] for a in spaces},
                refs,
                threshold=threshold,
            )
        elif spaces:
            log.error("camera %s: space zones but no frames of the empty lot", self.cam.camera)
        self._stills = self._still_watch(scene)
        return scene

    # --- cameras without history: single-frame detectors ---------------------------------------

    def _still_watch(self, scene: Scene) -> StillWatch | None:
        """Single-frame looks for a still camera (every picture) and, when asked, for a video
        camera while its backgrounds learn (the objects already there, which they would take
        for background)."""
        from villagewatch.edge.vision.stillobjects import KIND_OF_ZONE, StillObjects
        from villagewatch.edge.vision.stillwatch import StillWatch

        if not (self.cam.stills or self.cam.look_at_start) or not scene.of_kind(*KIND_OF_ZONE):
            return None
        self._warm_until = self._next_look = -math.inf
        detect = StillObjects(self.cam, scene, self._references)
        return StillWatch(detect, warming=not self.cam.stills)

    def _look_at_stills(self, frame_bgr: U8, t: float, scene: Scene, out: Output) -> None:
        if self._stills is None:
            return
        if not self.cam.stills:
            if self._warm_until == -math.inf:
                self._warm_until = t + self.cam.motion.long_s
            if t >= self._warm_until or t < self._next_look:
                return
            self._next_look = t + _WARMING_LOOK_EVERY_S
        minute = int((t / 60 + self.cam.utc_offset_h * 60) % 1440)
        recognise = None  # the model stage, asked about the objects about to be raised
        if self.labeller is not None:
            recognise = partial(self.labeller.around, frame_bgr, visible=scene.visible)
        for f in self._stills.look(frame_bgr, t, minute, recognise):
            self._report(f, frame_bgr, scene, out)

    def _report(self, f: Finding, frame_bgr: U8, scene: Scene, out: Output) -> None:
        event = event_fields(f, scene)
        if not f.cleared:
            label = f"{f.detection.replace('_', ' ')} {f.zone.zone.id} {f.dwell_s / 60:.0f} min"
            if "label" in event:
                label += f" {event['label']} {event.get('label_score', '')}".rstrip()
            picture = evidence_jpeg(frame_bgr, scene, f.zone, frame_boxes(f, scene), label)
            ev = EvidenceSnapshot(evidence_id(), picture)
            out.evidence.append(ev)
            event["evidence"] = ev.id
        out.events.append(event)

    def read_level(self, gray: U8) -> GaugeReading:
        """The gauge of this camera read off a full-size grey frame (privacy masks applied)."""
        if self._gauge is None:
            raise ValueError(f"camera {self.cam.camera} has no gauge settings")
        scene = self._scene_for(gray)
        visible = blackout(gray, scene.visible)
        areas = scene.of_kind(ZoneKind.GAUGE)
        left = top = 0
        if areas:  # look only around the gauge: faster, and no clutter elsewhere
            x0, y0 = np.floor(areas[0].polygon.min(axis=0)).astype(int)
            x1, y1 = np.ceil(areas[0].polygon.max(axis=0)).astype(int)
            left, top = max(0, int(x0)), max(0, int(y0))
            visible = visible[top:y1, left:x1]
        reading = self._gauge.read(np.ascontiguousarray(visible))
        if reading.world_to_image is None or not (left or top):
            return reading
        shift = np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
        return replace(reading, world_to_image=shift @ reading.world_to_image)

    def spaces(self, frame_bgr: U8, *, learn: bool = False) -> dict[str, SpaceState]:
        """Occupied or free per space of a full-size frame (privacy masks applied); with
        ``learn``, spaces confidently free refresh their empty references."""
        scene = self._scene_for(frame_bgr)
        if self._occupancy is None:
            raise ValueError(
                f"camera {self.cam.camera} has no space zones or no frames of the empty lot"
            )
        return self._occupancy.classify(blackout(frame_bgr, scene.visible), learn=learn)

    def _read_gauge(self, gray: U8, out: Output) -> None:
        reading = self.read_level(gray)
        if reading.level_cm is None:
            if reading.reason != self.last_level_reason:
                log.warning("camera %s: no gauge level: %s", self.cam.camera, reading.reason)
            self.last_level_reason = reading.reason
            return
        self.last_level_reason = ""
        out.telemetry.append({"level_cm": round(reading.level_cm, 2)})

    def _look_at_spaces(self, frame_bgr: U8, out: Output) -> None:
        from villagewatch.edge.vision.occupancy import SpacesUnseen

        try:
            states = self.spaces(
                frame_bgr, learn=bool(self.cam.parking and self.cam.parking.refresh)
            )
        except SpacesUnseen as exc:  # a blind camera reports no spaces, not a free lot
            if not self.last_spaces_reason:  # once when it goes blind, not every look
                log.warning("camera %s: %s", self.cam.camera, exc)
            self.last_spaces_reason = str(exc)
            return
        self.last_spaces_reason = ""
        out.spaces = {k: s.occupied for k, s in states.items()}
        occupied = sum(out.spaces.values())
        out.telemetry.append(
            {"free_spaces": len(out.spaces) - occupied, "occupied_spaces": occupied}
        )
        out.telemetry += lot_telemetry(self.cam.lots, out.spaces)

    def _count_frame(self, t: float, out: Output) -> None:
        if self._fps_since is None:
            self._fps_since = t
        self._frames += 1
        span = t - self._fps_since
        if span >= _FPS_EVERY_S:
            out.telemetry.append({"fps": round(self._frames / span, 2)})
            self._fps_since, self._frames = t, 0
