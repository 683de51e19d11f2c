"""What every evidence store is: the :class:`Evidence` interface, the refusal of a picture that
is no evidence, and the error that carries it.

What counts as a JPEG: it starts with the SOI marker ``FF D8`` followed by the
``FF`` of the next marker, ends with the EOI marker ``FF D9`` and is at most
:data:`~villagewatch.contract.MAX_EVIDENCE_BYTES` (the contract's 200 KB). Trailing bytes after
EOI are *not* accepted: the edge's encoder (OpenCV) ends exactly at EOI, so
anything else is a torn or tampered picture — a truncated transfer would
otherwise pass as "trailing data", and bytes appended after the image are a
known way to smuggle another file through an image endpoint. The image itself
is not decoded here: that would run a parser of hostile input in the ingester.
"""

from __future__ import annotations

from typing import Protocol

from villagewatch.contract import MAX_EVIDENCE_BYTES, RejectReason, is_identifier
from villagewatch.errors import VillagewatchError

__all__ = ["Evidence", "EvidenceRejected", "jpeg_refusal", "parts_refusal"]

_SOI = b"\xff\xd8\xff"  # start of image, then the first byte of the next marker
_EOI = b"\xff\xd9"


class EvidenceRejected(VillagewatchError):
    """The store refuses this picture; ``reason`` is the dead-letter reason."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


class Evidence(Protocol):
    """Where evidence pictures are kept: written by the ingesters, read by every API node.

    ``save`` raises :class:`EvidenceRejected` for a picture that is no evidence (the ingester
    dead-letters it) and ``OSError`` or :class:`~villagewatch.errors.StoreUnavailable` when
    the disk or the database fails (the ingester tries the batch again); the same picture
    saved twice is kept once. Reads return None for a picture that is not there, or for a
    name that is no identifier.
    """

    def save(self, village: str, device: str, evidence_id: str, jpeg: bytes) -> object:
        """Keep the picture, durably, before it returns."""
        ...

    def picture(self, village: str, device: str, evidence_id: str) -> bytes | None:
        """The picture ``evidence_id`` of a device."""
        ...

    def newest(self, village: str, device: str) -> bytes | None:
        """The device's newest picture (by when it was stored)."""
        ...

    def close(self) -> None:
        """Release what the store holds open."""
        ...


def jpeg_refusal(
    jpeg: bytes, max_bytes: int = MAX_EVIDENCE_BYTES
) -> tuple[RejectReason, str] | None:
    """Why ``jpeg`` is not acceptable evidence (reason, detail), or None when it is."""
    if len(jpeg) > max_bytes:
        return RejectReason.TOO_LARGE, f"{len(jpeg)} bytes, limit {max_bytes}"
    if not jpeg.startswith(_SOI):
        return RejectReason.INVALID_PAYLOAD, "not a JPEG: does not start with the SOI marker FF D8"
    if len(jpeg) < len(_SOI) + len(_EOI) or not jpeg.endswith(_EOI):
        return (
            RejectReason.INVALID_PAYLOAD,
            "torn JPEG: does not end with the EOI marker FF D9 (nothing may follow it)",
        )
    return None


def parts_refusal(village: str, device: str, evidence_id: str) -> EvidenceRejected | None:
    """The refusal of a picture whose village, device or evidence id is no contract identifier
    (a path such as ``../x`` never names a file or a row), or None."""
    if is_identifier(village) and is_identifier(device) and is_identifier(evidence_id):
        return None
    return EvidenceRejected(
        RejectReason.BAD_TOPIC,
        f"not identifiers: {village[:80]!r}/{device[:80]!r}/{evidence_id[:80]!r} (an evidence "
        "id is lower-case letters, digits, - and _, at most 64)",
    )
