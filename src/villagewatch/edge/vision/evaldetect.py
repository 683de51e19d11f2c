"""``villagewatch vision eval`` in detection mode: boxes found against YOLO-labelled boxes.

Per image, the detections are taken best score first and each is matched to the unmatched
true box of its class with the highest IoU, if that is at least 0.5 (greedy matching, as
PASCAL VOC and COCO do); a matched detection is a true positive, an unmatched one a false
positive, an unmatched true box a miss. Per class:

* **precision** and **recall** of every detection the detector reported (its own
  threshold: what an operator would get);
* **AP@0.5**: the area under the precision-recall curve over the detections ranked by
  score across all images, with all-point interpolation (precision at each recall is the
  best precision at that recall or above — VOC 2010 onwards).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.detections import Detection, iou
from villagewatch.edge.vision.scene import Scene, draw_overlay
from villagewatch.edge.vision.yolo import class_names, read_labels, read_whole_image, scan

__all__ = [
    "MATCH_IOU",
    "ClassFigures",
    "DetectionEval",
    "Detector",
    "average_precision",
    "evaluate_detections",
    "match",
]

U8 = npt.NDArray[np.uint8]
Detector = Callable[[U8], list[Detection]]
"""What is measured: a full-size BGR frame in, its detections out."""
MATCH_IOU = 0.5
TRUTH_BGR = (0, 220, 0)
FOUND_BGR = (255, 0, 255)


def match(found: list[Detection], truth: list[Detection]) -> tuple[list[bool], int]:
    """Greedy matching of one image: per detection (in the order given) whether it matched a
    true box of its kind at IoU ≥ 0.5, and how many true boxes were left unmatched."""
    taken = [False] * len(truth)
    hits = [False] * len(found)
    for k in sorted(range(len(found)), key=lambda k: -found[k].score):
        d, best, best_iou = found[k], -1, MATCH_IOU
        for i, t in enumerate(truth):
            if taken[i] or t.kind != d.kind:
                continue
            overlap = iou(d.box, t.box)
            if overlap >= best_iou:
                best, best_iou = i, overlap
        if best >= 0:
            taken[best] = hits[k] = True
    return hits, taken.count(False)


def average_precision(scored: list[tuple[float, bool]], n_truth: int) -> float:
    """AP of detections ``(score, matched)`` pooled over a set with ``n_truth`` true boxes:
    all-point interpolated area under precision-recall (0 when there is nothing to find)."""
    if n_truth == 0:
        return float("nan")
    ranked = sorted(scored, key=lambda s: -s[0])
    tp = np.cumsum([hit for _, hit in ranked], dtype=np.float64)
    fp = np.cumsum([not hit for _, hit in ranked], dtype=np.float64)
    recall = np.concatenate([[0.0], tp / n_truth])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1e-12)])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * envelope[1:]))


@dataclass
class ClassFigures:
    """The counts of one class over the set."""

    truth: int = 0
    scored: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def tp(self) -> int:
        """Detections that matched a true box."""
        return sum(hit for _, hit in self.scored)

    @property
    def precision(self) -> float:
        """Share of the detections that are right (nan without detections)."""
        return self.tp / len(self.scored) if self.scored else float("nan")

    @property
    def recall(self) -> float:
        """Share of the true boxes found (nan without true boxes)."""
        return self.tp / self.truth if self.truth else float("nan")

    @property
    def ap(self) -> float:
        """AP@0.5, all-point interpolated."""
        return average_precision(self.scored, self.truth)


@dataclass
class DetectionEval:
    """Detections against the labels, per class and per image."""

    classes: dict[str, ClassFigures] = field(default_factory=dict)
    rows: list[tuple[str, int, int, int]] = field(default_factory=list)
    """image, true boxes, detections, matched."""
    ms: list[float] = field(default_factory=list)

    def render(self) -> str:
        """The errors per image, then the table per class."""
        lines = [
            f"{name}: truth {t}, found {f}, matched {m}"
            for name, t, f, m in self.rows
            if t != m or f != m
        ]
        lines += ["", "class         truth  found  precision  recall  AP@0.5"]
        for name, c in self.classes.items():
            if not c.truth and not c.scored:
                continue  # a class of the set that this camera's zones never see
            lines.append(
                f"{name:12} {c.truth:6d} {len(c.scored):6d}  {_pct(c.precision):>9}  "
                f"{_pct(c.recall):>6}  {_pct(c.ap):>6}"
            )
        ms = sorted(self.ms)[len(self.ms) // 2] if self.ms else float("nan")
        lines += ["", f"images {len(self.rows)}, {ms:.1f} ms per image (median)"]
        return "\n".join(lines)


def _pct(v: float) -> str:
    return "—" if math.isnan(v) else f"{100 * v:.1f} %"


def evaluate_detections(
    cam: CameraVision,
    images: Path,
    detector: Callable[[Scene], Detector],
    *,
    labels: Path | None = None,
    out: Path | None = None,
) -> DetectionEval:
    """Run ``detector`` (built per frame size from the camera's scene) over every image of
    ``images`` and match its detections with the YOLO labels (beside the images, in
    ``labels/`` or in ``labels``); with ``out``, write one picture per image with the true
    boxes (green) and the detections (magenta) drawn."""
    files = scan(images, labels)
    names = class_names(labels or images)
    result = DetectionEval(classes={n: ClassFigures() for n in names})
    detectors: dict[tuple[int, int], tuple[Scene, Detector]] = {}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for item in files:
        frame = read_whole_image(item.image)
        h, w = frame.shape[:2]
        truth = read_labels(item.labels, names, w, h) if item.labels else []
        if (w, h) not in detectors:
            scene = Scene(cam, w, h)
            detectors[(w, h)] = (scene, detector(scene))
        scene, detect = detectors[(w, h)]
        t = time.perf_counter()
        found = detect(frame)
        result.ms.append((time.perf_counter() - t) * 1000)
        hits, _ = match(found, truth)
        for t_box in truth:
            result.classes.setdefault(t_box.kind, ClassFigures()).truth += 1
        for d, hit in zip(found, hits, strict=True):
            result.classes.setdefault(d.kind, ClassFigures()).scored.append((d.score, hit))
        result.rows.append((item.image.name, len(truth), len(found), sum(hits)))
        if out is not None:
            picture = draw_picture(frame, scene, truth, found)
            cv2.imwrite(str(out / (item.image.stem + ".jpg")), picture)
    return result


def draw_picture(frame: U8, scene: Scene, truth: list[Detection], found: list[Detection]) -> U8:
    """The frame (privacy masks black) with the zones, the true boxes in green and the
    detections in magenta with their kind and score, for a person to look at."""
    picture = draw_overlay(frame, scene)
    for t in truth:
        x, y, w, h = t.box
        cv2.rectangle(picture, (x - 2, y - 2), (x + w + 1, y + h + 1), TRUTH_BGR, 1)
    for d in found:
        x, y, w, h = d.box
        cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), FOUND_BGR, 2)
        cv2.putText(
            picture, f"{d.kind} {d.score:.2f}", (x, max(10, y - 4)), cv2.FONT_HERSHEY_SIMPLEX,
            0.4, FOUND_BGR, 1, cv2.LINE_AA,
        )  # fmt: skip
    cv2.putText(picture, "truth", (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, TRUTH_BGR, 1, cv2.LINE_AA)
    cv2.putText(
        picture, "found", (60, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, FOUND_BGR, 1, cv2.LINE_AA
    )
    return picture
