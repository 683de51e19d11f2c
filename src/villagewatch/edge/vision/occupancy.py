"""Parking-space occupancy from a fixed camera, against frames of the empty lot.

Each space gets two picture cues against every reference (``parking_cues``: how unevenly
the log-brightness changed over it, and how many of its pixels gained or lost edges; the
minimum of each over the references), and one logistic model shared by all spaces
(``parking_model``, with the space's size as an input) turns them into the probability
``p`` that a car is there. ``SpaceState.score`` is the odds ``p / (1 - p)``: occupied above
``threshold`` (1, that is ``p`` > 0.5, unless set); ``confidence`` is the model's
probability that the decision is right.

Refreshing the empty lot
------------------------
The references are frames of one day. Light drifts away from them (season, sun angle,
a wet lot), so the model keeps up to ``LEARNT_PER_SPACE`` more references *per space*,
each that space's pixels in a recent frame where it was confidently free. A space's
pixels are learnt only when, at this look and at the one before, ``p`` is below
``LEARN_BELOW`` against every reference it has *and* below ``ANCHOR_BELOW`` against the
configured references alone. So a car is never learnt while the configured empty lot sees
it (a car that arrives and stays for days scores "taken" against them on every look), and
what is learnt never drifts further from the configured lot than one confident step. A
learnt reference is forgotten after ``LEARNT_LOOKS`` looks and the oldest is replaced
first; none is kept across a restart. Learning is on only when the caller asks
(``classify(frame, learn=True)``; the camera pipeline does, one look per
``parking.interval_s``).

A frame that shows nothing over the spaces (their grey at the working scale varies by less
than ``MIN_GREY_SPREAD`` levels: a covered or dead lens, a black-out at night, a white-out
into the sun) is not judged: against such a frame every space would look like the empty
asphalt with its texture washed out, that is *free*, and a lot reported free because the
camera is blind is worse than no report. ``classify`` raises ``SpacesUnseen``; a reference
like that is refused when the model is built.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.parking_cues import (
    SpacePixels,
    black_level,
    check_frame,
    prepare_frame,
    small_grey,
    space_cues,
)
from villagewatch.edge.vision.parking_model import OccupancyModel, features
from villagewatch.errors import VillagewatchError

__all__ = ["SpaceOccupancy", "SpaceState", "SpacesUnseen", "load_pklot_spaces"]

OCCUPIED_THRESHOLD = 1.0  # odds of a car: p > 0.5
LEARNT_PER_SPACE = 3
LEARN_BELOW = 0.05
ANCHOR_BELOW = 0.05
LEARNT_LOOKS = 240  # four hours at the default parking.interval_s of 60 s

# the spaces of a lit lot vary by 10+ grey levels (asphalt, lines, cars); a blind camera's
# dark noise by about 1 once halved
MIN_GREY_SPREAD = 2.0
_LOGIT_LIMIT = 30.0  # odds of e^30 either way: certain enough, and no overflow


class SpacesUnseen(VillagewatchError):
    """The frame shows nothing over the parking spaces, so none is judged."""


@dataclass(frozen=True)
class SpaceState:
    """One space in one frame: the decision, the score it came from, and how sure it is."""

    occupied: bool
    score: float
    """Odds that a car is in the space, ``p / (1 - p)``; occupied above the threshold."""
    confidence: float
    """The model's probability that ``occupied`` is right (0.5-1 at the default threshold)."""


class SpaceOccupancy:
    """Classify parking spaces as free or occupied against frames of the empty lot.

    ``spaces`` maps a space id to its polygon in pixel coordinates of the frame;
    ``references`` are BGR frames (H x W x 3, uint8) of the empty lot, all one size, ideally
    at several times of day. ``threshold`` overrides ``OCCUPIED_THRESHOLD`` (odds);
    ``model`` the shipped weights (``parking_model.DEFAULT_MODEL``).
    """

    def __init__(
        self,
        spaces: Mapping[str, Sequence[tuple[float, float]]],
        references: Sequence[npt.NDArray[np.uint8]],
        *,
        threshold: float | None = None,
        model: OccupancyModel | None = None,
    ) -> None:
        if not references:
            raise ValueError("at least one reference frame of the empty lot is needed")
        shape = check_frame(references[0], "reference 0").shape
        for i, ref in enumerate(references[1:], start=1):
            if check_frame(ref, f"reference {i}").shape != shape:
                raise ValueError(
                    f"reference {i} is {ref.shape[1]}x{ref.shape[0]}, "
                    f"reference 0 is {shape[1]}x{shape[0]}: all references must be one size"
                )
        if not spaces:
            raise ValueError("no parking spaces given")
        if threshold is None:
            threshold = OCCUPIED_THRESHOLD
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold must be a positive number, not {threshold}")
        self._threshold = float(threshold)
        self._model = model or OccupancyModel.load()
        self._shape: tuple[int, ...] = shape
        height, width = shape[:2]

        smalls = [small_grey(ref) for ref in references]
        blacks = [black_level(small) for small in smalls]
        self._black = min(blacks)
        work_h, work_w = smalls[0].shape
        self._where = SpacePixels(spaces, (width, height), (work_w, work_h))
        for i, small in enumerate(smalls):
            if unseen := self._unseen(small):
                raise ValueError(f"reference {i} {unseen}: it cannot show the empty lot")
        self._configured = len(references)
        fixed = [
            prepare_frame(sm, bl - self._black, self._where)
            for sm, bl in zip(smalls, blacks, strict=True)
        ]
        # configured references first, then the learnt slots; an unused slot holds a copy
        # of reference 0, which changes no minimum
        self._refs = np.stack(fixed + [fixed[0]] * LEARNT_PER_SPACE)
        n = len(self._where.names)
        self._inputs_size = np.asarray(self._where.counts, np.float64)
        self._learnt_at = np.full((LEARNT_PER_SPACE, n), -1, np.int64)  # look; -1 unused
        self._free_before = np.zeros(n, bool)
        self._looks = 0

    def classify(
        self, frame_bgr: npt.NDArray[np.uint8], *, learn: bool = False
    ) -> dict[str, SpaceState]:
        """Judge every space of one BGR frame (the references' size); with ``learn``,
        refresh the empty references of the spaces confidently free (see the module)."""
        prepared = self._prepare(frame_bgr)
        shade, edges = space_cues(prepared, self._refs, self._where)
        configured = slice(0, self._configured)
        # learnt references answer for the light (shade) only; the structure (edges) is
        # always judged against the configured empty lot
        edges_fixed = edges[configured].min(axis=0)
        logit = self._logit(shade.min(axis=0), edges_fixed)
        if learn:
            anchor = self._logit(shade[configured].min(axis=0), edges_fixed)
            self._learn(prepared, logit, anchor)
        p = 1.0 / (1.0 + np.exp(-logit))
        states: dict[str, SpaceState] = {}
        for i, name in enumerate(self._where.names):
            score = float(math.exp(logit[i]))
            occupied = score > self._threshold
            confidence = float(p[i] if occupied else 1.0 - p[i])
            states[name] = SpaceState(occupied=occupied, score=score, confidence=confidence)
        return states

    def learnt(self) -> dict[str, int]:
        """How many learnt references each space holds now."""
        held = (self._learnt_at >= 0).sum(axis=0)
        return {name: int(held[i]) for i, name in enumerate(self._where.names)}

    def cues(self, frame_bgr: npt.NDArray[np.uint8]) -> dict[str, tuple[float, float, int]]:
        """Per space the scaled ``(shade, edges)`` against the configured references and
        its size in working pixels: the model's raw inputs (for training it)."""
        prepared = self._prepare(frame_bgr)
        shade, edges = space_cues(prepared, self._refs[: self._configured], self._where)
        s, e = shade.min(axis=0), edges.min(axis=0)
        counts = self._where.counts
        return {
            name: (float(s[i]), float(e[i]), int(counts[i]))
            for i, name in enumerate(self._where.names)
        }

    def _prepare(self, frame_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        frame = check_frame(frame_bgr, "frame")
        if frame.shape != self._shape:
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, the references are "
                f"{self._shape[1]}x{self._shape[0]}"
            )
        small = small_grey(frame)
        if unseen := self._unseen(small):
            raise SpacesUnseen(f"frame {unseen}: the spaces are not judged")
        haze = max(0.0, black_level(small) - self._black)
        return prepare_frame(small, haze, self._where)

    def _unseen(self, small: npt.NDArray[np.float32]) -> str:
        """Why a working-scale grey frame shows nothing over the spaces; "" if it does."""
        grey = self._where.take(small)
        spread = float(grey.std())
        if spread >= MIN_GREY_SPREAD:
            return ""
        return (
            f"shows nothing over the parking spaces: their grey varies by {spread:.1f} levels "
            f"around {float(grey.mean()):.0f} (at least {MIN_GREY_SPREAD:g} needed; a covered "
            "or dead lens, a black-out or a white-out)"
        )

    def _logit(
        self, shade: npt.NDArray[np.float32], edges: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float64]:
        logit = self._model.logit(features(shade, edges, self._inputs_size))
        return np.clip(logit, -_LOGIT_LIMIT, _LOGIT_LIMIT)

    def _learn(
        self,
        prepared: npt.NDArray[np.float32],
        logit: npt.NDArray[np.float64],
        anchor: npt.NDArray[np.float64],
    ) -> None:
        self._looks += 1
        expired = (self._learnt_at >= 0) & (self._looks - self._learnt_at > LEARNT_LOOKS)
        for slot, space in zip(*map(list, np.nonzero(expired)), strict=True):
            self._put(int(slot), int(space), self._refs[0])
            self._learnt_at[slot, space] = -1
        free = (logit < _logit_of(LEARN_BELOW)) & (anchor < _logit_of(ANCHOR_BELOW))
        for space in map(int, np.flatnonzero(free & self._free_before)):
            slot = int(np.argmin(self._learnt_at[:, space]))  # unused (-1) or the oldest
            self._put(slot, space, prepared)
            self._learnt_at[slot, space] = self._looks
        self._free_before = free

    def _put(self, slot: int, space: int, source: npt.NDArray[np.float32]) -> None:
        start = self._where.starts[space]
        stop = start + self._where.counts[space]
        self._refs[self._configured + slot, :, start:stop] = source[:, start:stop]


def _logit_of(p: float) -> float:
    return math.log(p / (1.0 - p))


def load_pklot_spaces(path: Path) -> dict[str, tuple[list[tuple[float, float]], bool]]:
    """Read one PKLot annotation file: space id → (contour polygon, occupied)."""
    try:
        # a local annotation file from the dataset, not untrusted input; defusedxml is not
        # a dependency and the stdlib parser does not fetch external entities
        root = ET.parse(path).getroot()  # noqa: S314
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not well-formed XML ({exc})") from exc
    spaces: dict[str, tuple[list[tuple[float, float]], bool]] = {}
    for space in root.iter("space"):
        name = space.get("id")
        if not name:
            raise ValueError(f"{path}: a <space> has no id")
        if name in spaces:
            raise ValueError(f"{path}: space {name!r} appears twice")
        occupied = space.get("occupied")
        if occupied not in {"0", "1"}:
            raise ValueError(f"{path}: space {name!r} has occupied={occupied!r}, not 0 or 1")
        contour = space.find("contour")
        if contour is None:
            raise ValueError(f"{path}: space {name!r} has no <contour>")
        polygon: list[tuple[float, float]] = []
        for point in contour.iter("point"):
            try:
                polygon.append((float(point.get("x", "")), float(point.get("y", ""))))
            except ValueError:
                raise ValueError(
                    f"{path}: space {name!r} has a contour point without numeric x and y"
                ) from None
        if len(polygon) < 3:
            raise ValueError(f"{path}: space {name!r} has a contour of {len(polygon)} points")
        spaces[name] = (polygon, occupied == "1")
    if not spaces:
        raise ValueError(f"{path}: no <space> elements")
    return spaces
