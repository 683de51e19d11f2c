"""The contract's evidence limit is the ingester's: a 233 KB picture is refused as too large
(it was accepted up to 1 MiB while the docs said 200 KB)."""

from __future__ import annotations

from villagewatch.contract import MAX_EVIDENCE_BYTES, RejectReason
from villagewatch.store.evidence import jpeg_refusal


def _jpeg(size: int) -> bytes:
    return b"\xff\xd8\xff" + b"\x00" * (size - 5) + b"\xff\xd9"


def test_a_picture_over_200_kb_is_refused_one_at_the_limit_is_kept() -> None:
    assert MAX_EVIDENCE_BYTES == 200_000
    refused = jpeg_refusal(_jpeg(233_000))
    assert refused is not None and refused[0] is RejectReason.TOO_LARGE
    assert jpeg_refusal(_jpeg(MAX_EVIDENCE_BYTES)) is None
