"""A camera config made concrete for one frame size: zone and mask rasters, the privacy mask.

Built once when the first frame shows the camera's real size (and again if it changes),
so that per frame nothing but array operations remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.config import CameraVision, Zone, ZoneKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from villagewatch.edge.vision.gauge import GaugeReading

__all__ = ["Scene", "ZoneArea", "blackout", "draw_gauge", "draw_overlay"]

U8 = npt.NDArray[np.uint8]


def _raster(points: npt.NDArray[np.float64], width: int, height: int) -> U8:
    out = np.zeros((height, width), np.uint8)
    cv2.fillPoly(out, [np.round(points).astype(np.int32)], 255)
    return out


@dataclass(frozen=True, slots=True)
class ZoneArea:
    """One zone at frame and processing size."""

    zone: Zone
    polygon: npt.NDArray[np.float64]
    """Corners in pixels of the full frame."""
    small: npt.NDArray[np.bool_]
    """Inside the zone, at processing size (``near_px`` grown for bin areas)."""
    small_pixels: int


class Scene:
    """Zones and privacy masks of ``cam`` for frames of ``width`` x ``height``."""

    def __init__(self, cam: CameraVision, width: int, height: int) -> None:
        self.cam = cam
        self.size = (width, height)
        self.small_w = min(cam.motion.width, width)
        self.small_h = max(1, round(height * self.small_w / width))
        self.scale = self.small_w / width
        masks = [np.array(cam.scaled(m.polygon, width, height)) for m in cam.masks]
        self.mask_polygons = masks
        self.visible: U8 | None = None
        """255 where the picture may be seen, 0 under a privacy mask (None: no masks)."""
        self.visible_small: U8 | None = None
        if masks:
            hidden = np.zeros((height, width), np.uint8)
            cv2.fillPoly(hidden, [np.round(m).astype(np.int32) for m in masks], 255)
            self.visible = np.asarray(cv2.bitwise_not(hidden), np.uint8)
            small = cv2.resize(hidden, (self.small_w, self.small_h), interpolation=cv2.INTER_AREA)
            # a processing pixel that is even partly masked counts as masked
            self.visible_small = np.where(small > 0, 0, 255).astype(np.uint8)
        self.zones: list[ZoneArea] = []
        for z in cam.zones:
            poly = np.array(cam.scaled(z.polygon, width, height), np.float64)
            small = _raster(poly * self.scale, self.small_w, self.small_h)
            grow = round(z.near_px * self.scale) if z.kind is ZoneKind.BIN_AREA else 0
            if grow > 0:
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
                small = cv2.dilate(small, kernel)
            if self.visible_small is not None:
                small = cv2.bitwise_and(small, self.visible_small)
            inside = small > 0
            self.zones.append(ZoneArea(z, poly, inside, int(inside.sum())))

    def of_kind(self, *kinds: ZoneKind) -> list[ZoneArea]:
        """Zone areas of the given kinds."""
        return [a for a in self.zones if a.zone.kind in kinds]


def blackout(frame: U8, visible: U8 | None) -> U8:
    """``frame`` with the privacy-masked pixels black (a new array; the input is untouched)."""
    if visible is None:
        return frame.copy()
    if frame.ndim == 3:
        return np.asarray(cv2.bitwise_and(frame, frame, mask=visible), np.uint8)
    return np.asarray(cv2.bitwise_and(frame, visible), np.uint8)


def draw_overlay(
    frame_bgr: U8,
    scene: Scene,
    *,
    zones: list[ZoneArea] | None = None,
    boxes: list[tuple[int, int, int, int]] = (),  # type: ignore[assignment]
    label: str = "",
) -> U8:
    """A privacy-masked copy of the frame with zone outlines, mask hatching, boxes and a label."""
    out = blackout(frame_bgr, scene.visible)
    if out.ndim == 2:
        out = np.asarray(cv2.cvtColor(out, cv2.COLOR_GRAY2BGR), np.uint8)
    for m in scene.mask_polygons:
        cv2.polylines(out, [np.round(m).astype(np.int32)], True, (128, 128, 128), 1)
    for area in scene.zones if zones is None else zones:
        pts = np.round(area.polygon).astype(np.int32)
        cv2.polylines(out, [pts], True, (0, 200, 255), 2)
        x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
        cv2.putText(
            out, area.zone.id, (x + 3, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
            (0, 200, 255), 1, cv2.LINE_AA,
        )  # fmt: skip
    for x, y, w, h in boxes:
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 0, 255), 2)
    if label:
        cv2.putText(
            out, label, (8, out.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255),
            2, cv2.LINE_AA,
        )  # fmt: skip
    return out


def draw_gauge(
    picture: U8, reading: GaugeReading, target_cm: Sequence[tuple[float, float]]
) -> None:
    """Draw on ``picture`` (BGR, in place) the bow-tie centres and the waterline where the
    reader put them, with the level; or, without a level, the reason, in red."""
    if reading.world_to_image is not None:
        world = np.array(target_cm, np.float64).reshape(-1, 1, 2)
        centres = cv2.perspectiveTransform(world, reading.world_to_image).reshape(-1, 2)
        for x, y in centres:
            cv2.drawMarker(
                picture, (round(float(x)), round(float(y))), (0, 255, 0), cv2.MARKER_CROSS, 14, 2
            )
    if reading.level_cm is None or reading.world_to_image is None:
        text = f"gauge: {reading.reason}"
        cv2.putText(
            picture, text[:90], (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 255), 2,
            cv2.LINE_AA,
        )  # fmt: skip
        return
    xs = [x for x, _ in target_cm]
    margin = 0.15 * (max(xs) - min(xs))
    line = np.array([[[min(xs) - margin, reading.level_cm], [max(xs) + margin, reading.level_cm]]])
    (a, b) = cv2.perspectiveTransform(line, reading.world_to_image).reshape(2, 2)
    p0, p1 = (round(float(a[0])), round(float(a[1]))), (round(float(b[0])), round(float(b[1])))
    cv2.line(picture, p0, p1, (255, 128, 0), 2, cv2.LINE_AA)
    cv2.putText(
        picture, f"{reading.level_cm:.1f} cm", (p1[0] + 6, p1[1] + 5), cv2.FONT_HERSHEY_SIMPLEX,
        0.6, (255, 128, 0), 2, cv2.LINE_AA,
    )  # fmt: skip
