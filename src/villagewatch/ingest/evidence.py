"""Evidence messages: the JPEGs cameras publish on ``vw/v1/<village>/<device>/evidence/<id>``.

The ingester checks each one at receipt (:func:`decode_evidence`: topic, device
registry, camera kind, size, JPEG markers) and its writer task saves it with
:class:`~villagewatch.store.evidence.Evidence` store in a worker thread before
the message is acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from villagewatch.contract import (
    MAX_EVIDENCE_BYTES,
    Channel,
    DeadLetter,
    DeviceInfo,
    DeviceKind,
    RejectReason,
    TopicError,
    parse_topic,
)
from villagewatch.store.evidence import jpeg_refusal

__all__ = ["EvidenceMessage", "decode_evidence"]


class EvidenceMessage(NamedTuple):
    """One evidence picture received and checked, waiting to be saved."""

    village: str
    device: str
    evidence_id: str
    topic: str
    received_ns: int
    jpeg: bytes


def decode_evidence(
    topic: str,
    payload: bytes,
    received_ns: int,
    devices: Mapping[tuple[str, str], DeviceInfo],
    *,
    max_bytes: int = MAX_EVIDENCE_BYTES,
) -> EvidenceMessage | DeadLetter:
    """Check an evidence message: a camera of the registry, an evidence id, a whole JPEG."""

    def reject(reason: RejectReason, detail: str) -> DeadLetter:
        return DeadLetter.of(received_ns, topic, reason, detail, payload)

    if len(payload) > max_bytes:
        return reject(RejectReason.TOO_LARGE, f"{len(payload)} bytes, limit {max_bytes}")
    try:
        parsed = parse_topic(topic)
    except TopicError as exc:
        return reject(RejectReason.BAD_TOPIC, str(exc))
    if parsed.channel is not Channel.EVIDENCE or parsed.evidence_id is None:
        return reject(RejectReason.UNEXPECTED_CHANNEL, f"{parsed.channel} is not evidence")
    info = devices.get((parsed.village, parsed.device))
    if info is None:
        return reject(
            RejectReason.UNKNOWN_DEVICE,
            f"no device {parsed.device!r} in village {parsed.village!r}",
        )
    if info.kind is not DeviceKind.CAMERA:
        return reject(RejectReason.UNEXPECTED_CHANNEL, f"{info.kind} devices send no evidence")
    refusal = jpeg_refusal(payload, max_bytes)
    if refusal is not None:
        return reject(*refusal)
    return EvidenceMessage(
        parsed.village, parsed.device, parsed.evidence_id, topic, received_ns, bytes(payload)
    )
