"""``villagewatch vision eval``: a camera's detector over a folder of images with ground truth.

* a camera with a ``gauge``: the truth is a CSV ``image,level_cm`` (more columns are
  ignored); printed: each reading, the mean absolute error, the share within ±2 cm;
* a camera with ``space`` zones: the truth is a folder of PKLot XML files (one per image,
  same name) or a CSV ``image,space,occupied``; printed: accuracy, the confusion counts,
  per image the errors and the borderline spaces, each with its confidence.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from villagewatch.edge.vision.config import CameraVision, ZoneKind
from villagewatch.edge.vision.occupancy import load_pklot_spaces
from villagewatch.edge.vision.pipeline import CameraPipeline
from villagewatch.edge.vision.references import image_files, load_references, read_image

__all__ = ["GaugeEval", "SpacesEval", "evaluate_gauge", "evaluate_spaces"]

BORDERLINE = 0.9  # a space judged rightly with less confidence than this is printed too


@dataclass
class GaugeEval:
    """Levels read against the truth."""

    rows: list[tuple[str, float, float | None, str]] = field(default_factory=list)
    """image, true level, level read (None: unread), why unread."""
    ms: list[float] = field(default_factory=list)

    @property
    def errors(self) -> list[float]:
        """Absolute error of each image that was read."""
        return [abs(read - true) for _, true, read, _ in self.rows if read is not None]

    def render(self) -> str:
        """The table and the figures."""
        lines = ["image                              true cm   read cm   error"]
        for name, true, read, why in self.rows:
            got = f"{read:8.2f}  {read - true:+6.2f}" if read is not None else f"  —  ({why})"
            lines.append(f"{name:34} {true:8.2f}  {got}")
        n, errs = len(self.rows), self.errors
        within = sum(e <= 2.0 for e in errs)
        mae = sum(errs) / len(errs) if errs else float("nan")
        lines += [
            "",
            (
                f"images {n}, read {len(errs)}, mean absolute error {mae:.2f} cm, "
                f"within ±2 cm {within}/{n} ({100 * within / max(1, n):.0f} %), "
                f"{sorted(self.ms)[len(self.ms) // 2]:.1f} ms per image (median)"
            ),
        ]
        return "\n".join(lines)


@dataclass
class SpacesEval:
    """Occupancy per space against the truth."""

    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0
    wrong: dict[str, list[str]] = field(default_factory=dict)
    """image → the spaces judged wrongly (``s12+ 0.81``: called occupied with confidence
    0.81, ``s12- 0.60``: called free)."""
    borderline: dict[str, list[str]] = field(default_factory=dict)
    """image → the spaces judged rightly but with confidence below ``BORDERLINE``."""
    ms: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of space-images judged right."""
        total = self.tp + self.tn + self.fp + self.fn
        return (self.tp + self.tn) / total if total else float("nan")

    def render(self) -> str:
        """The figures and the errors per image."""
        total = self.tp + self.tn + self.fp + self.fn
        lines = [
            f"{name}: wrong {', '.join(w) or '—'}; "
            f"borderline {', '.join(self.borderline.get(name, [])) or '—'}"
            for name, w in self.wrong.items()
        ]
        lines += [
            "",
            (
                f"space-images {total}: accuracy {100 * self.accuracy:.1f} % "
                f"(occupied called occupied {self.tp}, free called free {self.tn}, "
                f"free called occupied {self.fp}, occupied called free {self.fn}), "
                f"{sorted(self.ms)[len(self.ms) // 2]:.1f} ms per image (median)"
            ),
        ]
        return "\n".join(lines)


def evaluate_gauge(cam: CameraVision, images: Path, truth: Path) -> GaugeEval:
    """Read the gauge on every image named in ``truth``."""
    wanted = _truth_levels(truth)
    pipe = CameraPipeline(cam)
    out = GaugeEval()
    for name, level in wanted.items():
        gray = np.asarray(cv2.cvtColor(read_image(images / name), cv2.COLOR_BGR2GRAY), np.uint8)
        t = time.perf_counter()
        reading = pipe.read_level(gray)
        out.ms.append((time.perf_counter() - t) * 1000)
        out.rows.append((name, level, reading.level_cm, reading.reason))
    return out


def _truth_levels(truth: Path) -> dict[str, float]:
    with truth.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image", "level_cm"} <= set(rows[0]):
        raise ValueError(f"{truth}: expected a CSV with columns image,level_cm")
    out = {}
    for i, row in enumerate(rows, start=2):
        try:
            out[row["image"]] = float(row["level_cm"])
        except (TypeError, ValueError):
            raise ValueError(f"{truth}:{i}: level_cm {row['level_cm']!r} is not a number") from None
    return out


def evaluate_spaces(
    cam: CameraVision, images: Path, truth: Path, references: Path | None
) -> SpacesEval:
    """Judge every space of every image that has truth."""
    ref_dir = references or (cam.parking.references if cam.parking else None)
    if ref_dir is None:
        raise ValueError("no frames of the empty lot: give --references or parking.references")
    if not cam.zones_of(ZoneKind.SPACE):
        raise ValueError(f"camera {cam.camera} has no space zones")
    pipe = CameraPipeline(cam, references=load_references(ref_dir))
    refresh = bool(cam.parking and cam.parking.refresh)  # as the camera would, frame by frame
    lookup = _truth_lookup(truth)
    out = SpacesEval()
    for path in image_files(images):
        expected = lookup(path)
        if expected is None:
            continue
        frame = read_image(path)
        t = time.perf_counter()
        got = pipe.spaces(frame, learn=refresh)
        out.ms.append((time.perf_counter() - t) * 1000)
        wrong, borderline = [], []
        for space, state in got.items():
            if space not in expected:
                continue
            want = expected[space]
            if state.occupied and want:
                out.tp += 1
            elif not state.occupied and not want:
                out.tn += 1
            elif state.occupied:
                out.fp += 1
                wrong.append(f"{space}+ {state.confidence:.2f}")
            else:
                out.fn += 1
                wrong.append(f"{space}- {state.confidence:.2f}")
            if state.occupied == want and state.confidence < BORDERLINE:
                borderline.append(f"{space}{'+' if want else '-'} {state.confidence:.2f}")
        out.wrong[path.name] = wrong
        out.borderline[path.name] = borderline
    if not out.ms:
        raise ValueError(f"no image in {images} has truth in {truth}")
    return out


def _truth_lookup(truth: Path) -> Callable[[Path], dict[str, bool] | None]:
    """Occupied per space id for an image (zone ids are the PKLot ids prefixed ``s``)."""
    if truth.is_dir():

        def from_xml(image: Path) -> dict[str, bool] | None:
            xml = truth / (image.stem + ".xml")
            if not xml.exists():
                return None
            return {f"s{k}": occ for k, (_, occ) in load_pklot_spaces(xml).items()}

        return from_xml
    table: dict[str, dict[str, bool]] = {}
    with truth.open(newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            try:
                occupied = {"0": False, "1": True}[row["occupied"].strip()]
                table.setdefault(row["image"], {})[row["space"]] = occupied
            except (KeyError, AttributeError):
                raise ValueError(
                    f"{truth}:{i}: expected columns image,space,occupied (0/1)"
                ) from None
    return lambda image: table.get(image.name)
