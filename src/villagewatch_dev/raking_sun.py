"""A raking low sun drawn over a PKLot frame: the shadows the cars cast across the spaces
beside them. Used by bench/vision_robustness.py and tests/data/test_parking.py, so the
bench's figures and the test's are of one picture."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["Truth", "raking_sun"]

Truth = dict[str, tuple[list[tuple[float, float]], bool]]
"""``load_pklot_spaces`` of the frame: space id -> (polygon, occupied)."""

F32 = npt.NDArray[np.float32]


def raking_sun(
    image: npt.NDArray[np.uint8],
    truth: Truth,
    dx: float,
    dy: float,
    depth: float,
    *,
    stepped: bool = False,
) -> npt.NDArray[np.uint8]:
    """Low sun from one side: every car's shadow, ``depth`` times as bright, falls
    (dx, dy) px across the spaces beside it, two long shadows of posts cross the lot, and
    the sunlit rest (the cars too) is 1.3 x brighter and warmer. The shadows fall where the
    truth has cars, never on them.

    A car's shadow is its outline swept along (dx, dy): the hull of the outline and its
    moved copy, straight-sided, edge blurred by 1 px at the car growing to 1.5 px at the
    far end (the camera's blur plus the sun's penumbra: the sun is 0.53 deg wide, so a roof
    edge 5-6 m from the ground it shades draws a penumbra of about 5 cm, 1-2 px here).
    ``stepped`` is the harsh variant: the outline stamped at 8 points along the sweep, so
    the shadow's side is a staircase of 8 short edges, all blurred by 2 px — more edges
    across a free space than any real car's shadow brings."""
    h, w = image.shape[:2]
    cars = [np.array(polygon, np.float32) for polygon, occupied in truth.values() if occupied]
    shift = np.array([dx, dy], np.float32)
    if stepped:
        light = _stepped_light(h, w, cars, shift, depth)
    else:
        light = _swept_light(h, w, cars, shift, depth)
    warm = np.array([0.9, 1.0, 1.1], np.float32)  # BGR: morning light
    return np.asarray(np.clip(image * light[..., None] * warm, 0, 255), np.uint8)


def _stepped_light(h: int, w: int, cars: list[F32], shift: F32, depth: float) -> F32:
    light = np.full((h, w), 1.3, np.float32)
    for points in cars:
        for step in np.linspace(0.0, 1.0, 8):
            cv2.fillPoly(light, [np.round(points + step * shift).astype(np.int32)], (depth,))
    for x in (300, 900):  # lamp posts' long shadows
        cv2.line(light, (x, 0), (round(x + 6 * float(shift[0])), h), (depth,), 6)
    for points in cars:  # a car is lit; only its shadow beside it
        cv2.fillPoly(light, [np.round(points).astype(np.int32)], (1.3,))
    return np.asarray(cv2.GaussianBlur(light, (0, 0), 2.0), np.float32)


def _swept_light(h: int, w: int, cars: list[F32], shift: F32, depth: float) -> F32:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    along = np.asarray(shift / float(np.dot(shift, shift)), np.float32)
    shadow = np.zeros((h, w), np.float32)
    for points in cars:
        hull = cv2.convexHull(np.vstack([points, points + shift]))
        mask = np.zeros((h, w), np.float32)
        cv2.fillPoly(mask, [np.round(hull).astype(np.int32)], (1.0,))
        shadow = np.maximum(shadow, _penumbra(mask, xs, ys, points.mean(axis=0), along))
    for x in (300, 900):  # lamp posts' long shadows, from their foot at the top
        mask = np.zeros((h, w), np.float32)
        cv2.line(mask, (x, 0), (round(x + 6 * float(shift[0])), h), (1.0,), 6)
        far = np.asarray(along / 6, np.float32)
        shadow = np.maximum(shadow, _penumbra(mask, xs, ys, np.array([x, 0.0], np.float32), far))
    light = 1.3 - (1.3 - depth) * shadow
    for points in cars:  # a car is lit; only its shadow beside it
        cv2.fillPoly(light, [np.round(points).astype(np.int32)], (1.3,))
    return np.asarray(cv2.GaussianBlur(light, (0, 0), 0.7), np.float32)


def _penumbra(mask: F32, xs: F32, ys: F32, origin: F32, along: F32) -> F32:
    """``mask`` blurred by 1 px where it starts (``origin``) to 1.5 px one ``along``
    length further."""
    near = cv2.GaussianBlur(mask, (0, 0), 1.0)
    far = cv2.GaussianBlur(mask, (0, 0), 1.5)
    t = np.clip((xs - origin[0]) * along[0] + (ys - origin[1]) * along[1], 0.0, 1.0)
    return np.asarray(near * (1 - t) + far * t, np.float32)
