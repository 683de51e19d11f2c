"""How the anomaly scorer's state is written as JSON values and read back, checked
(:meth:`~villagewatch.detectors.anomaly_score.SeriesScorer.to_json`)."""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any

__all__ = ["floats", "pack", "slots"]


def floats(raw: list[Any], size: int) -> list[float]:
    """``size`` numbers, as floats (``ValueError`` for another count)."""
    if len(raw) != size:
        raise ValueError(f"expected {size} values, got {len(raw)}")
    return [float(v) for v in raw]


def pack(values: list[float | None]) -> str:
    """Profile slots as base64 of little-endian doubles, NaN for a slot not seen yet: exact,
    and about half the size of JSON numbers (the profiles are most of a state)."""
    doubles = [math.nan if v is None else v for v in values]
    return base64.b64encode(struct.pack(f"<{len(doubles)}d", *doubles)).decode("ascii")


def slots(raw: Any, size: int) -> list[float | None]:
    """Take back a :func:`pack` of ``size`` slots (``ValueError`` when it does not fit)."""
    try:
        packed = base64.b64decode(str(raw), validate=True)
    except binascii.Error as e:
        raise ValueError(f"profile slots not in base64: {e}") from None
    if len(packed) != 8 * size:
        raise ValueError(f"expected {size} profile slots, got {len(packed) / 8:g}")
    values = struct.unpack(f"<{size}d", packed)
    if any(math.isinf(v) for v in values):
        raise ValueError("an infinite profile slot")
    return [None if math.isnan(v) else v for v in values]
