"""Synthetic street scenes for the vision tests: a road with texture, cars, lighting, water."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.pipeline import CameraPipeline, Output

U8 = npt.NDArray[np.uint8]
W, H = 1280, 720
T0 = 1_790_000_000.0  # 2026-09-21 ~ 22:13 local (UTC+8)


def street(seed: int = 1) -> U8:
    """A textured scene: large smooth patches (buildings, road) plus sensor noise."""
    rng = np.random.default_rng(seed)
    low = rng.integers(70, 190, (18, 32, 3), dtype=np.uint8)
    big = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    return np.clip(big + rng.normal(0, 6, (H, W, 3)), 0, 255).astype(np.uint8)


def car(w: int = 220, h: int = 120) -> U8:
    """A red car seen from the side: body, windows, wheels."""
    img = np.full((h, w, 3), (40, 30, 150), np.uint8)
    cv2.rectangle(img, (w // 7, h // 8), (w - w // 7, h * 5 // 12), (200, 210, 210), -1)
    for cx in (w // 4, w * 3 // 4):
        cv2.circle(img, (cx, h - h // 8), h // 8, (10, 10, 10), -1)
    return img


def paste(frame: U8, obj: U8, x: int, y: int) -> U8:
    """``frame`` with ``obj`` at (x, y), clipped to the frame."""
    out = frame.copy()
    h, w = obj.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = obj[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


def camera(zones: list[dict[str, Any]], **extra: Any) -> CameraVision:
    """A camera config with fast backgrounds (seconds, so tests stay short)."""
    raw: dict[str, Any] = {
        "camera": "test-cam",
        "zones": zones,
        "motion": {"short_s": 5, "long_s": 600, "grace_s": 5},
    }
    raw.update(extra)
    return CameraVision.model_validate(raw)


def run(
    cam: CameraVision, frames: Callable[[int], U8], seconds: float, fps: float = 2.0
) -> Iterator[tuple[float, Output]]:
    """Feed ``frames(i)`` at ``fps`` for ``seconds``; yield (seconds since start, output)."""
    pipe = CameraPipeline(cam)
    for i in range(int(seconds * fps)):
        t = i / fps
        yield t, pipe.process(frames(i), T0 + t)
