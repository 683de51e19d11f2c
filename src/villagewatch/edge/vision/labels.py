"""What the objects that stay are: the model run on the regions around them, as Frigate does.

A model over the whole 1280x720 frame at 5 fps is beyond an edge box's budget, and the
rules only care about objects that stay. So the model looks at square regions around the
tracked objects (at least its input size, so that nothing is enlarged, merged when they
overlap), at most ``max_regions`` per run and one run per ``interval_s``, objects never
looked at first, then the longest unchecked. Each object takes the label of the best
detection that overlaps it; one the model looked at without finding anything keeps no label.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.detections import Detection, PixelBox
from villagewatch.edge.vision.events import to_frame
from villagewatch.edge.vision.model import DetectionModel
from villagewatch.edge.vision.objects import Tracked

__all__ = ["Label", "Labeller", "label_of", "regions_around", "tiles"]

U8 = npt.NDArray[np.uint8]
Label = tuple[str, float]
"""A kind and the model's score for it."""
_RECHECK_S = 30.0  # a label is looked at again after this long (a person steps in front)
_MARGIN = 1.3  # regions this much larger than the object: the model needs some context
_OVERLAP = 0.5  # share of the smaller of object and detection boxes that must overlap


def _overlap(a: PixelBox, b: PixelBox) -> float:
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(1, min(a[2] * a[3], b[2] * b[3]))


def _square(box: PixelBox, side: int, size: tuple[int, int]) -> PixelBox:
    """A square of ``side`` (at most the frame's) centred on ``box``, moved into the frame."""
    fw, fh = size
    sw, sh = min(side, fw), min(side, fh)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x = int(min(max(0, cx - sw / 2), fw - sw))
    y = int(min(max(0, cy - sh / 2), fh - sh))
    return (x, y, sw, sh)


def regions_around(
    boxes: Iterable[PixelBox], size: tuple[int, int], min_side: int
) -> list[PixelBox]:
    """Square-ish regions of a ``size`` (width, height) frame around ``boxes``: each at least
    ``min_side`` and a margin larger than its box, merged while any two overlap."""
    out = [
        _square(b, max(min_side, round(max(b[2], b[3]) * _MARGIN)), size)
        for b in boxes
        if b[2] > 0 and b[3] > 0
    ]
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                if _overlap(out[i], out[j]) > 0:
                    a, b = out[i], out.pop(j)
                    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
                    x1 = max(a[0] + a[2], b[0] + b[2])
                    y1 = max(a[1] + a[3], b[1] + b[3])
                    out[i] = (x0, y0, x1 - x0, y1 - y0)
                    merged = True
                    break
            if merged:
                break
    return out


def tiles(size: tuple[int, int], fraction: float = 0.5) -> list[PixelBox]:
    """Overlapping square tiles (half a tile apart) covering a ``size`` frame, each
    ``fraction`` of its shorter side: the regions for a still picture without history."""
    fw, fh = size
    side = max(1, round(min(fw, fh) * fraction))
    step = max(1, side // 2)

    def starts(length: int) -> list[int]:
        at = list(range(0, max(1, length - side + 1), step))
        if at[-1] != max(0, length - side):
            at.append(max(0, length - side))
        return at

    return [(x, y, min(side, fw), min(side, fh)) for y in starts(fh) for x in starts(fw)]


class Labeller:
    """The labels of one camera's tracked objects."""

    def __init__(self, model: DetectionModel) -> None:
        self.model = model
        self.labels: dict[int, Label] = {}
        """Object id → label, for the objects the model recognised."""
        self._looked: dict[int, float] = {}
        self._next = -np.inf
        self.last: list[Detection] = []
        """The detections of the last run (for a snapshot)."""

    def update(
        self,
        frame_bgr: U8,
        objects: list[Tracked],
        scale: float,
        now: float,
        visible: U8 | None = None,
    ) -> bool:
        """Look at the regions of the objects that most need it, if it is time; whether the
        model ran. ``scale`` is processing pixels per frame pixel; ``visible`` the privacy
        mask (255 where the model may look), applied before it does."""
        live = {o.id for o in objects}
        for gone in [i for i in self._looked if i not in live]:
            self._looked.pop(gone)
            self.labels.pop(gone, None)
        if now < self._next or not objects:
            return False
        due = sorted(
            (o for o in objects if now - self._looked.get(o.id, -np.inf) >= _RECHECK_S),
            key=lambda o: self._looked.get(o.id, -np.inf),
        )
        if not due:
            return False
        s = self.model.settings
        fh, fw = frame_bgr.shape[:2]
        boxes = {o.id: to_frame(o.box, scale) for o in due}
        regions = regions_around(boxes.values(), (fw, fh), max(s.input_size))[: s.max_regions]
        self._next = now + s.interval_s
        self.last = self.model.detect(_masked(frame_bgr, visible), regions)
        for o in due:
            box = boxes[o.id]
            if not any(_overlap(box, r) >= 1.0 for r in regions):
                continue  # left for a later run
            self._looked[o.id] = now
            label = label_of(box, self.last)
            if label is None:
                self.labels.pop(o.id, None)
            else:
                self.labels[o.id] = label
        return True

    def around(
        self, frame_bgr: U8, boxes: list[PixelBox], visible: U8 | None = None
    ) -> list[Detection]:
        """The model's detections in the regions around ``boxes`` (full-frame pixels), all of
        them now: a still camera's objects, asked about once, when they are confirmed."""
        fh, fw = frame_bgr.shape[:2]
        regions = regions_around(boxes, (fw, fh), max(self.model.settings.input_size))
        self.last = self.model.detect(_masked(frame_bgr, visible), regions)
        return self.last


def _masked(frame_bgr: U8, visible: U8 | None) -> U8:
    """The frame with the privacy masks black: they hold for the model too."""
    if visible is None:
        return frame_bgr
    return np.asarray(cv2.bitwise_and(frame_bgr, frame_bgr, mask=visible), np.uint8)


def label_of(box: PixelBox, found: Iterable[Detection]) -> Label | None:
    """The kind and score of the best detection that overlaps ``box`` (half of the smaller
    of the two), or None when the model saw nothing there."""
    best = max((d for d in found if _overlap(box, d.box) >= _OVERLAP), key=lambda d: d.score,
               default=None)  # fmt: skip
    return None if best is None else (best.kind, best.score)
