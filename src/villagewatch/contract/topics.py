"""Topic names of the MQTT contract, v1: ``vw/v1/<village>/<device>/<channel>``.

Channels: ``telemetry`` (readings), ``event`` (discrete events), ``status``
(retained birth/death), ``evidence/<event-id>`` (JPEG bytes), ``config``
(retained desired config) and ``config/reported`` (what the edge applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from villagewatch.contract.identifiers import is_identifier

__all__ = [
    "PREFIX",
    "Channel",
    "Topic",
    "TopicError",
    "parse_topic",
    "subscription",
    "topic_for",
]

PREFIX = "vw/v1"


class Channel(StrEnum):
    """The last level(s) of a contract topic."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"
    EVIDENCE = "evidence"
    CONFIG = "config"
    CONFIG_REPORTED = "config/reported"


class TopicError(ValueError):
    """A topic that is not a v1 contract topic; the message says why."""


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed contract topic."""

    village: str
    device: str
    channel: Channel
    evidence_id: str | None = None

    def __str__(self) -> str:
        return topic_for(self.village, self.device, self.channel, evidence_id=self.evidence_id)


def topic_for(
    village: str, device: str, channel: Channel, *, evidence_id: str | None = None
) -> str:
    """Build the topic for a device's channel; every identifier is checked."""
    for what, value in (("village", village), ("device", device)):
        if not is_identifier(value):
            raise TopicError(f"{what} {value!r} is not an identifier")
    if channel is Channel.EVIDENCE:
        if evidence_id is None or not is_identifier(evidence_id):
            raise TopicError(f"evidence id {evidence_id!r} is not an identifier")
        return f"{PREFIX}/{village}/{device}/evidence/{evidence_id}"
    return f"{PREFIX}/{village}/{device}/{channel.value}"


def subscription(
    channel: Channel, *, village: str = "+", device: str = "+", group: str | None = None
) -> str:
    """Topic filter for one channel of every device (of one village, or all), or of one device.

    With ``group`` the filter is an MQTT 5 shared subscription
    ``$share/<group>/…``: the broker hands each message to one member.
    """
    for what, value in (("village", village), ("device", device)):
        if value != "+" and not is_identifier(value):
            raise TopicError(f"{what} {value!r} is not an identifier")
    tail = "evidence/+" if channel is Channel.EVIDENCE else channel.value
    filt = f"{PREFIX}/{village}/{device}/{tail}"
    if group is None:
        return filt
    if not is_identifier(group):
        raise TopicError(f"share group {group!r} is not an identifier")
    return f"$share/{group}/{filt}"


_SIMPLE_CHANNELS = {
    "telemetry": Channel.TELEMETRY,
    "event": Channel.EVENT,
    "status": Channel.STATUS,
    "config": Channel.CONFIG,
}


def parse_topic(topic: str) -> Topic:
    """Parse a concrete (wildcard-free) contract topic or raise :class:`TopicError`."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "vw" or parts[1] != "v1":
        raise TopicError("not under vw/v1/<village>/<device>/")
    village, device, rest = parts[2], parts[3], parts[4:]
    if not is_identifier(village):
        raise TopicError(f"village {village[:80]!r} is not an identifier")
    if not is_identifier(device):
        raise TopicError(f"device {device[:80]!r} is not an identifier")
    if len(rest) == 1 and rest[0] in _SIMPLE_CHANNELS:
        return Topic(village, device, _SIMPLE_CHANNELS[rest[0]])
    if rest == ["config", "reported"]:
        return Topic(village, device, Channel.CONFIG_REPORTED)
    if len(rest) == 2 and rest[0] == "evidence":
        if not is_identifier(rest[1]):
            raise TopicError(f"evidence id {rest[1][:80]!r} is not an identifier")
        return Topic(village, device, Channel.EVIDENCE, evidence_id=rest[1])
    raise TopicError(f"unknown channel {'/'.join(rest)[:80]!r}")
