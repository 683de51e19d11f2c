"""Motion and objects that stay: a short-term and a long-term background of small grey frames.

Per frame (grey, downscaled, privacy-masked, as float32):

* **motion** — pixels that differ from the short-term background by more than
  ``threshold``: something is moving there now;
* the **short-term background** follows the picture with time constant ``short_s``
  (a new object joins it within a few ``short_s``);
* the **long-term background** follows with ``long_s`` (minutes: lighting drifts),
  but never under what moves or what is held (the objects being followed), so that a
  parked car is not learnt as road while it stands there;
* **changed** — where the short-term background differs from the long-term one
  (after a global gain correction, so that a lighting ramp does not count) and
  nothing moves: an object that came and stays.

Time constants use the frames' own timestamps, so a still camera that sends a picture
every five minutes and a video at 5 fps behave alike.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.config import MotionSettings

__all__ = ["Backgrounds"]

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))


class Backgrounds:
    """The background pair of one camera at processing size."""

    def __init__(self, settings: MotionSettings) -> None:
        self._s = settings
        self.short: F32 | None = None
        self.long: F32 | None = None
        self._long_scaled: F32 | None = None
        self.gain = 1.0
        """Global brightness of the picture relative to the long-term background."""
        self._t = 0.0

    def update(self, gray: U8, t: float, hold: U8 | None) -> tuple[U8, U8]:
        """Take the frame at time ``t`` (s); return ``(motion, changed)`` masks (0/255).

        ``hold`` (0/255, or None) marks pixels whose long-term background must not learn.
        """
        g = gray.astype(np.float32)
        if self.short is None or self.long is None or self.short.shape != g.shape:
            self.short, self.long, self._t = g.copy(), g.copy(), t
            self._long_scaled = self.long
            empty = np.zeros(gray.shape, np.uint8)
            return empty, empty
        dt = max(0.0, t - self._t)
        self._t = t
        thr = self._s.threshold
        motion = _above(np.asarray(cv2.absdiff(g, self.short), np.float32), thr)
        cv2.accumulateWeighted(g, self.short, 1.0 - math.exp(-dt / self._s.short_s))
        self.gain = _gain(self.short, self.long)
        self._long_scaled = self.long * np.float32(self.gain)
        diff = np.asarray(cv2.absdiff(self.short, self._long_scaled), np.float32)
        raw = cv2.bitwise_and(_above(diff, thr), cv2.bitwise_not(motion))
        changed = np.asarray(cv2.morphologyEx(raw, cv2.MORPH_OPEN, _KERNEL), np.uint8)
        # everything but what moves and what is held learns, slowly: shadows that wander
        # over the day are learnt; an object is held as soon as the tracker follows it
        learn = cv2.bitwise_not(motion)
        if hold is not None:
            learn = cv2.bitwise_and(learn, cv2.bitwise_not(hold))
        a_long = 1.0 - math.exp(-dt / self._s.long_s)
        cv2.accumulateWeighted(g, self.long, a_long, mask=learn)
        return motion, changed

    def absorb(self, box: tuple[int, int, int, int]) -> None:
        """Make what is in ``box`` now part of the long-term background at once."""
        if self.short is None or self.long is None:
            return
        x, y, w, h = box
        self.long[y : y + h, x : x + w] = self.short[y : y + h, x : x + w] / np.float32(self.gain)

    def long_scaled(self) -> F32:
        """The long-term background at the picture's brightness, as of the last update."""
        assert self._long_scaled is not None
        return self._long_scaled


def _above(diff: F32, thr: float) -> U8:
    return np.where(diff > thr, 255, 0).astype(np.uint8)


def _gain(short: F32, long: F32) -> float:
    """Median brightness ratio (sampled every 4th pixel), so a lighting ramp cancels out."""
    a = float(np.median(short[::4, ::4]))
    b = float(np.median(long[::4, ::4]))
    if b < 1.0 or a < 1.0:
        return 1.0
    return a / b
