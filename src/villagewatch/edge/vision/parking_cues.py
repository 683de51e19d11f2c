"""The two picture cues of a parking space against frames of the empty lot.

Every frame (references and live frames alike) is turned to grey, halved in size
(``WORK_SCALE``; INTER_AREA) and taken to the log domain, ``L = ln(grey + LOG_OFFSET)``.
In the log domain a change of light is an *addition*: a global change of exposure or sun
adds a constant over a space, a shadow adds a piecewise-constant step, and a car adds
anything at all. Haze, mist or a wet lens is the one common change that is not a factor:
it adds light everywhere and flattens every difference. So before the log, the frame's
black (its ``BLACK_PERCENTILE`` grey level) is brought down to the darkest black among the
references; a frame no lighter in its shadows than the references is left as it is.
Each space (its polygon shrunk towards its centroid by ``POLYGON_SHRINK``) is compared
with every reference and two cues are computed per reference:

``shade``
    the spread of the log-ratio ``D = L_frame - L_reference`` over the space, as the mean
    absolute deviation from its median. A uniform change of light leaves ``D`` constant
    (spread 0); a car, which replaces the asphalt, spreads it.
``edges``
    the fraction of the space's pixels where the log-gradient magnitude (Sobel / 8, so in
    log units per working pixel) gained or lost more than ``EDGE_STEP`` relative to the
    reference, with a 3 x 3 tolerance (the stronger gradient within one pixel counts) so
    that a camera shake of a pixel or two does not turn the painted lines into changes.
    Log-gradients are unchanged inside a shadow (texture is scaled, not replaced); only the
    shadow's boundary is new, one line across the space, while a car brings its outline,
    windows, wheels and highlights.

Both are divided by a scale (``SHADE_SCALE``, ``EDGE_SCALE``: the largest value each
reached on an empty space of PKLot UFPR05 ``sequence0``, each frame against the other four),
so 1 is "as changed as the worst empty space seen". ``parking_model`` turns them into a
probability. Generic choices, not fitted: ``WORK_SCALE`` 0.5 (a space of a 1280 x 720 frame
is still 45-85 px long at half size; halving cuts JPEG noise and cost), ``LOG_OFFSET`` 8
grey levels (keeps the log of dark, noisy pixels from exploding), ``POLYGON_SHRINK`` 0.85
(hand-drawn polygons include the shared painted lines and the neighbours' overhang seen in
perspective), ``EDGE_STEP`` 0.05 (a step of about 10 % in brightness: above JPEG noise on
asphalt, below any car outline), ``BLACK_PERCENTILE`` 1 % (every outdoor scene has some
deep shadow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "SpacePixels",
    "black_level",
    "check_frame",
    "prepare_frame",
    "small_grey",
    "space_cues",
]

WORK_SCALE = 0.5
LOG_OFFSET = 8.0
POLYGON_SHRINK = 0.85
EDGE_STEP = 0.05
SHADE_SCALE = 0.21
EDGE_SCALE = 0.21
BLACK_PERCENTILE = 1.0
STRAIGHT_WINDOW = 7
STRAIGHT_COHERENCE = 0.95

_MIN_PIXELS = 12  # a space smaller than this at the working scale cannot be judged
_TOLERANCE = np.ones((3, 3), np.uint8)

F32 = npt.NDArray[np.float32]


class SpacePixels:
    """Where each space's pixels are in a working-scale image: all spaces side by side,
    space after space, so that every per-pixel step is one numpy call over the whole frame
    and per-space sums one ``np.add.reduceat``."""

    def __init__(
        self,
        spaces: Mapping[str, Sequence[tuple[float, float]]],
        frame_size: tuple[int, int],
        work_size: tuple[int, int],
    ) -> None:
        pixels = [
            _space_pixels(name, polygon, frame_size, work_size) for name, polygon in spaces.items()
        ]
        self.names = list(spaces)
        self.index = np.concatenate(pixels)
        self.counts = np.array([len(p) for p in pixels], dtype=np.intp)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.intp)
        self.shape = (work_size[1], work_size[0])

    def straight(self, dx: F32, dy: F32) -> npt.NDArray[np.bool_]:
        """Per row of ``dx``, ``dy`` (references x pixels: how the log-gradient changed
        against a reference), the pixels where that change has one direction over the
        ``STRAIGHT_WINDOW`` square around them: coherence of the change's structure tensor
        above ``STRAIGHT_COHERENCE``."""
        out = np.zeros(dx.shape, bool)
        img = np.zeros(self.shape, np.float32)
        flat = img.ravel()
        window = (STRAIGHT_WINDOW, STRAIGHT_WINDOW)
        for r in range(len(dx)):
            sums = []
            for product in (dx[r] * dx[r], dy[r] * dy[r], dx[r] * dy[r]):
                flat[self.index] = product  # outside the spaces stays 0: adds nothing
                summed = cv2.boxFilter(img, -1, window, normalize=False)
                sums.append(summed.ravel()[self.index])
            jxx, jyy, jxy = sums
            spread = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)
            out[r] = spread > STRAIGHT_COHERENCE * (jxx + jyy + 1e-6)
        return out

    def take(self, image: F32) -> F32:
        """The spaces' pixels of one working-scale image, as one flat array."""
        return np.asarray(image.ravel()[self.index], np.float32)


def check_frame(frame: npt.NDArray[np.uint8], what: str) -> npt.NDArray[np.uint8]:
    """``frame`` if it is an H x W x 3 uint8 BGR image of at least 4 x 4; ValueError naming
    ``what`` otherwise."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"{what} is not a numpy array")  # noqa: TRY004 - a value error to callers
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"{what} must be an H x W x 3 uint8 BGR image, not {frame.dtype} {frame.shape}"
        )
    if frame.shape[0] < 4 or frame.shape[1] < 4:
        raise ValueError(f"{what} is too small: {frame.shape[1]}x{frame.shape[0]}")
    return frame


def small_grey(frame: npt.NDArray[np.uint8]) -> F32:
    """Grey at the working scale."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, None, fx=WORK_SCALE, fy=WORK_SCALE, interpolation=cv2.INTER_AREA)
    return np.asarray(small, np.float32)


def black_level(small: F32) -> float:
    """The frame's black: a low percentile of its grey (every other pixel is enough)."""
    return float(np.percentile(small[::2, ::2], BLACK_PERCENTILE))


def prepare_frame(small: F32, haze: float, where: SpacePixels) -> F32:
    """The spaces' pixels of a working-scale grey frame less ``haze`` grey levels, as rows:
    log image, log-gradient magnitude, and that dilated by 3 x 3 (shape 3 x pixels)."""
    if haze > 0:
        small = np.maximum(small - np.float32(haze), np.float32(0))
    log = np.asarray(cv2.log(small + np.float32(LOG_OFFSET)), np.float32)
    gx = cv2.Sobel(log, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(log, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    grad = np.asarray(cv2.magnitude(gx, gy), np.float32)
    wide = np.asarray(cv2.dilate(grad, _TOLERANCE), np.float32)
    return np.stack(
        [
            where.take(log),
            where.take(grad),
            where.take(wide),
            where.take(np.asarray(gx, np.float32)),
            where.take(np.asarray(gy, np.float32)),
        ]
    )


def space_cues(frame: F32, refs: F32, where: SpacePixels) -> tuple[F32, F32]:
    """``shade`` and ``edges`` of every space against every reference, scaled (each of
    shape references x spaces); ``frame`` is one ``prepare_frame`` result, ``refs`` a stack
    of them (references x 3 x pixels)."""
    ratio = frame[0] - refs[:, 0]  # (references, pixels)
    counts, starts = where.counts, where.starts
    medians = np.empty((len(ratio), len(counts)), np.float32)
    for i, (start, count) in enumerate(zip(starts, counts, strict=True)):
        half = count // 2  # the upper median; one pixel either way does not matter
        medians[:, i] = np.partition(ratio[:, start : start + count], half, axis=1)[:, half]
    spread = np.abs(ratio - np.repeat(medians, counts, axis=1))
    shade = np.add.reduceat(spread, starts, axis=1) / counts
    changed = (frame[1] - refs[:, 2] > EDGE_STEP) | (refs[:, 1] - frame[2] > EDGE_STEP)
    # a cast shadow's boundary (or a thin shadow of a post) is one straight edge; a car's
    # windows, wheels, highlights and lost asphalt grain are not
    changed &= ~where.straight(frame[3] - refs[:, 3], frame[4] - refs[:, 4])
    edges = np.add.reduceat(changed, starts, axis=1, dtype=np.int32) / counts
    return (
        np.asarray(shade / SHADE_SCALE, np.float32),
        np.asarray(edges / EDGE_SCALE, np.float32),
    )


def _space_pixels(
    name: str,
    polygon: Sequence[tuple[float, float]],
    frame_size: tuple[int, int],
    work_size: tuple[int, int],
) -> npt.NDArray[np.intp]:
    """Flat working-image indices inside the polygon, shrunk towards its centroid."""
    width, height = frame_size
    work_w, work_h = work_size
    points = np.asarray(polygon, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise ValueError(f"space {name!r}: a polygon needs at least 3 (x, y) points")
    if not np.isfinite(points).all():
        raise ValueError(f"space {name!r}: polygon has a non-finite coordinate")
    xs, ys = points[:, 0], points[:, 1]
    if xs.min() < 0 or ys.min() < 0 or xs.max() > width or ys.max() > height:
        raise ValueError(
            f"space {name!r}: polygon reaches outside the {width}x{height} frame "
            f"(x {xs.min():g}..{xs.max():g}, y {ys.min():g}..{ys.max():g})"
        )
    centre = points.mean(axis=0)
    shrunk = (centre + (points - centre) * POLYGON_SHRINK) * WORK_SCALE
    # the area too, not only the filled pixels: fillPoly draws a zero-area polygon's outline
    area = 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))
    area *= (POLYGON_SHRINK * WORK_SCALE) ** 2
    mask = np.zeros((work_h, work_w), np.uint8)
    cv2.fillPoly(mask, [np.round(shrunk * 16).astype(np.int32)], (1,), shift=4)
    index = np.flatnonzero(mask)
    if min(area, index.size) < _MIN_PIXELS:
        raise ValueError(
            f"space {name!r}: polygon covers only {min(area, index.size):.0f} pixels at the "
            f"working scale (at least {_MIN_PIXELS} needed)"
        )
    return index
