"""Objects that stay, followed from frame to frame with their dwell time.

The changed areas of :mod:`~villagewatch.edge.vision.backgrounds` become blobs; a blob
that overlaps a followed object is that object if its picture still correlates with the
object's first picture (crop correlation: a parked car stays one object through lighting
drift, another car taking its place is a new one). A new blob whose picture correlates
with the long-term background is only a lighting change there and is not an object. An
object unseen for ``grace_s`` (a passing lorry hides it, a noisy frame) has left; one that
stays past ``forget_s`` becomes background.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.config import MotionSettings

__all__ = ["Box", "Tracked", "Tracker", "crop_ncc"]

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]
"""x, y, width, height in processing pixels."""

_MIN_TEXTURE = 4.0  # grey-level std below which a crop is flat and correlation means nothing
_MATCH_IOU = 0.3


@dataclass(slots=True)
class Tracked:
    """An object that came and stays."""

    id: int
    box: Box
    first_s: float
    last_s: float
    template: F32
    """Its picture when first seen (short-term background at ``template_box``)."""
    template_box: Box
    area: int
    forgotten: bool = False
    """Left by staying past ``forget_s``: the caller makes it background."""

    def dwell(self, now: float) -> float:
        """Seconds since it first appeared."""
        return now - self.first_s


def crop_ncc(a: F32, b: F32) -> float:
    """Normalised correlation of two equal crops; for flat crops, 1 - relative mean difference."""
    sa, sb = float(a.std()), float(b.std())
    if sa < _MIN_TEXTURE or sb < _MIN_TEXTURE:
        ma, mb = float(a.mean()), float(b.mean())
        return 1.0 - abs(ma - mb) / max(ma, mb, 1.0) * 4
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


def _iou(a: Box, b: Box) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _crop(img: F32, box: Box) -> F32:
    x, y, w, h = box
    return img[y : y + h, x : x + w]


class Tracker:
    """Followed objects of one camera."""

    def __init__(self, settings: MotionSettings, min_area: int) -> None:
        self._s = settings
        self.min_area = max(1, min_area)
        self.objects: dict[int, Tracked] = {}
        self._ids = itertools.count(1)

    def hold_mask(self, shape: tuple[int, int]) -> U8:
        """255 over every followed object: kept out of the long-term background."""
        hold = np.zeros(shape, np.uint8)
        for o in self.objects.values():
            x, y, w, h = o.box
            hold[y : y + h, x : x + w] = 255
        return hold

    def update(
        self, changed: U8, short: F32, long_scaled: F32, now: float
    ) -> tuple[list[Tracked], list[Tracked]]:
        """Match this frame's blobs; return ``(new objects, objects that left)``."""
        n, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        blobs: list[tuple[Box, int]] = [
            ((int(s[0]), int(s[1]), int(s[2]), int(s[3])), int(s[4]))
            for s in stats[1:n]
            if s[4] >= self.min_area
        ]
        new: list[Tracked] = []
        replaced: list[Tracked] = []  # something else stands where they stood
        seen: set[int] = set()
        for box, area in sorted(blobs, key=lambda b: -b[1]):
            best = max(
                (o for o in self.objects.values() if o.id not in seen),
                key=lambda o: _iou(o.box, box),
                default=None,
            )
            if best is not None and _iou(best.box, box) >= _MATCH_IOU:
                crop = _crop(short, best.template_box)
                if crop_ncc(crop, best.template) >= self._s.same_ncc:
                    best.box, best.area, best.last_s = _union(best.box, box), area, now
                    seen.add(best.id)
                    continue
                del self.objects[best.id]  # something else stands there now
                replaced.append(best)
            if crop_ncc(_crop(short, box), _crop(long_scaled, box)) >= self._s.same_ncc:
                continue  # the background under another light, not an object
            obj = Tracked(next(self._ids), box, now, now, _crop(short, box).copy(), box, area)
            self.objects[obj.id] = obj
            seen.add(obj.id)
            new.append(obj)
        gone = replaced + [
            o
            for o in self.objects.values()
            if o.id not in seen
            and (now - o.last_s > self._s.grace_s or now - o.first_s > self._s.forget_s)
        ]
        for o in gone:
            self.objects.pop(o.id, None)
            o.forgotten = now - o.first_s > self._s.forget_s
        return new, gone


def _union(a: Box, b: Box) -> Box:
    """A box that does not jitter: the new blob, but never smaller than half the old one."""
    if b[2] * b[3] * 2 >= a[2] * a[3]:
        return b
    return a
