"""What a detector says it sees in one frame: a kind, a box and how sure it is.

One type for every source of boxes — the single-frame detectors, a model stage, the labels
of an evaluation set — so that they can be compared, matched and drawn the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Detection", "PixelBox", "iou"]

PixelBox = tuple[int, int, int, int]
"""x, y, width, height in pixels of the full frame."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One object seen in one frame."""

    kind: str
    """Our name for what it is (``person``, ``vehicle``, ``garbage``, ``debris``, ``stall``, or
    ``object`` when nothing says more)."""
    box: PixelBox
    score: float
    """How sure the detector is, 0 to 1."""


def iou(a: PixelBox, b: PixelBox) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter)
