"""A finding as the contract's camera event: its box and each object's as fractions of the
frame, what the model stage says they are, and the boxes its evidence picture draws.

``box`` stays the object's (for river debris the largest floating object's), so a
consumer that reads only ``box`` still points at something real; ``objects`` lists each
one (at most the contract's ``MAX_OBJECTS``), and ``label`` / ``label_score`` say what the
model stage saw, when one ran.
"""

from __future__ import annotations

import math
import re
from typing import Any

from villagewatch.edge.vision.objects import Box
from villagewatch.edge.vision.rules import Finding
from villagewatch.edge.vision.scene import Scene

__all__ = ["event_fields", "frame_boxes", "to_frame"]


def to_frame(box: Box, scale: float) -> Box:
    """A box of processing pixels in pixels of the full frame."""
    x, y, w, h = box
    return (round(x / scale), round(y / scale), round(w / scale), round(h / scale))


def frame_boxes(f: Finding, scene: Scene) -> list[Box]:
    """The finding's boxes in frame pixels: each object's, or the one ``box``."""
    return [to_frame(b, scene.scale) for b in (f.objects or (f.box,))]


def event_fields(f: Finding, scene: Scene) -> dict[str, Any]:
    """The contract fields of a camera event for ``f`` (all but ``evidence``, which its
    snapshot gives)."""
    event: dict[str, Any] = {
        "type": "cleared" if f.cleared else "detection",
        "detection": f.detection,
        "zone": f.zone.zone.id,
        "box": _fractions(to_frame(f.box, scene.scale), scene.size),
        "score": _unit(f.score, 3),
        "dwell_s": round(f.dwell_s, 1),
    }
    if f.covered_fraction is not None:
        event["covered_fraction"] = round(min(1.0, f.covered_fraction), 4)
    label = _label(f.label)
    if label is not None:
        event["label"] = label
        if f.label_score is not None and math.isfinite(f.label_score):
            event["label_score"] = _unit(f.label_score, 3)
    objects: list[dict[str, Any]] = []
    for b in frame_boxes(f, scene):
        if b[2] <= 0 or b[3] <= 0:  # an empty box (a clearing of water gone calm) is no object
            continue
        obj: dict[str, Any] = {"box": _fractions(b, scene.size)}
        if label is not None and not f.objects:  # the model's label is of the one object
            obj["label"] = event["label"]
            if "label_score" in event:
                obj["score"] = event["label_score"]
        objects.append(obj)
    if objects:
        event["objects"] = objects
    return event


def _fractions(box: Box, size: tuple[int, int]) -> list[float]:
    """x, y, w, h of a frame box as fractions of the frame, clipped to it."""
    w, h = size
    x0, y0 = min(1.0, max(0.0, box[0] / w)), min(1.0, max(0.0, box[1] / h))
    x1, y1 = min(1.0, (box[0] + box[2]) / w), min(1.0, (box[1] + box[3]) / h)
    return [round(x0, 4), round(y0, 4), round(max(0.0, x1 - x0), 4), round(max(0.0, y1 - y0), 4)]


def _label(label: str | None) -> str | None:
    """A model's class name in the contract's words (``Traffic light`` → ``traffic_light``);
    None when nothing of it is left: a centre refuses a whole event for a bad label."""
    if label is None:
        return None
    word = re.sub(r"[^a-z0-9_]+", "_", label.strip().lower()).strip("_")[:32]
    return word if re.match(r"[a-z]", word) else None


def _unit(v: float, digits: int) -> float:
    return round(min(1.0, max(0.0, v)), digits)
