"""Steps 3 and 6 of the gauge reader: where the water meets the target, in world cm.

The target is rectified to world cm with the world->image transform found from its bow-ties.

Step: the top-most strong bright->dark step of the central white strip (between the bow-tie
columns) that stays dark below is where the board ends and the water begins (``find_steps``).

Wet band: a falling tide leaves the board wet, and a wet band or a stain is darker too: its
top edge is a bright->dark step that stays dark, just like the water.  What tells them apart is
what lies below the line.  Below the water the board is seen mirrored (its reflection); below
the top of a wet band the board goes on, darker, with its bow-ties where they belong.  Both are
measured on the board's *texture*: the log grey level across the bow-tie columns minus each
row's mean, in which a band that darkens a row by one factor, and the water's own brightness,
drop out.  Then, over WINDOW_CM below a line (``BoardTexture.scores``):

* mirror: how well (NCC) it matches the texture above the line, flipped about the line;
* continuation: how well it matches the board one bow-tie row spacing higher up (all rows of
  a target look alike, and that part is dry).

The step is the water if it is a mirror line: mirror >= MIRROR_MIN and better than the
continuation by WATER_MIN_EVIDENCE.  If not, the water may be lower, below a wet band whose top
is the step: the top-most mirror line below it is looked for (down to one row spacing if the
board goes on below the step, else within WINDOW_CM: a band shorter than the window leaves the
continuation low) and read at the step of the strip within SNAP_CM of it, or on the line.  No
mirror line: if the board goes on below the step (CONTINUATION_MIN) the picture is refused with
the reason; if neither a reflection nor the board is below the step (rough or muddy water that
mirrors nothing), the step is the water, as before.

A bow-tie is symmetric about its centre line, and the rows repeat, so on the lines through the
bow-tie centres and halfway between two rows a reflection and the board going on look the same.
There neither wins and a wet band's top is never taken for the water: the water below it is
found, or the picture is refused.  The water itself standing on such a line is mirrored well
enough to be read on the field pictures (the mirror wins by 0.11 or more on all 24).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "Grid",
    "Point",
    "Waterline",
    "board_texture",
    "find_steps",
    "find_waterline",
    "row_spacing",
]

STRIP_X_FRAC = (0.3, 0.7)  # central white strip between first/last bow-tie column
STRIP_ABOVE_FRAC = 0.25  # search from this many row spacings above the top row ...
STRIP_BELOW_FRAC = 0.6  # ... down to this many row spacings below the lowest row
RES_CM = 0.25  # rectified strip resolution (cm / px), ~ native resolution
PROFILE_SIGMA_CM = 0.5  # smoothing of the vertical profile
STEP_HALF_CM = 1.5  # half-width of the step (edge) detector
MIN_REL_DROP = 0.10  # a waterline must darken by >= 10 % ...
REL_TO_MAX = 0.5  # ... and by >= half of the strongest drop in the strip
PERSIST_CM, PERSIST_FRAC = 6.0, 0.5  # the water must stay darker (>= half the step) this far
BLACK_BAND_FRAC = 0.25  # the bow-ties' grey level is taken within this x row spacing of the top row
# texture across the bow-tie columns: from this many row spacings outside the outer centres
# (a GaugeCam bow-tie reaches ~0.35 row spacings either side of its centre)
TEXTURE_X_MARGIN_FRAC = 0.3
# ... and up to the top of the top row's bow-ties (~0.35 row spacings above their centres)
TEXTURE_ABOVE_FRAC = 0.33
TEXTURE_LOG_OFFSET = 4.0  # grey levels added before the log, so black noise does not dominate
WINDOW_CM = 10.0  # how far below a line the mirror and the continuation are compared
WATER_MIN_EVIDENCE = 0.08  # the mirror must beat the board going on by this much NCC ...
MIRROR_MIN = 0.7  # ... and match the board above the line at least this well
CONTINUATION_MIN = 0.8  # the board goes on below a line if it matches the board this well
PEAK_CM = 2.0  # the mirror line below a wet band is the best one within this distance ...
SNAP_CM = 1.5  # ... and a step of the strip this close to it gives the level

FloatArray = npt.NDArray[np.float64]
Point = tuple[float, float]
Grid = tuple[tuple[Point, ...], ...]  # bow-tie rows, top (highest world y) first, each by x

NO_WATERLINE = "no waterline found on the target"


@dataclass(frozen=True)
class Waterline:
    """The waterline in world cm, or None with the reason ("" with a level); and the top of a
    wet band or stain above it, if one was passed over (its edge is a strong line too)."""

    level_cm: float | None
    reason: str = ""
    band_top_cm: float | None = None  # the top of a wet band found above the water


def row_spacing(grid: Grid) -> float:
    """Mean vertical distance between bow-tie rows (cm); 0 for one row."""
    return (grid[0][0][1] - grid[-1][0][1]) / (len(grid) - 1) if len(grid) > 1 else 0.0


def find_waterline(gray_f: npt.NDArray[np.float32], transform: FloatArray, grid: Grid) -> Waterline:
    """The waterline (world y, cm) on the target seen through ``transform`` (world->image).

    The top-most strong step of the central strip, unless the board's texture goes on below it
    (a wet band or stain: see the module docstring); then the water below the band, or no level
    with the reason.
    """
    x_first, x_last = grid[0][0][0], grid[0][-1][0]
    x_range = (
        x_first + STRIP_X_FRAC[0] * (x_last - x_first),
        x_first + STRIP_X_FRAC[1] * (x_last - x_first),
    )
    row_sp = row_spacing(grid)
    y_top = grid[0][0][1] + STRIP_ABOVE_FRAC * row_sp
    y_bottom = grid[-1][0][1] - STRIP_BELOW_FRAC * row_sp
    strip, valid = _rectified_strip(gray_f, transform, x_range, y_top, y_bottom)
    # keep the rows that are fully inside the image
    ok = np.nonzero(valid.all(axis=1))[0]
    if not len(ok):
        return Waterline(None, NO_WATERLINE)
    first, last = int(ok.min()), int(ok.max())
    profile = np.median(strip[first : last + 1], axis=1).astype(np.float64)
    steps = find_steps(profile, _black_level(gray_f, transform, grid))
    if not steps:
        return Waterline(None, NO_WATERLINE)
    # positions in world cm, top first
    lines = [y_top - (first + pos) * RES_CM for pos, _ in steps]
    thr = REL_TO_MAX * max(rel for _, rel in steps)
    top = next(y for y, (_, rel) in zip(lines, steps, strict=True) if rel >= thr)
    if len(grid) < 2:  # one row: no spacing, no texture to compare
        return Waterline(top)
    texture = board_texture(gray_f, transform, grid, y_bottom)
    scores = texture.scores(top)
    if scores is None:  # too close to the ends of the target to compare
        return Waterline(top)
    continuation = scores[1]
    if texture.is_mirror_line(top):
        return Waterline(top)
    # Not a clear reflection: the water may be lower, below a wet band whose top is this step.
    # If the board does not go on for the whole window below the step, such a band is shorter
    # than the window, so the water is within it; else look as far as one row spacing.
    goes_on = continuation is None or continuation >= CONTINUATION_MIN
    reach = row_sp if goes_on else WINDOW_CM
    # (the search starts a little above the step: the water's own mirror line may be there)
    below = texture.first_mirror_line(top + SNAP_CM, top - reach)
    if below is not None:
        near = [y for y in lines if abs(y - below) <= SNAP_CM]
        level = min(near, key=lambda y: abs(y - below)) if near else below
        return Waterline(level, band_top_cm=top if top - level > SNAP_CM else None)
    if goes_on:
        return Waterline(
            None,
            f"no waterline found below a wet band: the board goes on below the step at "
            f"{top:.1f} cm (a wet band or stain, not the water) and no reflection of the board "
            "was found below it",
        )
    return Waterline(top)  # neither a reflection nor the board: water that mirrors nothing


# --------------------------------------------------------------------------------------------
# Texture: a reflection or the board going on
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoardTexture:
    """The target rectified across its bow-tie columns, row i at world y = y_top - i * RES_CM,
    as log grey level minus each row's mean (a row darkened by one factor is unchanged)."""

    rows: FloatArray
    y_top: float
    spacing_rows: int  # one bow-tie row spacing, in rows
    top_row: int  # the row of the top bow-tie centres

    def scores(self, y_cm: float) -> tuple[float, float | None] | None:
        """(mirror, continuation) NCCs of the WINDOW_CM below line ``y_cm``.

        mirror: against the WINDOW_CM above the line, flipped about it.  continuation: against
        the same part of the board one row spacing higher up (all rows of a target look
        alike); where that is above the rectified target, the top row's part mirrored about
        its centre line (a bow-tie is symmetric about it).  Rows whose board part would lie
        below the line are left out of both; if that leaves less than half the window (a line
        high on the board, with little dry board above it), the continuation is None.  None if
        the windows leave the rectified target.
        """
        i, d = self._index(y_cm), self._window()
        if i - d < 0 or i + d > len(self.rows):
            return None
        below = np.arange(i, i + d)
        mirrored = 2 * i - 1 - below  # row i + k mirrors row i - 1 - k
        src = below - self.spacing_rows
        src = np.where(src < 0, 2 * self.top_row - src, src)
        # half a sample of slack: on a bow-tie's symmetry line the source meets the line
        keep = src <= i + 1
        if 2 * int(keep.sum()) < d:
            return _ncc(self.rows[below], self.rows[mirrored]), None
        return (
            _ncc(self.rows[below[keep]], self.rows[mirrored[keep]]),
            _ncc(self.rows[below[keep]], self.rows[src[keep]]),
        )

    def is_mirror_line(self, y_cm: float) -> bool:
        """Whether the texture below line ``y_cm`` is the board above it mirrored: mirror NCC
        at least MIRROR_MIN and better than the board going on by WATER_MIN_EVIDENCE."""
        s = self.scores(y_cm)
        if s is None or s[0] < MIRROR_MIN:
            return False
        mirror, continuation = s
        return continuation is None or mirror - continuation >= WATER_MIN_EVIDENCE

    def first_mirror_line(self, start_cm: float, stop_cm: float) -> float | None:
        """Top-most mirror line (``is_mirror_line``) below ``start_cm``, down to ``stop_cm``,
        that has the largest mirror-minus-continuation within PEAK_CM either side, or None."""
        ys = np.arange(start_cm - RES_CM, stop_cm, -RES_CM)
        ev = np.full(len(ys), -np.inf)
        ok = np.zeros(len(ys), bool)
        for k, y in enumerate(ys):
            s = self.scores(float(y))
            if s is not None:
                mirror, continuation = s
                ev[k] = mirror - (0.0 if continuation is None else continuation)
                ok[k] = self.is_mirror_line(float(y))
        r = max(1, round(PEAK_CM / RES_CM))
        for j in np.nonzero(ok)[0]:
            if ev[j] >= ev[max(0, j - r) : j + r + 1].max():
                return float(ys[j])
        return None

    def _index(self, y_cm: float) -> int:
        return round((self.y_top - y_cm) / RES_CM)

    def _window(self) -> int:
        return max(2, round(WINDOW_CM / RES_CM))


def board_texture(
    gray_f: npt.NDArray[np.float32],
    transform: FloatArray,
    grid: Grid,
    y_bottom: float,
) -> BoardTexture:
    """The texture of the target from the top of its top row down to world y ``y_bottom`` (see
    BoardTexture).

    Only rows wholly inside the picture carry texture; others are left flat (zero), which no
    NCC can match.
    """
    spacing = row_spacing(grid)
    y_top = grid[0][0][1] + TEXTURE_ABOVE_FRAC * spacing
    margin = TEXTURE_X_MARGIN_FRAC * spacing
    x_range = (grid[0][0][0] - margin, grid[0][-1][0] + margin)
    strip, valid = _rectified_strip(gray_f, transform, x_range, y_top, y_bottom)
    logs = np.log(strip.astype(np.float64) + TEXTURE_LOG_OFFSET)
    rows = logs - logs.mean(axis=1, keepdims=True)
    rows[~valid.all(axis=1)] = 0.0
    top_row = round((y_top - grid[0][0][1]) / RES_CM)
    return BoardTexture(rows, y_top, max(1, round(spacing / RES_CM)), top_row)


def _ncc(a: FloatArray, b: FloatArray) -> float:
    """Normalised cross-correlation of two equal-shape arrays; 0 if either is flat."""
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / den if den > 0 else 0.0


# --------------------------------------------------------------------------------------------
# The central strip and its steps
# --------------------------------------------------------------------------------------------
def _rectified_strip(
    gray_f: npt.NDArray[np.float32],
    transform: FloatArray,
    x_range: tuple[float, float],
    y_top: float,
    y_bottom: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Warp the world rectangle x_range x [y_bottom, y_top] (cm) to an image with RES_CM per
    pixel; row i has world y = y_top - i * RES_CM.

    Returns the strip and the mask of its pixels that come from inside the image.
    """
    nx = round((x_range[1] - x_range[0]) / RES_CM) + 1
    ny = round((y_top - y_bottom) / RES_CM) + 1
    # strip pixel (u, v) -> world (x0 + u * res, y_top - v * res) -> image
    to_world = np.array([[RES_CM, 0, x_range[0]], [0, -RES_CM, y_top], [0, 0, 1]], np.float64)
    m = transform @ to_world
    strip = cv2.warpPerspective(
        gray_f,
        m,
        (nx, ny),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    inside = np.full(gray_f.shape[:2], 255, np.uint8)
    valid = cv2.warpPerspective(
        inside,
        m,
        (nx, ny),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.asarray(strip, np.float32), np.asarray(valid) > 0


def _smooth1d(x: FloatArray, sigma: float) -> FloatArray:
    """Gaussian smoothing of a 1-D signal (edge samples replicated)."""
    if sigma <= 0 or len(x) < 2:
        return x.astype(np.float64)
    out = cv2.GaussianBlur(
        x.astype(np.float64).reshape(1, -1), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE
    )
    return np.asarray(out, np.float64).ravel()


def find_steps(profile: FloatArray, black: float) -> list[tuple[float, float]]:
    """Strong bright->dark steps in a top-to-bottom profile, top first, as (position, strength).

    The step strength at each boundary is the mean over STEP_HALF_CM above minus the mean below,
    divided by the target's contrast: its white level (95th percentile of the profile) minus
    ``black``, the level of its bow-ties.  Haze or fog adds light to both and leaves the ratio
    alone.  Steps are local maxima that reach MIN_REL_DROP and stay darker below (see
    ``_persists``).  Weak steps above the waterline (old wet marks on the board) are left out
    by the caller's REL_TO_MAX; thin dark lines across the board (a rope, a fold) do not
    persist; strong steps below the waterline (e.g. the bottom of the board's reflection at
    night) are not top-most.

    The position is in profile samples (the boundary between samples i-1 and i is at i - 0.5),
    refined by a parabola through the strengths around the peak.
    """
    p = _smooth1d(profile, PROFILE_SIGMA_CM / RES_CM)
    n = len(p)
    w = max(1, round(STEP_HALF_CM / RES_CM))
    if n < 2 * w + 3:
        return []
    c = np.concatenate([[0.0], np.cumsum(p)])
    i = np.arange(w, n - w + 1)  # boundary between i-1 and i
    above = (c[i] - c[i - w]) / w
    below = (c[i + w] - c[i]) / w
    ref = max(float(np.percentile(p, 95)) - black, 1.0)
    rel = (above - below) / ref
    # local maxima of the step strength that are followed by water, not by board again
    peaks = [
        k
        for k in range(len(rel))
        if (k == 0 or rel[k] >= rel[k - 1])
        and (k + 1 == len(rel) or rel[k] >= rel[k + 1])
        and rel[k] >= MIN_REL_DROP
        and _persists(c, int(i[k]), w, float(rel[k]) * ref)
    ]
    out: list[tuple[float, float]] = []
    for k in peaks:
        off = 0.0
        if 0 < k < len(rel) - 1:  # parabolic sub-sample interpolation
            left, mid, right = float(rel[k - 1]), float(rel[k]), float(rel[k + 1])
            den = left - 2 * mid + right
            if den < 0:
                off = 0.5 * (left - right) / den
        out.append((float(i[k]) + off - 0.5, float(rel[k])))
    return out


def _black_level(gray_f: npt.NDArray[np.float32], transform: FloatArray, grid: Grid) -> float:
    """Grey level of the bow-ties: 5th percentile of the top row's band (always dry), across
    the target from the first to the last bow-tie centre."""
    half = BLACK_BAND_FRAC * row_spacing(grid) if len(grid) > 1 else 1.0
    top = grid[0]
    band, valid = _rectified_strip(
        gray_f, transform, (top[0][0], top[-1][0]), top[0][1] + half, top[0][1] - half
    )
    inside = band[valid]
    return float(np.percentile(inside, 5)) if inside.size else 0.0


def _persists(cum: FloatArray, i: int, w: int, drop: float) -> bool:
    """True if the profile stays darker below boundary i: the mean over PERSIST_CM below it is
    still at least PERSIST_FRAC of ``drop`` under the mean over the w samples above it.  Water
    goes on below a waterline; a thin dark line on the board (a fold, a rope, a branch's
    shadow) gives a step and at once its opposite."""
    n = len(cum) - 1
    end = min(n, i + max(w, round(PERSIST_CM / RES_CM)))
    above = (cum[i] - cum[i - w]) / w
    below = (cum[end] - cum[i]) / (end - i)
    return bool(above - below >= PERSIST_FRAC * drop)
