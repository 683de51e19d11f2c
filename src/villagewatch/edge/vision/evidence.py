"""Evidence snapshots: a privacy-masked JPEG with the zone and each object drawn, ≤ 200 KB."""

from __future__ import annotations

import uuid

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.contract import MAX_EVIDENCE_BYTES
from villagewatch.edge.vision.scene import Scene, ZoneArea, draw_overlay

__all__ = ["encode_jpeg", "evidence_id", "evidence_jpeg"]

_QUALITIES = (85, 75, 65, 55, 45)


def evidence_id() -> str:
    """A fresh evidence id (a contract identifier)."""
    return "ev" + uuid.uuid4().hex[:24]


def encode_jpeg(image: npt.NDArray[np.uint8], max_bytes: int = MAX_EVIDENCE_BYTES) -> bytes:
    """JPEG of ``image`` within ``max_bytes``: lower quality first, then smaller pictures."""
    img = image
    while True:
        for q in _QUALITIES:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
            if not ok:
                raise ValueError("the frame could not be encoded as JPEG")
            if len(buf) <= max_bytes:
                return buf.tobytes()
        h, w = img.shape[:2]
        if w < 64:
            raise ValueError(f"cannot fit the snapshot in {max_bytes} bytes")
        img = np.asarray(
            cv2.resize(img, (w * 7 // 10, h * 7 // 10), interpolation=cv2.INTER_AREA), np.uint8
        )


def evidence_jpeg(
    frame_bgr: npt.NDArray[np.uint8],
    scene: Scene,
    zone: ZoneArea,
    boxes: list[tuple[int, int, int, int]],
    label: str,
) -> bytes:
    """The evidence of one detection: masked frame, its zone, the box of each of its objects
    (frame pixels), a label."""
    return encode_jpeg(draw_overlay(frame_bgr, scene, zones=[zone], boxes=boxes, label=label))
