"""Objects in one picture, with no history: floating things on water, things lying on ground.

For cameras whose backgrounds know nothing yet (the first frames of a new camera) or never
will (a still camera that sends a JPEG every few minutes). Each ``water``, ``bin_area``,
``road`` and ``no_parking`` zone is compared with its own usual surface:

* the **surface** is what most of the zone looks like around each point: a wide median of
  the zone's colour (CIE Lab) — wide enough that an object is a minority of every window,
  smooth enough to follow the slow changes of a real surface (the sky's reflection
  darkening across a river, a sunlit half of a road). When the camera has pictures of the
  empty scene (``parking.references``), their median is the surface instead;
* a pixel is **foreign** when its colour differs from the surface by more than the zone's
  own spread of differences (median + ``_SPREAD`` robust deviations) and by at least
  ``_MIN_CONTRAST``: ripples, asphalt grain and glints raise the spread, so they do not pass;
* foreign pixels are closed into blobs; a blob is an **object** when it is big enough
  (``_MIN_AREA`` of the frame), not a hairline or a long even stripe (paint, kerbs, cracks,
  ripple crests) and not most of the zone (a cloud shadow, a lighting change). A shadow —
  the surface darker but its colour kept — is not foreign either.

One box per object, in full-frame pixels, scored by how far it stands out.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.config import CameraVision, ZoneKind
from villagewatch.edge.vision.detections import Detection
from villagewatch.edge.vision.scene import Scene, ZoneArea, blackout

__all__ = ["KIND_OF_ZONE", "StillObjects"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

KIND_OF_ZONE = {
    ZoneKind.WATER: "debris",
    ZoneKind.BIN_AREA: "garbage",
    ZoneKind.ROAD: "object",
    ZoneKind.NO_PARKING: "object",
}
"""The detection kind a single-frame detector gives what it finds in each zone kind."""

_SPREAD = 6.0  # robust deviations above the median difference that make a pixel foreign
_BODY = 0.5  # share of an object's median difference that its box keeps
_LOW = 0.5  # share of the thresholds down to which an object's clear part is grown
_MIN_CONTRAST = 12.0  # Lab units: below this nothing is an object, however calm the surface
_MIN_AREA = 0.00012  # of the frame: smaller blobs are noise (a bottle at 20 m is ~0.0002)
_MIN_THICK_PX = 2.5  # half-thickness (px): painted lines, cracks and ripple crests are thinner
_MAX_ELONGATION = 15.0  # length over thickness beyond which an even stripe is paint or a kerb
_MAX_ZONE_SHARE = 0.4  # a blob over this share of the zone is lighting, not an object
_EDGE_PX = 3  # the zone's rim is left out: the bank, a kerb, the polygon's own rounding
_WINDOW_SHARE = 0.35  # the surface median's window, as a share of the zone's shorter side
_WORK = 4  # the surface is estimated at 1/_WORK size (a wide median at full size is slow)
_SHADOW_RATIO = 0.5  # a shadow keeps more than this share of the surface's lightness …
_SHADOW_CHROMA = 6.0  # … and changes its colour (a, b) by less than this
_DENOISE_SIGMA = 1.0  # px: smoothing before colours are compared
_L_WEIGHT = 0.7  # lightness counts less than colour: glare and shade change it most


class StillObjects:
    """The single-frame detectors of one camera's zones, for frames of one size."""

    def __init__(self, cam: CameraVision, scene: Scene, references: Sequence[U8] = ()) -> None:
        self.cam = cam
        self.scene = scene
        self.areas = [a for a in scene.zones if a.zone.kind in KIND_OF_ZONE]
        w, h = scene.size
        self._min_px = max(12, round(_MIN_AREA * w * h))
        self._reference: F32 | None = None
        refs = [r for r in references if r.shape[:2] == (h, w)]
        if refs:
            self._reference = _lab(np.median(np.stack(refs), axis=0).astype(np.uint8))
        self._masks = {a.zone.id: self._zone_mask(a) for a in self.areas}

    def __call__(self, frame_bgr: U8) -> list[Detection]:
        """The objects of every watched zone of one full-size BGR frame (privacy masks
        applied first), best first."""
        return sorted((d for _, d in self.by_zone(frame_bgr)), key=lambda d: -d.score)

    def by_zone(self, frame_bgr: U8) -> list[tuple[ZoneArea, Detection]]:
        """The objects of one full-size BGR frame with the zone each was found in."""
        if frame_bgr.shape[:2] != (self.scene.size[1], self.scene.size[0]):
            raise ValueError(
                f"camera {self.cam.camera}: a {frame_bgr.shape[1]}x{frame_bgr.shape[0]} frame "
                f"for detectors built for {self.scene.size[0]}x{self.scene.size[1]}"
            )
        if frame_bgr.ndim == 2:
            frame_bgr = np.asarray(cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR), np.uint8)
        frame = blackout(frame_bgr, self.scene.visible)
        return [(area, d) for area in self.areas for d in self.zone(frame, area)]

    def zone(self, frame_bgr: U8, area: ZoneArea) -> list[Detection]:
        """The objects in one zone of a privacy-masked full-size frame."""
        inside, (x0, y0) = self._masks[area.zone.id]
        if inside is None:
            return []
        hh, ww = inside.shape
        # sensor noise and JPEG blocks are per pixel; the objects are several pixels wide
        crop = frame_bgr[y0 : y0 + hh, x0 : x0 + ww]
        lab = _lab(np.asarray(cv2.GaussianBlur(crop, (0, 0), _DENOISE_SIGMA), np.uint8))
        if self._reference is not None and area.zone.kind is not ZoneKind.WATER:
            surface = self._reference[y0 : y0 + hh, x0 : x0 + ww].copy()
            # the references were taken in other light: match the zone's overall level
            surface[..., 0] += float(
                np.median(lab[..., 0][inside]) - np.median(surface[..., 0][inside])
            )
        else:
            surface = _surface(lab, inside)
        diff = lab - surface
        chroma = np.sqrt(diff[..., 1] ** 2 + diff[..., 2] ** 2)
        ratio = lab[..., 0] / np.maximum(surface[..., 0], 1.0)
        # a shadow darkens the surface and keeps its colour; a dark object is far darker
        shadow = (ratio > _SHADOW_RATIO) & (ratio < 1.0) & (chroma < _SHADOW_CHROMA)
        diff[..., 0] *= _L_WEIGHT
        dist = np.sqrt((diff**2).sum(axis=2))
        dist[shadow] = 0.0
        values = dist[inside]
        med = float(np.median(values))
        mad = float(np.median(np.abs(values - med))) * 1.4826
        threshold = max(_MIN_CONTRAST, med + _SPREAD * mad)
        # hysteresis: an object is where the difference is clear, grown over where it is
        # fainter (a box's shaded side, a bag's folds, the soft rim), so that it is one box
        low = max(_LOW * _MIN_CONTRAST, med + _LOW * _SPREAD * mad)
        strong = (dist > threshold) & inside
        weak = ((dist > low) & inside).astype(np.uint8)
        weak = cv2.morphologyEx(weak, cv2.MORPH_OPEN, _K3)
        weak = cv2.morphologyEx(weak, cv2.MORPH_CLOSE, _K5) & inside.astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
        zone_px = int(inside.sum())
        out = []
        for i in range(1, n):
            bx, by, bw, bh, px = (int(v) for v in stats[i])
            if px < self._min_px or px > _MAX_ZONE_SHARE * zone_px:
                continue
            blob = (labels[by : by + bh, bx : bx + bw] == i).astype(np.uint8)
            core = strong[by : by + bh, bx : bx + bw] & (blob > 0)
            if core.sum() < self._min_px / 2:
                continue
            thick = float(cv2.distanceTransform(np.pad(blob, 1), cv2.DIST_L2, 3).max())
            if thick < _MIN_THICK_PX or px / (2 * thick) ** 2 > _MAX_ELONGATION:
                continue  # a hairline, or a long even stripe: paint, a kerb, a crack
            here = dist[by : by + bh, bx : bx + bw]
            strength = float(here[core].mean()) / threshold
            score = 1.0 - float(np.exp(-(strength - 0.5) * 1.5)) * 0.9
            # the box holds what differs at least _BODY of the object's typical difference:
            # not the faint halo that blur and JPEG's coarse colour smear around it
            body = (blob > 0) & (here >= _BODY * float(np.median(here[core])))
            ys, xs = np.nonzero(body)
            box = (
                x0 + bx + int(xs.min()), y0 + by + int(ys.min()),
                int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1,
            )  # fmt: skip
            out.append(Detection(KIND_OF_ZONE[area.zone.kind], box, round(min(1.0, score), 4)))
        return out

    def _zone_mask(self, area: ZoneArea) -> tuple[npt.NDArray[np.bool_] | None, tuple[int, int]]:
        """The zone, rim left out, in its bounding rectangle of the full frame, and where that
        rectangle is."""
        w, h = self.scene.size
        x0, y0 = np.floor(area.polygon.min(axis=0)).astype(int)
        x1, y1 = np.ceil(area.polygon.max(axis=0)).astype(int)
        x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None, (0, 0)
        raster = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round(area.polygon - (x0, y0)).astype(np.int32)
        cv2.fillPoly(raster, [pts], 255)
        if self.scene.visible is not None:
            raster &= self.scene.visible[y0:y1, x0:x1]
        inside = cv2.erode(raster, _K3, iterations=_EDGE_PX) > 0
        if inside.sum() < 4 * self._min_px:
            return None, (0, 0)
        return inside, (x0, y0)


_K3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_K5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def _lab(bgr: U8) -> F32:
    return np.asarray(cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab), np.float32)


def _surface(lab: F32, inside: npt.NDArray[np.bool_]) -> F32:
    """The zone's usual surface around each pixel: a wide median of the zone's own colour,
    with what lies outside the zone filled in with the zone's median so that the bank or the
    kerb does not leak in."""
    hh, ww = inside.shape
    sw, sh = max(1, ww // _WORK), max(1, hh // _WORK)
    small = cv2.resize(lab, (sw, sh), interpolation=cv2.INTER_AREA)
    small_in = cv2.resize(inside.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    if not small_in.any():
        small_in = np.ones_like(small_in)
    k = max(3, round(_WINDOW_SHARE * min(sw, sh)) | 1)
    out = np.empty_like(small)
    for c in range(3):
        chan = small[..., c]
        fill = float(np.median(chan[small_in]))
        # medianBlur wants 8 bits for wide windows: scale the channel around its median
        span = 128.0 if c else 256.0
        lo = fill - span / 2
        u8 = np.clip((np.where(small_in, chan, fill) - lo) * 255.0 / span, 0, 255).astype(np.uint8)
        blurred = cv2.medianBlur(u8, k) if k <= 255 else u8
        out[..., c] = blurred.astype(np.float32) * span / 255.0 + lo
    return np.asarray(cv2.resize(out, (ww, hh), interpolation=cv2.INTER_LINEAR), np.float32)
