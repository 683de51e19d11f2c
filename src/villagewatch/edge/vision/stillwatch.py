"""Objects found in single pictures, confirmed across pictures: the findings of a camera
without history.

A still camera (``stills: true``) sends a picture every few minutes; a new camera's
backgrounds have learnt nothing yet, so what already lies in its zones is part of them. For
both, the single-frame detectors (:mod:`~villagewatch.edge.vision.stillobjects`) look at
each picture on its own, and an object seen at the same place (IoU ≥ 0.5, same zone) in two
looks in a row is a finding of the zone's kind — ``river_debris``, ``exposed_garbage``,
``street_vending``, ``illegal_parking`` — at the times the zone's rules allow. A raised
object that is not seen in a later look is cleared. One look that misses an object it
raised is enough to clear it: a still camera's pictures are minutes apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.detections import Detection, PixelBox, iou
from villagewatch.edge.vision.labels import label_of
from villagewatch.edge.vision.rules import DETECTION_OF, Finding, active_at, may_be
from villagewatch.edge.vision.scene import ZoneArea
from villagewatch.edge.vision.stillobjects import StillObjects

__all__ = ["StillWatch"]

U8 = npt.NDArray[np.uint8]
SAME_PLACE_IOU = 0.5
Recognise = Callable[[list[PixelBox]], list[Detection]]
"""The model stage asked about objects (full-frame boxes): what it sees around them."""


@dataclass(slots=True)
class _Seen:
    area: ZoneArea
    det: Detection
    first_s: float
    raised: Finding | None = None


class StillWatch:
    """Findings from looks at single pictures of one camera (frames of one size)."""

    def __init__(self, detect: StillObjects, *, warming: bool = False) -> None:
        """``warming`` (a video camera whose backgrounds are learning): only the objects of
        the first look are followed — what comes later, the backgrounds will see — and they
        are raised once they have stayed the zone's ``dwell_s``, as the backgrounds would."""
        self.detect = detect
        self._warming = warming
        self._seen: list[_Seen] | None = None

    def look(
        self, frame_bgr: U8, t: float, minute_of_day: int, recognise: Recognise | None = None
    ) -> list[Finding]:
        """Look at one full-size picture taken at ``t``; the findings it confirms or clears.
        ``recognise`` (the model stage, when the camera has one) is asked about the objects
        about to be raised, so that a person is not reported as garbage or a parked car."""
        first_look = self._seen is None
        before = list(self._seen or [])
        now: list[_Seen] = []
        due: list[tuple[_Seen, float]] = []
        for area, det in self.detect.by_zone(frame_bgr):
            prev = _same_place(before, area, det)
            if prev is None and not first_look and self._warming:
                continue
            seen = _Seen(area, det, t if prev is None else prev.first_s)
            if prev is not None:
                before.remove(prev)
                seen.raised = prev.raised
                dwell = max(0.0, t - seen.first_s)  # a clock set back must not give < 0
                stayed = dwell >= area.zone.dwell_s or not self._warming
                if seen.raised is None and stayed and active_at(area, minute_of_day):
                    due.append((seen, dwell))
            now.append(seen)
        out = self._raise(due, recognise)
        for gone in before:
            if gone.raised is not None:
                f = gone.raised
                out.append(
                    Finding(
                        f.zone,
                        f.detection,
                        f.box,
                        f.score,
                        max(0.0, t - gone.first_s),
                        cleared=True,
                        label=f.label,
                        label_score=f.label_score,
                    )
                )
        self._seen = now
        return out

    def _raise(self, due: list[tuple[_Seen, float]], recognise: Recognise | None) -> list[Finding]:
        """Findings for the objects confirmed now, but those the model says cannot be the
        zone's detection (they stay followed: a later look may say otherwise)."""
        scale = self.detect.scene.scale
        found = recognise([s.det.box for s, _ in due]) if recognise and due else None
        persons = [_small(d.box, scale) for d in found or () if d.kind == "person"]
        out: list[Finding] = []
        for seen, dwell in due:
            box = _small(seen.det.box, scale)
            label = label_of(seen.det.box, found) if found is not None else None
            if found is not None and not may_be(seen.area, box, label, persons):
                continue
            seen.raised = Finding(
                seen.area, DETECTION_OF[seen.area.zone.kind], box, seen.det.score, dwell,
                label=label[0] if label else None, label_score=label[1] if label else None,
            )  # fmt: skip
            out.append(seen.raised)
        return out


def _same_place(seen: list[_Seen], area: ZoneArea, det: Detection) -> _Seen | None:
    best, best_iou = None, SAME_PLACE_IOU
    for s in seen:
        if s.area.zone.id != area.zone.id:
            continue
        overlap = iou(s.det.box, det.box)
        if overlap >= best_iou:
            best, best_iou = s, overlap
    return best


def _small(box: tuple[int, int, int, int], scale: float) -> tuple[int, int, int, int]:
    """A full-frame box in processing pixels (what a Finding carries)."""
    x, y, w, h = box
    return (round(x * scale), round(y * scale), max(1, round(w * scale)), max(1, round(h * scale)))
