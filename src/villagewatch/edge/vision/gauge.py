"""Camera water-level gauge: read the water level off a GaugeCam bow-tie target.

The target is a white board with a grid of black "bow-ties" (two triangles whose apexes meet at
the bow-tie centre).  The world (cm) coordinates of the bow-tie centres are known
(``target_world_coordinates_cm.csv``); their y values are in the same datum as the water level.
This is how GaugeCam GRIME2 works: the level *is* the world y of the waterline on the target
plane, so the calibration comes from the target's geometry alone, never from reference levels.

Pipeline (per image, no state, nothing fitted to reference levels):

1. Candidate bow-tie centres: normalised cross-correlation (NCC) with a synthetic bow-tie
   template at quarter resolution over a range of sizes.
2. Top row: the top-most strong, roughly horizontal pair of candidates is the top row of the
   target (the driest one).  Its centres are refined to sub-pixel with ``cv2.cornerSubPix`` (a
   bow-tie centre is an X-junction).  If a strong candidate sits where a row above it would be,
   the top row is probably hidden and the image is not read rather than guessed.
3. Coarse waterline: the central white strip of the target (between the bow-tie columns) is
   rectified to world cm with the similarity given by the two top-row centres; the top-most
   strong bright->dark step of its vertical profile is the waterline (target face bright, water
   darker) -- unless the board's bow-tie texture goes on below it rather than being mirrored:
   then the step is the top of a wet band or stain and the water is looked for below it
   (``gauge_waterline``).
4. Lower rows: predicted from the rows found so far and refined with ``cornerSubPix``, accepted
   only while their centres are clearly above the coarse waterline (and above a wet band,
   whose edges would pull the sub-pixel refinement).  This rejects the fake
   X-junction that a bow-tie cut by the water forms with its own reflection (it lies exactly on
   the waterline) and the reflections of higher rows (below the waterline).
5. Homography world->image from all accepted centres (>= 2 rows); with only the top row a
   similarity is used (no perspective correction).
6. Fine waterline: step 3 again on the strip rectified with the final transform gives the
   waterline directly in world cm, i.e. the level.
7. Check: every bow-tie row that this level puts wholly above the water must be seen as a
   bow-tie where the transform puts it.  An overexposed picture, whose reflection is as white
   as the board, hides the waterline step; the step then found lies lower and leaves dry rows
   "missing", and the picture is refused instead of misread.

The step (3, 6) is measured against the target's own contrast (white strip minus bow-tie
black), so haze does not hide it, and must be followed by darker water for several cm, so a
rope or fold across the board is not taken for it.

All tunable constants are expressed relative to the target geometry (bow-tie row spacing, cm)
or are generic image-processing choices.

Limitation: the whole top row of the target must be in the frame.  If it is cut off by the
image edge (not hidden behind something that leaves the row above the pair visible) the next
row is taken for the top row and the level comes out one row spacing too high.

Usage::

    reader = GaugeReader(load_target_csv(Path("target_world_coordinates_cm.csv")))
    reading = reader.read(cv2.imread("frame.jpg", cv2.IMREAD_GRAYSCALE))
    if reading.level_cm is None:
        print(reading.reason)
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.gauge_waterline import (
    FloatArray,
    Grid,
    Point,
    find_waterline,
    row_spacing,
)

__all__ = ["GaugeReader", "GaugeReading", "load_target_csv"]

# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
COARSE_SCALE = 0.25  # detection runs at quarter resolution
TEMPLATE_SIZES = tuple(range(9, 64, 4))  # bow-tie sizes (px, quarter res) = 36..244 px full res
CAND_MIN_SCORE = 0.5  # NCC needed to be a candidate centre
TOP_ROW_MIN_SCORE = 0.75  # NCC needed for the (always dry) top row ...
TOP_ROW_REL_SCORE = 0.85  # ... and at least this fraction of the best pair's NCC
MATCH_TOL = 0.2  # refined centre must stay this close to its prediction (x row spacing)
SUBPIX_WIN_FRAC = 0.15  # cornerSubPix half window, fraction of bow-tie size (diagonals only)
MIN_HALF_WIN = 4  # smallest usable cornerSubPix half window (px)
MIN_CLEARANCE_CM = 1.0  # a row is used only if its centres are this far above the water
WINDOW_CLEAR_CM = 1.0  # sub-pixel windows stay this far from the water and a wet band's edge

# top-row pair plausibility (generic shape checks, not fitted to any data)
PAIR_MAX_SLOPE = 0.2  # |dy| <= this x dx: roughly horizontal
PAIR_MAX_SIZE_RATIO = 1.5  # similar apparent bow-tie size
PAIR_SPAN_SIZES = (1.5, 8.0)  # first/last column this many bow-tie sizes apart

_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.01)

GrayImage = npt.NDArray[np.uint8]
Matches = dict[tuple[int, int], Point]  # (row, column) -> image point (px)

_HEADER_FIELD = re.compile(r"col\s*\d+\s*[xy]", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GaugeReading:
    """One reading.

    ``level_cm`` is the water level in the target's world frame (cm) or None, with ``reason``
    saying why ("" when there is a level).  ``rows_used`` and ``method`` ("homography" or
    "similarity") describe the final world->image transform, ``world_to_image`` (3x3, world cm
    to pixels); 0, "" and None when the reader stopped before fitting one.
    """

    level_cm: float | None
    rows_used: int
    method: str
    reason: str
    world_to_image: FloatArray | None = field(default=None, compare=False, repr=False)


def load_target_csv(path: Path) -> list[tuple[float, float]]:
    """World coordinates (cm) of the bow-tie centres from ``target_world_coordinates_cm.csv``.

    The header names the columns (``Col 0 x, Col 0 y, Col 1 x, Col 1 y``); each further line is
    one bow-tie row with an x, y pair per column.  Blank lines are skipped.  Raises
    ``ValueError`` naming the file and line for a malformed file.
    """
    with path.open(newline="") as f:
        lines = list(csv.reader(f, skipinitialspace=True))
    if not lines:
        raise ValueError(f"{path}: empty file, expected a header 'Col 0 x, Col 0 y, ...'")
    header = [h.strip() for h in lines[0]]
    if (
        not header
        or len(header) % 2
        or not all(_HEADER_FIELD.fullmatch(h) for h in header)
        or not all(h.lower().endswith("x") for h in header[0::2])
    ):
        raise ValueError(
            f"{path}, line 1: expected a header 'Col 0 x, Col 0 y, ...', got {','.join(lines[0])!r}"
        )
    points: list[tuple[float, float]] = []
    for lineno, fields in enumerate(lines[1:], start=2):
        if not any(v.strip() for v in fields):
            continue
        if len(fields) != len(header):
            raise ValueError(
                f"{path}, line {lineno}: {len(fields)} values, expected {len(header)} "
                f"(torn or malformed row {','.join(fields)!r})"
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise ValueError(
                f"{path}, line {lineno}: not a number in {','.join(fields)!r}"
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{path}, line {lineno}: non-finite coordinate")
        points.extend(zip(values[0::2], values[1::2], strict=True))
    if not points:
        raise ValueError(f"{path}: no bow-tie rows after the header")
    return points


class GaugeReader:
    """Reads the water level off images of one bow-tie target (see the module docstring)."""

    def __init__(self, world_points_cm: Sequence[tuple[float, float]]) -> None:
        if len(world_points_cm) < 2:
            raise ValueError(
                f"need at least 2 bow-tie centres (world cm), got {len(world_points_cm)}"
            )
        if not all(math.isfinite(x) and math.isfinite(y) for x, y in world_points_cm):
            raise ValueError("bow-tie centre coordinates must be finite")
        grid = _world_grid(world_points_cm)
        top = grid[0]
        if len(top) < 2 or top[-1][0] - top[0][0] <= 0.0:
            raise ValueError(
                "the top bow-tie row (highest y) needs at least two bow-ties at different x"
            )
        self._grid = grid

    def read(self, gray: GrayImage) -> GaugeReading:
        """Water level in a single-channel 8-bit grey image of any size."""
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(
                f"expected a single-channel uint8 image, got {gray.dtype} of shape {gray.shape}"
            )
        gray = np.ascontiguousarray(gray)
        grid = self._grid
        top_y = grid[0][0][1]

        # 1-2. top row of the target (always the driest one)
        cands = _find_candidates(gray)
        top = _find_top_row(cands)
        if top is None:
            return _no_level("target not found")
        a, b, top_thr = top
        size = 0.5 * (a.size + b.size)
        half = max(MIN_HALF_WIN, round(SUBPIX_WIN_FRAC * size))
        last = len(grid[0]) - 1
        pa = _refine_centre(gray, a.x, a.y, half) or (a.x, a.y)
        pb = _refine_centre(gray, b.x, b.y, half) or (b.x, b.y)
        sim = _similarity_from_pair(grid[0][0], grid[0][last], pa, pb)
        if _row_above_visible(cands, grid, sim, top_thr):
            return _no_level("ambiguous target: a bow-tie row is visible above the top row found")

        # 3. coarse waterline with the top-row similarity
        gray_f = gray.astype(np.float32)
        coarse = find_waterline(gray_f, sim, grid)
        wl0 = coarse.level_cm
        if wl0 is None:
            return _no_level(coarse.reason)
        if wl0 > top_y - MIN_CLEARANCE_CM:
            return _no_level("waterline at or above the top bow-tie row")

        # if the water or a wet band's edge is close to the top row, redo its sub-pixel
        # refinement with a window that does not reach it
        water = _Water.of(sim, wl0, coarse.band_top_cm)
        matched: Matches = {(0, 0): pa, (0, last): pb}
        for key, p in list(matched.items()):
            h = water.half_window(p, half)
            if h < half:
                matched[key] = _refine_centre(gray, p[0], p[1], max(h, MIN_HALF_WIN)) or p
        sim = _similarity_from_pair(grid[0][0], grid[0][last], matched[0, 0], matched[0, last])

        # 4. lower rows that are clearly above the water (coarse waterline, refined similarity)
        matched = _walk_rows(gray, grid, matched, half, _Water.of(sim, wl0, coarse.band_top_cm))
        rows_used = len({r for r, _ in matched})

        # 5. world -> image transform from all accepted centres
        fitted = _fit_transform([grid[r][c] for r, c in matched], list(matched.values()))
        if fitted is None:
            return _no_level("no world-to-image transform")
        transform, method = fitted

        # 6. fine waterline, directly in world cm
        fine = find_waterline(gray_f, transform, grid)
        level = fine.level_cm
        if level is None:
            return GaugeReading(None, rows_used, method, fine.reason, transform)

        # 7. every row the level puts wholly above the water must show its bow-ties
        hidden = _missing_dry_row(cands, grid, transform, level, gray.shape)
        if hidden is not None:
            return GaugeReading(
                None,
                rows_used,
                method,
                f"waterline at {level:.1f} cm is not credible: the bow-tie row at {hidden:g} cm "
                "would be dry but is not visible (overexposed, or its reflection taken for it)",
                transform,
            )
        return GaugeReading(level, rows_used, method, "", transform)


def _no_level(reason: str) -> GaugeReading:
    return GaugeReading(level_cm=None, rows_used=0, method="", reason=reason)


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------
def _world_grid(world_points_cm: Sequence[tuple[float, float]]) -> Grid:
    """Organise the world points into rows (top first, i.e. decreasing y), each sorted by x."""
    pts = sorted(((float(x), float(y)) for x, y in world_points_cm), key=lambda p: -p[1])
    rows: list[list[Point]] = []
    for p in pts:
        if rows and abs(rows[-1][0][1] - p[1]) < 1e-3 * max(1.0, abs(p[1])) + 0.5:
            rows[-1].append(p)
        else:
            rows.append([p])
    return tuple(tuple(sorted(r)) for r in rows)


def _similarity_from_pair(w0: Point, w1: Point, i0: Point, i1: Point) -> FloatArray:
    """3x3 similarity world->image from two correspondences.

    World y points up while image y points down, hence the mirrored world frame.
    """
    zw0, zw1 = complex(w0[0], -w0[1]), complex(w1[0], -w1[1])
    zi0, zi1 = complex(i0[0], i0[1]), complex(i1[0], i1[1])
    a = (zi1 - zi0) / (zw1 - zw0)
    b = zi0 - a * zw0
    # z_img = a * (x - i y) + b
    return np.array(
        [[a.real, a.imag, b.real], [a.imag, -a.real, b.imag], [0.0, 0.0, 1.0]], np.float64
    )


def _fit_transform(world: Sequence[Point], img: Sequence[Point]) -> tuple[FloatArray, str] | None:
    """World->image transform from N correspondences.

    A homography if the points span 2-D (>= 4 points not all on one row), otherwise a similarity
    from the left- and right-most points; None for fewer than 2 points.
    """
    w = np.asarray(world, np.float64).reshape(-1, 2)
    m = np.asarray(img, np.float64).reshape(-1, 2)
    if len(w) >= 4 and np.ptp(w[:, 1]) > 1e-6:
        h, _ = cv2.findHomography(w, m, 0)  # plain least squares, no RANSAC
        if h is not None:
            return np.asarray(h, np.float64), "homography"
    if len(w) >= 2:
        i, j = int(np.argmin(w[:, 0])), int(np.argmax(w[:, 0]))
        return _similarity_from_pair(_pt(w[i]), _pt(w[j]), _pt(m[i]), _pt(m[j])), "similarity"
    return None


def _pt(a: FloatArray) -> Point:
    return float(a[0]), float(a[1])


def _scale(transform: FloatArray) -> float:
    """Pixels per cm of a similarity."""
    return math.sqrt(abs(float(np.linalg.det(transform[:2, :2]))))


def _apply(transform: FloatArray, pts: Sequence[Point] | FloatArray) -> FloatArray:
    """Map points (N x 2) through a 3x3 projective transform."""
    arr = np.asarray(pts, np.float64).reshape(-1, 1, 2)
    return np.asarray(cv2.perspectiveTransform(arr, transform), np.float64).reshape(-1, 2)


# --------------------------------------------------------------------------------------------
# Step 1: bow-tie candidates
# --------------------------------------------------------------------------------------------
def _bowtie_template(size: int) -> GrayImage:
    """Synthetic bow-tie: black triangles with their bases on the left and right edges and
    apexes meeting at the centre, white above and below."""
    t = np.full((size, size), 255, np.uint8)
    c = (size - 1) / 2.0
    s = size - 1
    # draw with 4 bits of sub-pixel precision so the apex is exactly central
    shift = 4
    k = 1 << shift
    left = np.array([[0, 0], [0, s], [c, c]]) * k
    right = np.array([[s, 0], [s, s], [c, c]]) * k
    cv2.fillPoly(t, [left.round().astype(np.int32)], 0, cv2.LINE_AA, shift)
    cv2.fillPoly(t, [right.round().astype(np.int32)], 0, cv2.LINE_AA, shift)
    t.flags.writeable = False
    return t


_TEMPLATES: tuple[tuple[int, GrayImage], ...] = tuple(
    (s, _bowtie_template(s)) for s in TEMPLATE_SIZES
)


class _Candidate(NamedTuple):
    x: float  # full-resolution px
    y: float
    score: float  # NCC
    size: float  # bow-tie size, full-resolution px


def _find_candidates(gray: GrayImage) -> FloatArray:
    """Candidate bow-tie centres as an N x 4 array of (x, y, score, size), full-res px."""
    if min(gray.shape) < 4:  # nothing left after the quarter-resolution resize
        return np.empty((0, 4), np.float64)
    small = cv2.resize(gray, None, fx=COARSE_SCALE, fy=COARSE_SCALE, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    best = np.full((h, w), -1.0, np.float32)
    best_size = np.zeros((h, w), np.float32)
    for s, t in _TEMPLATES:
        if s >= min(h, w):
            continue
        r = np.asarray(cv2.matchTemplate(small, t, cv2.TM_CCOEFF_NORMED), np.float32)
        off = s // 2  # r[y, x] corresponds to the template centre at (x + off, y + off)
        view = best[off : off + r.shape[0], off : off + r.shape[1]]
        sview = best_size[off : off + r.shape[0], off : off + r.shape[1]]
        better = r > view
        view[better] = r[better]
        sview[better] = s
    # non-maximum suppression over a neighbourhood of the smallest bow-tie
    k = TEMPLATE_SIZES[0] | 1
    dilated = np.asarray(cv2.dilate(best, np.ones((k, k), np.uint8)), np.float32)
    peaks = (best == dilated) & (best >= CAND_MIN_SCORE)
    ys, xs = np.nonzero(peaks)
    inv = 1.0 / COARSE_SCALE
    # the centre of an odd template of size s sits on pixel s // 2: pixel-centre mapping
    cx = (xs + 0.5) * inv - 0.5
    cy = (ys + 0.5) * inv - 0.5
    return np.column_stack([cx, cy, best[ys, xs], best_size[ys, xs] * inv]).astype(np.float64)


def _refine_centre(gray: GrayImage, x: float, y: float, half: int) -> Point | None:
    """Sub-pixel X-junction (saddle) location with cv2.cornerSubPix in a (2*half+1)^2 window.

    None if the iteration ran away.
    """
    pt = np.array([[[x, y]]], np.float32)
    cv2.cornerSubPix(gray, pt, (half, half), (-1, -1), _SUBPIX_CRITERIA)
    px, py = float(pt[0, 0, 0]), float(pt[0, 0, 1])
    if not math.isfinite(px + py) or math.hypot(px - x, py - y) > 2 * half:
        return None
    return px, py


# --------------------------------------------------------------------------------------------
# Step 2: grid assignment
# --------------------------------------------------------------------------------------------
def _find_top_row(cands: FloatArray) -> tuple[_Candidate, _Candidate, float] | None:
    """Top-most strong, roughly horizontal pair of candidates of similar size whose distance is
    plausible for the first and last column of the target.

    Only pairs nearly as strong as the strongest pair are considered, so that background clutter
    (grass reaches NCC ~0.7) cannot win by being higher up.  Returns (left, right, score
    threshold used) or None.
    """
    strong = [_Candidate(*map(float, c)) for c in cands[cands[:, 2] >= TOP_ROW_MIN_SCORE]]
    lo, hi = PAIR_SPAN_SIZES
    pairs: list[tuple[float, float, int, int]] = []  # (mean y, pair score, i, j)
    for i, ci in enumerate(strong):
        for j, cj in enumerate(strong):
            dx, dy = cj.x - ci.x, cj.y - ci.y
            if dx <= 0 or abs(dy) > PAIR_MAX_SLOPE * dx:
                continue
            if max(ci.size, cj.size) / min(ci.size, cj.size) > PAIR_MAX_SIZE_RATIO:
                continue
            if not lo <= dx / (0.5 * (ci.size + cj.size)) <= hi:
                continue
            pairs.append((0.5 * (ci.y + cj.y), min(ci.score, cj.score), i, j))
    if not pairs:
        return None
    thr = TOP_ROW_REL_SCORE * max(p[1] for p in pairs)
    _, _, i, j = min(p for p in pairs if p[1] >= thr)  # top-most qualifying pair
    return strong[i], strong[j], thr


def _row_above_visible(cands: FloatArray, grid: Grid, sim: FloatArray, min_score: float) -> bool:
    """True if a strong candidate sits where a row above the assumed top row would be.

    Then the real top row is probably partly hidden and the pair found is a lower row.  The
    world grid's row spacing predicts the position.
    """
    if len(grid) < 2:
        return False
    spacing = row_spacing(grid)
    above = [(x, y + spacing) for x, y in grid[0]]
    tol = _match_tol(sim, above[0], grid[0][0])
    strong = cands[cands[:, 2] >= min_score]
    return any(_near_candidate(strong, p, tol) for p in _apply(sim, above))


def _match_tol(transform: FloatArray, a: Point, b: Point) -> float:
    """How far (px) a found centre may be from its prediction: MATCH_TOL of the image distance
    between world points ``a`` and ``b`` of neighbouring rows (one row spacing)."""
    pa, pb = _apply(transform, [a, b])
    return MATCH_TOL * float(np.hypot(*(pa - pb)))


def _near_candidate(cands: FloatArray, p: FloatArray, tol: float) -> bool:
    """Whether a candidate bow-tie centre lies within ``tol`` px of image point ``p``."""
    return bool(len(cands)) and float(np.hypot(cands[:, 0] - p[0], cands[:, 1] - p[1]).min()) <= tol


def _missing_dry_row(
    cands: FloatArray, grid: Grid, transform: FloatArray, level_cm: float, shape: tuple[int, ...]
) -> float | None:
    """World y of the first row that the level says is dry but that shows no bow-tie, or None.

    Rows do not overlap, so a row whose centre is more than half a row spacing above the water
    is wholly dry: each of its bow-ties must then be a candidate (NCC >= CAND_MIN_SCORE) near
    where the transform puts it.  When the board's reflection is as bright as the board itself
    (an overexposed picture) the waterline step disappears from the strip and the reflection's
    lower edge is read instead; the rows that this puts above the water are then missing, and
    the reading is refused rather than reported tens of cm too low.  Rows outside the picture
    cannot be checked and are skipped.
    """
    spacing = row_spacing(grid)
    h, w = shape[:2]
    for r, row in enumerate(grid[1:], start=1):
        if row[0][1] - level_cm <= 0.5 * spacing + MIN_CLEARANCE_CM:
            break
        tol = _match_tol(transform, row[0], grid[r - 1][0])
        for p in _apply(transform, row):
            if 0 <= p[0] < w and 0 <= p[1] < h and not _near_candidate(cands, p, tol):
                return row[0][1]
    return None


@dataclass(frozen=True)
class _Water:
    """The coarse waterline in the world frame of a top-row similarity, and the top edge of a
    wet band above it if there is one."""

    sim_inv: FloatArray  # image -> world (cm)
    px_per_cm: float
    level_cm: float  # world y of the waterline
    band_top_cm: float | None = None

    @classmethod
    def of(cls, sim: FloatArray, level_cm: float, band_top_cm: float | None = None) -> _Water:
        return cls(np.asarray(np.linalg.inv(sim), np.float64), _scale(sim), level_cm, band_top_cm)

    def clearance_cm(self, p: Point) -> float:
        """Height (cm) of image point p above the waterline."""
        return self._world_y(p) - self.level_cm

    def half_window(self, p: Point, base_half: int) -> int:
        """cornerSubPix half window for a centre at image point p, shrunk so that the window
        stays WINDOW_CLEAR_CM clear of the waterline and of a wet band's top edge (a straight
        edge in the window pulls the X-junction onto it); 0 inside a wet band, whose lower edge
        (a stain's) is not known."""
        y = self._world_y(p)
        clear = y - self.level_cm
        if self.band_top_cm is not None:
            if y < self.band_top_cm:
                return 0
            clear = min(clear, y - self.band_top_cm)
        return min(base_half, math.floor((clear - WINDOW_CLEAR_CM) * self.px_per_cm))

    def _world_y(self, p: Point) -> float:
        return float(_apply(self.sim_inv, [p])[0, 1])


def _walk_rows(
    gray: GrayImage, grid: Grid, matched: Matches, base_half: int, water: _Water
) -> Matches:
    """Extend ``matched`` (top row already in it) row by row downwards.

    Each row is predicted from the rows found so far and refined to the X-junction near the
    prediction.  A row is accepted only if all its centres are at least MIN_CLEARANCE_CM above
    the coarse waterline, and the cornerSubPix window is kept clear of the water so that the
    reflection cannot pull the centre.  Stops at the first row that fails.
    """
    matched = dict(matched)
    for r in range(1, len(grid)):
        fitted = _fit_transform([grid[k][c] for k, c in matched], list(matched.values()))
        if fitted is None:
            break
        pred = _apply(fitted[0], grid[r])
        tol = _match_tol(fitted[0], grid[r][0], grid[r - 1][0])
        row = _match_row(gray, pred, row=r, tol=tol, base_half=base_half, water=water)
        if row is None:
            break
        matched.update(row)
    return matched


def _match_row(
    gray: GrayImage, pred: FloatArray, *, row: int, tol: float, base_half: int, water: _Water
) -> Matches | None:
    """Refined centres of bow-tie row ``row`` predicted at ``pred``; None unless all are found."""
    found: Matches = {}
    for c, (x, y) in enumerate(pred):
        p = (float(x), float(y))
        half = water.half_window(p, base_half)
        if half < MIN_HALF_WIN:
            return None
        q = _refine_centre(gray, p[0], p[1], half)
        if q is None or math.hypot(q[0] - p[0], q[1] - p[1]) > tol:
            return None
        # the converged centre must itself be clear of the water
        if water.clearance_cm(q) < MIN_CLEARANCE_CM:
            return None
        found[row, c] = q
    return found
