"""What a NATS source pulls: its durable consumers and the contract's subjects (an MQTT
topic ``vw/v1/<village>/<device>/<channel>`` is the subject ``vw.v1.<village>.<device>.<channel>``
on NATS's MQTT listener)."""

from __future__ import annotations

from dataclasses import dataclass

from villagewatch.contract import Channel, subscription

__all__ = ["Consumer", "contract_channel", "contract_subjects", "covers", "subject_channel"]


@dataclass(frozen=True, slots=True)
class Consumer:
    """A durable pull consumer of the stream, and the subjects it takes."""

    durable: str
    """Its name: every process with the same name shares it (each message to one of them)."""
    subjects: str
    """The NATS subjects it takes, in the contract's form (``vw.v1.>``, ``vw.v1.<village>.>``)."""
    redelivered_first: bool = False
    """Its one reader wants its messages in order: when it binds to a consumer holding
    messages a dead reader never acknowledged, it waits ``ack_wait`` for them to come again
    before pulling (else newer messages would come first). Not for a shared consumer, whose
    other readers' messages are always outstanding."""


def contract_subjects() -> list[str]:
    """The NATS subjects of what the ingester stores: telemetry, events, evidence (the MQTT
    filters with ``/`` → ``.``, ``+`` → ``*``)."""
    filters = [subscription(c) for c in (Channel.TELEMETRY, Channel.EVENT, Channel.EVIDENCE)]
    return [f.replace("/", ".").replace("+", "*") for f in filters]


def covers(captured: list[str], subject: str) -> bool:
    """Whether one of a stream's ``captured`` subjects takes every message of ``subject``."""
    want = subject.split(".")
    for pattern in captured:
        tokens = pattern.split(".")
        for i, part in enumerate(tokens):
            if part == ">":
                if len(want) > i:
                    return True
                break
            if i >= len(want) or (part not in (want[i], "*")):
                break
        else:
            if len(tokens) == len(want):
                return True
    return False


def subject_channel(subject: str) -> str | None:
    """The channel of ``vw.v1.<village>.<device>.<channel>`` (or ``….evidence.<id>``: evidence);
    None for a subject of another shape. The identifiers are not checked: that is the decode
    path's, which dead-letters what it refuses."""
    parts = subject.split(".")
    if len(parts) == 5 and parts[4] != "evidence":  # evidence comes with its id
        return parts[4]
    return "evidence" if len(parts) == 6 and parts[4] == "evidence" else None


def contract_channel(subject: str) -> bool:
    """Whether ``subject`` is on a channel the ingester stores (what the MQTT path subscribes
    to): ``vw.v1.<village>.<device>.telemetry|event``, ``….evidence.<id>``."""
    return subject_channel(subject) in ("telemetry", "event", "evidence")
