"""What a broker's refusal of a publish means for the records in it, in words a technician
understands.

An MQTT 5 broker answers a QoS 1 publish with a PUBACK whose reason code says whether it took
the message (below 0x80) or why not. A refusal for now — not authorised by the ACL, over a
quota, an error in the broker — keeps the records in the outbox to be tried again later; a
refusal for good — too large for the broker, a payload or topic it calls invalid — moves them to
the outbox's dead-letter file, since sending the same bytes again can only be refused again.
(MQTT 3.1.1 has no reason codes: a broker drops what its ACL refuses and acknowledges it as
taken. Use MQTT 5.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TOO_LARGE", "Refusal", "refusal_of"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason the broker gives for not taking a message."""

    reason: str
    """A short name (metric label, status key)."""
    permanent: bool
    """Sending the same message again can only be refused again."""
    says: str
    """What it means, as the log tells it."""


_REFUSALS = {
    0x80: Refusal("unspecified_error", False, "an unspecified error — see the broker's log"),
    0x83: Refusal(
        "implementation_specific", False, "an error of the broker or a plugin — see its log"
    ),
    0x87: Refusal("not_authorized", False, "not authorised — is it in the broker's ACL?"),
    0x90: Refusal("topic_invalid", True, "the broker calls its topic name invalid"),
    0x91: Refusal("packet_id_in_use", False, "a packet id still in use"),
    0x95: Refusal("too_large", True, "too large for the broker"),
    0x97: Refusal("quota_exceeded", False, "over its quota at the broker"),
    0x99: Refusal("payload_format_invalid", True, "the broker calls its payload format invalid"),
}
_OTHER = Refusal("other", False, "an unknown reason code — see the broker's log")

TOO_LARGE = _REFUSALS[0x95]
"""Also what a message larger than the broker's announced Maximum Packet Size gets, unsent."""


def refusal_of(code: int) -> Refusal | None:
    """The refusal a PUBACK reason code stands for; None when the broker took the message."""
    if code < 0x80:
        return None
    return _REFUSALS.get(code, _OTHER)
